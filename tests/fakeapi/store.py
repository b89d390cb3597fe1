"""Indexed, thread-safe object storage with the write semantics of a Kubernetes API server.

Objects are stored "bare": without ``apiVersion``/``kind`` (the resource they belong to
says those), keyed by (namespace, name) in one bucket per group/resource, so every
version of a group/resource serves the same objects. Stored dicts are never mutated:
every write stores a new dict, so readers may encode them without holding the lock.
"""

import base64
import binascii
import json
import random
import threading
import time
import uuid
from bisect import bisect_left, bisect_right, insort
from collections import deque

from . import controllers, errors
from .controllers import NAMESPACES, NODES, PODS, now
from .operators import Operators
from .discovery import Registry
from .patch import json_patch, merge_patch
from .selectors import field_predicate, label_selector, parse_field_selector

CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
APISERVICES = ("apiregistration.k8s.io", "apiservices")
NODE_NAME = ("spec", "nodeName")
EVENT_LOG_SIZE = 20000  # watch events kept; a watch from an older resourceVersion is answered 410 Gone
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
_NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def parse_minor(kubernetes_version):
    """``"v1.35.2+rke2r1"`` -> 35."""
    return int(kubernetes_version.lstrip("v").split(".")[1].rstrip("+"))


def _node_of(obj):
    return (obj.get("spec") or {}).get("nodeName") or ""


def _content(obj):
    """Everything a spec change would touch: the object minus metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class _Bucket:
    """The objects of one group/resource, with a lazily sorted key list and (for pods) a node index."""

    __slots__ = ("objects", "_keys", "by_node")

    def __init__(self, index_nodes=False):
        self.objects = {}
        self._keys = None
        self.by_node = {} if index_nodes else None

    def keys(self):
        if self._keys is None:
            self._keys = sorted(self.objects)
        return self._keys

    def put(self, key, obj, bulk=False):
        old = self.objects.get(key)
        self.objects[key] = obj
        if bulk:
            self._keys = None
        elif old is None and self._keys is not None:
            insort(self._keys, key)
        if self.by_node is not None:
            if old is not None:
                self.by_node.get(_node_of(old), set()).discard(key)
            self.by_node.setdefault(_node_of(obj), set()).add(key)

    def remove(self, key):
        obj = self.objects.pop(key)
        if self._keys is not None:
            del self._keys[bisect_left(self._keys, key)]
        if self.by_node is not None:
            self.by_node.get(_node_of(obj), set()).discard(key)
        return obj

    def in_namespace(self, namespace):
        keys = self.keys()
        lo, hi = bisect_left(keys, (namespace,)), bisect_left(keys, (namespace + "\0",))
        return [(key, self.objects[key]) for key in keys[lo:hi]]

    def drop_namespace(self, namespace):
        keys = self.keys()
        lo, hi = bisect_left(keys, (namespace,)), bisect_left(keys, (namespace + "\0",))
        for key in keys[lo:hi]:
            obj = self.objects.pop(key)
            if self.by_node is not None:
                self.by_node.get(_node_of(obj), set()).discard(key)
        del keys[lo:hi]


def encode_continue(resource_version, key):
    token = {"v": "meta.k8s.io/v1", "rv": resource_version, "start": list(key)}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def decode_continue(token):
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        return (namespace, name)
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise errors.bad_request(f"continue key is not valid: {err}") from err


class ObjectStore:
    """All objects of a simulated cluster, plus the Registry of what it serves.

    Test helpers: ``add_objects``, ``get``, ``objects``. The API layer uses
    ``read``/``list``/``create``/``update``/``patch``/``delete``, which take a
    Resource and return bare objects or raise ``errors.ApiError``.

    Writes given a ``field_manager`` record it in ``metadata.managedFields`` (manager, operation,
    apiVersion, time, subresource; no ``fieldsV1`` field sets). ``namespace_termination_seconds``
    (0: a deleted namespace is gone at once) keeps a deleted namespace ``Terminating``, refusing new
    content, for that long; then it and its objects are removed.
    """

    def __init__(self, kubernetes_version="v1.35.2", runtime_config=(), aggregated_discovery=None):
        self._lock = threading.RLock()
        self._buckets = {}
        self._rv = 1000
        self._registry = Registry(parse_minor(kubernetes_version), runtime_config, aggregated_discovery)
        self._schema_dirty = False
        self._uid_prefix = str(uuid.uuid4())[:24]
        self._uids = 0
        self._api_created = set()  # uids of the objects created through the API (not fixture objects)
        self.namespace_termination_seconds = 0.0
        self._terminating = {}  # namespace name -> time.monotonic() when it is gone
        # Watch events: (resourceVersion as int, type, resource key, bare object), oldest first.
        self._events = deque(maxlen=EVENT_LOG_SIZE)
        self._events_floor = 0  # events after this resourceVersion are all in _events
        self._changed = threading.Condition(self._lock)
        self.stopped = False
        # Simulated controllers (see controllers.py): None = off, else seconds until the status follows.
        self.controller_delay = None
        self.crd_establish_delay = 0.0
        self._reconcile = {}  # (resource key, namespace, name) -> (time.monotonic() due, uid)
        self._establishing = set()  # names of API-created CRDs not Established yet (not served)
        # Simulated operators (see operators.py), with the controllers only: False keeps them off.
        self.operators = True
        self._operators = Operators(self)
        self._ticking = False

    @property
    def resource_version(self):
        """The newest resourceVersion handed out (a list's ``metadata.resourceVersion``)."""
        return self._rv

    @property
    def registry(self):
        """The Registry, first rebuilt if CRDs or APIServices changed."""
        if self._reconcile:
            self.tick()  # a CRD may be due to become Established (and served)
        with self._lock:
            if self._schema_dirty:
                self._schema_dirty = False
                crds = [c for c in self._bucket_values(CRDS) if c["metadata"]["name"] not in self._establishing]
                self._registry.refresh(crds, self._bucket_values(APISERVICES))
            return self._registry

    def _bucket_values(self, key):
        bucket = self._buckets.get(key)
        return list(bucket.objects.values()) if bucket else []

    def _bucket(self, key):
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(index_nodes=key == PODS)
        return bucket

    def _next_uid(self):
        """A unique uid in UUID form (a random prefix and a counter: much faster than uuid4)."""
        self._uids += 1
        return f"{self._uid_prefix}{self._uids:012x}"

    def _next_rv(self):
        self._rv += 1
        return str(self._rv)

    def _put(self, resource, key, obj, bulk=False):
        bucket = self._bucket(resource.key)
        event = None if bulk else ("MODIFIED" if key in bucket.objects else "ADDED")
        bucket.put(key, obj, bulk)
        if resource.key in (CRDS, APISERVICES):
            self._schema_dirty = True
        if event:
            self._emit(event, resource.key, obj)

    # Watch support.

    def _emit(self, event_type, resource_key, obj):
        """Record a watch event (the caller holds the lock) and wake the watchers."""
        if len(self._events) == self._events.maxlen:
            self._events_floor = self._events[0][0]
        self._events.append((int(obj["metadata"]["resourceVersion"]), event_type, resource_key, obj))
        self._changed.notify_all()

    def events_since(self, resource_version, resource_key, timeout):
        """(events of ``resource_key`` after ``resource_version``, the newest resourceVersion), waiting up
        to ``timeout`` seconds for one; None when that resourceVersion is too old (410 Gone)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self.tick()
                self._reap()  # a watched namespace's termination ends while the watch waits, as on a real server
                if resource_version < self._events_floor:
                    return None
                found = []
                for event in reversed(self._events):
                    if event[0] <= resource_version:
                        break
                    if event[2] == resource_key:
                        found.append(event)
                found.reverse()
                remaining = deadline - time.monotonic()
                if found or remaining <= 0 or self.stopped:
                    return found, self._rv
                wait = remaining if not self._reconcile else min(remaining, self._next_due())
                self._changed.wait(max(0.005, min(wait, 0.25)))

    def _emit_deleted(self, resource_key, obj):
        """A DELETED event: the last state of the object, at a resourceVersion of its own."""
        meta = {**obj["metadata"], "resourceVersion": self._next_rv()}
        self._emit("DELETED", resource_key, {**obj, "metadata": meta})

    def stop_watches(self):
        with self._lock:
            self.stopped = True
            self._changed.notify_all()

    # Simulated controllers.

    def _next_due(self):
        return max(0.0, min(due for due, _uid in self._reconcile.values()) - time.monotonic())

    def _schedule(self, resource_key, obj, delay):
        meta = obj["metadata"]
        self._reconcile[(resource_key, meta.get("namespace", ""), meta["name"])] = (
            time.monotonic() + delay, meta.get("uid"))

    def tick(self):
        """Let the simulated controllers write the statuses that are due (called before every read)."""
        if not self._reconcile or self._ticking:
            return
        with self._lock:
            self._ticking = True
            try:
                self._run_due()
            finally:
                self._ticking = False

    def _run_due(self):
        moment = time.monotonic()
        for item, (due, uid) in sorted(self._reconcile.items(), key=lambda kv: kv[1][0]):
            if due > moment or self._reconcile.get(item, (None, None))[0] != due:
                continue
            del self._reconcile[item]
            resource_key, namespace, name = item
            bucket = self._buckets.get(resource_key)
            obj = bucket.objects.get((namespace, name)) if bucket else None
            if obj is None or obj["metadata"].get("uid") != uid:
                continue
            if self._operators.handles(resource_key):
                self._operators.reconcile(resource_key, obj)
                continue
            if resource_key == CRDS:
                self._establishing.discard(name)
                self._schema_dirty = True
                status = controllers.established_status(obj, now())
            else:
                nodes = list(self._buckets[NODES].objects.values()) if NODES in self._buckets else []
                status = controllers.workload_status(resource_key, obj, nodes, now())
            new = {**obj, "status": status, "metadata": {**obj["metadata"], "resourceVersion": self._next_rv()}}
            bucket.put((namespace, name), new)
            self._emit("MODIFIED", resource_key, new)
            if resource_key in controllers.WORKLOADS:
                self._operators.after_status(resource_key, new)

    # What the simulated operators (operators.py) use; the caller holds the lock.

    def schedule(self, resource_key, obj, delay):
        """Reconcile ``obj`` (this uid) ``delay`` seconds from now (an earlier due time is kept)."""
        meta = obj["metadata"]
        item = (resource_key, meta.get("namespace", ""), meta["name"])
        due = time.monotonic() + delay
        current = self._reconcile.get(item)
        if current is None or current[1] != meta.get("uid") or current[0] > due:
            self._reconcile[item] = (due, meta.get("uid"))
        self._changed.notify_all()

    def pod_log(self, pod, container=None):
        """What a container of ``pod`` printed: a simulated kubelet's (simulations/), else nothing."""
        with self._lock:
            return self._operators.pod_log(pod, container) or ""

    def proxy(self, resource_key, namespace, name, path, query):
        """(status, content type, body) a simulation answers through a Service's or pod's proxy, or None."""
        with self._lock:
            return self._operators.proxy(resource_key, namespace, name, path, query)

    def is_api_created(self, obj):
        return obj["metadata"].get("uid") in self._api_created

    def served(self, resource_key):
        """Whether a custom resource's CRD exists and is Established."""
        group, plural = resource_key
        name = f"{plural}.{group}"
        return ("", name) in self._bucket(CRDS).objects and name not in self._establishing

    def sim_get(self, resource_key, namespace, name):
        bucket = self._buckets.get(resource_key)
        return bucket.objects.get((namespace or "", name)) if bucket else None

    def sim_objects(self, resource_key, namespace=None):
        bucket = self._buckets.get(resource_key)
        if bucket is None:
            return []
        if namespace is None:
            return [bucket.objects[key] for key in bucket.keys()]
        return [obj for _key, obj in bucket.in_namespace(namespace)]

    def sim_write(self, resource_key, new, spec_changed=False):
        """Store an operator's change of a stored object (status, or spec with ``spec_changed``)."""
        meta = {**new["metadata"], "resourceVersion": self._next_rv()}
        if spec_changed:
            meta["generation"] = meta.get("generation", 1) + 1
        new = {**new, "metadata": meta}
        self._put(_Key(resource_key), (meta.get("namespace", ""), meta["name"]), new)
        return new

    def sim_create(self, resource_key, obj):
        """Store an object an operator creates; it counts as API-created (its own controllers run)."""
        meta = obj["metadata"]
        meta.update(uid=self._next_uid(), creationTimestamp=now(), generation=1, resourceVersion=self._next_rv())
        self._api_created.add(meta["uid"])
        self._put(_Key(resource_key), (meta.get("namespace", ""), meta["name"]), obj)
        self._operators.after_write(resource_key, obj)
        return obj

    def _after_write(self, resource, obj, created):
        """Hand an API-created workload (each generation) or CRD to its simulated controller, and an
        API-created object of an operator's kind to that operator."""
        if self.controller_delay is None:
            return
        uid = obj["metadata"].get("uid")
        if created:
            self._api_created.add(uid)
        if resource.key in controllers.WORKLOADS and uid in self._api_created:
            self._schedule(resource.key, obj, self.controller_delay)
        elif resource.key == CRDS and created and obj["metadata"]["name"] in self._establishing:
            self._schedule(resource.key, obj, self.crd_establish_delay)
        elif uid in self._api_created:
            self._operators.after_write(resource.key, obj)

    # Test helpers.

    def add_objects(self, objects):
        """Store full objects (dicts with apiVersion and kind) fast; returns how many were stored.

        The store takes ownership of the dicts: it removes apiVersion/kind and fills
        missing metadata (namespace "default" for namespaced kinds, uid, resourceVersion,
        creationTimestamp, generation) in place, without copying or validating.
        An object with the same resource, namespace and name replaces the stored one.
        Namespaces that objects refer to but that do not exist are created. Custom
        resources may come before their CRD in the same call.
        """
        created_at, namespaces, resolved, pending, count = now(), set(), {}, [], 0
        with self._lock:
            for obj in objects:
                pending.append((obj.pop("apiVersion", None), obj.pop("kind", None), obj))
            for _pass in range(2):  # a second pass for custom resources listed before their CRD
                deferred = []
                for api_version, kind, obj in pending:
                    resource = resolved.get((api_version, kind)) or self.registry.by_kind(api_version, kind)
                    if resource is None:
                        deferred.append((api_version, kind, obj))
                        continue
                    resolved[(api_version, kind)] = resource
                    count += 1
                    self._add_one(resource, obj, created_at, namespaces)
                    if resource.key in (CRDS, APISERVICES):
                        resolved.clear()
                pending = deferred
            if pending:
                kinds = sorted({f"{api_version}/{kind}" for api_version, kind, _obj in pending})
                raise ValueError(f"no served resource for {', '.join(kinds)} (is its CRD loaded?)")
            missing = namespaces - {key[1] for key in self._bucket(NAMESPACES).objects}
            for name in sorted(missing):
                self._add_one(self.registry.by_kind("v1", "Namespace"), {"metadata": {"name": name}},
                              created_at, namespaces)
        return count + len(missing)

    def _add_one(self, resource, obj, created_at, namespaces):
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not meta.get("name"):
            raise ValueError(f"{resource.kind} without metadata.name: {obj!r:.200}")
        if resource.namespaced:
            namespace = meta.get("namespace") or "default"
            meta["namespace"] = namespace
            namespaces.add(namespace)
        else:
            namespace = ""
        if "uid" not in meta:
            meta["uid"] = self._next_uid()
        if "resourceVersion" not in meta:
            meta["resourceVersion"] = self._next_rv()
        if "creationTimestamp" not in meta:
            meta["creationTimestamp"] = created_at
        if "generation" not in meta:
            meta["generation"] = (obj.get("status") or {}).get("observedGeneration") or 1
        _server_defaults(resource, obj)
        self._put(resource, (namespace, meta["name"]), obj, bulk=True)

    def get(self, api_version, kind, name, namespace=""):
        """A copy of a stored object with apiVersion and kind, or None."""
        resource = self.registry.by_kind(api_version, kind)
        if resource is None:
            return None
        try:
            obj = self.read(resource, namespace if resource.namespaced else "", name)
        except errors.ApiError:
            return None
        return {"apiVersion": api_version, "kind": kind, **obj}

    def objects(self, api_version, kind, namespace=None):
        """Copies (with apiVersion and kind) of the stored objects of a kind, sorted by namespace/name."""
        resource = self.registry.by_kind(api_version, kind)
        if resource is None:
            raise ValueError(f"no served resource for {api_version}/{kind}")
        items = self.list(resource, namespace)[0]
        return [{"apiVersion": api_version, "kind": kind, **obj} for obj in items]

    # API operations.

    def namespace_exists(self, namespace):
        self._reap()
        bucket = self._buckets.get(NAMESPACES)
        return bool(bucket and ("", namespace) in bucket.objects)

    def read(self, resource, namespace, name):
        if self._terminating:
            self._reap()
        if self._reconcile:
            self.tick()
        bucket = self._buckets.get(resource.key)
        obj = bucket.objects.get((namespace or "", name)) if bucket else None
        if obj is None:
            raise errors.not_found(resource, name)
        return obj

    def list(self, resource, namespace=None, label_selector_text="", field_selector_text="", limit=0,
             continue_token=""):
        """One page: (items, resourceVersion, continue token or None, remainingItemCount or None).

        Items come in namespace/name order. remainingItemCount is only known (and only
        given, as by a real server) when the request has no selectors.
        """
        try:
            labels = label_selector(label_selector_text)
            terms = parse_field_selector(field_selector_text)
        except ValueError as err:
            raise errors.bad_request(str(err)) from err
        start_after = decode_continue(continue_token) if continue_token else None
        has_selectors = bool(labels or terms)
        with self._lock:
            self._reap()
            self.tick()
            rv = self._rv
            bucket = self._buckets.get(resource.key)
            if bucket is None:
                return [], rv, None, None
            keys, lo, hi, terms = self._candidates(bucket, namespace, terms)
            if start_after is not None:
                lo = max(lo, bisect_right(keys, start_after, lo, hi))
            fields = field_predicate(terms)
            objects = bucket.objects
            if not labels and not fields:
                end = min(hi, lo + limit) if limit else hi
                items = [objects[key] for key in keys[lo:end]]
                more = end < hi
            else:
                items, more = [], False
                for end in range(lo, hi):
                    obj = objects[keys[end]]
                    if labels and not labels((obj.get("metadata") or {}).get("labels") or {}):
                        continue
                    if fields and not fields(obj):
                        continue
                    if limit and len(items) == limit:
                        more = True
                        break
                    items.append(obj)
            if not more:
                return items, rv, None, None
            remaining = None if has_selectors else hi - end
            return items, rv, encode_continue(rv, _key_of(items[-1])), remaining

    @staticmethod
    def _candidates(bucket, namespace, terms):
        """Sorted keys and the index range to scan, narrowed by namespace and (pods) spec.nodeName."""
        remaining = []
        node = None
        for term in terms:
            path, op, value = term
            if op == "=" and path == ("metadata", "namespace") and namespace in (None, value):
                namespace = value
            elif op == "=" and path == NODE_NAME and bucket.by_node is not None and node is None:
                node = value
            else:
                remaining.append(term)
        keys = sorted(bucket.by_node.get(node, ())) if node is not None else bucket.keys()
        if namespace:
            return keys, bisect_left(keys, (namespace,)), bisect_left(keys, (namespace + "\0",)), remaining
        return keys, 0, len(keys), remaining

    def create(self, resource, namespace, body, dry_run=False, field_manager=None, operation="Update"):
        """Create from a request body (owned by the store from now on)."""
        meta = _prepare_body(resource, namespace, body)
        with self._lock:
            if resource.namespaced and not self.namespace_exists(namespace):
                raise errors.not_found(self.registry.by_kind("v1", "Namespace"), namespace)
            if resource.namespaced and namespace in self._terminating:
                raise errors.namespace_terminating(resource, meta.get("name") or "", namespace)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise errors.invalid(resource, "", "metadata.name",
                                         "Required value: name or generateName is required")
                meta["name"] = meta["generateName"] + "".join(random.choices(_NAME_SUFFIX_CHARS, k=5))
            key = (namespace or "", meta["name"])
            bucket = self._buckets.get(resource.key)
            if bucket and key in bucket.objects:
                raise errors.already_exists(resource, meta["name"])
            meta.update(uid=self._next_uid(), creationTimestamp=now(), generation=1)
            for field in ("resourceVersion", "deletionTimestamp", "managedFields"):
                meta.pop(field, None)
            if field_manager:
                meta["managedFields"] = _managed_fields([], field_manager, operation, resource.api_version, None, True)
            controllers.apply_spec_defaults(resource.key, body)
            if resource.key in controllers.WORKLOADS:
                status = controllers.initial_status(resource.key, self.controller_delay is not None)
                if status is not None and (self.controller_delay is not None or "status" not in body):
                    body["status"] = status  # with controllers on, a client's status is dropped as by kube
            establish_later = (resource.key == CRDS and "status" not in body and self.controller_delay is not None
                               and self.crd_establish_delay > 0)
            _server_defaults(resource, body, establish=not establish_later)
            denial = self._operators.admit(resource.key, body)
            if denial:
                raise errors.ApiError(400, "BadRequest", denial)
            if not dry_run:
                meta["resourceVersion"] = self._next_rv()
                if establish_later:
                    self._establishing.add(meta["name"])
                self._put(resource, key, body)
                self._after_write(resource, body, True)
            return body

    def update(self, resource, namespace, name, body, dry_run=False, subresource=None, field_manager=None):
        """PUT: replace (or, for the status subresource, replace only the status)."""
        meta = _prepare_body(resource, namespace, body)
        if meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        with self._lock:
            old = self.read(resource, namespace, name)
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"].get("resourceVersion"):
                raise errors.conflict(resource, name)
            return self._write(resource, old, body, dry_run, subresource, field_manager)

    def patch(self, resource, namespace, name, patch_type, patch, dry_run=False, subresource=None, field_manager=None):
        """PATCH with patch_type "json", "merge" or "apply" (apply creates a missing object).

        Apply is create-or-merge: fields a manager stops applying are not removed, and there are
        no conflicts between managers (``force`` changes nothing)."""
        operation = "Apply" if patch_type == "apply" else "Update"
        with self._lock:
            self._reap()
            bucket = self._buckets.get(resource.key)
            old = bucket.objects.get((namespace or "", name)) if bucket else None
            if old is None:
                if patch_type != "apply" or subresource:
                    raise errors.not_found(resource, name)
                return self.create(resource, namespace, patch, dry_run, field_manager, operation)
            full = {"apiVersion": resource.api_version, "kind": resource.kind, **old}
            try:
                new = json_patch(full, patch) if patch_type == "json" else merge_patch(full, patch)
            except ValueError as err:
                raise errors.ApiError(422, "Invalid", str(err)) from err
            if not isinstance(new, dict):
                raise errors.bad_request("the patch did not produce an object")
            _prepare_body(resource, namespace, new)
            return self._write(resource, old, new, dry_run, subresource, field_manager, operation)

    def _write(self, resource, old, new, dry_run, subresource, field_manager=None, operation="Update"):
        """Store ``new`` over ``old`` keeping server-owned fields; a no-op keeps resourceVersion."""
        old_meta = old["metadata"]
        if subresource == "status":
            new = {**old, "status": new["status"]} if "status" in new else {
                k: v for k, v in old.items() if k != "status"}
        else:
            controllers.apply_spec_defaults(resource.key, new)
            if resource.has_status:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
            new["metadata"] = meta = {**new["metadata"]}
            for field in ("name", "namespace", "uid", "creationTimestamp", "generation", "resourceVersion",
                          "managedFields", "deletionTimestamp"):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            if _content(new) != _content(old):
                meta["generation"] = old_meta.get("generation", 0) + 1
        if field_manager:
            fields = _managed_fields(old_meta.get("managedFields") or [], field_manager, operation,
                                     resource.api_version, subresource, new != old)
            if fields != old_meta.get("managedFields"):
                new = {**new, "metadata": {**new["metadata"], "managedFields": fields}}
        if new == old:
            return old
        if dry_run:
            return new
        new["metadata"] = {**new["metadata"], "resourceVersion": self._next_rv()}
        self._put(resource, (old_meta.get("namespace", ""), old_meta["name"]), new)
        if subresource != "status" and new["metadata"].get("generation") != old_meta.get("generation"):
            self._after_write(resource, new, False)
        return new

    def delete(self, resource, namespace, name, dry_run=False, propagation=None):
        """Delete one object: a Namespace takes its objects along (after namespace_termination_seconds),
        a CRD its custom resources; dependents (ownerReferences) go at once with the Background and
        Foreground policies, and lose their reference to it with Orphan.

        Returns the deleted object, or the Terminating namespace."""
        propagation = propagation or "Background"
        if propagation not in PROPAGATION_POLICIES:
            raise errors.ApiError(422, "Invalid", f'propagationPolicy: Unsupported value: "{propagation}": '
                                  f'supported values: {", ".join(repr(p) for p in PROPAGATION_POLICIES)}')
        with self._lock:
            obj = self.read(resource, namespace, name)
            if dry_run:
                return obj
            if resource.key == NAMESPACES and self.namespace_termination_seconds > 0:
                return self._terminate(obj)
            self._remove(resource.key, (namespace or "", name), propagation)
            self._rv += 1
            return obj

    def _remove(self, resource_key, key, propagation):
        """Remove a stored object with what goes with it (a CRD's objects, a namespace's, its dependents)."""
        obj = self._buckets[resource_key].remove(key)
        self._emit_deleted(resource_key, obj)
        if resource_key in (CRDS, APISERVICES):
            self._schema_dirty = True
        if resource_key == CRDS:
            spec = obj.get("spec") or {}
            self._establishing.discard(key[1])
            custom_key = (spec.get("group"), (spec.get("names") or {}).get("plural"))
            custom = self._buckets.pop(custom_key, None)
            if custom is not None:
                for gone in list(custom.objects.values()):
                    self._emit_deleted(custom_key, gone)
        elif resource_key == NAMESPACES:
            self._terminating.pop(key[1], None)
            for bucket_key, bucket in list(self._buckets.items()):
                for _key, gone in bucket.in_namespace(key[1]):
                    self._emit_deleted(bucket_key, gone)
                bucket.drop_namespace(key[1])
        uid = obj["metadata"].get("uid")
        for dependent_key, dependent in self._dependents(uid, key[0]) if uid else ():
            bucket = self._buckets.get(dependent_key)
            if bucket is None or dependent not in bucket.objects:  # already gone with another one
                continue
            if propagation == "Orphan":
                current = bucket.objects[dependent]
                refs = [r for r in current["metadata"]["ownerReferences"] if r.get("uid") != uid]
                meta = {**current["metadata"], "ownerReferences": refs, "resourceVersion": self._next_rv()}
                if not refs:
                    del meta["ownerReferences"]
                bucket.put(dependent, {**current, "metadata": meta})
                self._emit("MODIFIED", dependent_key, bucket.objects[dependent])
            else:
                self._remove(dependent_key, dependent, propagation)
        return obj

    def _dependents(self, uid, namespace):
        """(bucket key, object key) of the objects with an ownerReference to ``uid``: in ``namespace``,
        or anywhere for a cluster-scoped owner."""
        found = []
        for resource_key, bucket in self._buckets.items():
            keys = bucket.keys()
            lo, hi = (bisect_left(keys, (namespace,)), bisect_left(keys, (namespace + "\0",))) if namespace else (0, len(keys))
            for key in keys[lo:hi]:
                refs = bucket.objects[key]["metadata"].get("ownerReferences")
                if refs and any(ref.get("uid") == uid for ref in refs):
                    found.append((resource_key, key))
        return found

    def _terminate(self, namespace):
        """Mark a namespace Terminating (once); it is removed when its time is up."""
        name = namespace["metadata"]["name"]
        if name in self._terminating:
            return namespace
        self._terminating[name] = time.monotonic() + self.namespace_termination_seconds
        condition = {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                     "message": "Some resources are remaining", "lastTransitionTime": now()}
        terminating = {**namespace,
                       "metadata": {**namespace["metadata"], "deletionTimestamp": now(), "resourceVersion": self._next_rv()},
                       "status": {**(namespace.get("status") or {}), "phase": "Terminating", "conditions": [condition]}}
        self._bucket(NAMESPACES).put(("", name), terminating)
        self._emit("MODIFIED", NAMESPACES, terminating)
        return terminating

    def _reap(self):
        """Remove the Terminating namespaces whose time is up, with their objects."""
        if not self._terminating:
            return
        with self._lock:
            moment = time.monotonic()
            for name, deadline in list(self._terminating.items()):
                if deadline <= moment:
                    self._terminating.pop(name, None)
                    if ("", name) in self._bucket(NAMESPACES).objects:
                        self._remove(NAMESPACES, ("", name), "Background")
                        self._rv += 1


class _Key:
    """What ``ObjectStore._put`` reads of a Resource (its key), for writes by the simulated operators."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


def _key_of(obj):
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def _managed_fields(fields, manager, operation, api_version, subresource, changed):
    """managedFields with ``manager``'s entry for this operation added, or its time renewed on a change."""
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now()}
    if subresource:
        entry["subresource"] = subresource
    same = [i for i, f in enumerate(fields) if (f.get("manager"), f.get("operation"), f.get("subresource")) ==
            (manager, operation, subresource)]
    if not same:
        return list(fields) + [entry]
    if not changed:
        return fields
    return [entry if i == same[0] else f for i, f in enumerate(fields)]


def _prepare_body(resource, namespace, body):
    """Check a request body against the URL, strip apiVersion/kind; returns its metadata."""
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    api_version, kind = body.pop("apiVersion", None), body.pop("kind", None)
    if kind and kind != resource.kind:
        raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")
    if api_version and api_version.rpartition("/")[0] != resource.group:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({resource.api_version})")
    meta = body["metadata"] = dict(body.get("metadata") or {})
    if resource.namespaced:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    return meta


def _server_defaults(resource, obj, establish=True):
    """What a real server (or its controllers, at once) fills in on Namespaces and CRDs without status."""
    if resource.key == NAMESPACES:
        meta = obj["metadata"]
        meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
    elif resource.key == CRDS and "status" not in obj:
        if establish:
            obj["status"] = controllers.established_status(obj, now())
        else:  # the simulated establishing controller sets the conditions later
            spec = obj.get("spec") or {}
            obj["status"] = {"acceptedNames": {"kind": "", "plural": ""}, "conditions": [],
                             "storedVersions": [v["name"] for v in spec.get("versions") or () if v.get("storage")]}
