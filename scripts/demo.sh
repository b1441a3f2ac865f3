#!/usr/bin/env bash
# Try sealbox without a cluster. Starts the test servers (the Kubernetes API emulator, moto for
# AWS Secrets Manager, an OpenBao dev server for Vault), runs sealbox-controller against them with
# the Helm chart's default arguments and environment, and walks through:
#   1. a Secret sealed with `sealbox kubeseal`, applied as a SealedSecret, unsealed by the controller;
#   2. an ExternalSecret reading AWS Secrets Manager (moto);
#   3. an ExternalSecret reading Vault KV v2 (OpenBao, token auth).
# Every process it starts is stopped and its temporary directory removed when it exits, however
# it exits (success, failure, Ctrl-C).
#
# Usage: scripts/demo.sh
#   SEALBOX_BIN, SEALBOX_CONTROLLER_BIN  binaries to run (default: built once with cargo)
#   DEMO_TIMEOUT                         seconds each wait may take (default 90)
# The same walk-through on a real cluster (kind): charts/sealbox/README.md, "Try it on kind".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
timeout=${DEMO_TIMEOUT:-90}
namespace=kube-system # where the chart is installed, so kubeseal's defaults find the controller

heading() { printf '\n=== %s\n\n' "$*"; }
say() { printf '%s\n' "$*"; }
# A command as you would type it; `run` also runs it.
typed() { printf '$ %s\n' "$*"; }
# A file as it is, with very long lines (ciphertext) cut short.
show_file() { sed -E 's/^(.{100}).+$/\1…/' "$1"; printf '\n'; }

# Processes this script started, and what they are.
pids=()
names=()
work=$(mktemp -d "${TMPDIR:-/tmp}/sealbox-demo.XXXXXX")
say "demo: work dir $work"

alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  cd /
  local i pid tries
  # Newest first: the controller stops before the servers it talks to.
  local order=()
  for i in "${!pids[@]}"; do
    order=("$i" "${order[@]}")
  done
  for i in "${order[@]}"; do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
  done
  for i in "${order[@]}"; do
    pid=${pids[$i]}
    for ((tries = 0; tries < 50; tries++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for ((tries = 0; tries < 20; tries++)); do
        alive "$pid" || break
        sleep 0.1
      done
    fi
    if alive "$pid"; then
      say "demo: could not stop ${names[$i]} (pid $pid)" >&2
      status=1
    else
      wait "$pid" 2>/dev/null || true
      say "demo: stopped ${names[$i]} (pid $pid)"
    fi
  done
  rm -rf "$work"
  say "demo: removed $work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fail REASON [NAME]: the last lines of NAME's log (default: the controller's), the reason,
# then exit 1.
fail() {
  local log=$work/${2:-sealbox-controller}.log
  if [[ -s $log ]]; then
    printf '\n--- last lines of %s\n' "$log" >&2
    tail -n 20 "$log" >&2
  fi
  printf '\ndemo: FAILED: %s\n' "$1" >&2
  exit 1
}

# start NAME COMMAND...: runs COMMAND in the background, stdout to $work/NAME.out and stderr to
# $work/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=("$!")
  names+=("$name")
  say "demo: started $name (pid $!)"
}

# Fails naming the process if one this script started has exited.
all_running() {
  local i rc
  for i in "${!pids[@]}"; do
    if ! alive "${pids[$i]}"; then
      rc=0
      wait "${pids[$i]}" 2>/dev/null || rc=$?
      fail "${names[$i]} exited (status $rc) while waiting for $1" "${names[$i]}"
    fi
  done
}

# wait_for WHAT COMMAND...: until COMMAND succeeds, at most $timeout seconds.
wait_for() {
  local what=$1 deadline=$((SECONDS + timeout))
  shift
  say "... waiting for $what"
  until "$@" >/dev/null 2>&1; do
    all_running "$what"
    ((SECONDS < deadline)) || fail "gave up after ${timeout}s waiting for $what"
    sleep 0.3
  done
}

heading "0. Setup: test servers, binaries and the chart's configuration"
say "The test servers come from tests/infra/install-peers.sh (venvs under target/peers)."
eval "$("$root/tests/infra/install-peers.sh")"
: "${SEALBOX_KAPI_PYTHON:?not set by install-peers.sh}" "${SEALBOX_HELM:?not set by install-peers.sh}"
: "${SEALBOX_MOTO_SERVER:?not set by install-peers.sh}" "${SEALBOX_BAO:?not set by install-peers.sh}"
python=$SEALBOX_KAPI_PYTHON # has PyYAML; this script talks to the servers with it (no curl needed)

if [[ -z ${SEALBOX_BIN:-} || -z ${SEALBOX_CONTROLLER_BIN:-} ]]; then
  say "Building sealbox and sealbox-controller (once):"
  typed cargo build -p sealbox -p sealbox-controller
  (cd "$root" && cargo build --quiet -p sealbox -p sealbox-controller --bin sealbox --bin sealbox-controller)
  target=${CARGO_TARGET_DIR:-target}
  [[ $target = /* ]] || target=$root/$target
  SEALBOX_BIN=${SEALBOX_BIN:-$target/debug/sealbox}
  SEALBOX_CONTROLLER_BIN=${SEALBOX_CONTROLLER_BIN:-$target/debug/sealbox-controller}
fi
say "sealbox:            $SEALBOX_BIN"
say "sealbox-controller: $SEALBOX_CONTROLLER_BIN"
# `sealbox` below is the binary above, as if it were on PATH.
sealbox() { "$SEALBOX_BIN" "$@"; }

# The helper that talks to the emulator, moto and the chart's render. Each subcommand is what
# kubectl (or the aws CLI) would do; the text says which.
cat >"$work/kube.py" <<'PY'
import base64, json, os, random, re, socket, sys, urllib.error, urllib.request
import yaml

API = os.environ.get("DEMO_API", "")


def http(method, url, body=None, ctype="application/json", headers=()):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", ctype)
    for k, v in headers:
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def free_port(taken=()):
    # Below the kernel's ephemeral range, so no outgoing connection takes it before the server.
    while True:
        port = random.randint(20000, 31999)
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def path_of(obj, ns="default"):
    api, kind, name = obj["apiVersion"], obj["kind"], obj["metadata"]["name"]
    base = "/api/v1" if api == "v1" else f"/apis/{api}"
    plural = kind.lower() + "s"
    if kind in ("Namespace", "ClusterSecretStore", "ClusterExternalSecret"):
        return f"{base}/{plural}/{name}"
    return f"{base}/namespaces/{obj['metadata'].get('namespace', ns)}/{plural}/{name}"


def apply(objs):
    """kubectl apply --server-side: create, or merge into what is there."""
    for obj in objs:
        existed = http("GET", API + path_of(obj))[0] == 200
        status, body = http("PATCH", API + path_of(obj) + "?fieldManager=kubectl", json.dumps(obj),
                            "application/apply-patch+yaml")
        if status not in (200, 201):
            sys.exit(f"apply {obj['kind']} {obj['metadata']['name']}: {status} {body}")
        group = obj["apiVersion"].rpartition("/")[0]
        what = obj["kind"].lower() + (f".{group}" if group else "")
        print(f"{what}/{obj['metadata']['name']} {'configured' if existed else 'created'}")


def chart(render, work, ns):
    """Splits `helm template` output into what the demo needs; prints what it changes."""
    docs = [d for d in yaml.safe_load_all(open(render)) if d]
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    with open(f"{work}/crds.yaml", "w") as f:
        yaml.safe_dump_all(crds, f)
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    if len(deployments) != 1:
        sys.exit(f"the chart rendered {len(deployments)} Deployments, expected 1")
    pod = deployments[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    local = {}
    args = list(container.get("command", [])[1:])
    print("The Deployment's container runs here as a local process with the chart's arguments;")
    print("only its listen addresses move to free local ports:")
    for arg in container.get("args", []):
        m = re.match(r"^(--[a-z0-9-]*(?:addr|address|bind|listen)[a-z0-9-]*)=(\S*):(\d+)$", arg)
        if m:
            port = local.setdefault(int(m[3]), free_port(local.values()))
            new = f"{m[1]}=127.0.0.1:{port}"
            print(f"  {arg:<28} -> {new}")
            arg = new
        args.append(arg)
    if container.get("envFrom"):
        sys.exit("the chart's container has envFrom: the demo cannot resolve it")
    fields = {"metadata.namespace": ns, "metadata.name": "sealbox-demo",
              "spec.nodeName": "localhost", "status.podIP": "127.0.0.1",
              "spec.serviceAccountName": pod.get("serviceAccountName", "default")}
    env = []
    for e in container.get("env", []):
        if "value" in e:
            value = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") in fields:
            value = fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            sys.exit(f"the chart's env {e['name']} comes from {e.get('valueFrom')}: the demo cannot resolve it")
        env.append(f"{e['name']}={value}")
    with open(f"{work}/controller.args", "w") as f:
        f.write("".join(a + "\0" for a in args))
    with open(f"{work}/controller.env", "w") as f:
        f.write("".join(e + "\0" for e in env))
    print("\nsealbox-controller \\\n  " + " \\\n  ".join(args))
    print("environment: " + " ".join(env))
    # What the emulator serves of the rest; a Service's targetPort goes to the local port.
    made, skipped = [], {}
    for d in docs:
        if d["kind"] in ("Service", "ServiceAccount"):
            d["metadata"].setdefault("namespace", ns)
            for p in d.get("spec", {}).get("ports", []):
                target = p.get("targetPort", p["port"])
                target = ports.get(target, target)
                if target in local:
                    p["targetPort"] = local[target]
            made.append(d)
        elif d["kind"] != "CustomResourceDefinition":
            skipped[d["kind"]] = skipped.get(d["kind"], 0) + 1
    with open(f"{work}/chart-objects.yaml", "w") as f:
        yaml.safe_dump_all(made, f)
    print(f"\nCRDs: {', '.join(c['metadata']['name'] for c in crds)} (served by the emulator)")
    print("Not needed without a cluster: " + ", ".join(f"{k} x{v}" for k, v in skipped.items())
          + " (RBAC; the Deployment is the local process above)")


def secret(ns, name, keys):
    """kubectl get secret NAME -o jsonpath='{.data.KEY}' | base64 -d, for every key."""
    status, body = http("GET", f"{API}/api/v1/namespaces/{ns}/secrets/{name}")
    if status != 200:
        sys.exit(1)
    data = json.loads(body).get("data") or {}
    if any(k not in data for k in keys):
        sys.exit(1)
    for k in sorted(data):
        print(f"  {k}: {base64.b64decode(data[k]).decode()}")


def condition(path, kind):
    """Succeeds when the object's condition KIND is True; prints it."""
    status, body = http("GET", API + path)
    if status != 200:
        sys.exit(1)
    for c in (json.loads(body).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            why = ": ".join(x for x in (c.get("reason"), c.get("message")) if x)
            print(f"  {kind}={c.get('status')}" + (f" ({why})" if why else ""))
            sys.exit(0 if c.get("status") == "True" else 1)
    sys.exit(1)


def events(ns, name):
    """kubectl get events --field-selector involvedObject.name=NAME."""
    status, body = http("GET", f"{API}/api/v1/namespaces/{ns}/events")
    found = [e for e in json.loads(body).get("items", []) if status == 200
             and e.get("involvedObject", {}).get("name") == name]
    for e in found:
        print(f"  {e.get('type')} {e.get('reason')}: {e.get('message')}")
    sys.exit(0 if found else 1)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "free-port":
        print(free_port())
    elif cmd == "ok":
        sys.exit(0 if http("GET", args[0])[0] == 200 else 1)
    elif cmd == "chart":
        chart(*args)
    elif cmd == "apply":
        apply([d for d in yaml.safe_load_all(open(args[0])) if d])
    elif cmd == "secret":
        secret(args[0], args[1], args[2:])
    elif cmd == "condition":
        condition(*args)
    elif cmd == "events":
        events(*args)
    elif cmd == "moto-create-secret":
        # aws secretsmanager create-secret: moto routes by the SigV4 scope and checks no signature.
        auth = ("Authorization", "AWS4-HMAC-SHA256 Credential=demo/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0")
        status, body = http("POST", args[0] + "/", json.dumps({"Name": args[1], "SecretString": args[2]}),
                            "application/x-amz-json-1.1",
                            [("X-Amz-Target", "secretsmanager.CreateSecret"), auth])
        if status != 200:
            sys.exit(f"CreateSecret {args[1]}: {status} {body}")
        print(json.dumps({k: v for k, v in json.loads(body).items() if k in ("ARN", "Name")}, indent=2))
    else:
        sys.exit(f"unknown command {cmd}")


main()
PY
kube() { DEMO_API=${api:-} "$python" "$work/kube.py" "$@"; }

say
say "The chart's default configuration, as \`helm install\` would render it:"
typed helm template sealbox charts/sealbox --namespace $namespace
"$SEALBOX_HELM" template sealbox "$root/charts/sealbox" --namespace "$namespace" >"$work/rendered.yaml"
kube chart "$work/rendered.yaml" "$work" "$namespace"
ctl_args=()
ctl_env=()
mapfile -d '' -t ctl_args <"$work/controller.args"
mapfile -d '' -t ctl_env <"$work/controller.env"

say
say "The servers, each on a free local port:"
start emulator "$python" "$root/tests/infra/kapi_emulator.py" --port 0 --gc \
  --kubeconfig "$work/kubeconfig" --crd-file "$work/crds.yaml"
wait_for "the Kubernetes API emulator to print READY" grep -q '^READY ' "$work/emulator.out"
api=$(sed -n 's/^READY //p' "$work/emulator.out" | head -n 1)
export KUBECONFIG=$work/kubeconfig
say "Kubernetes API emulator: $api (KUBECONFIG=$KUBECONFIG)"

moto_port=$(kube free-port)
start moto "$SEALBOX_MOTO_SERVER" -H 127.0.0.1 -p "$moto_port"
moto=http://127.0.0.1:$moto_port
wait_for "moto (AWS Secrets Manager) at $moto" kube ok "$moto/moto-api/"
say "AWS Secrets Manager (moto): $moto"

bao_port=$(kube free-port)
start openbao "$SEALBOX_BAO" server -dev -dev-root-token-id=root \
  -dev-listen-address="127.0.0.1:$bao_port" -dev-no-store-token
bao=http://127.0.0.1:$bao_port
wait_for "OpenBao (Vault) at $bao" kube ok "$bao/v1/sys/health"
say "Vault (OpenBao dev server, root token \"root\", KV v2 at secret/): $bao"

say
say "What \`helm install sealbox charts/sealbox -n $namespace\` creates that the controller needs:"
say "the CRDs (given to the emulator above), namespace $namespace (the emulator starts with it),"
say "and the Services, whose targetPort here is the controller's local port:"
typed kubectl apply --server-side -f chart-objects.yaml
kube apply "$work/chart-objects.yaml"

say
say "The controller, with the chart's arguments and environment above. Only for this demo, its"
say "AWS client is pointed at moto (AWS_SECRETSMANAGER_ENDPOINT) and it reads the emulator's"
say "kubeconfig instead of its ServiceAccount:"
ctl_env+=("KUBECONFIG=$KUBECONFIG" "AWS_SECRETSMANAGER_ENDPOINT=$moto" "AWS_EC2_METADATA_DISABLED=true" "NO_COLOR=1")
start sealbox-controller env "${ctl_env[@]}" "$SEALBOX_CONTROLLER_BIN" "${ctl_args[@]}"
cert_url=$api/api/v1/namespaces/$namespace/services/sealed-secrets-controller/proxy/v1/cert.pem
say "It makes its first sealing key (RSA-4096) at start-up, which takes a moment."
wait_for "the controller to serve its certificate through Service $namespace/sealed-secrets-controller" \
  kube ok "$cert_url"
say "OK: sealbox-controller is running; its sealing key is a Secret in $namespace."

cd "$work"

heading "1. Sealed Secrets: seal a Secret, apply the SealedSecret, the controller unseals it"
cat >secret.yaml <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: default
type: Opaque
stringData:
  username: app
  password: correct-horse-battery-staple
YAML
say "A plain Secret; never commit this one:"
typed cat secret.yaml
show_file secret.yaml
say "kubeseal's defaults find the controller's Service (sealed-secrets-controller in kube-system)"
say "through the API server's service proxy and fetch its public certificate:"
typed sealbox kubeseal --fetch-cert '>' cert.pem
sealbox kubeseal --fetch-cert >cert.pem
head -n 1 cert.pem
say "Seal it (the certificate is fetched the same way). The SealedSecret is safe to commit:"
typed sealbox kubeseal --format yaml '<' secret.yaml '>' sealed.yaml
sealbox kubeseal --format yaml <secret.yaml >sealed.yaml
show_file sealed.yaml
typed kubectl apply -f sealed.yaml
kube apply sealed.yaml
wait_for "the controller to unseal SealedSecret default/db-credentials into a Secret" \
  kube secret default db-credentials username password
typed kubectl get secret db-credentials -o go-template="'{{range \$k, \$v := .data}}{{\$k}}: {{\$v | base64decode}}{{\"\\n\"}}{{end}}'"
say "Secret default/db-credentials, decoded:"
kube secret default db-credentials username password
ss=/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets/db-credentials
wait_for "SealedSecret default/db-credentials to report Synced=True" kube condition "$ss" Synced
wait_for "an Event about SealedSecret default/db-credentials" kube events default db-credentials
say "The SealedSecret's status and events:"
kube condition "$ss" Synced
kube events default db-credentials
say "OK: SealedSecret -> Secret default/db-credentials"

heading "2. External Secrets: AWS Secrets Manager (moto) -> Secret"
say "A secret in AWS Secrets Manager:"
typed aws secretsmanager create-secret --name demo/payments \
  --secret-string "'{\"api-key\":\"aws-demo-key-42\"}'"
kube moto-create-secret "$moto" demo/payments '{"api-key":"aws-demo-key-42"}'
cat >aws.yaml <<'YAML'
# Static credentials for the demo (moto accepts any); on EKS use auth.jwt (IRSA) instead.
apiVersion: v1
kind: Secret
metadata:
  name: aws-credentials
  namespace: default
stringData:
  access-key-id: demo
  secret-access-key: demo
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: aws
  namespace: default
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      auth:
        secretRef:
          accessKeyIDSecretRef: {name: aws-credentials, key: access-key-id}
          secretAccessKeySecretRef: {name: aws-credentials, key: secret-access-key}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: payments
  namespace: default
spec:
  refreshInterval: 1h
  secretStoreRef: {name: aws, kind: SecretStore}
  target:
    name: payments
  data:
    - secretKey: api-key
      remoteRef: {key: demo/payments, property: api-key}
YAML
say "A SecretStore for it and an ExternalSecret (External Secrets Operator's manifests as they are):"
typed cat aws.yaml
show_file aws.yaml
typed kubectl apply -f aws.yaml
kube apply aws.yaml
wait_for "ExternalSecret default/payments to create Secret default/payments" \
  kube secret default payments api-key
say "Secret default/payments, decoded:"
kube secret default payments api-key
es=/apis/external-secrets.io/v1/namespaces/default/externalsecrets/payments
wait_for "ExternalSecret default/payments to report Ready=True" kube condition "$es" Ready
say "The ExternalSecret's status:"
kube condition "$es" Ready
say "OK: AWS Secrets Manager -> ExternalSecret -> Secret default/payments"

heading "3. External Secrets: Vault KV v2 (OpenBao, token auth) -> Secret"
say "A secret in Vault's KV v2 engine, with the real bao CLI:"
typed BAO_ADDR="$bao" BAO_TOKEN=root bao kv put -mount=secret demo/app username=app-user api-token=vault-demo-token-7
BAO_ADDR=$bao BAO_TOKEN=root "$SEALBOX_BAO" kv put -mount=secret demo/app username=app-user api-token=vault-demo-token-7 >/dev/null
cat >vault.yaml <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: vault-token
  namespace: default
# The dev server's root token. In earnest: a narrow token, AppRole or Kubernetes auth.
stringData:
  token: root
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: vault
  namespace: default
spec:
  provider:
    vault:
      server: $bao
      path: secret
      version: v2
      auth:
        tokenSecretRef: {name: vault-token, key: token}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: app-config
  namespace: default
spec:
  refreshInterval: 1h
  secretStoreRef: {name: vault, kind: SecretStore}
  target:
    name: app-config
  dataFrom:
    - extract: {key: demo/app}
YAML
say "A SecretStore with token auth and an ExternalSecret taking every key of demo/app:"
typed cat vault.yaml
show_file vault.yaml
typed kubectl apply -f vault.yaml
kube apply vault.yaml
wait_for "ExternalSecret default/app-config to create Secret default/app-config" \
  kube secret default app-config username api-token
say "Secret default/app-config, decoded:"
kube secret default app-config username api-token
es=/apis/external-secrets.io/v1/namespaces/default/externalsecrets/app-config
wait_for "ExternalSecret default/app-config to report Ready=True" kube condition "$es" Ready
say "The ExternalSecret's status:"
kube condition "$es" Ready
say "OK: Vault KV v2 -> ExternalSecret -> Secret default/app-config"

heading "Done"
say "One SealedSecret and two ExternalSecrets became Secrets, with the controller run as the"
say "chart runs it. On a real cluster: charts/sealbox/README.md, \"Try it on kind\"."
say "Stopping everything this demo started:"
