"""kubesealpy's side of the benchmark: seal every Secret of a YAML stream with CERT and
write the SealedSecrets as YAML, as `sealbox seal` does (process start and imports included)."""
import base64
import sys

import yaml
from kubesealpy import Sealer, SealingScope

cert, stream = sys.argv[1], sys.argv[2]
sealer = Sealer.from_certificate_file(cert)
out = []
with open(stream) as f:
    for doc in yaml.safe_load_all(f):
        if not doc:
            continue
        meta = doc["metadata"]
        sealed = sealer.seal(
            name=meta["name"],
            namespace=meta["namespace"],
            data={k: base64.b64decode(v) for k, v in doc["data"].items()},
            scope=SealingScope.STRICT,
            secret_type=doc.get("type", "Opaque"),
            labels=meta.get("labels"),
        )
        out.append("---\n" + sealed.to_yaml())
sys.stdout.write("".join(out))
