#!/usr/bin/env bash
# Sealing: sealbox vs kubesealpy on the same stream of 1,000 Secrets x 3 keys (RSA-4096 cert),
# whole processes timed (start-up, parsing, sealing, YAML output); best of RUNS.
# Opening: sealbox's RSA-4096 open rate (cargo bench) next to `openssl speed rsa4096`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
eval "$(tests/infra/install-peers.sh)"
cargo build --release --quiet -p sealbox
sealbox=$PWD/target/release/sealbox
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

SEALBOX_HOME=$work/home "$sealbox" keys init >/dev/null 2>&1
cert=$(ls "$work"/home/keys/*.crt)
python3 bench/make_stream.py 1000 3 >"$work/stream.yaml"

. bench/best.sh

ours=$(best "$sealbox" seal --cert "$cert" -f "$work/stream.yaml")
test "$(grep -c '^kind: SealedSecret' "$work/out")" = 1000
theirs=$(best "$SEALBOX_PEER_PYTHON" bench/kubesealpy_seal_stream.py "$cert" "$work/stream.yaml")
test "$(grep -c '^kind: SealedSecret' "$work/out")" = 1000
python3 - "$ours" "$theirs" <<'PY'
import sys
ours, theirs = map(float, sys.argv[1:])
print(f"seal 1000 Secrets x 3 keys (RSA-4096), whole process, best of runs, {__import__('os').cpu_count()} cores")
print(f"  sealbox    {ours:8.3f} s  ({3000/ours:8.0f} items/s)")
print(f"  kubesealpy {theirs:8.3f} s  ({3000/theirs:8.0f} items/s)")
print(f"  ratio      {theirs/ours:8.1f}x faster (target >= 10x)")
PY

# Open: one private-key operation plus AES-GCM per item, single-threaded.
bench_out=$(cargo bench --quiet -p sealbox-crypto --bench sealed -- open_rsa4096 2>/dev/null)
open_ms=$(echo "$bench_out" | awk -F'│' '/open_rsa4096/ {print $3}' | python3 -c '
import sys, re
s = sys.stdin.read().strip()
v, unit = re.match(r"([0-9.]+)\s*(ns|µs|us|ms|s)", s).groups()
print(float(v) * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1, "s": 1000}[unit])')
ossl=$(openssl speed -seconds 3 rsa4096 2>/dev/null | awk '/^rsa 4096 bits/ {print $(NF-1)}')
python3 - "$open_ms" "$ossl" <<'PY'
import sys
ms, ossl = float(sys.argv[1]), float(sys.argv[2])
ours = 1000 / ms
print("RSA-4096 open, 1 core")
print(f"  sealbox open (OAEP-SHA256 + AES-GCM) {ours:8.0f} ops/s (median {ms:.2f} ms)")
print(f"  openssl speed rsa4096 private ops    {ossl:8.0f} ops/s")
print(f"  ratio                                {ours/ossl:8.2f}x (target >= 0.8x)")
PY
