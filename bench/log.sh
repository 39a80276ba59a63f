#!/usr/bin/env bash
# What the access log costs `show`: this tree's coffer (which appends a record for every
# command) against the same tree built without the logging hook in `run` (or $BASELINE, say a
# build of `main`, to see what the whole branch costs).
#
#   bench/log.sh                          # builds the baseline into target/bench-nolog
#   BASELINE=/path/to/other/coffer bench/log.sh
#   RUNS=2000 RECORDS=100000 bench/log.sh
#
# Needs: cargo, git, python3 (valgrind optional). Prints the median and fastest wall time and
# the mean CPU time (user + system) of both, their ratios (target: ≤ 1.10), and
# the same again once the log already holds $RECORDS records (an append reads the small head
# file, never the log, so the size of the log must not matter). With valgrind installed, also
# exact instruction counts, and the share of the logging hook itself.
set -euo pipefail

RUNS=${RUNS:-1000}
RECORDS=${RECORDS:-100000}
here=$(cd "$(dirname "$0")/.." && pwd)
for tool in python3 git; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
coffer="$here/target/release/coffer"

if [ -z "${BASELINE:-}" ]; then
  # The same tree with the one logging hook taken out of `run`: the difference is the log.
  src="$here/target/bench-nolog/src"
  rm -rf "$src" && mkdir -p "$src"
  (cd "$here" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -c) | tar -x -C "$src"
  hook='    log::record(&ctx, command, &result);'
  grep -qxF "$hook" "$src/src/cli/mod.rs" || { echo "bench: cannot find the logging hook in src/cli/mod.rs" >&2; exit 1; }
  grep -vxF "$hook" "$src/src/cli/mod.rs" >"$src/mod.rs" && mv "$src/mod.rs" "$src/src/cli/mod.rs"
  CARGO_TARGET_DIR="$here/target/bench-nolog/target" \
    cargo build --release --quiet --manifest-path "$src/Cargo.toml" 2>/dev/null
  BASELINE="$here/target/bench-nolog/target/release/coffer"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export LANG=C NO_COLOR=1
mkdir -p "$HOME"
"$coffer" init --no-passphrase >/dev/null 2>&1
printf 'Vq7#mZ2!pL9@xR4$wT6\nuser: alice\nurl: https://example.test\n' | "$coffer" insert -m web/site >/dev/null
log="$XDG_DATA_HOME/coffer/access.log"

# Runs both binaries alternately (so drift on a shared machine hits both alike), $RUNS times
# each after a warm-up, and prints one table row: median and fastest wall time and mean CPU
# time (user + system, from the child's rusage) of each, and their ratios.
compare() {
  python3 - "$1" "$RUNS" "$BASELINE" "$coffer" <<'PY'
import os, random, statistics, sys, time
label, runs, base, new = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
devnull = os.open(os.devnull, os.O_WRONLY)
def once(binary):
    t0 = time.perf_counter()
    pid = os.posix_spawn(binary, [binary, "show", "web/site"], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {binary} show failed")
    return wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000
results = {base: [], new: []}
for i in range(runs + 20):
    order = [base, new]
    random.shuffle(order)
    for b in order:
        r = once(b)
        if i >= 20:
            results[b].append(r)
row = [label]
for stat, key in [(statistics.median, 0), (min, 0), (statistics.mean, 1)]:
    b, c = stat(r[key] for r in results[base]), stat(r[key] for r in results[new])
    row += [f"{b:.3f}", f"{c:.3f}", f"{c / b:.3f}"]
print("| " + " | ".join(f"{x:>7}" if i else f"{x:<24}" for i, x in enumerate(row)) + " |")
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
echo "show one secret, ms: median and fastest wall time, mean CPU time (target: ratios ≤ 1.10)"
echo
echo "| $(printf '%-24s' '') |  median |  median | ratio | fastest | fastest | ratio |     CPU |     CPU | ratio |"
echo "| $(printf '%-24s' '') |  no log |     log |       |  no log |     log |       |  no log |     log |       |"
echo "| $(printf '%-24s' '---') |    ---: |    ---: |  ---: |    ---: |    ---: |  ---: |    ---: |    ---: |  ---: |"
compare "small log"
grow_log "$RECORDS"
compare "log of $RECORDS records"

# Instructions, counted exactly (no noise from other processes): the whole `show`, and the
# share of the logging hook in it.
if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
  instr() {
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$1" show web/site >/dev/null 2>&1
    callgrind_annotate --inclusive=yes "$work/cg.out" 2>/dev/null |
      awk -v pat="$2" '!found && $0 ~ pat { gsub(",", "", $1); print $1; found = 1 }'
  }
  b=$(instr "$BASELINE" "PROGRAM TOTALS"); c=$(instr "$coffer" "PROGRAM TOTALS")
  hook=$(instr "$coffer" "cli::log::record")
  echo
  python3 - "$b" "$c" "${hook:-0}" <<'PY'
import sys
b, c, hook = map(int, sys.argv[1:])
print(f"instructions (callgrind): no log {b:,}; this tree {c:,} ({c / b:.3f}×); "
      f"in the logging hook {hook:,} ({hook / c:.1%} of show)")
PY
fi
"$coffer" log --verify >/dev/null || { echo "bench: the log does not verify" >&2; exit 1; }
