"""Writes a JSON object with N string values (40% nested two levels deep) to stdout."""
import json
import os
import sys

n = int(sys.argv[1])
doc = {}
for i in range(n):
    value = os.urandom(12).hex()
    if i % 5 < 2:
        doc.setdefault(f"group{i % 50}", {})[f"key{i}"] = value
    else:
        doc[f"key{i}"] = value
print(json.dumps(doc, indent="\t"))
