# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_coffer_global_optspecs
    string join \n store= no-agent h/help V/version
end

function __fish_coffer_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_coffer_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_coffer_using_subcommand
    set -l cmd (__fish_coffer_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c coffer -n "__fish_coffer_needs_command" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_needs_command" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c coffer -n "__fish_coffer_needs_command" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "init" -d 'Create the store, an identity if there is none, and set recipients'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "ls" -d 'List secrets as a tree'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "list" -d 'List secrets as a tree'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "find" -d 'List secrets whose names match any of the terms'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "search" -d 'List secrets whose names match any of the terms'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "show" -d 'Show a secret, one of its lines or fields'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "grep" -d 'Search the content of every secret'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "insert" -d 'Insert a new secret (typed, or read from standard input)'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "add" -d 'Insert a new secret (typed, or read from standard input)'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "edit" -d 'Edit a secret with $VISUAL or $EDITOR, in a private RAM-backed folder'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "generate" -d 'Generate a new password or passphrase'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "rm" -d 'Remove a secret or, with -r, a folder'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "remove" -d 'Remove a secret or, with -r, a folder'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "delete" -d 'Remove a secret or, with -r, a folder'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "mv" -d 'Move or rename a secret or folder, re-encrypting for the destination'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "rename" -d 'Move or rename a secret or folder, re-encrypting for the destination'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "cp" -d 'Copy a secret or folder, re-encrypting for the destination'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "copy" -d 'Copy a secret or folder, re-encrypting for the destination'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "reencrypt" -d 'Re-encrypt every secret (below a folder) to its current recipients'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "git" -d 'Run git in the store'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "import" -d 'Move secrets in from a .env file, pass, passage or a CSV export'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "version" -d 'Print the version'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "textconv" -d 'Decrypt an age file for git\'s diff textconv (used by `git diff`)'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "generate-docs" -d 'Write completions/ and man/ from the command definition'
complete -c coffer -n "__fish_coffer_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c coffer -n "__fish_coffer_using_subcommand init" -s p -l path -d 'Work on the folder SUB instead of the whole store' -r
complete -c coffer -n "__fish_coffer_using_subcommand init" -l passphrase-fd -d 'Read the new identity\'s passphrase from file descriptor N instead of the terminal' -r
complete -c coffer -n "__fish_coffer_using_subcommand init" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand init" -l git -d 'Also initialise a git repository in the store'
complete -c coffer -n "__fish_coffer_using_subcommand init" -l no-passphrase -d 'Write a new identity without a passphrase'
complete -c coffer -n "__fish_coffer_using_subcommand init" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand init" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand init" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand ls" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand ls" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand ls" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand ls" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand list" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand list" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand list" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand list" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand find" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand find" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand find" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand find" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand search" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand search" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand search" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand search" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand show" -s c -l clip -d 'Copy line N (default 1) to the clipboard instead of printing' -r
complete -c coffer -n "__fish_coffer_using_subcommand show" -s q -l qrcode -d 'Show line N (default 1) as a QR code' -r
complete -c coffer -n "__fish_coffer_using_subcommand show" -l field -d 'Print only the value of the field KEY (`password` is line 1)' -r
complete -c coffer -n "__fish_coffer_using_subcommand show" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand show" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand show" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand show" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand grep" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand grep" -s i -l ignore-case -d 'Ignore case'
complete -c coffer -n "__fish_coffer_using_subcommand grep" -s E -l extended-regexp -d 'PATTERN is an extended regular expression'
complete -c coffer -n "__fish_coffer_using_subcommand grep" -s F -l fixed-strings -d 'PATTERN is a fixed string'
complete -c coffer -n "__fish_coffer_using_subcommand grep" -s v -l invert-match -d 'Print the lines that do not match'
complete -c coffer -n "__fish_coffer_using_subcommand grep" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand grep" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand grep" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand insert" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand insert" -s e -l echo -d 'Read one line, echoing it (no confirmation)'
complete -c coffer -n "__fish_coffer_using_subcommand insert" -s m -l multiline -d 'Read everything until end of input, byte-exact'
complete -c coffer -n "__fish_coffer_using_subcommand insert" -s f -l force -d 'Overwrite an existing secret without asking'
complete -c coffer -n "__fish_coffer_using_subcommand insert" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand insert" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand insert" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand add" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand add" -s e -l echo -d 'Read one line, echoing it (no confirmation)'
complete -c coffer -n "__fish_coffer_using_subcommand add" -s m -l multiline -d 'Read everything until end of input, byte-exact'
complete -c coffer -n "__fish_coffer_using_subcommand add" -s f -l force -d 'Overwrite an existing secret without asking'
complete -c coffer -n "__fish_coffer_using_subcommand add" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand add" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand add" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand edit" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand edit" -l allow-disk-tmp -d 'Allow the plaintext on a disk-backed temporary folder when no RAM-backed one exists'
complete -c coffer -n "__fish_coffer_using_subcommand edit" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand edit" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand edit" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand generate" -l words -d 'A diceware passphrase of N words from the EFF list instead of characters' -r
complete -c coffer -n "__fish_coffer_using_subcommand generate" -l separator -d 'Separator between the words of a passphrase' -r
complete -c coffer -n "__fish_coffer_using_subcommand generate" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand generate" -s n -l no-symbols -d 'Use only letters and digits'
complete -c coffer -n "__fish_coffer_using_subcommand generate" -s c -l clip -d 'Copy the password to the clipboard instead of printing it'
complete -c coffer -n "__fish_coffer_using_subcommand generate" -s q -l qrcode -d 'Show the password as a QR code'
complete -c coffer -n "__fish_coffer_using_subcommand generate" -s i -l in-place -d 'Replace only line 1 of an existing secret and keep the rest'
complete -c coffer -n "__fish_coffer_using_subcommand generate" -s f -l force -d 'Overwrite an existing secret without asking'
complete -c coffer -n "__fish_coffer_using_subcommand generate" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand generate" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand generate" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand rm" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand rm" -s r -l recursive -d 'Remove a folder and everything in it'
complete -c coffer -n "__fish_coffer_using_subcommand rm" -s f -l force -d 'Do not ask for confirmation'
complete -c coffer -n "__fish_coffer_using_subcommand rm" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand rm" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand rm" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand remove" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand remove" -s r -l recursive -d 'Remove a folder and everything in it'
complete -c coffer -n "__fish_coffer_using_subcommand remove" -s f -l force -d 'Do not ask for confirmation'
complete -c coffer -n "__fish_coffer_using_subcommand remove" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand remove" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand remove" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand delete" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand delete" -s r -l recursive -d 'Remove a folder and everything in it'
complete -c coffer -n "__fish_coffer_using_subcommand delete" -s f -l force -d 'Do not ask for confirmation'
complete -c coffer -n "__fish_coffer_using_subcommand delete" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand delete" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand delete" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand mv" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand mv" -s f -l force -d 'Overwrite without asking'
complete -c coffer -n "__fish_coffer_using_subcommand mv" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand mv" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand mv" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand rename" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand rename" -s f -l force -d 'Overwrite without asking'
complete -c coffer -n "__fish_coffer_using_subcommand rename" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand rename" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand rename" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand cp" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand cp" -s f -l force -d 'Overwrite without asking'
complete -c coffer -n "__fish_coffer_using_subcommand cp" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand cp" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand cp" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand copy" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand copy" -s f -l force -d 'Overwrite without asking'
complete -c coffer -n "__fish_coffer_using_subcommand copy" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand copy" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand copy" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand reencrypt" -s p -l path -d 'Work on the folder SUB instead of the whole store' -r
complete -c coffer -n "__fish_coffer_using_subcommand reencrypt" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand reencrypt" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand reencrypt" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand reencrypt" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand git" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand git" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand git" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand git" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -f -a "dotenv" -d 'Import a .env file, one secret per variable'
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -f -a "pass" -d 'Import a pass (GPG) store'
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -f -a "passage" -d 'Import a passage (age) store'
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -f -a "csv" -d 'Import a password manager\'s CSV export'
complete -c coffer -n "__fish_coffer_using_subcommand import; and not __fish_seen_subcommand_from dotenv pass passage csv help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from dotenv" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from dotenv" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from dotenv" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from dotenv" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from pass" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from pass" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from pass" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from pass" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from passage" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from passage" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from passage" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from passage" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from csv" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from csv" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from csv" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from csv" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "dotenv" -d 'Import a .env file, one secret per variable'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "pass" -d 'Import a pass (GPG) store'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "passage" -d 'Import a passage (age) store'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "csv" -d 'Import a password manager\'s CSV export'
complete -c coffer -n "__fish_coffer_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c coffer -n "__fish_coffer_using_subcommand version" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand version" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand version" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand version" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand completions" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand completions" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand completions" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand completions" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand textconv" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand textconv" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand textconv" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand textconv" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand generate-docs" -l store -d 'Use the store in DIR (overrides $COFFER_DIR and the config file)' -r -F
complete -c coffer -n "__fish_coffer_using_subcommand generate-docs" -l no-agent -d 'Decrypt identities in this process instead of through the agent'
complete -c coffer -n "__fish_coffer_using_subcommand generate-docs" -s h -l help -d 'Print help'
complete -c coffer -n "__fish_coffer_using_subcommand generate-docs" -s V -l version -d 'Print version'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "init" -d 'Create the store, an identity if there is none, and set recipients'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "ls" -d 'List secrets as a tree'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "find" -d 'List secrets whose names match any of the terms'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "show" -d 'Show a secret, one of its lines or fields'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "grep" -d 'Search the content of every secret'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "insert" -d 'Insert a new secret (typed, or read from standard input)'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "edit" -d 'Edit a secret with $VISUAL or $EDITOR, in a private RAM-backed folder'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "generate" -d 'Generate a new password or passphrase'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "rm" -d 'Remove a secret or, with -r, a folder'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "mv" -d 'Move or rename a secret or folder, re-encrypting for the destination'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "cp" -d 'Copy a secret or folder, re-encrypting for the destination'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "reencrypt" -d 'Re-encrypt every secret (below a folder) to its current recipients'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "git" -d 'Run git in the store'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "import" -d 'Move secrets in from a .env file, pass, passage or a CSV export'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "version" -d 'Print the version'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "completions" -d 'Print a shell completion script'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "textconv" -d 'Decrypt an age file for git\'s diff textconv (used by `git diff`)'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "generate-docs" -d 'Write completions/ and man/ from the command definition'
complete -c coffer -n "__fish_coffer_using_subcommand help; and not __fish_seen_subcommand_from init ls find show grep insert edit generate rm mv cp reencrypt git import version completions textconv generate-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c coffer -n "__fish_coffer_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "dotenv" -d 'Import a .env file, one secret per variable'
complete -c coffer -n "__fish_coffer_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "pass" -d 'Import a pass (GPG) store'
complete -c coffer -n "__fish_coffer_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "passage" -d 'Import a passage (age) store'
complete -c coffer -n "__fish_coffer_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "csv" -d 'Import a password manager\'s CSV export'
