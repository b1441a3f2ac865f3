#!/usr/bin/env bash
# The two jobs that need no cluster, in a throwaway directory and key store:
#  1. Sealed Secrets: seal a Secret with a public key, check it, unseal it with the private key.
#  2. SOPS: encrypt a Secret's values for an age key, decrypt them again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sealbox=$(realpath "${1:-target/release/sealbox}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SEALBOX_HOME=$work/sealbox
cd "$work"
say() { printf '\n# %s\n' "$*"; }

cat > secret.yaml <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: default
stringData:
  password: hunter2
YAML

say "1. Sealed Secrets. A local RSA-4096 key pair stands in for a cluster controller's:"
"$sealbox" keys init
say "sealbox seal -f secret.yaml: each value is encrypted for that key and bound to default/db-creds."
say "This SealedSecret is safe to commit; only the private key opens it:"
"$sealbox" seal -f secret.yaml | tee sealed.yaml
say "sealbox validate -f sealed.yaml: every item opens, and with which key:"
"$sealbox" validate -f sealed.yaml
say "sealbox unseal -f sealed.yaml: the Secret back, as a controller would create it:"
"$sealbox" unseal -f sealed.yaml

say "2. SOPS. An age key pair (the identity file holds the private key):"
if command -v age-keygen >/dev/null; then
  age-keygen -o age.txt 2>/dev/null
else
  # No age-keygen here: a demo key from the test fixtures. Never use it for real secrets.
  cp "$root/testdata/sops/generated/keys/key1.txt" age.txt
fi
recipient=$(grep -o 'age1[0-9a-z]*' age.txt | head -1)
echo "recipient: $recipient"
say "sealbox encrypt --age $recipient secret.yaml: stringData is encrypted, metadata stays readable."
say "sops reads this file too, and so does Flux's kustomize-controller:"
"$sealbox" encrypt --age "$recipient" secret.yaml | tee secret.enc.yaml
say "SOPS_AGE_KEY_FILE=age.txt sealbox decrypt secret.enc.yaml: the plaintext, checked against its MAC:"
SOPS_AGE_KEY_FILE=age.txt "$sealbox" decrypt secret.enc.yaml
say "Done. Nothing was written outside $work, which is now removed."
