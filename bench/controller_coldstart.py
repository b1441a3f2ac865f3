"""Cold start of sealbox-controller: N SealedSecrets x 3 items already in the API server and
KEYS keys in the ring; time from the controller's start until every Secret exists, and its
peak RSS, with the key memory on and off. Run by bench/controller-coldstart.sh."""
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

root, sealbox, controller, n, keys = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
work = tempfile.mkdtemp()


def http(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


emu = subprocess.Popen([sys.executable, f"{root}/tests/infra/kapi_emulator.py", "--port", "0", "--kubeconfig",
                        f"{work}/kubeconfig"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
api = emu.stdout.readline().split()[1]
env = dict(os.environ, KUBECONFIG=f"{work}/kubeconfig", POD_NAMESPACE="kube-system", RUST_LOG="warn")
KEYS_URL = f"{api}/api/v1/namespaces/kube-system/secrets?labelSelector=sealedsecrets.bitnami.com%2Fsealed-secrets-key%3Dactive"


def start(*flags):
    return subprocess.Popen(["/usr/bin/time", "-f", "%M", controller, "--listen-addr=127.0.0.1:18480",
                             "--listen-metrics-addr=127.0.0.1:18481", "--key-renew-period=0", *flags],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(p):
    # /usr/bin/time forwards nothing: signal the controller itself, then read time's RSS line.
    subprocess.run(["pkill", "-TERM", "-P", str(p.pid)])
    err = p.communicate()[1]
    return int([l for l in err.splitlines() if l.strip().isdigit()][-1])


# A ring of KEYS keys: the first made at start-up, the others on SIGUSR1, as renewals would.
p = start()
while not len(http("GET", KEYS_URL)["items"]):
    time.sleep(0.2)
for i in range(2, keys + 1):
    subprocess.run(["pkill", "-USR1", "-P", str(p.pid)])
    while len(http("GET", KEYS_URL)["items"]) < i:
        time.sleep(0.2)
stop(p)
newest = max(http("GET", KEYS_URL)["items"], key=lambda s: s["metadata"]["creationTimestamp"] + s["metadata"]["resourceVersion"].zfill(12))
import base64
open(f"{work}/cert.pem", "wb").write(base64.b64decode(newest["data"]["tls.crt"]))

# N SealedSecrets x 3 items in namespace default, sealed with the newest certificate (what
# `kubeseal --fetch-cert` gives people who seal today).
stream = "".join(
    f"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{i}\n  namespace: default\ndata:\n"
    + "".join(f"  key{j}: {base64.b64encode(os.urandom(32)).decode()}\n" for j in range(3))
    for i in range(n))
sealed = subprocess.run([sealbox, "seal", "--cert", f"{work}/cert.pem", "-o", "json"], input=stream, text=True,
                        capture_output=True, check=True).stdout
docs, decoder, at = [], json.JSONDecoder(), 0
while at < len(sealed):
    while at < len(sealed) and sealed[at].isspace():
        at += 1
    if at < len(sealed):
        doc, at = decoder.raw_decode(sealed, at)
        docs.append(doc)
for doc in docs:
    http("POST", f"{api}/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets", doc)


def run(label, *flags):
    http("DELETE", f"{api}/api/v1/namespaces/default/secrets")
    t0 = time.monotonic()
    p = start(*flags)
    while len(http("GET", f"{api}/api/v1/namespaces/default/secrets")["items"]) < n:
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    with urllib.request.urlopen("http://127.0.0.1:18481/metrics") as r:
        metrics = r.read().decode()
    unseals = next(int(float(l.split()[-1])) for l in metrics.splitlines()
                   if l.startswith("sealed_secrets_controller_unseal_requests_total"))
    rss = stop(p)
    print(f"  {label:22} {elapsed:7.2f} s until all {n} Secrets exist, peak RSS {rss / 1024:6.1f} MiB,"
          f" {unseals} unseals")
    return elapsed


print(f"cold start: {n} SealedSecrets x 3 items, {keys} RSA-4096 keys, {os.cpu_count()} cores")
on = run("key memory on")
off = run("key memory off (random)", "--key-memory=false")
print(f"  key memory saves      {off / on:7.2f}x")
print(f"RESULT {on:.3f} {off:.3f}")
emu.terminate()
