#!/usr/bin/env bash
# Unsealing: `sealbox unseal` of 1,000 SealedSecrets x 3 items (RSA-4096, one key) against the
# physical floor measured in the same run: 3,000 RSA-4096 private operations at
# `openssl speed -multi <cores> rsa4096`'s aggregate rate (spec sealed-secrets.md §9). Whole
# process timed (start-up, parsing, decrypting, YAML output); best of RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release --quiet -p sealbox
sealbox=$PWD/target/release/sealbox
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

SEALBOX_HOME=$work/home "$sealbox" keys init >/dev/null 2>&1
cert=$(ls "$work"/home/keys/*.crt)
key=$(ls "$work"/home/keys/*.key)
python3 bench/make_stream.py 1000 3 >"$work/stream.yaml"
"$sealbox" seal --cert "$cert" -f "$work/stream.yaml" >"$work/sealed.yaml"

. bench/best.sh

cores=$(nproc)
ours=$(best "$sealbox" unseal --recovery-private-key "$key" -f "$work/sealed.yaml")
test "$(grep -c '^kind: Secret' "$work/out")" = 1000
rate=$(openssl speed -multi "$cores" -seconds 3 rsa4096 2>/dev/null | awk '/^rsa 4096 bits/ {print $(NF-1)}' | tail -1)
python3 - "$ours" "$rate" "$cores" <<'PY'
import sys
ours, rate, cores = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
floor = 3000 / rate
print(f"unseal 1000 SealedSecrets x 3 items (RSA-4096, 1 key), whole process, best of runs, {cores} cores")
print(f"  sealbox unseal                           {ours:8.3f} s  ({3000/ours:6.0f} items/s)")
print(f"  floor: 3000 ops at openssl speed -multi {cores} {floor:8.3f} s  ({rate:6.0f} private ops/s)")
print(f"  ratio                                    {ours/floor:8.2f}x the floor (target <= 1.2x)")
PY
