#!/usr/bin/env bash
# coffer vs. passage's approach (one `age` process per file), side by side on the same store.
#
#   bench/run.sh            # 1,000 and 10,000 three-line secrets (a few minutes)
#   SIZES="1000" bench/run.sh
#
# Needs: cargo, age, hyperfine, GNU time (apt-get install age hyperfine time).
# Prints a table of measured times and the ratios the core vault issue sets as targets.
set -euo pipefail

SIZES=${SIZES:-"1000 10000"}
RUNS=${RUNS:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
coffer="$here/target/release/coffer"
for tool in age hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export LANG=C NO_COLOR=1
mkdir -p "$HOME"
ids="$XDG_DATA_HOME/coffer/identities"

# Milliseconds of the mean of a hyperfine run.
mean_ms() {
  local json="$work/h.json"
  hyperfine --style none --warmup 2 --runs "$1" --export-json "$json" -N "$2" >/dev/null 2>&1 ||
    hyperfine --style none --warmup 2 --runs "$1" --export-json "$json" "$2" >/dev/null
  python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$json"
}
# Seconds of one shell command.
once_s() {
  local t0 t1
  t0=$(date +%s.%N); bash -c "$1" >/dev/null 2>&1; t1=$(date +%s.%N)
  python3 -c "print('%.3f' % ($t1 - $t0))"
}
ratio() { python3 -c "print('%.1f' % ($1 / $2))"; }
row() { printf '| %-44s | %12s | %12s | %8s | %s |\n' "$@"; }

echo "machine: $(nproc) cores, $(age --version 2>/dev/null | head -1) (age), coffer $($coffer version)"
echo
row "measurement" "coffer" "baseline" "ratio" "target"
row "---" "---:" "---:" "---:" "---"

for n in $SIZES; do
  store="$work/store-$n"
  export COFFER_DIR="$store"
  [ -f "$ids" ] || "$coffer" init --no-passphrase >/dev/null 2>&1
  "$coffer" init >/dev/null 2>&1
  # n three-line secrets in 100 folders, written by coffer itself (two at a time).
  seq 0 $((n - 1)) | xargs -P 2 -I{} sh -c \
    'printf "pw-{}-%s\nuser: user{}\nurl: https://site{}.example\n" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d " \n")" | "$0" insert -m "f$(({} % 100))/s{}"' "$coffer"
  one="$store/f7/s7.age"

  if [ "$n" = "$(echo $SIZES | cut -d' ' -f1)" ]; then
    c=$(mean_ms 200 "$coffer show f7/s7"); b=$(mean_ms 200 "age -d -i $ids $one")
    row "show one secret (ms)" "$c" "$b (age -d)" "$(ratio "$c" "$b")" "≤ 1.5× age -d"
  fi

  c=$(mean_ms "$RUNS" "$coffer grep user42\$")
  if [ "$n" -le 1000 ]; then
    # What pass/passage do: one decryption process per file, piped to grep.
    loop="find $store -name '*.age' -print0 | while IFS= read -r -d '' f; do age -d -i $ids \"\$f\" | grep -q 'user42\$' && echo \"\$f\"; done"
    b=$(once_s "$loop"); b_ms=$(python3 -c "print('%.1f' % ($b*1000))")
    row "grep over $n secrets (ms)" "$c" "$b_ms (age/file)" "$(ratio "$b_ms" "$c")× faster" "≥ 30× faster"
  else
    row "grep over $n secrets (ms)" "$c" "" "" "< 1000 ms"
  fi
  mem=$( { /usr/bin/time -f '%M' "$coffer" grep 'user42$' >/dev/null; } 2>&1 | tail -1)
  row "grep over $n: peak memory (MB)" "$(python3 -c "print('%.1f' % ($mem/1024))")" "" "" "< 50 MB"

  c=$(mean_ms 20 "$coffer ls"); row "ls over $n secrets (ms)" "$c" "" "" "< 30 ms"
  # One TAB: what the bash script runs to complete `coffer show f5`.
  c=$(mean_ms 50 "env COMPLETE=bash _CLAP_COMPLETE_INDEX=2 _CLAP_IFS=, $coffer -- coffer show f5")
  row "TAB completion, $n secrets (ms)" "$c" "" "" "< 20 ms"
  c=$(mean_ms 20 "$coffer find s4 user"); row "find over $n secrets (ms)" "$c" "" "" "< 30 ms"

  if [ "$n" -le 1000 ]; then
    c=$(mean_ms 3 "$coffer reencrypt")
    # One age process pair per file, written atomically (temp + rename), as passage does.
    loop="find $store -name '*.age' -print0 | while IFS= read -r -d '' f; do age -d -i $ids \"\$f\" | age -e -R $store/.age-recipients -o \"\$f.tmp\" && mv \"\$f.tmp\" \"\$f\"; done"
    b=$(once_s "$loop"); b_ms=$(python3 -c "print('%.1f' % ($b*1000))")
    row "reencrypt $n secrets (ms)" "$c" "$b_ms (age pair/file)" "$(ratio "$b_ms" "$c")× faster" "≥ 20× faster"
  fi
done
