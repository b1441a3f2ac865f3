#!/usr/bin/env bash
# Memory: peak RSS (/usr/bin/time -v) of sealbox seal, unseal, encrypt and decrypt on a 50 MB
# Secret: a manifest with one `data` item of 50 MB random bytes (base64), and a SOPS YAML with
# one 50 MB string value. Prints MiB, the ratio to the input size and the target
# (<= 4 x input + 20 MiB). A benchmark, not a test. SEALBOX=path measures another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${MB:-50}
command -v /usr/bin/time >/dev/null || apt-get install -y time >&2
command -v age-keygen >/dev/null || apt-get install -y age >&2
if [ -z "${SEALBOX:-}" ]; then
  cargo build --release --quiet -p sealbox
  SEALBOX=$PWD/target/release/sealbox
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SEALBOX_HOME=$work/home
"$SEALBOX" keys init >/dev/null 2>&1
cert=$(ls "$work"/home/keys/*.crt)
age-keygen -o "$work/key.txt" 2>/dev/null
export SOPS_AGE_KEY_FILE=$work/key.txt
recipient=$(grep -o 'age1[a-z0-9]*' "$work/key.txt")

python3 - "$MB" "$work" <<'PY'
import base64, os, sys
mb, work = int(sys.argv[1]), sys.argv[2]
raw = os.urandom(mb * 1000 * 1000)
with open(f"{work}/secret.yaml", "w") as f:
    f.write("apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\n  namespace: default\n"
            "type: Opaque\ndata:\n  blob: " + base64.b64encode(raw).decode() + "\n")
with open(f"{work}/plain.yaml", "w") as f:
    f.write("big: " + base64.b64encode(raw[: mb * 1000 * 1000 * 3 // 4]).decode() + "\n")
PY
"$SEALBOX" seal --cert "$cert" -f "$work/secret.yaml" >"$work/sealed.yaml" 2>/dev/null
"$SEALBOX" encrypt --age "$recipient" "$work/plain.yaml" >"$work/enc.yaml"

# peak NAME INPUT CMD...: runs CMD (stdout discarded), prints its peak RSS against INPUT's size
peak() {
  local name=$1 input=$2
  shift 2
  /usr/bin/time -v -o "$work/time" "$@" >/dev/null 2>"$work/err"
  local kb size
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
  size=$(stat -c %s "$input")
  python3 - "$name" "$kb" "$size" <<'PY'
import sys
name, kb, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rss, inp = kb / 1024, size / 1048576
target = 4 * inp + 20
print(f"  {name:8} input {inp:6.1f} MiB  peak RSS {rss:7.1f} MiB  ratio {rss/inp:5.1f}x  "
      f"target <= {target:6.1f} MiB  {'ok' if rss <= target else 'OVER'}")
PY
}

echo "peak RSS, ${MB} MB Secret / value ($(nproc) cores)"
peak seal "$work/secret.yaml" "$SEALBOX" seal --cert "$cert" -f "$work/secret.yaml"
peak unseal "$work/sealed.yaml" "$SEALBOX" unseal -f "$work/sealed.yaml"
peak encrypt "$work/plain.yaml" "$SEALBOX" encrypt --age "$recipient" "$work/plain.yaml"
peak decrypt "$work/enc.yaml" "$SEALBOX" decrypt "$work/enc.yaml"
