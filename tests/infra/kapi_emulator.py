#!/usr/bin/env python3
"""A small Kubernetes API-server emulator for integration tests.

Why: no real kube-apiserver can be installed in an offline CI machine without Docker or the Go
module proxy (nothing on Debian/PyPI/npm/crates.io bundles one). kmock's KubernetesEmulator (PyPI `kmock`)
lacks resourceVersion/uid, PUT, SSA-create, selectors and proper watch semantics,
so kube-runtime's watcher/Controller cannot run against it. This file adds exactly
those semantics on plain aiohttp (a kmock dependency). Requirements:
    pip install aiohttp jsonpatch pyyaml

What it implements (JSON only, no protobuf, no auth/RBAC, no admission/validation):
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
    controller this way);
  * --port 0 picks a free port; the READY line names it.
  * an authenticating HTTPS listener beside the plain one, as a real API server's secure port:
    --secure-port N --tls-cert F --tls-key F [--client-ca F] [--user-token T ...]. A request
    there must present a client certificate signed by --client-ca (checked in the TLS
    handshake) or `Authorization: Bearer T` with a --user-token T; anything else gets 401
    Unauthorized. A second line "READY_SECURE https://HOST:PORT" names it. The plain port stays
    open without authentication, for the test harness and the controller under test.

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
import string
import sys
import uuid

import aiohttp.web
import jsonpatch

try:
    import yaml
except ImportError:  # only needed for YAML bodies (kubectl --server-side) and --crd-file
    yaml = None

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class Res:
    def __init__(self, group, version, plural, kind, namespaced=True, status=False, short=(), singular=None):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.status, self.short = namespaced, status, list(short)
        self.singular = singular or kind.lower()

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
    Res("bitnami.com", "v1alpha1", "sealedsecrets", "SealedSecret", status=True),
    Res("external-secrets.io", "v1", "externalsecrets", "ExternalSecret", status=True, short=["es"]),
    Res("external-secrets.io", "v1", "secretstores", "SecretStore", status=True, short=["ss"]),
    Res("external-secrets.io", "v1", "clustersecretstores", "ClusterSecretStore", namespaced=False, status=True, short=["css"]),
]


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


# ---------------------------------------------------------------- server
class Emulator:
    def __init__(self, resources, gc=False, tokens=None, log_size=10000, verbose=False):
        self.verbose = verbose
        self.res = {(r.group, r.version, r.plural): r for r in resources}
        self.objs = {}  # (res, ns, name) -> obj
        self.rv = 1
        self.log = collections.deque(maxlen=log_size)  # (rv, res, type, obj)
        self.subs = set()
        self.gc = gc
        self.tokens = tokens or {}
        for ns in ("default", "kube-system"):
            self._store_new(self.res[("", "v1", "namespaces")], None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

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

    def _store_new(self, res, ns, obj):
        meta = obj.setdefault("metadata", {})
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
        self._bump(obj)
        self.objs[(res, ns, meta["name"])] = obj
        self._publish(res, "ADDED", obj)
        return obj

    def _normalize(self, res, obj):
        if res.kind == "Secret" and res.group == "":
            sd = obj.pop("stringData", None) or {}
            if sd:
                data = obj.setdefault("data", {}) or {}
                for k, v in sd.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
                obj["data"] = data
            obj.setdefault("type", "Opaque")

    def _replace(self, res, ns, name, cur, new, status_only=False):
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
        if _sans_rv(new) == _sans_rv(cur):
            return cur  # no-op writes do not bump resourceVersion
        self._bump(new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._delete_now(res, ns, name, new)
        self.objs[(res, ns, name)] = new
        self._publish(res, "MODIFIED", new, old=cur)
        return new

    def _delete_now(self, res, ns, name, obj):
        self.objs.pop((res, ns, name), None)
        if obj["metadata"].get("resourceVersion") != str(self.rv):
            self._bump(obj)
        self._publish(res, "DELETED", obj)
        if self.gc:
            self._collect(obj["metadata"]["uid"])
        return obj

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
        resp = await self._handle(request)
        if self.verbose:
            print(f"{request.method} {request.path_qs} -> {resp.status}", file=sys.stderr, flush=True)
        return resp

    async def _handle(self, request):
        try:
            if request.path.startswith("/apis/authentication.k8s.io/v1/tokenreviews") and request.method == "POST":
                return self.json(await self.token_review(request))
            proxied = SERVICE_PROXY.match(request.path)
            if proxied:
                return await self.proxy(request, *proxied.groups())
            disc = self.discovery(request)
            if disc is not None:
                return disc
            parsed = self.parse(request.path)
            if parsed is None:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({request.path})")
            res, ns, name, sub = parsed
            q = request.query
            m = request.method
            if m in ("POST", "PUT", "PATCH") and "protobuf" in (request.content_type or ""):
                raise ApiError(415, "UnsupportedMediaType", "only JSON bodies are supported by this emulator")
            if m == "GET" and q.get("watch") in ("true", "1"):
                return await self.watch(request, res, ns, name)
            if m == "GET" and name is None:
                return self.json(self.list(res, ns, q))
            if m == "GET":
                o = self.objs.get((res, ns, name))
                if o is None:
                    raise not_found(res, name)
                return self.json(o)
            if m == "POST" and name is None:
                return self.json(self.create(res, ns, await self.body(request), q), 201)
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
                return self.json(self._replace(res, ns, name, cur, body, status_only=sub == "status"))
            if m == "PATCH" and name:
                return self.json(await self.patch(request, res, ns, name, sub))
            if m == "DELETE" and name:
                return self.json(self._delete(res, ns, name))
            if m == "DELETE":
                items = [self._delete(res, o["metadata"].get("namespace"), o["metadata"]["name"])
                         for o in self.select(res, ns, parse_label_selector(q.get("labelSelector")), parse_field_selector(q.get("fieldSelector")))]
                return self.json({"kind": res.kind + "List", "apiVersion": res.gv, "metadata": {"resourceVersion": str(self.rv)}, "items": items})
            raise ApiError(405, "MethodNotAllowed", f"{m} is not supported on {request.path}")
        except ApiError as e:
            return self.json(e.body(), e.code)

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
        url = f"http://127.0.0.1:{target}/{path}"
        async with aiohttp.ClientSession() as session:
            async with session.request(request.method, url, data=await request.read(), params=request.query,
                                       headers={k: v for k, v in request.headers.items() if k.lower() == "content-type"}) as r:
                body = await r.read()
                return aiohttp.web.Response(body=body, status=r.status, headers={"Content-Type": r.headers.get("Content-Type", "application/octet-stream")})

    @staticmethod
    def json(obj, status=200):
        return aiohttp.web.Response(text=json.dumps(obj), status=status, content_type="application/json")

    @staticmethod
    async def body(request):
        text = await request.text()
        try:
            return json.loads(text) if text else {}
        except ValueError:
            if yaml is None:
                raise ApiError(415, "UnsupportedMediaType", "YAML body but PyYAML is not installed")
            return yaml.safe_load(text) or {}

    def create(self, res, ns, body, q):
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
        return self._store_new(res, ns, body)

    async def patch(self, request, res, ns, name, sub):
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
                patch.setdefault("metadata", {})["name"] = name
                obj = self.create(res, ns, patch, q)
                self._set_managed(obj, manager, "Apply")
                return obj
            new = merge_patch(cur, patch)
            self._set_managed(new, manager, "Apply", sub)
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
        return self._replace(res, ns, name, cur, new, status_only=sub == "status")

    @staticmethod
    def _set_managed(obj, manager, op, sub=None):
        mf = [m for m in obj["metadata"].get("managedFields") or [] if not (m.get("manager") == manager and m.get("operation") == op)]
        mf.append({"manager": manager, "operation": op, "apiVersion": obj.get("apiVersion"), "time": now(),
                   "fieldsType": "FieldsV1", "fieldsV1": {}, **({"subresource": sub} if sub else {})})
        obj["metadata"]["managedFields"] = mf

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

    async def watch(self, request, res, ns, name):
        q = request.query
        sub = Sub(res, ns, parse_label_selector(q.get("labelSelector")), parse_field_selector(q.get("fieldSelector")), name)
        timeout = int(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        rv = q.get("resourceVersion") or ""
        initial = []
        if q.get("sendInitialEvents") in ("true", "1") or rv in ("", "0"):
            initial = [("ADDED", o) for o in self.select(res, ns, sub.lsel, sub.fsel) if sub.name is None or o["metadata"]["name"] == sub.name]
            if q.get("sendInitialEvents") in ("true", "1"):
                initial.append(("BOOKMARK", {"kind": res.kind, "apiVersion": res.gv, "metadata": {
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
        try:
            await resp.prepare(request)
            for etype, obj in initial:
                await resp.write(json.dumps({"type": etype, "object": obj}).encode() + b"\n")
            if initial and initial[-1][0] == "ERROR":
                return resp
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    if bookmarks:
                        await resp.write(json.dumps({"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.gv, "metadata": {"resourceVersion": str(self.rv)}}}).encode() + b"\n")
                    break
                try:
                    etype, obj = await asyncio.wait_for(sub.queue.get(), left)
                except asyncio.TimeoutError:
                    continue
                await resp.write(json.dumps({"type": etype, "object": obj}).encode() + b"\n")
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
        if user:
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


def load_crds(paths):
    out = []
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for v in spec["versions"]:
                    out.append(Res(spec["group"], v["name"], spec["names"]["plural"], spec["names"]["kind"],
                                   namespaced=spec.get("scope") == "Namespaced", status="status" in (v.get("subresources") or {}),
                                   short=spec["names"].get("shortNames") or []))
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
    resources = DEFAULT_RESOURCES + load_crds(a.crd_file)
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
