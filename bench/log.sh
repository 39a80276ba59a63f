#!/usr/bin/env bash
# What the access log costs `show`: this tree's coffer (which appends a record for every
# command) against a coffer without the log (the merge base with `main`, or $BASELINE).
#
#   bench/log.sh                          # builds the baseline into target/bench-baseline
#   BASELINE=/path/to/old/coffer bench/log.sh
#   RUNS=500 RECORDS=100000 bench/log.sh
#
# Needs: cargo, git, hyperfine, python3. Prints the means, their ratio (target: ≤ 1.10), and
# the same again once the log already holds $RECORDS records (an append reads the small head
# file, never the log, so the size of the log must not matter).
set -euo pipefail

RUNS=${RUNS:-300}
RECORDS=${RECORDS:-100000}
here=$(cd "$(dirname "$0")/.." && pwd)
for tool in hyperfine python3 git; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
coffer="$here/target/release/coffer"

if [ -z "${BASELINE:-}" ]; then
  base=$(git -C "$here" merge-base HEAD main)
  src="$here/target/bench-baseline/src-$base"
  if [ ! -d "$src" ]; then
    mkdir -p "$src"
    git -C "$here" archive "$base" | tar -x -C "$src"
  fi
  CARGO_TARGET_DIR="$here/target/bench-baseline/target" \
    cargo build --release --quiet --manifest-path "$src/Cargo.toml"
  BASELINE="$here/target/bench-baseline/target/release/coffer"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export LANG=C NO_COLOR=1
mkdir -p "$HOME"
"$coffer" init --no-passphrase >/dev/null 2>&1
printf 'Vq7#mZ2!pL9@xR4$wT6\nuser: alice\nurl: https://example.test\n' | "$coffer" insert -m web/site >/dev/null
log="$XDG_DATA_HOME/coffer/access.log"

# Milliseconds: the mean of a hyperfine run.
mean_ms() {
  hyperfine --style none --warmup 20 --runs "$RUNS" --export-json "$work/h.json" -N "$1" >/dev/null
  python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$work/h.json"
}
# Both binaries, interleaved twice so drift on a shared machine hits both alike.
compare() {
  local b1 c1 b2 c2
  b1=$(mean_ms "$BASELINE show web/site"); c1=$(mean_ms "$coffer show web/site")
  c2=$(mean_ms "$coffer show web/site"); b2=$(mean_ms "$BASELINE show web/site")
  python3 - "$1" "$b1" "$b2" "$c1" "$c2" <<'PY'
import sys
label, b1, b2, c1, c2 = sys.argv[1], *map(float, sys.argv[2:])
b, c = (b1 + b2) / 2, (c1 + c2) / 2
print(f"| {label:<40} | {b:9.3f} | {c:9.3f} | {c / b:5.3f} | ≤ 1.10 |")
PY
}

# A log of n valid, chained records with its head, written directly (fast).
grow_log() {
  python3 - "$log" "$1" <<'PY'
import hashlib, json, sys
path, n = sys.argv[1], int(sys.argv[2])
prev, size = "0" * 64, 0
with open(path, "w") as f:
    for seq in range(1, n + 1):
        rec = {"time": "2024-01-01T00:00:00Z", "user": "bench", "host": "bench", "device": "bench",
               "op": "show", "name": "web/site", "outcome": "ok", "seq": seq, "prev": prev}
        line = json.dumps(rec, separators=(",", ":"))
        f.write(line + "\n")
        size += len(line) + 1
        prev = hashlib.sha256(line.encode()).hexdigest()
with open(path + ".head", "w") as f:
    f.write(json.dumps({"count": n, "last": prev, "size": size}, separators=(",", ":")) + "\n")
PY
}

echo "machine: $(nproc) cores; baseline: $BASELINE"
echo
printf '| %-40s | %9s | %9s | %5s | %s |\n' "show one secret (mean ms)" "no log" "with log" "ratio" "target"
printf '| %-40s | %9s | %9s | %5s | %s |\n' "---" "---:" "---:" "---:" "---"
compare "small log"
grow_log "$RECORDS"
compare "log of $RECORDS records"
"$coffer" log --verify >/dev/null || { echo "bench: the log does not verify" >&2; exit 1; }
