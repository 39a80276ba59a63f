#!/bin/sh
# Benchmarks `coffer scan` against `rg -F -f patterns` on the same tree and patterns, and the
# start-up cost `coffer run` adds with 10 references. Everything generated lives in a
# temporary folder, removed at the end.
#
#   bench/scan.sh [TOTAL_MB] [FILES] [SECRETS]      (defaults: 200 20000 1000)
#   KEEP=1 bench/scan.sh …                        keeps the generated folder
#
# Needs: a release build (cargo build --release), ripgrep, hyperfine, python3.
set -eu

total_mb=${1:-200}
files=${2:-20000}
secrets=${3:-1000}
repo=$(cd "$(dirname "$0")/.." && pwd)
coffer=${COFFER_BIN:-$repo/target/release/coffer}
[ -x "$coffer" ] || { echo "build first: cargo build --release" >&2; exit 2; }
for tool in rg hyperfine python3; do
    command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

work=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then
    echo "keeping the generated data in $work (KEEP is set)"
else
    trap 'rm -rf "$work"' EXIT
fi
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
unset COFFER_DIR COFFER_IDENTITIES_FILE COFFER_CONFIG COFFER_RECIPIENTS COFFER_RECIPIENTS_FILE
mkdir -p "$HOME"
"$coffer" init --no-passphrase >/dev/null 2>&1

echo "== generating a vault of $secrets secrets and a tree of $files files, ${total_mb} MB"
python3 - "$work" "$total_mb" "$files" "$secrets" <<'PY'
import base64, os, random, sys, urllib.parse
work, total_mb, files, secrets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(42)
alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!@"
values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(16, 32))) for _ in range(secrets)]
with open(os.path.join(work, "vault.env"), "w") as f:
    for i, v in enumerate(values):
        f.write(f"S{i:05d}='{v}'\n")

# The same patterns coffer builds (lib leak.rs): value, base64 at 3 alignments x 2 alphabets
# with the unstable characters dropped, URL-encoded when different.
def forms(v):
    b = v.encode()
    out = {b}
    for shift in range(3):
        padded = b"\0" * shift + b
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            e = enc(padded).rstrip(b"=")
            if (shift + len(b)) % 3:
                e = e[:-1]
            e = e[[0, 2, 3][shift]:]
            if len(e) >= 8:
                out.add(e)
    u = urllib.parse.quote(v, safe="-._~").encode()
    out.add(u)
    return out
pats = set()
for v in values:
    pats |= forms(v)
with open(os.path.join(work, "patterns.all"), "wb") as f:
    f.write(b"\n".join(sorted(pats)) + b"\n")
with open(os.path.join(work, "patterns.raw"), "w") as f:
    f.write("\n".join(values) + "\n")

# Source-like text: identifiers, punctuation, numbers. One big pool, sliced per file.
words = ["fn", "let", "const", "return", "import", "class", "self", "value", "config", "user",
         "password", "token", "request", "response", "error", "handler", "string", "int", "if",
         "else", "for", "while", "match", "async", "await", "struct", "impl", "pub", "use", "=",
         "==", "(", ")", "{", "}", ";", "//", "#", "0", "1", "42", "null", "true", "false"]
lines = []
size = 0
while size < 4 * 1024 * 1024:
    line = "    " * rng.randint(0, 3) + " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
    lines.append(line)
    size += len(line) + 1
pool = "\n".join(lines) + "\n"
per_file = total_mb * 1024 * 1024 // files
tree = os.path.join(work, "tree")
planted = 0
for i in range(files):
    d = os.path.join(tree, f"d{i % 200:03d}", f"e{(i // 200) % 10}")
    os.makedirs(d, exist_ok=True)
    start = rng.randrange(0, len(pool) - per_file - 1)
    text = pool[start:start + per_file]
    if i % 1000 == 0:  # a few leaks to find
        text += f'\nsecret = "{values[i % secrets]}"\n'
        planted += 1
    with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
        f.write(text)
print(f"{len(pats)} patterns ({secrets} values and encoded forms); {planted} planted leaks")
PY
"$coffer" import dotenv "$work/vault.env" --prefix bench >/dev/null 2>&1
du -sh "$work/tree" | sed 's/^/tree size: /'
echo "files: $(find "$work/tree" -type f | wc -l)"

cd "$work/tree"
echo "== findings (should agree)"
echo "coffer scan:            $("$coffer" scan 2>/dev/null | wc -l) findings"
echo "rg -F -f patterns.all:  $(rg -F -f ../patterns.all --hidden -c . | awk -F: '{s+=$NF} END {print s+0}') matching lines"

echo "== scan: coffer vs ripgrep (same tree, same patterns)"
hyperfine --warmup 1 --runs 5 -i -N \
    "$coffer scan" \
    "rg -F -f $work/patterns.all --hidden -n --column ." \
    "rg -F -f $work/patterns.raw --hidden -n --column ."

echo "== run: start-up cost with 10 references"
: > "$work/ten.env"
for i in 0 1 2 3 4 5 6 7 8 9; do echo "V$i=coffer:bench/S0000$i" >> "$work/ten.env"; done
hyperfine --warmup 5 --runs 50 -N \
    "/bin/true" \
    "$coffer run --env-file $work/ten.env -- /bin/true"
