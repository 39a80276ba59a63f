complete --keep-order --exclusive --command coffer --arguments "(COMPLETE=fish coffer -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
