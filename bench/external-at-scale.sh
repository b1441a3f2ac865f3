#!/usr/bin/env bash
# ExternalSecrets at scale (issue 14): N ExternalSecrets over 200 distinct remote secrets, half
# AWS Secrets Manager (moto, an assumed role) and half Vault (OpenBao, kubernetes auth), refreshed
# every INTERVAL seconds, against the Kubernetes API emulator: first-sync time, provider reads,
# STS calls and Vault logins per refresh interval, the largest 10-second window of provider calls
# against the mean, peak RSS; ESO's cost model for the same objects beside it. Then a new
# ExternalSecret against N queued periodic refreshes, and a first sync of BIG ExternalSecrets
# (time and peak RSS only).
#   N=1000 INTERVAL=60 WAVES=3 BIG=10000 bench/external-at-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000} INTERVAL=${INTERVAL:-60} WAVES=${WAVES:-3} BIG=${BIG:-10000}
eval "$(tests/infra/install-peers.sh)"
# The controller as the image ships it (Cargo.toml's `controller` profile).
cargo build --profile controller --quiet -p sealbox-controller
crds=$(mktemp)
trap 'rm -f "$crds"' EXIT
target/controller/crdgen >"$crds"
python3 bench/external_at_scale.py "$PWD" target/controller/sealbox-controller "$crds" "$N" "$INTERVAL" "$WAVES"
# The same N on one remote secret and one sync at a time: a new ExternalSecret against N queued
# periodic refreshes.
python3 bench/external_at_scale.py "$PWD" target/controller/sealbox-controller "$crds" "$N" 20 0 queue
if [ "$BIG" -gt 0 ]; then
  python3 bench/external_at_scale.py "$PWD" target/controller/sealbox-controller "$crds" "$BIG" 3600 0
fi
