#!/usr/bin/env python3
"""A small Kubernetes API-server emulator for integration tests.

Why: no real kube-apiserver can be installed in an offline CI machine without Docker or the Go
module proxy (nothing on Debian/PyPI/npm/crates.io bundles one). kmock's KubernetesEmulator (PyPI `kmock`)
lacks resourceVersion/uid, PUT, SSA-create, selectors and proper watch semantics,
so kube-runtime's watcher/Controller cannot run against it. This file adds exactly
those semantics on plain aiohttp (a kmock dependency). Requirements:
    pip install aiohttp jsonpatch pyyaml

What it implements (JSON only, no protobuf, no auth/RBAC, no admission/validation; see the
sealbox additions below for the exceptions):
  * discovery: /version, /api, /api/v1, /apis, /apis/{g}, /apis/{g}/{v}, 404 for /openapi/*
  * CRUD: POST (409 AlreadyExists, generateName, dryRun), GET (404 NotFound), PUT (409 Conflict
    on stale metadata.resourceVersion), DELETE (finalizers -> deletionTimestamp), deletecollection
  * PATCH: merge-patch+json, strategic-merge-patch+json (approximated as merge patch),
    json-patch+json (RFC 6902, `test` op -> 422), apply-patch+yaml (SSA approximated as
    create-if-absent + merge patch + a managedFields entry; no field-ownership conflicts)
  * metadata: uid, resourceVersion (one global counter), creationTimestamp, namespace,
    generation (only for resources flagged with a status subresource, i.e. CRs)
  * status subresource: main-resource writes keep .status; /status writes only change .status
  * Secret: stringData folded into base64 data, type defaults to Opaque
  * LIST: labelSelector (=,==,!=,in,notin,exists,!exists), fieldSelector (metadata.name,
    metadata.namespace), limit/continue, list resourceVersion
  * WATCH: resourceVersion resume from an event log (410 Gone when too old), rv ""/"0" ->
    synthetic ADDED for current objects, sendInitialEvents=true + initial-events-end BOOKMARK,
    allowWatchBookmarks (bookmark before the server closes at timeoutSeconds), selector
    transitions (ADDED/DELETED when an object starts/stops matching)
  * optional ownerReference garbage collection (--gc), like kube-controller-manager's GC
  * TokenReview (authentication.k8s.io/v1) for testing Vault/OpenBao kubernetes auth:
    `--token TOKEN=ns:serviceaccount`, or any JWT whose unverified `sub` is
    system:serviceaccount:NS:NAME is accepted.

Usage:
sealbox additions (this copy is vendored from ../shared/testinfra and extended):
  * core v1 `services`, and the API server's service proxy,
    /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}: there are no pods, so
    it forwards to 127.0.0.1 at the named (or first) port's targetPort (else its port), which is
    where a test runs the process the Service stands for (kubeseal --fetch-cert reaches the
    controller this way). A named targetPort (`http`) is the containerPort of that name in the
    pod template of a Deployment in the namespace whose labels the Service's selector matches
    (the endpoints controller's answer, with Deployments standing in for their pods); none: 503;
  * what a Helm chart installs, stored and served like the rest (CRUD, list, watch, discovery)
    but with no controller behind them (no ReplicaSets or pods, no RBAC enforcement, no network
    policy): apps/v1 `deployments`, `statefulsets`, `daemonsets` (status; what a rollout
    restart patches), rbac.authorization.k8s.io/v1 `roles`,
    `rolebindings`, cluster-scoped `clusterroles`, `clusterrolebindings`, policy/v1
    `poddisruptionbudgets` (status), networking.k8s.io/v1 `networkpolicies`;
  * apiextensions.k8s.io/v1 `customresourcedefinitions` (cluster-scoped, status): creating or
    updating one serves its group/versions/plural/scope/status subresource exactly as
    --crd-file does (it replaces what was served for that group/plural, a default resource
    included; objects already stored stay, watches too), discovery included. The name must be
    `plural.group` and the scope is immutable; status is NamesAccepted and Established at once.
    Deleting a CRD does not stop serving its resources;
  * protobuf request bodies (`application/vnd.kubernetes.protobuf`) of core v1 Secrets and
    ConfigMaps, which client-go's typed clients send (Helm's release storage: `helm install`
    works with its default HELM_DRIVER=secret); replies stay JSON, which those clients accept.
    Other kinds sent as protobuf, and any protobuf PATCH, get 415;
  * --port 0 picks a free port; the READY line names it.
  * an authenticating HTTPS listener beside the plain one, as a real API server's secure port:
    --secure-port N --tls-cert F --tls-key F [--client-ca F] [--user-token T ...]. A request
    there must present a client certificate signed by --client-ca (checked in the TLS
    handshake) or `Authorization: Bearer T` with a --user-token T; anything else gets 401
    Unauthorized. A second line "READY_SECURE https://HOST:PORT" names it. The plain port stays
    open without authentication, for the test harness and the controller under test.
  * TokenRequest, POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token (404 without the
    ServiceAccount; expirationSeconds >= 600, default 3600; audiences default to ISSUER): an
    RS256-shaped JWT with a ServiceAccount token's claims. TokenReview accepts it as the API server
    does: unexpired, the ServiceAccount (same uid) still there, an audience in common with the
    review's spec.audiences (default ISSUER); user.uid is the ServiceAccount's uid.
  * test counters: GET /emulator/tokenrequests -> {"ns/sa": n}; GET /emulator/requests ->
    {"VERB path": n} (VERB is WATCH for watches); GET /emulator/requests?user=USER -> the same
    for the requests whose bearer token is USER's, USER being system:serviceaccount:NS:NAME for a
    token from TokenRequest or --token (how a test tells a controller running on its
    ServiceAccount's token apart from its own requests, e.g. to check them against RBAC).
  * multi-version CRDs (conversion None): every served version of a group/plural is a view of the
    same objects, stored once; reads, lists and watches return them with the asked version's
    apiVersion. A CRD from --crd-file replaces a default resource of the same group/plural.
    Versions with served: false are not served. Discovery orders versions as Kubernetes does.
  * managedFields as the API server records them: create/update/patch are operation Update by
    ?fieldManager= (else the User-Agent's first word) at the request's apiVersion, owning the
    fields they changed (fieldsV1 f:... keys; lists are atomic; "." on labels/annotations/data);
    apply owns what it applied; changed fields leave other managers.
  * Namespaces: label kubernetes.io/metadata.name, status.phase Active; creating in a missing
    namespace is 404, in a terminating one 403; deleting one deletes its objects (finalizers
    honoured) and the namespace goes when it is empty.
  * Secret validation: data keys ([-._a-zA-Z0-9]+) and base64, required keys of the tls,
    dockerconfigjson, dockercfg, ssh-auth and basic-auth types, type and `immutable` data are
    immutable. No new finalizers on an object being deleted.
  * Accept: ...;as=PartialObjectMetadata(List) (kube-rs metadata_watcher) -> metadata only.
  * default external-secrets.io/v1 clusterexternalsecrets (cluster-scoped, status).

    python kapi_emulator.py --port 18081 --kubeconfig ./kapi.kubeconfig [--gc] [--crd-file f.yaml ...]
               [--token TOKEN=ns:serviceaccount ...] [--host 127.0.0.1] [--verbose]
Prints "READY http://127.0.0.1:PORT" when listening.
"""
import argparse
import asyncio
import base64
import collections
import copy
import datetime
import json
import random
import re
import os
import string
import sys
import time
import uuid

import aiohttp.web
import jsonpatch

try:
    import yaml
except ImportError:  # only needed for YAML bodies (kubectl --server-side) and --crd-file
    yaml = None

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class Res:
    def __init__(self, group, version, plural, kind, namespaced=True, status=False, short=(), singular=None, storage=True):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.status, self.short = namespaced, status, list(short)
        self.singular = singular or kind.lower()
        self.is_storage = storage
        # The version objects are kept in. Every served version of a group/plural is a view of the
        # same objects (CRD conversion strategy None: only apiVersion is rewritten).
        self.storage = self

    @property
    def gv(self):
        return f"{self.group}/{self.version}" if self.group else self.version


DEFAULT_RESOURCES = [
    Res("", "v1", "namespaces", "Namespace", namespaced=False, short=["ns"]),
    Res("", "v1", "secrets", "Secret"),
    Res("", "v1", "configmaps", "ConfigMap", short=["cm"]),
    Res("", "v1", "serviceaccounts", "ServiceAccount", short=["sa"]),
    Res("", "v1", "services", "Service", short=["svc"]),
    Res("", "v1", "events", "Event", short=["ev"]),
    Res("events.k8s.io", "v1", "events", "Event", short=["ev"]),
    Res("coordination.k8s.io", "v1", "leases", "Lease"),
    # Stored only (no controllers): what a Helm chart installs beside its CRDs.
    Res("apps", "v1", "deployments", "Deployment", status=True, short=["deploy"]),
    Res("apps", "v1", "statefulsets", "StatefulSet", status=True, short=["sts"]),
    Res("apps", "v1", "daemonsets", "DaemonSet", status=True, short=["ds"]),
    Res("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    Res("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    Res("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    Res("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    Res("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", status=True, short=["pdb"]),
    Res("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=["netpol"]),
    # Creating or updating one serves its resources, as --crd-file does (Emulator.register_crd).
    Res("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False,
        status=True, short=["crd", "crds"]),
    Res("bitnami.com", "v1alpha1", "sealedsecrets", "SealedSecret", status=True),
    Res("external-secrets.io", "v1", "externalsecrets", "ExternalSecret", status=True, short=["es"]),
    Res("external-secrets.io", "v1", "secretstores", "SecretStore", status=True, short=["ss"]),
    Res("external-secrets.io", "v1", "clustersecretstores", "ClusterSecretStore", namespaced=False, status=True, short=["css"]),
    Res("external-secrets.io", "v1", "clusterexternalsecrets", "ClusterExternalSecret", namespaced=False, status=True, short=["ces"]),
]


def version_priority(v):
    """Kubernetes version ordering: GA before beta before alpha, higher numbers first."""
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (0, 0, 0, v)
    return ({None: 3, "beta": 2, "alpha": 1}[m.group(2)], int(m.group(1)), int(m.group(3) or 0), "")


def with_crds(defaults, crds):
    """The CRD file wins: a default resource is dropped when a CRD defines its group/plural."""
    defined = {(r.group, r.plural) for r in crds}
    return [r for r in defaults if (r.group, r.plural) not in defined] + crds


TOKEN_REQUEST = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token$")
# The issuer, and the audience of a token requested without one (a kind cluster's defaults).
ISSUER = "https://kubernetes.default.svc.cluster.local"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Writer:
    """Who writes, as managedFields records it: manager, operation (Update or Apply), apiVersion, subresource."""
    def __init__(self, manager, operation, api_version, subresource=None):
        self.manager, self.operation, self.api_version, self.subresource = manager, operation, api_version, subresource


SERVICE_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy/?(.*)$")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, code, reason, message, res=None, name=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.res, self.name = code, reason, message, res, name

    def body(self):
        details = {}
        if self.name:
            details["name"] = self.name
        if self.res:
            details.update({"group": self.res.group, "kind": self.res.plural})
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": details, "code": self.code}


def not_found(res, name):
    return ApiError(404, "NotFound", f'{res.plural}{"." + res.group if res.group else ""} "{name}" not found', res, name)


# ---------------------------------------------------------------- selectors
_SEL = re.compile(r"\s*(!?)([A-Za-z0-9._/-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def parse_label_selector(s):
    reqs = []
    if not s:
        return reqs
    for part in re.split(r",(?![^(]*\))", s):
        m = _SEL.match(part)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        neg, key, op, val, setop, setvals = m.groups()
        if op:
            reqs.append((key, "!=" if op == "!=" else "=", {val}))
        elif setop:
            reqs.append((key, setop, {v.strip() for v in setvals.split(",") if v.strip()}))
        else:
            reqs.append((key, "!exists" if neg else "exists", None))
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        have = key in labels
        v = labels.get(key)
        if op == "=" and not (have and v in vals):
            return False
        if op == "!=" and have and v in vals:
            return False
        if op == "in" and not (have and v in vals):
            return False
        if op == "notin" and have and v in vals:
            return False
        if op == "exists" and not have:
            return False
        if op == "!exists" and have:
            return False
    return True


def parse_field_selector(s):
    out = []
    for part in (s or "").split(","):
        if not part:
            continue
        m = re.match(r"\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector {part!r}")
        out.append((m.group(1), m.group(2) == "!=", m.group(3)))
    return out


def fields_match(reqs, obj):
    for path, neg, val in reqs:
        cur = obj
        for p in path.split("."):
            cur = cur.get(p) if isinstance(cur, dict) else None
        if ((cur or "") == val) == neg:
            return False
    return True


def _sans_rv(obj):
    o = copy.deepcopy(obj)
    o.get("metadata", {}).pop("resourceVersion", None)
    o.get("metadata", {}).pop("managedFields", None)
    return o


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---------------------------------------------------------------- protobuf bodies
# client-go's generated clientsets send built-in kinds as protobuf (Helm's release storage among
# them). Core v1 Secrets and ConfigMaps are decoded (k8s.io/api/core/v1/generated.proto); other
# kinds get 415. Replies stay JSON: those clients accept it ("Accept: ...protobuf, */*").
PROTOBUF_MAGIC = b"k8s\x00"


def pb_varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ApiError(400, "BadRequest", "truncated protobuf body")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def pb_fields(buf):
    """[(field number, value)] of a protobuf message: varints as ints, length-delimited as bytes."""
    i, out = 0, []
    while i < len(buf):
        key, i = pb_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = pb_varint(buf, i)
        elif wire == 2:
            n, i = pb_varint(buf, i)
            value, i = bytes(buf[i:i + n]), i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = bytes(buf[i:i + n]), i + n
        else:
            raise ApiError(400, "BadRequest", f"unsupported protobuf wire type {wire}")
        out.append((num, value))
    return out


def pb_map(entries, binary=False):
    out = {}
    for entry in entries:
        kv = dict(pb_fields(entry))
        value = kv.get(2, b"")
        out[kv.get(1, b"").decode()] = base64.b64encode(value).decode() if binary else value.decode()
    return out


def pb_object_meta(buf):
    """ObjectMeta, without what the server sets (timestamps, managedFields)."""
    meta, maps, refs, finalizers = {}, collections.defaultdict(list), [], []
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for num, value in pb_fields(buf):
        if num in names and value:
            meta[names[num]] = value.decode()
        elif num in (11, 12):
            maps[num].append(value)
        elif num == 13:
            f = dict(pb_fields(value))
            ref = {"apiVersion": f.get(5, b"").decode(), "kind": f.get(1, b"").decode(),
                   "name": f.get(3, b"").decode(), "uid": f.get(4, b"").decode()}
            ref.update({k: bool(f[n]) for n, k in ((6, "controller"), (7, "blockOwnerDeletion")) if n in f})
            refs.append(ref)
        elif num == 14:
            finalizers.append(value.decode())
    for num, key in ((11, "labels"), (12, "annotations")):
        if maps[num]:
            meta[key] = pb_map(maps[num])
    if refs:
        meta["ownerReferences"] = refs
    if finalizers:
        meta["finalizers"] = finalizers
    return meta


def decode_protobuf(raw):
    """A JSON-shaped object from a protobuf request body (a runtime.Unknown after the magic)."""
    if not raw.startswith(PROTOBUF_MAGIC):
        raise ApiError(400, "BadRequest", "a protobuf body must start with the k8s\\x00 magic")
    unknown = dict(pb_fields(raw[len(PROTOBUF_MAGIC):]))
    type_meta = dict(pb_fields(unknown.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    if (api_version, kind) not in (("v1", "Secret"), ("v1", "ConfigMap")):
        raise ApiError(415, "UnsupportedMediaType", f"protobuf bodies of {api_version} {kind} are not supported by this emulator: send JSON")
    obj, maps = {"apiVersion": api_version, "kind": kind}, collections.defaultdict(list)
    for num, value in pb_fields(unknown.get(2, b"")):
        if num == 1:
            obj["metadata"] = pb_object_meta(value)
        elif kind == "Secret" and num in (2, 4) or kind == "ConfigMap" and num in (2, 3):
            maps[num].append(value)
        elif kind == "Secret" and num == 3:
            obj["type"] = value.decode()
        elif (kind, num) in (("Secret", 5), ("ConfigMap", 4)):
            obj["immutable"] = bool(value)
    fields = {"Secret": ((2, "data", True), (4, "stringData", False)),
              "ConfigMap": ((2, "data", False), (3, "binaryData", True))}[kind]
    for num, key, binary in fields:
        if maps[num]:
            obj[key] = pb_map(maps[num], binary)
    return obj


# ---------------------------------------------------------------- managedFields
# metadata the API server never records as owned
RESET_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "managedFields", "selfLink"}
# map-typed fields (owned as a whole: ".") as opposed to struct fields; lists are atomic here
MAP_FIELDS = {"labels", "annotations", "data", "stringData", "binaryData"}


def field_set(obj, status):
    """{path: leaf value} of the fields an object sets; status: True = only .status, False = all but it."""
    paths = {}

    def walk(value, path):
        if isinstance(value, dict) and value:
            if path[-1] in MAP_FIELDS:
                paths[path + (".",)] = None
            for k, v in value.items():
                walk(v, path + (k,))
        else:
            paths[path] = value
    for k, v in (obj or {}).items():
        if k in ("apiVersion", "kind") or (status is True and k != "status") or (status is False and k == "status"):
            continue
        if k == "metadata":
            for mk, mv in (v or {}).items():
                if mk not in RESET_META:
                    walk(mv, ("metadata", mk))
        else:
            walk(v, (k,))
    return paths


def to_fields_v1(paths):
    out = {}
    for p in sorted(paths):
        node = out
        for k in p[:-1]:
            node = node.setdefault(f"f:{k}", {})
        node.setdefault("." if p[-1] == "." else f"f:{p[-1]}", {})
    return out


def from_fields_v1(fields, prefix=()):
    out = set()
    for k, v in (fields or {}).items():
        if k == ".":
            out.add(prefix + (".",))
        elif k.startswith("f:"):
            out |= from_fields_v1(v, prefix + (k[2:],)) if v else {prefix + (k[2:],)}
    return out


def record_managed(res, cur, new, writer, applied=None):
    """managedFields as the API server keeps them: an Update writer takes the fields it changed, an
    Apply writer owns what it applied; both take changed fields away from other managers."""
    status = True if writer.subresource == "status" else (False if res.status else None)
    now_set, was_set = field_set(new, status), field_set(cur, status) if cur is not None else {}
    changed = {p for p, v in now_set.items() if p not in was_set or (p[-1] != "." and was_set[p] != v)}
    removed = set(was_set) - set(now_set)
    same = lambda e: (e.get("manager"), e.get("operation"), e.get("subresource")) == (writer.manager, writer.operation, writer.subresource) \
        and (writer.operation == "Apply" or e.get("apiVersion") == writer.api_version)
    entries, mine, at = [], set(), None
    for e in new["metadata"].get("managedFields") or []:
        owned = from_fields_v1(e.get("fieldsV1"))
        if same(e):
            mine, at = owned, len(entries)
            continue
        left = owned - changed - removed
        if left:
            entries.append(e if left == owned else dict(e, fieldsV1=to_fields_v1(left)))
    mine = set(field_set(applied, status)) if applied is not None else (mine | changed) - removed
    if mine:
        entry = {"manager": writer.manager, "operation": writer.operation, "apiVersion": writer.api_version, "time": now(),
                 "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(mine), **({"subresource": writer.subresource} if writer.subresource else {})}
        entries.insert(len(entries) if at is None else at, entry)
    new["metadata"]["managedFields"] = entries


# ---------------------------------------------------------------- server
class Emulator:
    def __init__(self, resources, gc=False, tokens=None, log_size=10000, verbose=False):
        self.verbose = verbose
        self.res = {(r.group, r.version, r.plural): r for r in resources}
        self._link_versions()
        self.objs = {}  # (res, ns, name) -> obj
        self.rv = 1
        self.log = collections.deque(maxlen=log_size)  # (rv, res, type, obj)
        self.subs = set()
        self.gc = gc
        self.tokens = tokens or {}
        self.issued = {}  # token -> claims, for tokens made by TokenRequest
        self.token_requests = collections.Counter()  # "ns/sa" -> TokenRequests
        self.requests = collections.Counter()  # "VERB path" -> requests
        self.requests_by_user = collections.defaultdict(collections.Counter)  # user -> "VERB path" -> requests
        for ns in ("default", "kube-system"):
            self._store_new(self.res[("", "v1", "namespaces")], None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def _link_versions(self):
        """Points every served version of a group/plural at the one its objects are stored in."""
        versions = collections.defaultdict(list)
        for r in self.res.values():
            versions[(r.group, r.plural)].append(r)
        for rs in versions.values():
            storage = next((r for r in rs if r.is_storage), rs[0])
            for r in rs:
                r.storage = storage

    def register_crd(self, crd):
        """A created or updated CustomResourceDefinition serves its resources, as --crd-file does:
        they replace what was served for its group/plural (a default resource included), and the
        objects already stored stay, moved to the new storage version, watches included."""
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["plural"])
        new = crd_resources(crd)
        old = {r.storage for r in self.res.values() if (r.group, r.plural) == key}
        self.res = {k: r for k, r in self.res.items() if (r.group, r.plural) != key}
        for r in new:
            self.res[(r.group, r.version, r.plural)] = r
        self._link_versions()
        if not old or not new:
            return
        storage = new[0].storage
        move = lambda r: storage if r in old else r
        self.objs = {(move(r), ns, name): o for (r, ns, name), o in self.objs.items()}
        self.log = collections.deque(((rv, move(r), t, o, was) for (rv, r, t, o, was) in self.log), maxlen=self.log.maxlen)
        for sub in self.subs:
            sub.res = move(sub.res)

    # -- paths
    def parse(self, path):
        parts = [p for p in path.strip("/").split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in self.res:
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        res = self.res.get((group, version, rest[0]))
        if res is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({group}/{version} {rest[0]})")
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) or None
        if sub and not (sub == "status" and res.status):
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({res.plural}/{sub})")
        if res.namespaced and ns is None and name is not None:
            raise ApiError(404, "NotFound", "namespace required")
        return res, ns, name, sub

    # -- events
    def _bump(self, obj):
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        return self.rv

    def _publish(self, res, etype, obj, old=None):
        snap = copy.deepcopy(obj)
        self.log.append((self.rv, res, etype, snap, copy.deepcopy(old) if old is not None else None))
        for sub in list(self.subs):
            ev = sub.translate(res, etype, snap, old)
            if ev:
                sub.queue.put_nowait(ev)

    def _store_new(self, res, ns, obj, writer=None, applied=None):
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            space = self.objs.get((self.res[("", "v1", "namespaces")], None, ns))
            if space is None:
                raise ApiError(404, "NotFound", f'namespaces "{ns}" not found', self.res[("", "v1", "namespaces")], ns)
            if space["metadata"].get("deletionTimestamp"):
                raise ApiError(403, "Forbidden", f'{res.plural} "{meta.get("name")}" is forbidden: unable to create new content in namespace {ns} because it is being terminated', res, meta.get("name"))
        meta.pop("managedFields", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if res.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if res.status:
            meta["generation"] = 1
        obj["apiVersion"], obj["kind"] = res.gv, res.kind
        self._normalize(res, obj)
        self._validate(res, obj, None)
        if writer:
            record_managed(res, None, obj, writer, applied)
            if not meta["managedFields"]:
                meta.pop("managedFields")
        self._bump(obj)
        self.objs[(res, ns, meta["name"])] = obj
        self._publish(res, "ADDED", obj)
        self._serve_crd(res, obj)
        return obj

    def _serve_crd(self, res, obj):
        if res.kind == "CustomResourceDefinition" and res.group == "apiextensions.k8s.io":
            self.register_crd(obj)

    def _normalize(self, res, obj):
        if res.kind == "Secret" and res.group == "":
            sd = obj.pop("stringData", None) or {}
            if sd:
                data = obj.setdefault("data", {}) or {}
                for k, v in sd.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
                obj["data"] = data
            obj.setdefault("type", "Opaque")
        if res.kind == "CustomResourceDefinition" and res.group == "apiextensions.k8s.io":
            # Accepted and established at once: there is nothing to wait for here.
            spec = obj.get("spec") or {}
            obj["status"] = {"acceptedNames": spec.get("names") or {}, "storedVersions": [
                v.get("name") for v in spec.get("versions") or [] if v.get("storage")],
                "conditions": [{"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": now()} for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"))]}
        if res.kind == "Namespace" and res.group == "":
            # The API server labels every namespace with its name (ClusterSecretStore conditions select on it).
            meta = obj.setdefault("metadata", {})
            meta["labels"] = dict(meta.get("labels") or {}, **{"kubernetes.io/metadata.name": meta["name"]})
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})

    def _validate(self, res, obj, cur):
        """The API server's validation of what tests and controllers may trip over (others: accepted)."""
        name = obj["metadata"].get("name")
        if cur is not None and cur["metadata"].get("deletionTimestamp"):
            added = [f for f in obj["metadata"].get("finalizers") or [] if f not in (cur["metadata"].get("finalizers") or [])]
            if added:
                raise ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added}', res, name)
        if res.kind == "CustomResourceDefinition" and res.group == "apiextensions.k8s.io":
            spec = obj.get("spec") or {}
            names = spec.get("names") or {}
            if not (spec.get("group") and names.get("plural") and names.get("kind") and spec.get("versions")
                    and all(isinstance(v, dict) and v.get("name") for v in spec["versions"])):
                raise ApiError(422, "Invalid", f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: spec: '
                                               "Required value: group, names.plural, names.kind and versions", res, name)
            if name != f'{names["plural"]}.{spec["group"]}':
                raise ApiError(422, "Invalid", f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: metadata.name: '
                                               f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group', res, name)
            if cur is not None and (cur.get("spec") or {}).get("scope") != spec.get("scope"):
                raise ApiError(422, "Invalid", f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: spec.scope: '
                                               "Invalid value: field is immutable", res, name)
        if not (res.kind == "Secret" and res.group == ""):
            return
        invalid = lambda field, msg: ApiError(422, "Invalid", f'Secret "{name}" is invalid: {field}: {msg}', res, name)
        data = obj.get("data") or {}
        for k, v in data.items():
            if not re.fullmatch(r"[-._a-zA-Z0-9]+", k):
                raise invalid(f"data[{k}]", f'Invalid value: "{k}": a valid config key must consist of alphanumeric characters, '
                                           "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
            try:
                base64.b64decode(v if isinstance(v, str) else "?", validate=True)
            except ValueError:
                raise ApiError(400, "BadRequest", f"illegal base64 data in Secret {name} data[{k}]", res, name)
        typ = obj.get("type")
        required = {"kubernetes.io/tls": ["tls.crt", "tls.key"], "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
                    "kubernetes.io/dockercfg": [".dockercfg"], "kubernetes.io/ssh-auth": ["ssh-privatekey"]}
        for key in required.get(typ, []):
            if key not in data:
                raise invalid(f"data[{key}]", "Required value")
        if typ == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
            raise invalid("data[username]", "Required value")
        if cur is not None:
            if cur.get("type") != typ:
                raise invalid("type", f'Invalid value: "{typ}": field is immutable')
            if cur.get("immutable"):
                if obj.get("immutable") is not True:
                    raise invalid("immutable", "Forbidden: field is immutable when `immutable` is set")
                if data != (cur.get("data") or {}):
                    raise invalid("data", "Forbidden: field is immutable when `immutable` is set")

    def _replace(self, res, ns, name, cur, new, status_only=False, writer=None, applied=None):
        """Store `new` in place of `cur`, applying apiserver invariants."""
        meta, cmeta = new.setdefault("metadata", {}), cur["metadata"]
        if meta.get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        for k in ("uid", "creationTimestamp", "namespace", "deletionTimestamp", "generation"):
            if k in cmeta:
                meta[k] = cmeta[k]
            else:
                meta.pop(k, None)
        meta["name"] = name
        new["apiVersion"], new["kind"] = res.gv, res.kind
        if res.status:
            if status_only:
                new = dict(copy.deepcopy(cur), status=new.get("status"))
                if new["status"] is None:
                    new.pop("status")
            else:
                new.pop("status", None)
                if "status" in cur:
                    new["status"] = copy.deepcopy(cur["status"])
                strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status", "apiVersion", "kind")}
                if strip(new) != strip(cur):
                    new["metadata"]["generation"] = cmeta.get("generation", 1) + 1
        self._normalize(res, new)
        self._validate(res, new, cur)
        if _sans_rv(new) == _sans_rv(cur):
            return cur  # no-op writes do not bump resourceVersion
        new["metadata"]["managedFields"] = copy.deepcopy(cmeta.get("managedFields") or [])
        if writer:
            record_managed(res, cur, new, writer, applied)
        if not new["metadata"]["managedFields"]:
            new["metadata"].pop("managedFields")
        self._bump(new)
        if res.kind == "Namespace" and res.group == "":
            pass  # a terminating namespace goes when its last object has (_finish_namespace)
        elif new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._delete_now(res, ns, name, new)
        self.objs[(res, ns, name)] = new
        self._publish(res, "MODIFIED", new, old=cur)
        self._serve_crd(res, new)
        return new

    def _delete_now(self, res, ns, name, obj):
        self.objs.pop((res, ns, name), None)
        if obj["metadata"].get("resourceVersion") != str(self.rv):
            self._bump(obj)
        self._publish(res, "DELETED", obj)
        if self.gc:
            self._collect(obj["metadata"]["uid"])
        if ns is not None:
            self._finish_namespace(ns)
        return obj

    def _finish_namespace(self, ns):
        key = (self.res[("", "v1", "namespaces")], None, ns)
        space = self.objs.get(key)
        if space and space["metadata"].get("deletionTimestamp") and not any(k[1] == ns for k in self.objs):
            self._delete_now(key[0], None, ns, copy.deepcopy(space))

    def _delete_namespace(self, res, name, cur):
        """Namespace deletion: Terminating, its objects deleted (finalizers honoured), gone when empty."""
        if not cur["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(cur)
            new["metadata"]["deletionTimestamp"] = now()
            new["status"] = {"phase": "Terminating"}
            self._bump(new)
            self.objs[(res, None, name)] = new
            self._publish(res, "MODIFIED", new, old=cur)
        for key in [k for k in self.objs if k[1] == name]:
            if key in self.objs:
                self._delete(*key)
        self._finish_namespace(name)
        return self.objs.get((res, None, name)) or cur

    def _collect(self, uid):
        live = {o["metadata"]["uid"] for o in self.objs.values()}
        for (res, ns, name), o in list(self.objs.items()):
            refs = o["metadata"].get("ownerReferences") or []
            if refs and any(r.get("uid") == uid for r in refs) and not any(r.get("uid") in live for r in refs):
                self._delete(res, ns, name)

    def _delete(self, res, ns, name):
        cur = self.objs.get((res, ns, name))
        if cur is None:
            raise not_found(res, name)
        if res.kind == "Namespace" and res.group == "":
            return self._delete_namespace(res, name, cur)
        if cur["metadata"].get("finalizers"):
            if not cur["metadata"].get("deletionTimestamp"):
                new = copy.deepcopy(cur)
                new["metadata"]["deletionTimestamp"] = now()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                self._bump(new)
                self.objs[(res, ns, name)] = new
                self._publish(res, "MODIFIED", new, old=cur)
                return new
            return cur
        return self._delete_now(res, ns, name, copy.deepcopy(cur))

    # -- selection
    def select(self, res, ns, lsel, fsel):
        out = []
        for (r, ons, name), o in sorted(self.objs.items(), key=lambda kv: (kv[0][1] or "", kv[0][2])):
            if r is res and (ns is None or ons == ns) and labels_match(lsel, o["metadata"].get("labels")) and fields_match(fsel, o):
                out.append(o)
        return out

    # -- HTTP
    async def handle(self, request):
        if request.path.startswith("/emulator/") and request.method == "GET":
            return self.debug(request.path, request.query)
        verb = "WATCH" if request.query.get("watch") in ("true", "1") else request.method
        self.requests[f"{verb} {request.path}"] += 1
        user = self.user_of(request)
        if user:
            self.requests_by_user[user][f"{verb} {request.path}"] += 1
        resp = await self._handle(request)
        if self.verbose:
            print(f"{request.method} {request.path_qs} -> {resp.status}", file=sys.stderr, flush=True)
        return resp

    async def _handle(self, request):
        try:
            if request.path.startswith("/apis/authentication.k8s.io/v1/tokenreviews") and request.method == "POST":
                return self.json(await self.token_review(request))
            token_request = TOKEN_REQUEST.match(request.path)
            if token_request and request.method == "POST":
                return self.json(await self.token_request(request, *token_request.groups()), 201)
            proxied = SERVICE_PROXY.match(request.path)
            if proxied:
                return await self.proxy(request, *proxied.groups())
            disc = self.discovery(request)
            if disc is not None:
                return disc
            parsed = self.parse(request.path)
            if parsed is None:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({request.path})")
            served, ns, name, sub = parsed
            res = served.storage  # objects are stored once, in the storage version
            q = request.query
            m = request.method
            # Reads return objects as the version asked for; PartialObjectMetadata when asked (kube-rs metadata_watcher).
            meta_only = "as=PartialObjectMetadata" in request.headers.get("Accept", "")
            view = lambda o: self.view(served, o, meta_only)
            # The API server names the writer after ?fieldManager=, else after the User-Agent's first word.
            writer = Writer(q.get("fieldManager") or (request.headers.get("User-Agent") or "unknown").split("/")[0],
                            "Update", served.gv, sub)
            if m == "PATCH" and "protobuf" in (request.content_type or ""):
                raise ApiError(415, "UnsupportedMediaType", "only JSON bodies are supported by this emulator")
            if m == "GET" and q.get("watch") in ("true", "1"):
                return await self.watch(request, res, ns, name, view, served)
            if m == "GET" and name is None:
                out = self.list(res, ns, q)
                out["items"] = [view(o) for o in out["items"]]
                out["apiVersion"] = served.gv
                if meta_only:
                    out.update(apiVersion="meta.k8s.io/v1", kind="PartialObjectMetadataList")
                return self.json(out)
            if m == "GET":
                o = self.objs.get((res, ns, name))
                if o is None:
                    raise not_found(res, name)
                return self.json(view(o))
            if m == "POST" and name is None:
                return self.json(view(self.create(res, ns, await self.body(request), q, writer)), 201)
            if m == "PUT" and name:
                body = await self.body(request)
                cur = self.objs.get((res, ns, name))
                if cur is None:
                    raise not_found(res, name)
                rv = (body.get("metadata") or {}).get("resourceVersion")
                if rv and rv != cur["metadata"]["resourceVersion"]:
                    raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": the object has been modified; please apply your changes to the latest version and try again', res, name)
                if q.get("dryRun"):
                    return self.json(body)
                return self.json(view(self._replace(res, ns, name, cur, body, status_only=sub == "status", writer=writer)))
            if m == "PATCH" and name:
                return self.json(view(await self.patch(request, res, ns, name, sub, writer)))
            if m == "DELETE" and name:
                return self.json(view(self._delete(res, ns, name)))
            if m == "DELETE":
                items = [view(self._delete(res, o["metadata"].get("namespace"), o["metadata"]["name"]))
                         for o in self.select(res, ns, parse_label_selector(q.get("labelSelector")), parse_field_selector(q.get("fieldSelector")))]
                return self.json({"kind": res.kind + "List", "apiVersion": served.gv, "metadata": {"resourceVersion": str(self.rv)}, "items": items})
            raise ApiError(405, "MethodNotAllowed", f"{m} is not supported on {request.path}")
        except ApiError as e:
            return self.json(e.body(), e.code)

    @staticmethod
    def view(served, obj, meta_only=False):
        """`obj` as a client of version `served` sees it: the same object, its apiVersion rewritten."""
        if meta_only:
            return {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj.get("metadata", {})}
        if obj.get("apiVersion") == served.gv or obj.get("kind") != served.kind:
            return obj
        return dict(obj, apiVersion=served.gv)

    def user_of(self, request):
        """The ServiceAccount a request's bearer token names (a TokenRequest's or a --token), else None."""
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if token in self.issued:
            return self.issued[token]["sub"]
        if token in self.tokens:
            return "system:serviceaccount:" + self.tokens[token]
        return None

    def debug(self, path, query):
        """Test-only counters: /emulator/tokenrequests ({"ns/sa": n}) and /emulator/requests
        ({"VERB path": n}; ?user=system:serviceaccount:NS:NAME: only the requests made with that
        ServiceAccount's token)."""
        if path == "/emulator/tokenrequests":
            return self.json(dict(self.token_requests))
        if path == "/emulator/requests":
            if "user" in query:
                return self.json(dict(self.requests_by_user.get(query["user"], {})))
            return self.json(dict(self.requests))
        return self.json(ApiError(404, "NotFound", f"no such emulator endpoint {path}").body(), 404)

    async def token_request(self, request, ns, name):
        """TokenRequest (authentication.k8s.io/v1), the serviceaccounts/token subresource: a bound
        ServiceAccount token that TokenReview accepts while the ServiceAccount (same uid) exists."""
        body = await self.body(request)
        sa = self.objs.get((self.res[("", "v1", "serviceaccounts")], ns, name))
        if sa is None:
            raise not_found(self.res[("", "v1", "serviceaccounts")], name)
        spec = dict(body.get("spec") or {})
        seconds = int(spec.get("expirationSeconds") or 3600)
        if seconds < 600:
            raise ApiError(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
                                           f'Invalid value: {seconds}: may not specify a duration less than 10 minutes')
        audiences = spec.get("audiences") or [ISSUER]
        issued = int(time.time())
        uid = sa["metadata"]["uid"]
        k8s = {"namespace": ns, "serviceaccount": {"name": name, "uid": uid}}
        bound = spec.get("boundObjectRef")
        if bound:
            k8s[str(bound.get("kind", "")).lower()] = {"name": bound.get("name"), "uid": bound.get("uid")}
        claims = {"aud": audiences, "exp": issued + seconds, "iat": issued, "iss": ISSUER, "jti": str(uuid.uuid4()),
                  "kubernetes.io": k8s, "nbf": issued, "sub": f"system:serviceaccount:{ns}:{name}"}
        # RS256-shaped: nobody checks the signature (Vault/OpenBao ask TokenReview), so it is random bytes.
        token = ".".join(b64url(part) for part in (
            json.dumps({"alg": "RS256", "kid": "kapi-emulator"}).encode(), json.dumps(claims).encode(), os.urandom(256)))
        self.issued[token] = claims
        self.token_requests[f"{ns}/{name}"] += 1
        spec.update(audiences=audiences, expirationSeconds=seconds)
        expires = datetime.datetime.fromtimestamp(issued + seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
                "spec": spec, "status": {"token": token, "expirationTimestamp": expires}}

    def review_issued(self, claims, wanted):
        """TokenReview of a token from token_request, as the API server's service-account authenticator."""
        sa_claim = claims["kubernetes.io"]["serviceaccount"]
        ns, name = claims["kubernetes.io"]["namespace"], sa_claim["name"]
        audiences = [a for a in (wanted or [ISSUER]) if a in claims["aud"]]
        sa = self.objs.get((self.res[("", "v1", "serviceaccounts")], ns, name))
        if time.time() >= claims["exp"]:
            return {"authenticated": False, "error": "[invalid bearer token, token has expired]"}
        if not audiences:
            return {"authenticated": False, "error": f"[invalid bearer token, token audiences [{' '.join(claims['aud'])}] is invalid for the target audiences [{' '.join(wanted or [ISSUER])}]]"}
        if sa is None or sa["metadata"]["uid"] != sa_claim["uid"]:
            return {"authenticated": False, "error": f'[invalid bearer token, service account {ns}/{name} has been deleted]'}
        user = claims["sub"]
        return {"authenticated": True, "audiences": audiences,
                "user": {"username": user, "uid": sa_claim["uid"],
                         "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
                         "extra": {"authentication.kubernetes.io/credential-id": [f"JTI={claims['jti']}"]}}}

    async def proxy(self, request, ns, service, path):
        parts = service.split(":")
        name, port_name = (parts[1], parts[2]) if len(parts) == 3 else (parts[0], parts[1] if len(parts) == 2 else "")
        svc = self.objs.get((self.res[("", "v1", "services")], ns, name))
        if svc is None:
            raise ApiError(404, "NotFound", f'services "{name}" not found')
        ports = (svc.get("spec") or {}).get("ports") or []
        port = next((p for p in ports if not port_name or p.get("name") == port_name or str(p.get("port")) == port_name), None)
        if port is None:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{service}"')
        target = port.get("targetPort") or port["port"]
        if isinstance(target, str) and not target.isdigit():
            target = self.named_port(ns, (svc.get("spec") or {}).get("selector") or {}, target, service)
        url = f"http://127.0.0.1:{target}/{path}"
        async with aiohttp.ClientSession() as session:
            async with session.request(request.method, url, data=await request.read(), params=request.query,
                                       headers={k: v for k, v in request.headers.items() if k.lower() == "content-type"}) as r:
                body = await r.read()
                return aiohttp.web.Response(body=body, status=r.status, headers={"Content-Type": r.headers.get("Content-Type", "application/octet-stream")})

    def named_port(self, ns, selector, name, service):
        """A named targetPort, as the endpoints controller resolves it: the containerPort of that
        name in the pods the Service selects, here the pod templates of the namespace's Deployments."""
        deployments = self.res[("apps", "v1", "deployments")]
        for (r, ons, _), d in sorted(self.objs.items(), key=lambda kv: kv[0][2]):
            template = ((d.get("spec") or {}).get("template") or {})
            labels = (template.get("metadata") or {}).get("labels") or {}
            if r is not deployments or ons != ns or not selector or any(labels.get(k) != v for k, v in selector.items()):
                continue
            for c in (template.get("spec") or {}).get("containers") or []:
                for p in c.get("ports") or []:
                    if p.get("name") == name and p.get("containerPort"):
                        return p["containerPort"]
        raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{service}"')

    @staticmethod
    def json(obj, status=200):
        return aiohttp.web.Response(text=json.dumps(obj), status=status, content_type="application/json")

    @staticmethod
    async def body(request):
        if "protobuf" in (request.content_type or ""):
            return decode_protobuf(await request.read())
        text = await request.text()
        try:
            return json.loads(text) if text else {}
        except ValueError:
            if yaml is None:
                raise ApiError(415, "UnsupportedMediaType", "YAML body but PyYAML is not installed")
            return yaml.safe_load(text) or {}

    def create(self, res, ns, body, q, writer=None, applied=None):
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "body must be an object")
        meta = body.setdefault("metadata", {})
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            else:
                raise ApiError(422, "Invalid", "metadata.name: Required value")
        if res.namespaced and meta.get("namespace") not in (None, ns):
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        if (res, ns, meta["name"]) in self.objs:
            raise ApiError(409, "AlreadyExists", f'{res.plural} "{meta["name"]}" already exists', res, meta["name"])
        body.pop("status", None) if res.status else None
        for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
            meta.pop(k, None)
        if q.get("dryRun"):
            return body
        return self._store_new(res, ns, body, writer, applied)

    async def patch(self, request, res, ns, name, sub, writer):
        ctype = request.content_type or ""
        q = request.query
        patch = await self.body(request)
        cur = self.objs.get((res, ns, name))
        if "apply-patch" in ctype:
            manager = q.get("fieldManager")
            if not manager:
                raise ApiError(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
            if cur is None:
                if sub:
                    raise not_found(res, name)
                applied = copy.deepcopy(patch)
                patch.setdefault("metadata", {})["name"] = name
                return self.create(res, ns, patch, q, Writer(manager, "Apply", writer.api_version), applied)
            applied = copy.deepcopy(patch)
            new = merge_patch(cur, patch)
            writer = Writer(manager, "Apply", writer.api_version, sub)
        elif "json-patch" in ctype:
            if cur is None:
                raise not_found(res, name)
            try:
                new = jsonpatch.apply_patch(cur, patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {e}", res, name)
        elif "merge-patch" in ctype:  # merge-patch+json and strategic-merge-patch+json
            if cur is None:
                raise not_found(res, name)
            new = merge_patch(cur, patch)
        else:
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format ({ctype})")
        rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
        if rv and rv != cur["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": the object has been modified', res, name)
        if q.get("dryRun"):
            return new
        return self._replace(res, ns, name, cur, new, status_only=sub == "status", writer=writer,
                             applied=applied if "apply-patch" in ctype else None)

    def list(self, res, ns, q):
        items = self.select(res, ns, parse_label_selector(q.get("labelSelector")), parse_field_selector(q.get("fieldSelector")))
        meta = {"resourceVersion": str(self.rv)}
        limit = int(q.get("limit") or 0)
        start = int(base64.b64decode(q["continue"]).decode()) if q.get("continue") else 0
        if limit:
            page = items[start:start + limit]
            if start + limit < len(items):
                meta["continue"] = base64.b64encode(str(start + limit).encode()).decode()
                meta["remainingItemCount"] = len(items) - start - limit
            items = page
        return {"kind": res.kind + "List", "apiVersion": res.gv, "metadata": meta, "items": items}

    async def watch(self, request, res, ns, name, view, served):
        q = request.query
        sub = Sub(res, ns, parse_label_selector(q.get("labelSelector")), parse_field_selector(q.get("fieldSelector")), name)
        timeout = int(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        rv = q.get("resourceVersion") or ""
        initial = []
        if q.get("sendInitialEvents") in ("true", "1") or rv in ("", "0"):
            initial = [("ADDED", o) for o in self.select(res, ns, sub.lsel, sub.fsel) if sub.name is None or o["metadata"]["name"] == sub.name]
            if q.get("sendInitialEvents") in ("true", "1"):
                initial.append(("BOOKMARK", {"kind": res.kind, "apiVersion": served.gv, "metadata": {
                    "resourceVersion": str(self.rv), "annotations": {"k8s.io/initial-events-end": "true"}}}))
        else:
            try:
                since = int(rv)
            except ValueError:
                raise ApiError(400, "BadRequest", f"invalid resourceVersion {rv!r}")
            oldest = self.log[0][0] if self.log else self.rv
            if self.log and since < oldest - 1 and len(self.log) == self.log.maxlen:
                initial = [("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": f"too old resource version: {since} ({oldest})", "reason": "Expired", "code": 410})]
            else:
                for (erv, eres, etype, obj, old) in self.log:
                    if erv > since:
                        ev = sub.translate(eres, etype, obj, old)
                        if ev:
                            initial.append(ev)
        self.subs.add(sub)  # no await between snapshot and subscription: nothing is lost or duplicated
        resp = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        event = lambda etype, obj: json.dumps({"type": etype, "object": view(obj) if etype in ("ADDED", "MODIFIED", "DELETED") else obj}).encode() + b"\n"
        try:
            await resp.prepare(request)
            for etype, obj in initial:
                await resp.write(event(etype, obj))
            if initial and initial[-1][0] == "ERROR":
                return resp
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    if bookmarks:
                        await resp.write(event("BOOKMARK", {"kind": res.kind, "apiVersion": served.gv, "metadata": {"resourceVersion": str(self.rv)}}))
                    break
                try:
                    etype, obj = await asyncio.wait_for(sub.queue.get(), left)
                except asyncio.TimeoutError:
                    continue
                await resp.write(event(etype, obj))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.subs.discard(sub)
        return resp

    async def token_review(self, request):
        body = await self.body(request)
        token = (body.get("spec") or {}).get("token", "")
        user, uid = None, None
        if token in self.tokens:
            ns, sa = self.tokens[token].split(":", 1)
            user = f"system:serviceaccount:{ns}:{sa}"
        else:
            try:
                payload = token.split(".")[1]
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                if str(claims.get("sub", "")).startswith("system:serviceaccount:"):
                    user = claims["sub"]
                    # Vault/OpenBao compare this uid with the JWT's service-account uid claim
                    uid = ((claims.get("kubernetes.io") or {}).get("serviceaccount") or {}).get("uid") \
                        or claims.get("kubernetes.io/serviceaccount/service-account.uid")
            except Exception:
                user = None
        status = {"authenticated": False, "error": "invalid token"}
        if token in self.issued:
            status = self.review_issued(self.issued[token], (body.get("spec") or {}).get("audiences") or [])
        elif user:
            status = {"authenticated": True, "user": {"username": user, "uid": uid or str(uuid.uuid5(uuid.NAMESPACE_OID, user)),
                      "groups": ["system:serviceaccounts", f"system:serviceaccounts:{user.split(':')[2]}", "system:authenticated"]},
                      "audiences": (body.get("spec") or {}).get("audiences") or []}
        return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {"creationTimestamp": None},
                "spec": body.get("spec") or {}, "status": status}

    def discovery(self, request):
        if request.method != "GET":
            return None
        p = request.path.rstrip("/") or "/"
        groups = collections.OrderedDict()
        for r in self.res.values():
            if r.group:
                groups.setdefault(r.group, []).append(r.version) if r.version not in groups.get(r.group, []) else None
        for vs in groups.values():
            vs.sort(key=version_priority, reverse=True)  # the first is the preferred version
        gobj = lambda g: {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in groups[g]],
                          "preferredVersion": {"groupVersion": f"{g}/{groups[g][0]}", "version": groups[g][0]}}
        if p == "/version":
            return self.json({"major": "1", "minor": "35", "gitVersion": "v1.35.0-emulated", "platform": "linux/amd64"})
        if p == "/":
            return self.json({"paths": ["/api", "/api/v1", "/apis", "/version"] + [f"/apis/{g}" for g in groups]})
        if p == "/api":
            return self.json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})
        if p == "/apis":
            return self.json({"kind": "APIGroupList", "apiVersion": "v1", "groups": [gobj(g) for g in groups]})
        parts = p.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            if parts[1] not in groups:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self.json(dict(kind="APIGroup", apiVersion="v1", **gobj(parts[1])))
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            g, v = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            rs = [r for r in self.res.values() if r.group == g and r.version == v]
            if not rs:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            out = []
            for r in rs:
                out.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                            "verbs": VERBS, **({"shortNames": r.short} if r.short else {})})
                if r.status:
                    out.append({"name": r.plural + "/status", "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]})
                if (r.group, r.plural) == ("", "serviceaccounts"):
                    out.append({"name": "serviceaccounts/token", "singularName": "", "namespaced": True, "group": "authentication.k8s.io",
                                "version": "v1", "kind": "TokenRequest", "verbs": ["create"]})
            return self.json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{g}/{v}" if g else v, "resources": out})
        if parts[0] == "openapi":
            raise ApiError(404, "NotFound", "openapi is not served by this emulator")
        return None


class Sub:
    def __init__(self, res, ns, lsel, fsel, name):
        self.res, self.ns, self.lsel, self.fsel, self.name = res, ns, lsel, fsel, name
        self.queue = asyncio.Queue()

    def matches(self, obj):
        m = obj["metadata"]
        return ((self.ns is None or m.get("namespace") == self.ns) and (self.name is None or m.get("name") == self.name)
                and labels_match(self.lsel, m.get("labels")) and fields_match(self.fsel, obj))

    def translate(self, res, etype, obj, old):
        if res is not self.res:
            return None
        now_ok = self.matches(obj)
        if etype == "MODIFIED" and old is not None:
            was_ok = self.matches(old)
            if was_ok and not now_ok:
                return ("DELETED", obj)
            if now_ok and not was_ok:
                return ("ADDED", obj)
        return (etype, obj) if now_ok else None


def crd_resources(doc):
    """The resources a CustomResourceDefinition serves: one Res per served version."""
    spec = doc["spec"]
    out = []
    for v in spec["versions"]:
        if v.get("served", True) is False:
            continue
        out.append(Res(spec["group"], v["name"], spec["names"]["plural"], spec["names"]["kind"],
                       namespaced=spec.get("scope") == "Namespaced", status="status" in (v.get("subresources") or {}),
                       short=spec["names"].get("shortNames") or [], singular=spec["names"].get("singular"),
                       storage=v.get("storage", len(spec["versions"]) == 1)))
    return out


def load_crds(paths):
    out = []
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                out.extend(crd_resources(doc))
    return out


UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def authenticating(handle, tokens):
    """The secure port's handler: a verified client certificate or a known bearer token."""
    async def handler(request):
        if request.transport is not None and request.transport.get_extra_info("peercert"):
            return await handle(request)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[len("Bearer "):] in tokens:
            return await handle(request)
        return aiohttp.web.json_response(UNAUTHORIZED, status=401)
    return handler


async def start_secure(emu, a):
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.tls_cert, a.tls_key)
    if a.client_ca:
        ctx.load_verify_locations(a.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    server = aiohttp.web.Server(authenticating(emu.handle, set(a.user_token)), handler_cancellation=True)
    runner = aiohttp.web.ServerRunner(server)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, a.host, a.secure_port, ssl_context=ctx)
    await site.start()
    return f"https://{a.host}:{site._server.sockets[0].getsockname()[1]}"


def write_kubeconfig(path, url):
    with open(path, "w") as f:
        f.write(f"apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: {url}\n"
                f"contexts:\n- name: emu\n  context:\n    cluster: emu\n    user: emu\n    namespace: default\n"
                f"current-context: emu\nusers:\n- name: emu\n  user:\n    token: emulator\n")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18081)
    ap.add_argument("--kubeconfig")
    ap.add_argument("--gc", action="store_true", help="delete dependents when all their owners are deleted")
    ap.add_argument("--crd-file", action="append", default=[], help="add resources from CRD YAML (needs PyYAML)")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    ap.add_argument("--token", action="append", default=[], help="TOKEN=namespace:serviceaccount for TokenReview")
    ap.add_argument("--secure-port", type=int, help="also serve HTTPS here, authenticating every request")
    ap.add_argument("--tls-cert", help="the secure port's certificate chain (PEM)")
    ap.add_argument("--tls-key", help="the secure port's private key (PEM)")
    ap.add_argument("--client-ca", help="CA whose client certificates the secure port accepts")
    ap.add_argument("--user-token", action="append", default=[], help="a bearer token the secure port accepts")
    a = ap.parse_args()
    resources = with_crds(DEFAULT_RESOURCES, load_crds(a.crd_file))
    emu = Emulator(resources, gc=a.gc, tokens=dict(t.split("=", 1) for t in a.token), verbose=a.verbose)
    server = aiohttp.web.Server(emu.handle, handler_cancellation=True)
    runner = aiohttp.web.ServerRunner(server)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, a.host, a.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    url = f"http://{a.host}:{port}"
    if a.kubeconfig:
        write_kubeconfig(a.kubeconfig, url)
    print(f"READY {url}", flush=True)
    if a.secure_port is not None:
        print(f"READY_SECURE {await start_secure(emu, a)}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
