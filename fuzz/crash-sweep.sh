#!/usr/bin/env bash
# Kills every write command (insert, generate, edit, rm, mv, cp, reencrypt, recipients add/rm,
# init, import) before each call of each file-system system call it makes, and checks the vault
# afterwards (tests/cli/crash.rs, `crash_sweep`). Prints kill points tried, secrets checked and
# failures per command. Needs strace and age. COFFER_CRASH_ONLY=insert,mv limits the commands.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --quiet --test cli crash::crash_sweep -- --ignored --nocapture --test-threads 1 2>&1 \
  | grep -E '^(crash-sweep|FAIL)|test result|panicked'
