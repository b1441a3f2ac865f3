"""ExternalSecrets at scale, measured against the real peers: N ExternalSecrets over 200 distinct
remote secrets, half in AWS Secrets Manager (moto; static keys and an assumed role) and half in
Vault (OpenBao; kubernetes auth through the emulator's TokenReview), each read by N/200
ExternalSecrets, all refreshed every INTERVAL seconds. Run by bench/external-at-scale.sh.

Measured, from the controller's start: the time until every target Secret exists; then over
three refresh intervals, from the controller's own provider-call counters (which the tests
check against OpenBao's audit log): provider reads, STS calls and Vault logins per interval,
and the largest number of provider calls in any 10-second window against the mean; the peak
RSS. Beside it, ESO's cost model (spec external-secrets.md §5.4) for the same objects: one read
per ExternalSecret per refresh, one STS AssumeRole per AWS reconcile, one Vault login (and a
revocation) per Vault reconcile, all ExternalSecrets created together refreshing together.

With MODE `queue`, all N ExternalSecrets read one Vault secret instead (one shared refresh
slot) and the controller syncs one at a time (`--concurrent=1`): once their periodic refresh
comes, N refreshes are queued, and a new ExternalSecret is created then. Measured: the time
until its Secret exists, and how many of the queued refreshes had run by then.

    python external_at_scale.py ROOT CONTROLLER CRDS N INTERVAL WAVES [MODE]
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

root, controller, crds = sys.argv[1], sys.argv[2], sys.argv[3]
n, interval, waves = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
queue = sys.argv[7:] == ["queue"]
DISTINCT = 200
work = tempfile.mkdtemp()
children = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, ok=(200, 201, 204)):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, method=method, data=data,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        if e.code in ok:
            return None
        raise SystemExit(f"{method} {url}: {e.code} {e.read()[:300]!r}")


def wait_http(url):
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} never answered")


def spawn(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    children.append(p)
    return p


# The peers.
emu = subprocess.Popen([os.environ["SEALBOX_KAPI_PYTHON"], f"{root}/tests/infra/kapi_emulator.py", "--port", "0",
                        "--kubeconfig", f"{work}/kubeconfig", "--crd-file", crds],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
children.append(emu)
api = emu.stdout.readline().split()[1]
moto_port, bao_port = free_port(), free_port()
moto = f"http://127.0.0.1:{moto_port}"
bao = f"http://127.0.0.1:{bao_port}"
spawn([os.environ["SEALBOX_MOTO_SERVER"], "-H", "127.0.0.1", "-p", str(moto_port)])
spawn([os.environ["SEALBOX_BAO"], "server", "-dev", "-dev-root-token-id=root",
       f"-dev-listen-address=127.0.0.1:{bao_port}"])
wait_http(f"{moto}/moto-api/")
wait_http(f"{bao}/v1/sys/health")
ROOT = {"X-Vault-Token": "root"}


def sm(target, body):
    return http("POST", moto + "/", body, {
        "X-Amz-Target": f"secretsmanager.{target}", "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, "
                         "SignedHeaders=host, Signature=0"})


half = DISTINCT // 2
for i in range(half):
    sm("CreateSecret", {"Name": f"bench/aws-{i}", "SecretString": json.dumps({"password": f"aws-{i}"})})
    http("POST", f"{bao}/v1/secret/data/bench/vault-{i}", {"data": {"password": f"vault-{i}"}}, ROOT)
http("PUT", f"{bao}/v1/sys/policies/acl/bench", {"policy": 'path "secret/data/*" { capabilities = ["read"] }'}, ROOT)
http("POST", f"{bao}/v1/sys/auth/kubernetes", {"type": "kubernetes"}, ROOT)
ca = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-days", "2", "-subj", "/CN=dummy-ca", "-keyout", f"{work}/ca.key"],
                    capture_output=True, text=True, check=True).stdout
http("POST", f"{bao}/v1/auth/kubernetes/config",
     {"kubernetes_host": api, "kubernetes_ca_cert": ca, "disable_local_ca_jwt": True}, ROOT)
http("POST", f"{bao}/v1/auth/kubernetes/role/bench",
     {"bound_service_account_names": ["vault-reader"], "bound_service_account_namespaces": ["bench"],
      "token_policies": ["bench"], "token_ttl": "1h"}, ROOT)

# The cluster: a namespace, the stores and their credentials, the ExternalSecrets.
NS = "bench"
http("POST", f"{api}/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
http("POST", f"{api}/api/v1/namespaces/{NS}/serviceaccounts",
     {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "vault-reader"}})
http("POST", f"{api}/api/v1/namespaces/{NS}/secrets",
     {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws-keys"},
      "stringData": {"id": "AKIDBENCH", "key": "bench-secret-key"}})
STORES = f"{api}/apis/external-secrets.io/v1/namespaces/{NS}/secretstores"
http("POST", STORES, {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "aws"},
                      "spec": {"provider": {"aws": {
                          "service": "SecretsManager", "region": "us-east-1",
                          "role": "arn:aws:iam::123456789012:role/bench-reader",
                          "auth": {"secretRef": {"accessKeyIDSecretRef": {"name": "aws-keys", "key": "id"},
                                                 "secretAccessKeySecretRef": {"name": "aws-keys", "key": "key"}}}}}}})
http("POST", STORES, {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "vault"},
                      "spec": {"provider": {"vault": {
                          "server": bao, "path": "secret", "version": "v2",
                          "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "bench",
                                                  "serviceAccountRef": {"name": "vault-reader"}}}}}}})
ES = f"{api}/apis/external-secrets.io/v1/namespaces/{NS}/externalsecrets"


def external_secret(name, aws, key):
    http("POST", ES, {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                      "metadata": {"name": name},
                      "spec": {"refreshInterval": f"{interval}s", "secretStoreRef": {"name": "aws" if aws else "vault"},
                               "data": [{"secretKey": "password",
                                         "remoteRef": {"key": key, "property": "password"}}]}})


for i in range(n):
    remote = half if queue else i % DISTINCT
    aws = remote < half
    external_secret(f"es-{i}", aws, f"bench/aws-{remote}" if aws else f"bench/vault-{remote - half}")

# The controller (External Secrets only), its peak RSS read by /usr/bin/time.
metrics_port = free_port()
env = dict(os.environ, KUBECONFIG=f"{work}/kubeconfig", POD_NAMESPACE="kube-system", RUST_LOG="warn",
           AWS_SECRETSMANAGER_ENDPOINT=moto, AWS_STS_ENDPOINT=moto, AWS_EC2_METADATA_DISABLED="true")
t0 = time.monotonic()
ctl = subprocess.Popen(["/usr/bin/time", "-f", "%M", controller, "--sealed-secrets=false",
                        f"--listen-addr=127.0.0.1:{free_port()}", f"--listen-metrics-addr=127.0.0.1:{metrics_port}"]
                       + (["--concurrent=1"] if queue else []),
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
CALLS = {"GetSecretValue": "read", "BatchGetSecretValue": "read", "ReadSecretData": "read", "AssumeRole": "sts",
         "AssumeRoleWithWebIdentity": "sts", "Login": "login"}


def metrics():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""


def counters():
    """Cumulative provider calls by kind (read, sts, login), from the controller's metrics."""
    out = {"read": 0, "sts": 0, "login": 0}
    for line in metrics().splitlines():
        if line.startswith("externalsecret_provider_api_calls_count{"):
            call = line.split('call="', 1)[1].split('"', 1)[0]
            if call in CALLS:
                out[CALLS[call]] += int(float(line.rsplit(" ", 1)[1]))
    return out


def syncs():
    """How many syncs the controller has made of the first n ExternalSecrets (ESO's
    `externalsecret_sync_calls_total`)."""
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in metrics().splitlines()
               if line.startswith("externalsecret_sync_calls_total{") and 'name="es-' in line)


def synced():
    """How many target Secrets exist: one item and the remaining count, so that polling ten
    times a second does not make the emulator send every Secret each time."""
    page = http("GET", f"{api}/api/v1/namespaces/{NS}/secrets?limit=1&"
                       "labelSelector=reconcile.external-secrets.io%2Fmanaged%3Dtrue")
    return len(page["items"]) + page["metadata"].get("remainingItemCount", 0)


while synced() < n:
    if ctl.poll() is not None:
        raise SystemExit(f"the controller exited: {ctl.stderr.read()[-2000:]}")
    time.sleep(0.1)
first_sync = time.monotonic() - t0
at_sync = counters()
if queue:
    print(f"{n} ExternalSecrets on one Vault secret (kubernetes auth), refresh every {interval} s, one sync at a time, "
          f"{os.cpu_count()} cores")
else:
    print(f"{n} ExternalSecrets over {DISTINCT} remote secrets ({half} AWS with a role, {half} Vault with kubernetes "
          f"auth), refresh every {interval} s, {os.cpu_count()} cores")
print(f"  first sync: all {n} Secrets in {first_sync:.2f} s "
      f"({at_sync['read']} reads, {at_sync['sts']} STS calls, {at_sync['login']} Vault logins)")

def half_second():
    """Sleeps until the next half second of the wall clock. Refreshes happen at whole seconds
    (each ExternalSecret's slot), so counters sampled at half seconds put every read in the
    interval of its slot, where samples at arbitrary times moved a few across each boundary."""
    time.sleep((0.5 - time.time() % 1) % 1 or 1.0)


if queue:
    # The shared slot comes: one read, then the n refreshes wait for the one sync at a time.
    while counters()["read"] == at_sync["read"]:
        time.sleep(0.05)
    before = syncs()
    t1 = time.monotonic()
    external_secret("newcomer", False, "bench/vault-1")
    while http("GET", f"{api}/api/v1/namespaces/{NS}/secrets/newcomer", ok=(404,)) is None:
        time.sleep(0.01)
    waited = time.monotonic() - t1
    done = syncs() - before
    print(f"  a new ExternalSecret created once {n} periodic refreshes were queued (--concurrent=1): "
          f"its Secret in {waited:.2f} s, after {done} of the {n} refreshes")
    print(f"RESULT newcomer={waited:.2f} refreshes_before={done}")

samples = []
if waves and not queue:
    half_second()
    for second in range(waves * interval + 1):
        samples.append((second, counters()))
        half_second()

subprocess.run(["pkill", "-TERM", "-P", str(ctl.pid)])
rss_kib = int([l for l in ctl.communicate()[1].splitlines() if l.strip().isdigit()][-1])
for p in children:
    p.terminate()

if samples:
    def at(t):
        """The counters at the last sample taken at or before `t`."""
        before = [s for s in samples if s[0] <= t] or samples[:1]
        return max(before, key=lambda s: s[0])[1]

    per_wave = []
    for k in range(waves):
        a, b = at(k * interval), at((k + 1) * interval)
        per_wave.append({kind: b[kind] - a[kind] for kind in a})
    calls = [(t, c["read"] + c["sts"] + c["login"]) for t, c in samples]
    windows = [max(c for t2, c in calls if t2 <= t + 10) - c0 for t, c0 in calls if t + 10 <= calls[-1][0]]
    total = calls[-1][1] - calls[0][1]
    mean = total / (calls[-1][0] / 10)
    print(f"  over {waves} refresh intervals ({waves * interval} s):")
    for k, w in enumerate(per_wave):
        print(f"    interval {k + 1}: {w['read']} provider reads (distinct remote secrets: {DISTINCT}), "
              f"{w['sts']} STS calls, {w['login']} Vault logins")
    print(f"    largest 10-s window: {max(windows)} provider calls, mean {mean:.1f}: "
          f"{max(windows) / mean:.2f}x the mean (target <= 1.5)")
print(f"  peak RSS: {rss_kib / 1024:.1f} MiB")
aws_es, vault_es = n // 2, n - n // 2
if not queue:
    print(f"  ESO's cost model for the same objects, per refresh interval: {n} provider reads, {aws_es} STS "
          f"AssumeRole calls, {vault_es} Vault logins (and {vault_es} revocations); created together, they "
          f"refresh together: about {n} calls in one 10-s window, {interval / 10:.0f}x the mean")
print(f"RESULT first_sync={first_sync:.2f} rss_mib={rss_kib / 1024:.1f}")
