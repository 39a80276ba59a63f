
use builtin;
use str;

set edit:completion:arg-completer[coffer] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'coffer'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'coffer'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Create the store, an identity if there is none, and set recipients'
            cand ls 'List secrets as a tree'
            cand list 'List secrets as a tree'
            cand find 'List secrets whose names match any of the terms'
            cand search 'List secrets whose names match any of the terms'
            cand show 'Show a secret, one of its lines or fields'
            cand grep 'Search the content of every secret'
            cand insert 'Insert a new secret (typed, or read from standard input)'
            cand add 'Insert a new secret (typed, or read from standard input)'
            cand edit 'Edit a secret with $VISUAL or $EDITOR, in a private RAM-backed folder'
            cand generate 'Generate a new password or passphrase'
            cand rm 'Remove a secret or, with -r, a folder'
            cand remove 'Remove a secret or, with -r, a folder'
            cand delete 'Remove a secret or, with -r, a folder'
            cand mv 'Move or rename a secret or folder, re-encrypting for the destination'
            cand rename 'Move or rename a secret or folder, re-encrypting for the destination'
            cand cp 'Copy a secret or folder, re-encrypting for the destination'
            cand copy 'Copy a secret or folder, re-encrypting for the destination'
            cand reencrypt 'Re-encrypt every secret (below a folder) to its current recipients'
            cand git 'Run git in the store'
            cand import 'Move secrets in from a .env file, pass, passage or a CSV export'
            cand version 'Print the version'
            cand completions 'Print a shell completion script'
            cand textconv 'Decrypt an age file for git''s diff textconv (used by `git diff`)'
            cand generate-docs 'Write completions/ and man/ from the command definition'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'coffer;init'= {
            cand -p 'Work on the folder SUB instead of the whole store'
            cand --path 'Work on the folder SUB instead of the whole store'
            cand --passphrase-fd 'Read the new identity''s passphrase from file descriptor N instead of the terminal'
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --git 'Also initialise a git repository in the store'
            cand --no-passphrase 'Write a new identity without a passphrase'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;ls'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;list'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;find'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;search'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;show'= {
            cand -c 'Copy line N (default 1) to the clipboard instead of printing'
            cand --clip 'Copy line N (default 1) to the clipboard instead of printing'
            cand -q 'Show line N (default 1) as a QR code'
            cand --qrcode 'Show line N (default 1) as a QR code'
            cand --field 'Print only the value of the field KEY (`password` is line 1)'
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;grep'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -i 'Ignore case'
            cand --ignore-case 'Ignore case'
            cand -E 'PATTERN is an extended regular expression'
            cand --extended-regexp 'PATTERN is an extended regular expression'
            cand -F 'PATTERN is a fixed string'
            cand --fixed-strings 'PATTERN is a fixed string'
            cand -v 'Print the lines that do not match'
            cand --invert-match 'Print the lines that do not match'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;insert'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -e 'Read one line, echoing it (no confirmation)'
            cand --echo 'Read one line, echoing it (no confirmation)'
            cand -m 'Read everything until end of input, byte-exact'
            cand --multiline 'Read everything until end of input, byte-exact'
            cand -f 'Overwrite an existing secret without asking'
            cand --force 'Overwrite an existing secret without asking'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;add'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -e 'Read one line, echoing it (no confirmation)'
            cand --echo 'Read one line, echoing it (no confirmation)'
            cand -m 'Read everything until end of input, byte-exact'
            cand --multiline 'Read everything until end of input, byte-exact'
            cand -f 'Overwrite an existing secret without asking'
            cand --force 'Overwrite an existing secret without asking'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;edit'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --allow-disk-tmp 'Allow the plaintext on a disk-backed temporary folder when no RAM-backed one exists'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;generate'= {
            cand --words 'A diceware passphrase of N words from the EFF list instead of characters'
            cand --separator 'Separator between the words of a passphrase'
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -n 'Use only letters and digits'
            cand --no-symbols 'Use only letters and digits'
            cand -c 'Copy the password to the clipboard instead of printing it'
            cand --clip 'Copy the password to the clipboard instead of printing it'
            cand -q 'Show the password as a QR code'
            cand --qrcode 'Show the password as a QR code'
            cand -i 'Replace only line 1 of an existing secret and keep the rest'
            cand --in-place 'Replace only line 1 of an existing secret and keep the rest'
            cand -f 'Overwrite an existing secret without asking'
            cand --force 'Overwrite an existing secret without asking'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;rm'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -r 'Remove a folder and everything in it'
            cand --recursive 'Remove a folder and everything in it'
            cand -f 'Do not ask for confirmation'
            cand --force 'Do not ask for confirmation'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;remove'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -r 'Remove a folder and everything in it'
            cand --recursive 'Remove a folder and everything in it'
            cand -f 'Do not ask for confirmation'
            cand --force 'Do not ask for confirmation'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;delete'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -r 'Remove a folder and everything in it'
            cand --recursive 'Remove a folder and everything in it'
            cand -f 'Do not ask for confirmation'
            cand --force 'Do not ask for confirmation'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;mv'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -f 'Overwrite without asking'
            cand --force 'Overwrite without asking'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;rename'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -f 'Overwrite without asking'
            cand --force 'Overwrite without asking'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;cp'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -f 'Overwrite without asking'
            cand --force 'Overwrite without asking'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;copy'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand -f 'Overwrite without asking'
            cand --force 'Overwrite without asking'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;reencrypt'= {
            cand -p 'Work on the folder SUB instead of the whole store'
            cand --path 'Work on the folder SUB instead of the whole store'
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;git'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;import'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand dotenv 'Import a .env file, one secret per variable'
            cand pass 'Import a pass (GPG) store'
            cand passage 'Import a passage (age) store'
            cand csv 'Import a password manager''s CSV export'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'coffer;import;dotenv'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;import;pass'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;import;passage'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;import;csv'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;import;help'= {
            cand dotenv 'Import a .env file, one secret per variable'
            cand pass 'Import a pass (GPG) store'
            cand passage 'Import a passage (age) store'
            cand csv 'Import a password manager''s CSV export'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'coffer;import;help;dotenv'= {
        }
        &'coffer;import;help;pass'= {
        }
        &'coffer;import;help;passage'= {
        }
        &'coffer;import;help;csv'= {
        }
        &'coffer;import;help;help'= {
        }
        &'coffer;version'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;completions'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;textconv'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;generate-docs'= {
            cand --store 'Use the store in DIR (overrides $COFFER_DIR and the config file)'
            cand --no-agent 'Decrypt identities in this process instead of through the agent'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'coffer;help'= {
            cand init 'Create the store, an identity if there is none, and set recipients'
            cand ls 'List secrets as a tree'
            cand find 'List secrets whose names match any of the terms'
            cand show 'Show a secret, one of its lines or fields'
            cand grep 'Search the content of every secret'
            cand insert 'Insert a new secret (typed, or read from standard input)'
            cand edit 'Edit a secret with $VISUAL or $EDITOR, in a private RAM-backed folder'
            cand generate 'Generate a new password or passphrase'
            cand rm 'Remove a secret or, with -r, a folder'
            cand mv 'Move or rename a secret or folder, re-encrypting for the destination'
            cand cp 'Copy a secret or folder, re-encrypting for the destination'
            cand reencrypt 'Re-encrypt every secret (below a folder) to its current recipients'
            cand git 'Run git in the store'
            cand import 'Move secrets in from a .env file, pass, passage or a CSV export'
            cand version 'Print the version'
            cand completions 'Print a shell completion script'
            cand textconv 'Decrypt an age file for git''s diff textconv (used by `git diff`)'
            cand generate-docs 'Write completions/ and man/ from the command definition'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'coffer;help;init'= {
        }
        &'coffer;help;ls'= {
        }
        &'coffer;help;find'= {
        }
        &'coffer;help;show'= {
        }
        &'coffer;help;grep'= {
        }
        &'coffer;help;insert'= {
        }
        &'coffer;help;edit'= {
        }
        &'coffer;help;generate'= {
        }
        &'coffer;help;rm'= {
        }
        &'coffer;help;mv'= {
        }
        &'coffer;help;cp'= {
        }
        &'coffer;help;reencrypt'= {
        }
        &'coffer;help;git'= {
        }
        &'coffer;help;import'= {
            cand dotenv 'Import a .env file, one secret per variable'
            cand pass 'Import a pass (GPG) store'
            cand passage 'Import a passage (age) store'
            cand csv 'Import a password manager''s CSV export'
        }
        &'coffer;help;import;dotenv'= {
        }
        &'coffer;help;import;pass'= {
        }
        &'coffer;help;import;passage'= {
        }
        &'coffer;help;import;csv'= {
        }
        &'coffer;help;version'= {
        }
        &'coffer;help;completions'= {
        }
        &'coffer;help;textconv'= {
        }
        &'coffer;help;generate-docs'= {
        }
        &'coffer;help;help'= {
        }
    ]
    $completions[$command]
}
