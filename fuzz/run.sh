#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer on the stable toolchain and runs each one for its share
# of MINUTES (default 10), one after another. Inputs that find new coverage are merged into
# fuzz/corpus/<target>/ (which `cargo test` replays); crashes land in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [MINUTES] [TARGET...]
#
# No nightly needed: the sanitizer-coverage instrumentation libFuzzer reads is asked for with
# plain codegen flags, and `--target` keeps those flags off build scripts and proc macros.
set -euo pipefail
cd "$(dirname "$0")"
minutes=${1:-10}
shift || true
mapfile -t all < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^coffer-fuzz$')
targets=("${@:-${all[@]}}")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
cargo build --release --target "$host" --bins
bin=target/$host/release

seconds=$(( minutes * 60 / ${#targets[@]} ))
[ "$seconds" -ge 5 ] || seconds=5
printf '%-12s %10s %8s %6s %s\n' target execs exec/s corpus crashes
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  work=$(mktemp -d)
  log=$work/log
  # New inputs go to a scratch folder first, then only those adding coverage are merged in.
  "$bin/$t" "$work" "corpus/$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || status=1
  "$bin/$t" -merge=1 "corpus/$t" "$work" >/dev/null 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  printf '%-12s %10s %8s %6s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$(ls "corpus/$t" | wc -l)" "$crashes"
  if [ "$crashes" -gt 0 ]; then grep -m3 -E 'panicked|ERROR|SUMMARY' "$log" || true; fi
  rm -rf "$work"
  rmdir "artifacts/$t" 2>/dev/null || true
done
exit $status
