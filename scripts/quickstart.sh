#!/usr/bin/env bash
# Seals and unseals a Secret with no cluster, in a throwaway key store.
set -euo pipefail
sealbox=$(realpath "${1:-target/release/sealbox}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SEALBOX_HOME=$work/sealbox
cd "$work"

"$sealbox" keys init
cat > secret.yaml <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: default
stringData:
  password: hunter2
YAML
echo "# sealbox seal -f secret.yaml"
"$sealbox" seal -f secret.yaml | tee sealed.yaml
echo "# sealbox validate -f sealed.yaml"
"$sealbox" validate -f sealed.yaml
echo "# sealbox unseal -f sealed.yaml"
"$sealbox" unseal -f sealed.yaml
