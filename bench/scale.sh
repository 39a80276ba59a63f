#!/usr/bin/env bash
# Work that must grow linearly with the input (issue 13 item 12): each row times one command
# on a large input generated here, and on one a tenth of its size. Linear work costs about
# 10x more on the large one; quadratic work about 100x.
#
#   bench/scale.sh                      # the release build of this tree
#   BEFORE=/path/to/old/coffer bench/scale.sh   # the same rows for an older build, side by side
#   BIG=40000 bench/scale.sh            # the large size of every row (default 100000 files,
#                                       # 40000 keys, 16000 placeholders; the small one is a
#                                       # tenth); FILES, KEYS, HOLES set one row's
#
# Needs: cargo, python3, hyperfine. The data lives in a temporary folder removed at the end.
# Rows: `ls` of N files in one folder; `insert` and `show` with N recipients in
# `.age-recipients`; `inject` of a template with N placeholders.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
after="$here/target/release/coffer"
before=${BEFORE:-}
files=${FILES:-${BIG:-100000}}
keys=${KEYS:-${BIG:-40000}}
holes=${HOLES:-${BIG:-16000}}
RUNS=${RUNS:-3}
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export LANG=C NO_COLOR=1
unset COFFER_DIR COFFER_IDENTITIES_FILE COFFER_CONFIG COFFER_RECIPIENTS COFFER_RECIPIENTS_FILE
mkdir -p "$HOME"
"$after" init --no-passphrase >/dev/null 2>&1

# Median wall milliseconds of a command (a shell command line); "-" after 120 s.
median_ms() {
  local json="$work/h.json"
  if timeout 600 hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$json" \
      -N "$1" >/dev/null 2>&1 ||
     timeout 600 hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$json" \
      "$1" >/dev/null 2>&1; then
    python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$json"
  else
    echo "-"
  fi
}
row() { printf '| %-44s | %12s | %12s | %8s |\n' "$@"; }
growth() { python3 -c "import sys; a,b=sys.argv[1:]; print('-' if '-' in (a,b) else '%.0fx' % (float(b)/max(float(a),0.05)))" "$1" "$2"; }

# Random age recipients (any 32 bytes are a valid X25519 key), each with a label.
python3 - "$work" "$keys" <<'PY'
import os, sys
work, n = sys.argv[1], int(sys.argv[2])
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk
def bech32(hrp, data):
    acc = bits = 0
    five = []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    expanded = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
    pm = polymod(expanded + five + [0] * 6) ^ 1
    return hrp + "1" + "".join(CHARSET[x] for x in five + [(pm >> 5 * (5 - i)) & 31 for i in range(6)])
for size in (n // 10, n):
    with open(os.path.join(work, f"keys-{size}"), "w") as f:
        for i in range(size):
            f.write(f"# member {i}\n{bech32('age', os.urandom(32))}\n")
PY

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); median of $RUNS runs, ms"
echo
row "measurement" "small" "large" "growth"
row "---" "---:" "---:" "---:"

bench_binary() {
  local coffer=$1 label=$2 small large
  echo "$label: $coffer"

  # ls: N empty files in one folder (listing never opens them).
  for n in $((files / 10)) "$files"; do
    mkdir -p "$work/ls-$n/big"
    [ -e "$work/ls-$n/big/k0.age" ] || (cd "$work/ls-$n/big" && seq 0 $((n - 1)) | sed 's/^/k/; s/$/.age/' | xargs touch)
  done
  small=$(median_ms "env COFFER_DIR=$work/ls-$((files / 10)) $coffer ls")
  large=$(median_ms "env COFFER_DIR=$work/ls-$files $coffer ls")
  row "ls, $((files / 10)) / $files files in one folder" "$small" "$large" "$(growth "$small" "$large")"

  # insert and show with N recipients: the store's own key plus N random ones, approved.
  for n in $((keys / 10)) "$keys"; do
    local store="$work/keys-store-$n"
    if [ ! -d "$store" ]; then
      COFFER_DIR=$store "$after" init >/dev/null 2>&1
      cat "$work/keys-$n" >>"$store/.age-recipients"
    fi
    COFFER_DIR=$store "$coffer" recipients accept </dev/null >/dev/null 2>&1 || true
    echo value | COFFER_DIR=$store "$coffer" insert -f -e one >/dev/null 2>&1
  done
  small=$(median_ms "sh -c 'echo value | COFFER_DIR=$work/keys-store-$((keys / 10)) $coffer insert -f -e one'")
  large=$(median_ms "sh -c 'echo value | COFFER_DIR=$work/keys-store-$keys $coffer insert -f -e one'")
  row "insert, $((keys / 10)) / $keys recipients" "$small" "$large" "$(growth "$small" "$large")"
  small=$(median_ms "env COFFER_DIR=$work/keys-store-$((keys / 10)) $coffer show one")
  large=$(median_ms "env COFFER_DIR=$work/keys-store-$keys $coffer show one")
  row "show, $((keys / 10)) / $keys recipients" "$small" "$large" "$(growth "$small" "$large")"

  # inject: N placeholders over 10 secrets, one per line.
  local store="$work/inject-store"
  if [ ! -d "$store" ]; then
    COFFER_DIR=$store "$after" init >/dev/null 2>&1
    for i in 0 1 2 3 4 5 6 7 8 9; do echo "v$i" | COFFER_DIR=$store "$after" insert -e "s$i" >/dev/null 2>&1; done
    for n in $((holes / 10)) "$holes"; do
      python3 -c "import sys
for i in range(int(sys.argv[1])): print('k%d={{ coffer:s%d }} {{ .Other }}' % (i, i % 10))" "$n" >"$work/template-$n"
    done
  fi
  small=$(median_ms "env COFFER_DIR=$store $coffer inject -i $work/template-$((holes / 10))")
  large=$(median_ms "env COFFER_DIR=$store $coffer inject -i $work/template-$holes")
  row "inject, $((holes / 10)) / $holes placeholders" "$small" "$large" "$(growth "$small" "$large")"
}

[ -n "$before" ] && bench_binary "$before" "before"
bench_binary "$after" "this tree"
