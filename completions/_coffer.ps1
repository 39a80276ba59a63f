
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'coffer' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'coffer'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'coffer' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Create the store, an identity if there is none, and set recipients')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List secrets as a tree')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List secrets as a tree')
            [CompletionResult]::new('find', 'find', [CompletionResultType]::ParameterValue, 'List secrets whose names match any of the terms')
            [CompletionResult]::new('search', 'search', [CompletionResultType]::ParameterValue, 'List secrets whose names match any of the terms')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show a secret, one of its lines or fields')
            [CompletionResult]::new('grep', 'grep', [CompletionResultType]::ParameterValue, 'Search the content of every secret')
            [CompletionResult]::new('insert', 'insert', [CompletionResultType]::ParameterValue, 'Insert a new secret (typed, or read from standard input)')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Insert a new secret (typed, or read from standard input)')
            [CompletionResult]::new('edit', 'edit', [CompletionResultType]::ParameterValue, 'Edit a secret with $VISUAL or $EDITOR, in a private RAM-backed folder')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Generate a new password or passphrase')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a secret or, with -r, a folder')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a secret or, with -r, a folder')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Remove a secret or, with -r, a folder')
            [CompletionResult]::new('mv', 'mv', [CompletionResultType]::ParameterValue, 'Move or rename a secret or folder, re-encrypting for the destination')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Move or rename a secret or folder, re-encrypting for the destination')
            [CompletionResult]::new('cp', 'cp', [CompletionResultType]::ParameterValue, 'Copy a secret or folder, re-encrypting for the destination')
            [CompletionResult]::new('copy', 'copy', [CompletionResultType]::ParameterValue, 'Copy a secret or folder, re-encrypting for the destination')
            [CompletionResult]::new('reencrypt', 'reencrypt', [CompletionResultType]::ParameterValue, 'Re-encrypt every secret (below a folder) to its current recipients')
            [CompletionResult]::new('git', 'git', [CompletionResultType]::ParameterValue, 'Run git in the store')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Move secrets in from a .env file, pass, passage or a CSV export')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('textconv', 'textconv', [CompletionResultType]::ParameterValue, 'Decrypt an age file for git''s diff textconv (used by `git diff`)')
            [CompletionResult]::new('generate-docs', 'generate-docs', [CompletionResultType]::ParameterValue, 'Write completions/ and man/ from the command definition')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'coffer;init' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Work on the folder SUB instead of the whole store')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Work on the folder SUB instead of the whole store')
            [CompletionResult]::new('--passphrase-fd', '--passphrase-fd', [CompletionResultType]::ParameterName, 'Read the new identity''s passphrase from file descriptor N instead of the terminal')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--git', '--git', [CompletionResultType]::ParameterName, 'Also initialise a git repository in the store')
            [CompletionResult]::new('--no-passphrase', '--no-passphrase', [CompletionResultType]::ParameterName, 'Write a new identity without a passphrase')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;ls' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;list' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;find' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;search' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;show' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Copy line N (default 1) to the clipboard instead of printing')
            [CompletionResult]::new('--clip', '--clip', [CompletionResultType]::ParameterName, 'Copy line N (default 1) to the clipboard instead of printing')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show line N (default 1) as a QR code')
            [CompletionResult]::new('--qrcode', '--qrcode', [CompletionResultType]::ParameterName, 'Show line N (default 1) as a QR code')
            [CompletionResult]::new('--field', '--field', [CompletionResultType]::ParameterName, 'Print only the value of the field KEY (`password` is line 1)')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;grep' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Ignore case')
            [CompletionResult]::new('--ignore-case', '--ignore-case', [CompletionResultType]::ParameterName, 'Ignore case')
            [CompletionResult]::new('-E', '-E ', [CompletionResultType]::ParameterName, 'PATTERN is an extended regular expression')
            [CompletionResult]::new('--extended-regexp', '--extended-regexp', [CompletionResultType]::ParameterName, 'PATTERN is an extended regular expression')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'PATTERN is a fixed string')
            [CompletionResult]::new('--fixed-strings', '--fixed-strings', [CompletionResultType]::ParameterName, 'PATTERN is a fixed string')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the lines that do not match')
            [CompletionResult]::new('--invert-match', '--invert-match', [CompletionResultType]::ParameterName, 'Print the lines that do not match')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;insert' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Read one line, echoing it (no confirmation)')
            [CompletionResult]::new('--echo', '--echo', [CompletionResultType]::ParameterName, 'Read one line, echoing it (no confirmation)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Read everything until end of input, byte-exact')
            [CompletionResult]::new('--multiline', '--multiline', [CompletionResultType]::ParameterName, 'Read everything until end of input, byte-exact')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite an existing secret without asking')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing secret without asking')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;add' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Read one line, echoing it (no confirmation)')
            [CompletionResult]::new('--echo', '--echo', [CompletionResultType]::ParameterName, 'Read one line, echoing it (no confirmation)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Read everything until end of input, byte-exact')
            [CompletionResult]::new('--multiline', '--multiline', [CompletionResultType]::ParameterName, 'Read everything until end of input, byte-exact')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite an existing secret without asking')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing secret without asking')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;edit' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--allow-disk-tmp', '--allow-disk-tmp', [CompletionResultType]::ParameterName, 'Allow the plaintext on a disk-backed temporary folder when no RAM-backed one exists')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;generate' {
            [CompletionResult]::new('--words', '--words', [CompletionResultType]::ParameterName, 'A diceware passphrase of N words from the EFF list instead of characters')
            [CompletionResult]::new('--separator', '--separator', [CompletionResultType]::ParameterName, 'Separator between the words of a passphrase')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Use only letters and digits')
            [CompletionResult]::new('--no-symbols', '--no-symbols', [CompletionResultType]::ParameterName, 'Use only letters and digits')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Copy the password to the clipboard instead of printing it')
            [CompletionResult]::new('--clip', '--clip', [CompletionResultType]::ParameterName, 'Copy the password to the clipboard instead of printing it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Show the password as a QR code')
            [CompletionResult]::new('--qrcode', '--qrcode', [CompletionResultType]::ParameterName, 'Show the password as a QR code')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Replace only line 1 of an existing secret and keep the rest')
            [CompletionResult]::new('--in-place', '--in-place', [CompletionResultType]::ParameterName, 'Replace only line 1 of an existing secret and keep the rest')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite an existing secret without asking')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing secret without asking')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;rm' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Remove a folder and everything in it')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Remove a folder and everything in it')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;remove' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Remove a folder and everything in it')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Remove a folder and everything in it')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;delete' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Remove a folder and everything in it')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Remove a folder and everything in it')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;mv' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite without asking')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite without asking')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;rename' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite without asking')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite without asking')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;cp' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite without asking')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite without asking')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;copy' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite without asking')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite without asking')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;reencrypt' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Work on the folder SUB instead of the whole store')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Work on the folder SUB instead of the whole store')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;git' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;import' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('dotenv', 'dotenv', [CompletionResultType]::ParameterValue, 'Import a .env file, one secret per variable')
            [CompletionResult]::new('pass', 'pass', [CompletionResultType]::ParameterValue, 'Import a pass (GPG) store')
            [CompletionResult]::new('passage', 'passage', [CompletionResultType]::ParameterValue, 'Import a passage (age) store')
            [CompletionResult]::new('csv', 'csv', [CompletionResultType]::ParameterValue, 'Import a password manager''s CSV export')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'coffer;import;dotenv' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;import;pass' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;import;passage' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;import;csv' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;import;help' {
            [CompletionResult]::new('dotenv', 'dotenv', [CompletionResultType]::ParameterValue, 'Import a .env file, one secret per variable')
            [CompletionResult]::new('pass', 'pass', [CompletionResultType]::ParameterValue, 'Import a pass (GPG) store')
            [CompletionResult]::new('passage', 'passage', [CompletionResultType]::ParameterValue, 'Import a passage (age) store')
            [CompletionResult]::new('csv', 'csv', [CompletionResultType]::ParameterValue, 'Import a password manager''s CSV export')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'coffer;import;help;dotenv' {
            break
        }
        'coffer;import;help;pass' {
            break
        }
        'coffer;import;help;passage' {
            break
        }
        'coffer;import;help;csv' {
            break
        }
        'coffer;import;help;help' {
            break
        }
        'coffer;version' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;completions' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;textconv' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;generate-docs' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Use the store in DIR (overrides $COFFER_DIR and the config file)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Decrypt identities in this process instead of through the agent')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'coffer;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Create the store, an identity if there is none, and set recipients')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List secrets as a tree')
            [CompletionResult]::new('find', 'find', [CompletionResultType]::ParameterValue, 'List secrets whose names match any of the terms')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show a secret, one of its lines or fields')
            [CompletionResult]::new('grep', 'grep', [CompletionResultType]::ParameterValue, 'Search the content of every secret')
            [CompletionResult]::new('insert', 'insert', [CompletionResultType]::ParameterValue, 'Insert a new secret (typed, or read from standard input)')
            [CompletionResult]::new('edit', 'edit', [CompletionResultType]::ParameterValue, 'Edit a secret with $VISUAL or $EDITOR, in a private RAM-backed folder')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Generate a new password or passphrase')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a secret or, with -r, a folder')
            [CompletionResult]::new('mv', 'mv', [CompletionResultType]::ParameterValue, 'Move or rename a secret or folder, re-encrypting for the destination')
            [CompletionResult]::new('cp', 'cp', [CompletionResultType]::ParameterValue, 'Copy a secret or folder, re-encrypting for the destination')
            [CompletionResult]::new('reencrypt', 'reencrypt', [CompletionResultType]::ParameterValue, 'Re-encrypt every secret (below a folder) to its current recipients')
            [CompletionResult]::new('git', 'git', [CompletionResultType]::ParameterValue, 'Run git in the store')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Move secrets in from a .env file, pass, passage or a CSV export')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('textconv', 'textconv', [CompletionResultType]::ParameterValue, 'Decrypt an age file for git''s diff textconv (used by `git diff`)')
            [CompletionResult]::new('generate-docs', 'generate-docs', [CompletionResultType]::ParameterValue, 'Write completions/ and man/ from the command definition')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'coffer;help;init' {
            break
        }
        'coffer;help;ls' {
            break
        }
        'coffer;help;find' {
            break
        }
        'coffer;help;show' {
            break
        }
        'coffer;help;grep' {
            break
        }
        'coffer;help;insert' {
            break
        }
        'coffer;help;edit' {
            break
        }
        'coffer;help;generate' {
            break
        }
        'coffer;help;rm' {
            break
        }
        'coffer;help;mv' {
            break
        }
        'coffer;help;cp' {
            break
        }
        'coffer;help;reencrypt' {
            break
        }
        'coffer;help;git' {
            break
        }
        'coffer;help;import' {
            [CompletionResult]::new('dotenv', 'dotenv', [CompletionResultType]::ParameterValue, 'Import a .env file, one secret per variable')
            [CompletionResult]::new('pass', 'pass', [CompletionResultType]::ParameterValue, 'Import a pass (GPG) store')
            [CompletionResult]::new('passage', 'passage', [CompletionResultType]::ParameterValue, 'Import a passage (age) store')
            [CompletionResult]::new('csv', 'csv', [CompletionResultType]::ParameterValue, 'Import a password manager''s CSV export')
            break
        }
        'coffer;help;import;dotenv' {
            break
        }
        'coffer;help;import;pass' {
            break
        }
        'coffer;help;import;passage' {
            break
        }
        'coffer;help;import;csv' {
            break
        }
        'coffer;help;version' {
            break
        }
        'coffer;help;completions' {
            break
        }
        'coffer;help;textconv' {
            break
        }
        'coffer;help;generate-docs' {
            break
        }
        'coffer;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
