#!/usr/bin/env bash
# The agent's cost: `show` and `grep` through an unlocked agent vs. an unprotected identity
# in-process, on two stores of the same N three-line secrets; and the time of one unlock.
#
#   bench/agent.sh            # N=1000
#   N=200 RUNS=5 bench/agent.sh
#
# Needs: cargo, hyperfine, python3. Timings on a shared machine are noisy: compare ratios.
set -euo pipefail

N=${N:-1000}
RUNS=${RUNS:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
coffer="$here/target/release/coffer"
for tool in hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export XDG_RUNTIME_DIR="$work/run" LANG=C NO_COLOR=1
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
trap '"$coffer" agent stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
plain_ids="$work/ids-plain" protected_ids="$work/ids-protected" pass="$work/pass"
echo "bench passphrase" > "$pass"

mean_ms() {
  local json="$work/h.json"
  hyperfine --style none "$@" --export-json "$json" >/dev/null 2>&1
  python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$json"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
row() { printf '| %-36s | %10s | %10s | %6s | %s |\n' "$@"; }

# Store A: N secrets for an unprotected identity, written by coffer itself.
export COFFER_DIR="$work/store-plain" COFFER_IDENTITIES_FILE="$plain_ids"
"$coffer" init --no-passphrase >/dev/null 2>&1
seq 0 $((N - 1)) | xargs -P 2 -I{} sh -c \
  'printf "pw-{}-%s\nuser: user{}\nurl: https://site{}.example\n" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d " \n")" | "$0" insert -m "f$(({} % 100))/s{}"' "$coffer"

# Store B: the same secrets, re-encrypted for a passphrase-protected identity (scrypt 2^18).
recipient_b=$(COFFER_DIR="$work/empty" COFFER_IDENTITIES_FILE="$protected_ids" \
  setsid -w "$coffer" init --passphrase-fd 3 3<"$pass" 2>/dev/null | grep -o 'age1[0-9a-z]*')
cp -a "$work/store-plain" "$work/store-protected"
echo "$recipient_b" > "$work/store-protected/.age-recipients"
COFFER_DIR="$work/store-protected" "$coffer" reencrypt >/dev/null 2>&1

plain="COFFER_DIR=$work/store-plain COFFER_IDENTITIES_FILE=$plain_ids"
agent="COFFER_DIR=$work/store-protected COFFER_IDENTITIES_FILE=$protected_ids"
unlock="env $agent setsid -w $coffer unlock --passphrase-fd 3 3<$pass"
bash -c "$unlock"

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $($coffer version); N=$N"
echo
row "measurement (mean ms)" "agent" "plain" "ratio" "target"
row "---" "---:" "---:" "---:" "---"
a=$(mean_ms --warmup 3 --runs 100 -N "env $agent $coffer show f7/s7")
p=$(mean_ms --warmup 3 --runs 100 -N "env $plain $coffer show f7/s7")
row "show one secret" "$a" "$p" "$(ratio "$a" "$p")" "≤ 1.5"
a=$(mean_ms --warmup 2 --runs "$RUNS" -N "env $agent $coffer grep user42\$")
p=$(mean_ms --warmup 2 --runs "$RUNS" -N "env $plain $coffer grep user42\$")
row "grep over $N secrets" "$a" "$p" "$(ratio "$a" "$p")" "≤ 1.5"
u=$(mean_ms --runs 5 --prepare "$coffer lock" "$unlock")
row "unlock (one scrypt, work factor 18)" "$u" "" "" "≈ 500 ms"
