#!/usr/bin/env bash
# Issue 15's speed target: `ls`, `find` and shell completion (TAB) over a main store and 3
# mounts of 3,000 secrets each, against one store of 12,000 (target ≤ 1.2×; gopass's `ls`
# grows by about 60 ms per mount). Listing never decrypts, so the stores hold copies of one
# real age file, made at run time.
#
#   bench/mounts.sh
#   PER_STORE=1000 bench/mounts.sh   # quicker
#
# Needs: cargo, hyperfine, python3.
set -euo pipefail

PER_STORE=${PER_STORE:-3000}
RUNS=${RUNS:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --bin coffer
coffer="$here/target/release/coffer"
for tool in hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export LANG=C NO_COLOR=1
unset COFFER_DIR COFFER_IDENTITIES_FILE COFFER_CONFIG COFFER_RECIPIENTS COFFER_RECIPIENTS_FILE
mkdir -p "$HOME"
"$coffer" init --no-passphrase >/dev/null 2>&1
main="$XDG_DATA_HOME/coffer/store"
printf 'value\n' | "$coffer" insert -m seed >/dev/null
sample="$main/seed.age"

# fill DIR FIRST COUNT: COUNT secrets in 30 folders, named by number from FIRST.
fill() {
  python3 - "$sample" "$1" "$2" "$3" <<'PY'
import os, shutil, sys
sample, root, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(first, first + count):
    folder = os.path.join(root, "g%02d" % (i % 30))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    shutil.copyfile(sample, os.path.join(folder, "s%06d.age" % i))
PY
}

# One store of 4 × PER_STORE, read with a config that mounts nothing.
single="$work/single"
COFFER_DIR="$single" "$coffer" init >/dev/null 2>&1
fill "$single" 0 $((4 * PER_STORE))

# The main store and three mounts of PER_STORE each.
fill "$main" 0 "$PER_STORE"
for m in team ops infra; do
  dir="$work/$m"
  COFFER_DIR="$dir" "$coffer" init >/dev/null 2>&1
  fill "$dir" 0 "$PER_STORE"
  "$coffer" mount add "$m" "$dir" >/dev/null
done

# Median wall milliseconds; a command with quotes runs in a shell (hyperfine subtracts the
# shell's own start-up).
median_ms() {
  local direct=-N
  case $1 in *"'"*) direct= ;; esac
  hyperfine $direct --style none --warmup 3 --runs "$RUNS" --export-json "$work/h.json" "$1" >/dev/null 2>&1
  python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$work/h.json"
}
ratio() { python3 -c "import sys; print('%.2fx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $((4 * PER_STORE)) secrets either way"
printf '| %-26s | %16s | %14s | %6s |\n' "what" "main + 3 mounts" "one store" "ratio"
printf '| %-26s | %16s | %14s | %6s |\n' "---" "---:" "---:" "---:"
row() {
  local what=$1 mounted=$2 single_cmd=$3
  local a b
  a=$(median_ms "$mounted")
  b=$(median_ms "env COFFER_DIR=$single XDG_CONFIG_HOME=$work/no-mounts $single_cmd")
  printf '| %-26s | %13s ms | %11s ms | %6s |\n' "$what" "$a" "$b" "$(ratio "$a" "$b")"
}
# The outputs are checked, not just timed.
n_m=$("$coffer" ls | grep -c "s0"); n_s=$(COFFER_DIR="$single" XDG_CONFIG_HOME="$work/no-mounts" "$coffer" ls | grep -c "s0")
[ "$n_m" = "$n_s" ] || { echo "bench: ls shows $n_m secrets over the mounts, $n_s in one store" >&2; exit 1; }
row "ls" "$coffer ls" "$coffer ls"
row "find s0012" "$coffer find s0012" "$coffer find s0012"
tab="env COMPLETE=bash _CLAP_COMPLETE_INDEX=2 _CLAP_IFS=,"
row "TAB: show '' (top level)" "$tab $coffer -- coffer show ''" "$tab $coffer -- coffer show ''"
row "TAB: show g0 / team/g0" "$tab $coffer -- coffer show team/g0" "$tab $coffer -- coffer show g0"
