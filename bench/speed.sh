#!/usr/bin/env bash
# Issue 17's table in one run: each row as a ratio against what it is compared with, on a
# store generated here.
#
#   bench/speed.sh               # 10,000 secrets
#   SIZES="10000 100000" bench/speed.sh
#   RUNS=10 bench/speed.sh       # hyperfine runs per command (default 5)
#
# Needs: cargo, python3, hyperfine, git, GNU find and time. Builds coffer and bench/floor
# (examples/floor: read an age file, decrypt it with the age crate) in release mode.
set -euo pipefail

SIZES=${SIZES:-10000}
RUNS=${RUNS:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --bin coffer --example floor
coffer="$here/target/release/coffer"
floor="$here/target/release/examples/floor"
for tool in hyperfine git python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export XDG_CACHE_HOME="$work/home/.cache"
export LANG=C NO_COLOR=1
unset COFFER_DIR COFFER_IDENTITIES_FILE COFFER_CONFIG COFFER_RECIPIENTS COFFER_RECIPIENTS_FILE
mkdir -p "$HOME"
"$coffer" init --no-passphrase >/dev/null 2>&1
ids="$XDG_DATA_HOME/coffer/identities"

# Median wall milliseconds (hyperfine, no shell when the command needs none); a second
# argument is run before each timing (hyperfine --prepare).
median_ms() {
  local json="$work/h.json" prepare=(--prepare "${2:-true}")
  hyperfine -i --style none --warmup 2 --runs "$RUNS" "${prepare[@]}" --export-json "$json" -N "$1" >/dev/null 2>&1 ||
    hyperfine -i --style none --warmup 2 --runs "$RUNS" "${prepare[@]}" --export-json "$json" "$1" >/dev/null 2>&1
  python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$json"
}
# "user+sys seconds|peak KB" of one run of a shell command.
cpu_mem() { /usr/bin/time -f '%U %S %M' -o "$work/t" bash -c "$1" >/dev/null 2>&1 || true
  tail -n 1 "$work/t" | awk '{printf "%.3f|%d\n", $1 + $2, $3}'; }
ratio() { python3 -c "import sys; print('%.2fx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
row() { printf '| %-40s | %12s | %-34s | %8s | %s |\n' "$@"; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), coffer $($coffer version)"
echo
row "what" "coffer" "compared with" "ratio" "target"
row "---" "---:" "---" "---:" "---"

for n in $SIZES; do
  store="$work/store-$n"
  export COFFER_DIR="$store"
  "$coffer" init >/dev/null 2>&1
  # n secrets in 100 folders: a 20-character password and two fields, imported per folder.
  python3 - "$work" "$n" <<'PY'
import random, sys
work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(n)
alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
for f in range(100):
    with open(f"{work}/f{f}.env", "w") as out:
        for i in range(f, n, 100):
            out.write("S%06d=%s\n" % (i, "".join(rng.choice(alphabet) for _ in range(20))))
PY
  for f in $(seq 0 99); do "$coffer" import dotenv "$work/f$f.env" --prefix "f$f" >/dev/null 2>&1; done
  one=$(find "$store/f7" -name '*.age' | head -1); one_name=${one#"$store/"}; one_name=${one_name%.age}

  c=$(median_ms "$coffer show $one_name"); b=$(median_ms "$floor $ids $one")
  row "show NAME ($n) ms" "$c" "bench/floor (read + decrypt) $b" "$(ratio "$c" "$b")" "≤ 1.5×"
  c=$(median_ms "$coffer --version"); row "coffer --version ms" "$c" "bench/floor $b" "$(ratio "$c" "$b")" "≈ 1×"

  # A repository with a 2-file staged change.
  repo="$work/repo-$n"; mkdir -p "$repo"
  (cd "$repo" && git init -q && for i in $(seq 1 20); do seq 1 500 >"f$i.txt"; done && git add . &&
    git -c user.email=b@e -c user.name=b commit -qm init && echo "a = 1" >>f1.txt && echo "b = 2" >>f2.txt && git add f1.txt f2.txt)
  # The hook's case: the scan cache (docs/BEHAVIOUR.md §8) filled by an earlier commit. The
  # store's files must have settled (2 s) to be cached.
  sleep 2; (cd "$repo" && "$coffer" scan --staged >/dev/null 2>&1)
  c=$(cd "$repo" && median_ms "$coffer scan --staged"); l=$(median_ms "$coffer ls")
  m=$(cd "$repo" && cpu_mem "$coffer scan --staged" | cut -d'|' -f2)
  row "scan --staged, 2 files ($n) ms" "$c" "coffer ls $l" "$(ratio "$c" "$l")" "≤ 5×"
  row "scan --staged peak memory MB" "$((m / 1024))" "" "" "≤ 64 MB"
  c=$(cd "$repo" && median_ms "$coffer scan --staged" "rm -rf $XDG_CACHE_HOME/coffer/scan")
  row "  the same, no cache (first run) ms" "$c" "coffer ls $l" "$(ratio "$c" "$l")" "(decrypts all)"

  c=$(median_ms "$coffer audit"); g=$(median_ms "$coffer grep zzzz-not-there")
  row "audit ($n) ms" "$c" "coffer grep $g" "$(ratio "$c" "$g")" "≤ 1.5×"

  c=$(median_ms "$coffer find S00004"); b=$(median_ms "find $store -iname *S00004*")
  row "find TERM ($n) ms" "$c" "GNU find -iname $b" "$(ratio "$c" "$b")" "≤ 1.5×"

  gc=$(cpu_mem "$coffer grep zzzz-not-there" | cut -d'|' -f1)
  fc=$(cpu_mem "find $store -name '*.age' | $floor $ids" | cut -d'|' -f1)
  per() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) * 1e6 / int(sys.argv[2])))" "$1" "$n"; }
  row "grep CPU µs per secret ($n)" "$(per "$gc" "$n")" "bench/floor CPU/secret $(per "$fc" "$n")" "$(ratio "$gc" "$fc")" "≤ 1.3× CPU"
done
