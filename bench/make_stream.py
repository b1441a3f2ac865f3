"""Writes a YAML stream of N Secrets with K random 32-byte values each (stdout)."""
import base64
import os
import sys

n, k = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print("---\napiVersion: v1\nkind: Secret\nmetadata:")
    print(f"  name: app-{i}\n  namespace: team-{i % 7}\n  labels:\n    app: app-{i}\ntype: Opaque\ndata:")
    for j in range(k):
        print(f"  key{j}: {base64.b64encode(os.urandom(32)).decode()}")
