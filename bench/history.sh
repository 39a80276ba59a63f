#!/usr/bin/env bash
# History and fsck at scale, against the baselines issue 16 names:
#   coffer history NAME   vs  git log --follow of that file   (target ≤ 2×)
#   coffer fsck           vs  coffer ls                        (target ≤ 3×)
# on a store of SECRETS secrets (10,000) with COMMITS commits (20,000), built at run time with
# git fast-import: one real age file, copied, so every header is valid. fsck is timed warm
# (its cache of checked headers filled by a run after the files settled, as it is for any
# store not rewritten in the last two seconds) and with --full (every header read).
#
#   bench/history.sh
#   SECRETS=2000 COMMITS=4000 bench/history.sh   # quicker
#   BEFORE=old/coffer bench/history.sh           # fsck of an older build beside this one
#
# Needs: cargo, git, hyperfine, python3.
set -euo pipefail

SECRETS=${SECRETS:-10000}
COMMITS=${COMMITS:-20000}
RUNS=${RUNS:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
coffer="$here/target/release/coffer"
for tool in git hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
# KEEP=1 leaves the store (and prints where) for profiling.
if [ -n "${KEEP:-}" ]; then echo "work folder: $work"; else trap 'rm -rf "$work"' EXIT; fi
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export LANG=C NO_COLOR=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
mkdir -p "$HOME"
store="$XDG_DATA_HOME/coffer/store"

"$coffer" init --no-passphrase --git >/dev/null 2>&1
printf 'value\nuser: bench\n' | "$coffer" insert -m seed/one >/dev/null
sample="$store/seed/one.age"

# SECRETS files under 100 folders, then COMMITS commits each changing one of them (a new
# ciphertext of the same size), a fifth of them re-encryptions that keep the value.
branch=$(git -C "$store" symbolic-ref --short HEAD)
python3 - "$sample" "$SECRETS" "$COMMITS" "$branch" >"$work/stream" <<'PY'
import os, sys
sample = open(sys.argv[1], "rb").read()
secrets, commits = int(sys.argv[2]), int(sys.argv[3])
ref = b"refs/heads/" + sys.argv[4].encode()
out = sys.stdout.buffer
def blob(mark, data):
    out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n")
blob(1, sample)
t = 1_600_000_000
out.write(b"commit %s\nmark :2\ncommitter bench <bench@example.invalid> %d +0000\n" % (ref, t))
msg = b"Import secrets."
out.write(b"data %d\n%s\nfrom %s^0\n" % (len(msg), msg, ref))
for i in range(secrets):
    out.write(b"M 100644 :1 f%d/s%d.age\n" % (i % 100, i))
for c in range(commits):
    i = (c * 7919) % secrets
    data = sample[:-16] + os.urandom(16)
    blob(10 + c, data)
    t += 60
    if c % 5 == 0:
        msg = b"Reencrypt f%d.\n\nCoffer-Value: unchanged" % (i % 100)
    else:
        msg = b"Edit password for f%d/s%d using vi." % (i % 100, i)
    out.write(b"commit %s\ncommitter bench <bench@example.invalid> %d +0000\n" % (ref, t))
    out.write(b"data %d\n%s\n" % (len(msg), msg))
    out.write(b"M 100644 :%d f%d/s%d.age\n" % (10 + c, i % 100, i))
PY
git -C "$store" fast-import --quiet <"$work/stream"
# coffer keeps secrets 0600: check them out that way.
umask 077
git -C "$store" reset --quiet --hard "$branch"
name="f42/s42"
edits=$(git -C "$store" log --format=%H -- "$name.age" | wc -l)
echo "store: $SECRETS secrets, $(git -C "$store" rev-list --count HEAD) commits; $name has $edits"
# A file changed within the last two seconds is never cached: let them settle, then fill
# fsck's cache once.
sleep 2
"$coffer" fsck >"$work/fsck.txt" 2>&1 || echo "fsck found: $(head -3 "$work/fsck.txt")"
"$coffer" fsck --json | python3 -c 'import json,sys; h=json.load(sys.stdin)["headers"]; print("fsck cache: %d headers read, %d from the cache" % (h["read"], h["from_cache"]))' || true

mean_ms() {
  local json="$work/h.json"
  # -i: fsck exits 1 when it finds something; its time is what counts here.
  hyperfine -i --style none --warmup 2 --runs "$RUNS" --export-json "$json" -N "$1" >/dev/null 2>&1 ||
    hyperfine -i --style none --warmup 2 --runs "$RUNS" --export-json "$json" "$1" >/dev/null
  python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$json"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

history=$(mean_ms "$coffer history $name")
follow=$(mean_ms "git -C $store log --follow --format=%h%x09%ad%x09%an%x09%s -- $name.age")
fsck=$(mean_ms "$coffer fsck")
full=$(mean_ms "$coffer fsck --full")
ls=$(mean_ms "$coffer ls")
printf '%-44s %10s %10s %8s  %s\n' measurement coffer baseline ratio target
printf '%-44s %10s %10s %8s  %s\n' "history of one secret (ms, median)" "$history" "$follow" "$(ratio "$history" "$follow")" "≤ 2× git log --follow"
printf '%-44s %10s %10s %8s  %s\n' "fsck, no decrypt, warm (ms, median)" "$fsck" "$ls" "$(ratio "$fsck" "$ls")" "≤ 3× coffer ls"
printf '%-44s %10s %10s %8s  %s\n' "fsck --full (ms, median)" "$full" "$ls" "$(ratio "$full" "$ls")" "(every header read)"
if [ -n "${BEFORE:-}" ]; then
  before=$(mean_ms "$BEFORE fsck")
  printf '%-44s %10s %10s %8s  %s\n' "fsck of \$BEFORE (ms, median)" "$before" "$ls" "$(ratio "$before" "$ls")" "(before)"
fi
