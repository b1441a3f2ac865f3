"""Drives the independent Sealed Secrets implementation kubesealpy (PyPI, 1.0.1) for interop tests.

Its CLI is a stub, so this wraps its Python API (spec sealed-secrets.md section 7):

  seal CERT      stdin: JSON {name, namespace, scope, type, labels, annotations, data: {k: base64}}
                 stdout: the SealedSecret as YAML (kubesealpy's own serialisation)
  seal-raw CERT  stdin: JSON {name, namespace, scope, value: base64}; stdout: base64 ciphertext
  unseal KEY     stdin: one SealedSecret (YAML or JSON)
                 stdout: JSON {name, namespace, type, labels, annotations, data: {k: base64}}
  open-raw KEY LABEL  stdin: base64 ciphertext; stdout: base64 plaintext (label "" = cluster-wide)
"""

import base64
import json
import sys

from cryptography.hazmat.primitives import serialization
from kubesealpy import SealedSecret, Sealer, SealingScope, Unsealer
from kubesealpy.crypto import decrypt

SCOPES = {
    "strict": SealingScope.STRICT,
    "namespace-wide": SealingScope.NAMESPACE_WIDE,
    "cluster-wide": SealingScope.CLUSTER_WIDE,
}


def seal(cert):
    spec = json.load(sys.stdin)
    sealed = Sealer.from_certificate_file(cert).seal(
        name=spec["name"],
        namespace=spec["namespace"],
        data={k: base64.b64decode(v) for k, v in spec["data"].items()},
        scope=SCOPES[spec["scope"]],
        secret_type=spec.get("type", "Opaque"),
        labels=spec.get("labels"),
        annotations=spec.get("annotations"),
    )
    sys.stdout.write(sealed.to_yaml())


def seal_raw(cert):
    spec = json.load(sys.stdin)
    ct = Sealer.from_certificate_file(cert).seal_value(
        base64.b64decode(spec["value"]),
        namespace=spec.get("namespace"),
        name=spec.get("name"),
        scope=SCOPES[spec["scope"]],
    )
    sys.stdout.write(base64.b64encode(ct).decode())


def unseal(key):
    sealed = SealedSecret.from_yaml(sys.stdin.read())
    secret = Unsealer.from_private_key_file(key).unseal(sealed)
    json.dump(
        {
            "name": secret.metadata.name,
            "namespace": secret.metadata.namespace,
            "type": secret.type,
            "labels": secret.metadata.labels or {},
            "annotations": secret.metadata.annotations or {},
            "data": secret.data or {},
        },
        sys.stdout,
        sort_keys=True,
    )


def open_raw(key, label):
    with open(key, "rb") as f:
        private = serialization.load_pem_private_key(f.read(), None)
    ct = base64.b64decode(sys.stdin.read())
    plaintext = decrypt(ct, private, label.encode() if label else None)
    sys.stdout.write(base64.b64encode(plaintext).decode())


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"seal": seal, "seal-raw": seal_raw, "unseal": unseal, "open-raw": open_raw}[command](*args)
