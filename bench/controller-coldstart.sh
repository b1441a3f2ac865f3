#!/usr/bin/env bash
# sealbox-controller cold start against the Kubernetes API emulator: 1,000 SealedSecrets x 3
# items and 12 keys; time until every Secret exists and peak RSS, key memory on and off, next
# to the floor of 3,000 RSA-4096 private operations at `openssl speed -multi 2 rsa4096`'s rate.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000} KEYS=${KEYS:-12}
eval "$(tests/infra/install-peers.sh)"
cargo build --release --quiet -p sealbox -p sealbox-controller
out=$("$SEALBOX_KAPI_PYTHON" bench/controller_coldstart.py "$PWD" target/release/sealbox \
  target/release/sealbox-controller "$N" "$KEYS" | tee /dev/stderr)
rate=$(openssl speed -multi 2 -seconds 3 rsa4096 2>/dev/null | awk '/^rsa 4096 bits/ {print $(NF-1)}' | tail -1)
python3 - "$out" "$rate" "$N" <<'PY'
import sys
out, rate, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
on, off = map(float, out.split("RESULT ")[1].split())
floor = 3 * n / rate
print(f"openssl speed -multi 2 rsa4096: {rate:.0f} private ops/s -> floor {floor:.2f} s for {3*n} ops")
print(f"  sealbox (key memory on) / floor = {on/floor:.2f} (target <= 1.5)")
PY
