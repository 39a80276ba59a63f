#!/usr/bin/env bash
# Issue 17's table in one run: each row as a ratio against what it is compared with, on a
# store generated here.
#
#   bench/speed.sh               # 10,000 secrets
#   SIZES="10000 100000" bench/speed.sh
#   RUNS=5 bench/speed.sh        # hyperfine runs per command and round (default 3)
#   ROUNDS=9 bench/speed.sh      # paired rounds per row, order swapped each round (default 7)
#
# Each row's two commands are timed in the same hyperfine invocation (see `pair`), so the
# ratios hold on a loaded machine; the absolute times move with the load.
#
# Needs: cargo, python3, hyperfine, git, GNU find and time. Builds coffer and bench/floor
# (examples/floor: read an age file, decrypt it with the age crate) in release mode.
set -euo pipefail

SIZES=${SIZES:-10000}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-7}
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --bin coffer --example floor
for tool in hyperfine git python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Both programs are run from copies, as `cargo install` puts them: a file the linker has just
# written can take ~10% more page faults to start than the same bytes copied (how the kernel
# holds its pages), which is noise in a start-up row.
mkdir -p "$work/bin"
cp "$here/target/release/coffer" "$here/target/release/examples/floor" "$work/bin/"
coffer="$work/bin/coffer"
floor="$work/bin/floor"
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export XDG_CACHE_HOME="$work/home/.cache"
export LANG=C NO_COLOR=1
unset COFFER_DIR COFFER_IDENTITIES_FILE COFFER_CONFIG COFFER_RECIPIENTS COFFER_RECIPIENTS_FILE
mkdir -p "$HOME"
"$coffer" init --no-passphrase >/dev/null 2>&1
ids="$XDG_DATA_HOME/coffer/identities"

# Paired timing: each row's two commands are measured in one hyperfine invocation, ROUNDS
# short rounds with the order swapped each round, and the row's ratio is the median of the
# rounds' ratios of medians: load that comes and goes touches both sides of a round alike.
#   pair A B [PREPARE_A PREPARE_B] -> "median_A_ms median_B_ms ratio cpu_A_s cpu_B_s"
# (CPU: mean user + system seconds per run.) Commands run without a shell unless they need one.
pair() {
  local a=$1 b=$2 prep=()
  [ $# -ge 4 ] && prep=(--prepare "$3" --prepare "$4")
  local shell=(-N)
  case "$a$b" in *'|'* | *'>'*) shell=() ;; esac
  local round jsons=()
  for round in $(seq 1 "$ROUNDS"); do
    local json="$work/pair-$round.json"
    if [ $((round % 2)) = 1 ]; then
      hyperfine -i --style none "${shell[@]}" --warmup 1 --runs "$RUNS" "${prep[@]}" --export-json "$json" "$a" "$b" >/dev/null 2>&1
    else
      local swapped=()
      [ ${#prep[@]} -gt 0 ] && swapped=(--prepare "$4" --prepare "$3")
      hyperfine -i --style none "${shell[@]}" --warmup 1 --runs "$RUNS" "${swapped[@]}" --export-json "$json" "$b" "$a" >/dev/null 2>&1
      python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["results"].reverse(); json.dump(d, open(sys.argv[1], "w"))' "$json"
    fi
    jsons+=("$json")
  done
  python3 - "${jsons[@]}" <<'PY'
import json, statistics, sys
rounds = [json.load(open(f))["results"] for f in sys.argv[1:]]
a = [r[0]["median"] * 1000 for r in rounds]
b = [r[1]["median"] * 1000 for r in rounds]
ratio = statistics.median(x / y for x, y in zip(a, b))
cpu = lambda i: statistics.median(r[i]["user"] + r[i]["system"] for r in rounds)
print("%.1f %.1f %.2f %.4f %.4f" % (statistics.median(a), statistics.median(b), ratio, cpu(0), cpu(1)))
PY
}
# Peak memory (KB) of one run of a shell command.
peak_kb() { /usr/bin/time -f '%M' -o "$work/t" bash -c "$1" >/dev/null 2>&1 || true; tail -n 1 "$work/t"; }
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
  one=$(find "$store/f7" -name '*.age' -print -quit); one_name=${one#"$store/"}; one_name=${one_name%.age}

  read -r c b r _ <<<"$(pair "$coffer show $one_name" "$floor $ids $one")"
  row "show NAME ($n) ms" "$c" "bench/floor (read + decrypt) $b" "${r}x" "≤ 1.5×"
  read -r c b r _ <<<"$(pair "$coffer --version" "$floor $ids $one")"
  row "coffer --version ms" "$c" "bench/floor $b" "${r}x" "≈ 1×"

  # A repository with a 2-file staged change.
  repo="$work/repo-$n"; mkdir -p "$repo"
  (cd "$repo" && git init -q && for i in $(seq 1 20); do seq 1 500 >"f$i.txt"; done && git add . &&
    git -c user.email=b@e -c user.name=b commit -qm init && echo "a = 1" >>f1.txt && echo "b = 2" >>f2.txt && git add f1.txt f2.txt)
  # The hook's case: the scan cache (docs/BEHAVIOUR.md §8) filled by an earlier commit. The
  # store's files must have settled (2 s) to be cached.
  sleep 2; (cd "$repo" && "$coffer" scan --staged >/dev/null 2>&1)
  read -r c l r _ <<<"$(cd "$repo" && pair "$coffer scan --staged" "$coffer ls")"
  m=$(cd "$repo" && peak_kb "$coffer scan --staged")
  row "scan --staged, 2 files ($n) ms" "$c" "coffer ls $l" "${r}x" "≤ 5×"
  row "scan --staged peak memory MB" "$((m / 1024))" "" "" "≤ 64 MB"
  read -r c l r _ <<<"$(cd "$repo" && pair "$coffer scan --staged" "$coffer ls" "rm -rf $XDG_CACHE_HOME/coffer/scan" "true")"
  row "  the same, no cache (first run) ms" "$c" "coffer ls $l" "${r}x" "(decrypts all)"

  # audit keeps its facts in the same cache (docs/BEHAVIOUR.md §8): one audit fills in what
  # the scans above left out (the files have settled), then the repeated audit is timed.
  "$coffer" audit >/dev/null 2>&1 || true
  read -r c g r _ <<<"$(pair "$coffer audit" "$coffer grep zzzz-not-there")"
  row "audit, cache filled ($n) ms" "$c" "coffer grep $g" "${r}x" "≤ 1.5×"
  read -r c g r _ <<<"$(pair "$coffer audit" "$coffer grep zzzz-not-there" "rm -rf $XDG_CACHE_HOME/coffer/scan" "true")"
  row "  the same, no cache (first run) ms" "$c" "coffer grep $g" "${r}x" "(decrypts all)"

  read -r c b r _ <<<"$(pair "$coffer find S00004" "find $store -iname '*S00004*'")"
  row "find TERM ($n) ms" "$c" "GNU find -iname $b" "${r}x" "≤ 1.5×"
  read -r c b r _ <<<"$(pair "$coffer ls" "find $store -iname '*S00004*'")"
  row "ls ($n) ms" "$c" "GNU find -iname $b" "${r}x" "≤ 1.5×"

  # CPU, not wall: user + system seconds per run, both commands in the same invocation.
  read -r _ _ _ gc fc <<<"$(pair "$coffer grep zzzz-not-there" "find $store -name '*.age' | $floor $ids >/dev/null")"
  per() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) * 1e6 / int(sys.argv[2])))" "$1" "$n"; }
  row "grep CPU µs per secret ($n)" "$(per "$gc" "$n")" "bench/floor CPU/secret $(per "$fc" "$n")" "$(python3 -c "import sys; print('%.2fx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$gc" "$fc")" "≤ 1.3× CPU"
done
