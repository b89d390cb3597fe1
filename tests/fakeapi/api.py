"""Request routing: maps (method, path, query, body) to discovery, CRUD, proxy and canned responses."""

import hashlib
import json
import re
import time
from typing import NamedTuple
from urllib.parse import parse_qs

import yaml

from . import errors, openapi, protobuf
from .builtin import Resource
from .discovery import AGGREGATED_MEDIA
from .selectors import field_predicate, label_selector, parse_field_selector
from .store import parse_minor

JSON = "application/json"
# Go version and build date of each minor's first patch releases (shown by /version).
RELEASES = {32: ("go1.23.4", "2024-12-11"), 33: ("go1.24.2", "2025-04-23"), 34: ("go1.24.6", "2025-08-27"),
            35: ("go1.25.5", "2025-12-17"), 36: ("go1.25.8", "2026-04-22")}
# Strategic merge patches are applied as JSON merge patches: lists are replaced whole, never merged
# by key, and $patch/$retainKeys directives are not understood.
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
WATCH_TIMEOUT_SECONDS = 1800  # a watch without timeoutSeconds ends after this long (kube: --min-request-timeout)
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
BOOKMARK_SECONDS = 5.0  # an idle watch that allows bookmarks gets one this often


class Response(NamedTuple):
    status: int
    content_type: str
    body: bytes


class Stream(NamedTuple):
    """A streamed (chunked) answer: a watch. ``chunks`` yields the bytes of one event each."""

    status: int
    content_type: str
    chunks: object


def encode(obj, status=200, content_type=JSON):
    return Response(status, content_type, json.dumps(obj, separators=(",", ":")).encode())


def version_info(git_version):
    """The /version document; the Python client requires every one of these fields."""
    minor = parse_minor(git_version)
    go_version, build_date = RELEASES.get(minor, ("go1.25.8", "2026-04-22"))
    info = {"major": "1", "minor": str(minor)}
    if minor >= 33:
        info.update(emulationMajor="1", emulationMinor=str(minor),
                    minCompatibilityMajor="1", minCompatibilityMinor=str(minor - 1))
    info.update(gitVersion=git_version, gitCommit=hashlib.sha1(git_version.encode()).hexdigest(),
                gitTreeState="clean", buildDate=f"{build_date}T00:00:00Z", goVersion=go_version,
                compiler="gc", platform="linux/amd64")
    return info


def normalize_proxy_path(path):
    """Drop the default ``http:`` scheme from a services/pods proxy name (``http:svc:80`` == ``svc:80``)."""
    return re.sub(r"/(services|pods)/http:([^/:]+:[^/]*)/proxy", r"/\1/\2/proxy", path)


def aggregated_discovery_version(accept):
    """"v2"/"v2beta1" when the Accept header asks for an APIGroupDiscoveryList first, else None."""
    for media in (accept or "").split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList" \
                and params.get("v") in ("v2", "v2beta1"):
            return params["v"]
        if media.split(";")[0].strip() in (JSON, "*/*"):
            return None
    return None


class _Target(NamedTuple):
    """A parsed resource URL."""

    resource: Resource
    namespace: str
    name: str
    subresource: str
    subpath: tuple  # what follows the subresource (a proxied path)


class KubeApi:
    """Answers requests for one cluster from its store, canned bodies and RBAC denials."""

    def __init__(self, cluster, store):
        self.store = store
        self.user = cluster.user
        self.version = version_info(cluster.version)
        self._forbidden = {_group_resource(entry) for entry in cluster.forbidden}
        canned = {**cluster.proxy, **cluster.aggregated}
        self._responses = {normalize_proxy_path(path): body for path, body in canned.items()}
        self._encoded_cache = {}

    def handle(self, method, path, query, headers, body):
        """Answer one request; ``path`` is URL-decoded, ``query`` the raw query string."""
        try:
            return self._route(method, path, query, headers, body)
        except errors.ApiError as err:
            return encode(err.status(), err.code)

    def _route(self, method, raw_path, query, headers, body):
        path = raw_path.rstrip("/") or "/"
        if path in HEALTH_PATHS:
            return Response(200, "text/plain; charset=utf-8", b"ok")
        if path == "/version":
            return encode(self.version)
        if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
            return self._openapi_v3(path)
        parts = path.strip("/").split("/")
        registry = self.store.registry
        if parts[0] == "api":
            group, rest = "", parts[1:]
            if not rest:
                return self._root(True, headers)
        elif parts[0] == "apis":
            if len(parts) == 1:
                return self._root(False, headers)
            group, rest = parts[1], parts[2:]
            if registry.versions(group) is None:
                raise errors.path_not_found()
            if not rest:
                return encode(registry.api_group(group))
        else:
            return self._canned(raw_path, query)
        version, rest = rest[0], rest[1:]
        if version not in (registry.versions(group) or ()):
            raise errors.path_not_found()
        if registry.is_aggregated(group, version):
            return self._aggregated(group, version, rest, method, raw_path, query)
        if not rest:
            return encode(registry.resource_list(group, version))
        target = self._target(group, version, rest)
        self._authorize(method, target)
        if target.subresource == "proxy" and method == "GET":
            simulated = self.store.proxy(target.resource.key, target.namespace, target.name, "/".join(target.subpath), query)
            if simulated is not None:
                return Response(*simulated)
        canned = self._canned_response(raw_path, query)
        if canned is not None:  # proxied paths, pod logs
            return canned
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        if params.get("watch") in ("true", "1"):
            if method != "GET" or target.subresource:
                raise errors.method_not_allowed()
            return self._watch(target, params)
        if params.get("dryRun", "All") != "All":
            raise errors.ApiError(422, "Invalid", f'dryRun: Unsupported value: "{params["dryRun"]}": supported values: "All"')
        return self._dispatch(method, target, params, headers, body, params.get("dryRun") == "All")

    def _openapi_v3(self, path):
        registry = self.store.registry
        if path == "/openapi/v3":
            return encode(openapi.root_document(registry))
        parts = path[len("/openapi/v3/"):].split("/")
        document = None
        if parts[0] == "api" and len(parts) == 2:
            document = openapi.group_version_document(registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = openapi.group_version_document(registry, parts[1], parts[2])
        if document is None:
            raise errors.path_not_found()
        return encode(document)

    def _watch(self, target, params):
        """``?watch=true``: a stream of JSON watch events (ADDED/MODIFIED/DELETED, BOOKMARK, ERROR), one a line.

        resourceVersion "" or "0" (or sendInitialEvents=true) starts with an ADDED event for every
        object that matches; sendInitialEvents ends those with a BOOKMARK annotated
        k8s.io/initial-events-end. Any other resourceVersion streams the changes after it (an ERROR
        410 event when it is older than the kept event log). timeoutSeconds ends the stream, as does
        the end of the resource (its CRD deleted) or of the server."""
        resource, namespace, name = target.resource, target.namespace, target.name
        try:
            labels = label_selector(params.get("labelSelector", ""))
            terms = parse_field_selector(params.get("fieldSelector", ""))
            timeout = float(params.get("timeoutSeconds") or WATCH_TIMEOUT_SECONDS)
        except ValueError as err:
            raise errors.bad_request(str(err)) from err
        if name:
            terms.append((("metadata", "name"), "=", name))
        fields = field_predicate(terms)
        requested = params.get("resourceVersion", "")
        send_initial = params.get("sendInitialEvents") in ("true", "1")
        if send_initial and params.get("allowWatchBookmarks") not in ("true", "1"):
            raise errors.ApiError(422, "Invalid", "allowWatchBookmarks: Required value: "
                                  "sendInitialEvents requires setting allowWatchBookmarks to true")
        if requested not in ("", "0") and not requested.isdigit():
            raise errors.bad_request(f"invalid resourceVersion: {requested!r}")
        store = self.store
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")

        def matches(obj):
            meta = obj.get("metadata") or {}
            if namespace and meta.get("namespace") != namespace:
                return False
            if labels and not labels(meta.get("labels") or {}):
                return False
            return not fields or fields(obj)

        def line(event_type, obj):
            full = {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
            return json.dumps({"type": event_type, "object": full}, separators=(",", ":")).encode() + b"\n"

        if send_initial or requested in ("", "0"):
            items, start, _token, _remaining = store.list(resource, namespace or None)
            initial = [obj for obj in items if matches(obj)]
        else:
            initial, start = [], int(requested)

        def chunks():
            rv = start
            for obj in initial:
                yield line("ADDED", obj)
            if send_initial:
                yield line("BOOKMARK", {"metadata": {"resourceVersion": str(rv),
                                                     "annotations": {INITIAL_EVENTS_END: "true"}}})
            idle_since = time.monotonic()
            deadline = idle_since + timeout
            while not store.stopped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                result = store.events_since(rv, resource.key, min(remaining, 1.0))
                if result is None:
                    status = errors.ApiError(410, "Expired", f"too old resource version: {rv}").status()
                    yield json.dumps({"type": "ERROR", "object": status}).encode() + b"\n"
                    return
                events, newest = result
                for _event_rv, event_type, _key, obj in events:
                    if matches(obj):
                        yield line(event_type, obj)
                rv = max(rv, newest)  # every event up to ``newest`` has been seen
                if events:
                    idle_since = time.monotonic()
                elif bookmarks and time.monotonic() - idle_since >= BOOKMARK_SECONDS:
                    idle_since = time.monotonic()  # also finds out when the client has gone
                    yield line("BOOKMARK", {"metadata": {"resourceVersion": str(rv)}})
                if store.registry.resolve(resource.group, resource.version, resource.plural) is None:
                    return  # the CRD is gone: a real server ends its watches too

        return Stream(200, JSON, chunks())

    def _canned(self, path, query):
        canned = self._canned_response(path, query)
        if canned is None:
            raise errors.path_not_found()
        return canned

    def _canned_response(self, path, query):
        """The canned response mapped to this exact path (with its query string if the key has one)."""
        path = normalize_proxy_path(path)
        canned = self._responses.get(f"{path}?{query}") if query else None
        if canned is None:
            canned = self._responses.get(path) or (self._responses.get(path.rstrip("/")) if path.endswith("/") else None)
        return Response(canned.status, canned.content_type, canned.body) if canned else None

    def _root(self, core, headers):
        registry = self.store.registry
        discovery_version = aggregated_discovery_version(headers.get("Accept"))
        if discovery_version:
            return encode(registry.aggregated_list(core, f"apidiscovery.k8s.io/{discovery_version}"),
                          content_type=AGGREGATED_MEDIA.format(discovery_version))
        if core:
            return encode(registry.api_versions(headers.get("Host", "127.0.0.1")))
        return encode(registry.api_group_list())

    def _aggregated(self, group, version, rest, method, path, query):
        """Requests to an aggregated API: answered from canned bodies, 503 while its APIService is unavailable."""
        registry = self.store.registry
        if not registry.aggregated_availability[f"{group}/{version}"]:
            raise errors.service_unavailable()
        if not rest:
            return self._canned_response(path, query) or encode(registry.resource_list(group, version))
        namespaced = rest[0] == "namespaces" and len(rest) >= 3
        plural = rest[2] if namespaced else rest[0]
        self._authorize(method, _Target(Resource(group, version, plural, "", namespaced),
                                        rest[1] if namespaced else "", "", "", ()))
        return self._canned(path, query)

    def _target(self, group, version, rest):
        """Split ``[namespaces/NS/]PLURAL[/NAME[/SUBRESOURCE...]]``."""
        namespaced_path = rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize")
        namespace, rest = (rest[1], rest[2:]) if namespaced_path else ("", rest)
        resource = self.store.registry.resolve(group, version, rest[0])
        if resource is None or (namespaced_path and not resource.namespaced):
            raise errors.path_not_found()
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        return _Target(resource, namespace, name, subresource, tuple(rest[3:]))

    def _authorize(self, method, target):
        resource = target.resource
        if resource.key not in self._forbidden:
            return
        verb = {"GET": "get" if target.name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if target.name else "deletecollection"}.get(method, method.lower())
        raise errors.forbidden(resource, verb, self.user, target.namespace, target.name, target.subresource)

    def _dispatch(self, method, target, params, headers, body, dry_run):
        resource, namespace, name, subresource, subpath = target
        store = self.store
        manager = params.get("fieldManager")
        if subresource == "status" and resource.has_status and not subpath:
            if method == "GET":
                return self._object(resource, store.read(resource, namespace, name))
            if method == "PUT":
                return self._object(resource, store.update(resource, namespace, name, _object_body(headers, body),
                                                           dry_run, "status", manager))
            if method == "PATCH":
                patch_type, patch = self._patch_body(resource, headers, body, params, name)
                return self._object(resource, store.patch(resource, namespace, name, patch_type, patch, dry_run,
                                                          "status", manager))
            raise errors.method_not_allowed()
        if subresource == "proxy" and any(s.name == "proxy" for s in resource.subresources):
            target_name = name.split(":")[1 if name.count(":") == 2 else 0]  # [scheme:]name[:port]
            store.read(resource, namespace, target_name)
            if resource.plural == "services":
                raise errors.service_unavailable(f'no endpoints available for service "{target_name}"')
            raise errors.service_unavailable("error trying to reach service: dial tcp: connect: connection refused")
        if subresource == "log" and resource.key == ("", "pods") and method == "GET" and not subpath:
            pod = store.read(resource, namespace, name)
            return Response(200, "text/plain", store.pod_log(pod, params.get("container")).encode())
        if subresource:
            raise errors.path_not_found()
        if not name:
            if method == "GET":
                return self._list(resource, namespace, params)
            if method == "POST":
                return self._object(resource, store.create(resource, namespace, _object_body(headers, body),
                                                           dry_run, manager), 201)
            if method == "DELETE":
                propagation, body_dry_run = _delete_options(params, body, headers)
                return self._delete_collection(resource, namespace, params, dry_run or body_dry_run, propagation)
            raise errors.method_not_allowed()
        if method == "GET":
            return self._object(resource, store.read(resource, namespace, name))
        if method == "PUT":
            return self._object(resource, store.update(resource, namespace, name, _object_body(headers, body),
                                                       dry_run, field_manager=manager))
        if method == "PATCH":
            patch_type, patch = self._patch_body(resource, headers, body, params, name)
            created = patch_type == "apply" and not _exists(store, resource, namespace, name)
            obj = store.patch(resource, namespace, name, patch_type, patch, dry_run, field_manager=manager)
            return self._object(resource, obj, 201 if created else 200)
        if method == "DELETE":
            propagation, body_dry_run = _delete_options(params, body, headers)
            obj = store.delete(resource, namespace, name, dry_run or body_dry_run, propagation)
            if obj["metadata"].get("deletionTimestamp"):  # still there (a Terminating namespace): the object
                return self._object(resource, obj)
            return encode({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                           "details": {**errors.details(resource, name), "uid": obj["metadata"].get("uid")}})
        raise errors.method_not_allowed()

    @staticmethod
    def _object(resource, obj, status=200):
        return encode({"apiVersion": resource.api_version, "kind": resource.kind, **obj}, status)

    def _list(self, resource, namespace, params):
        try:
            limit = int(params.get("limit") or 0)
        except ValueError as err:
            raise errors.bad_request(f"invalid limit: {params['limit']!r}") from err
        items, rv, token, remaining = self.store.list(
            resource, namespace, params.get("labelSelector", ""), params.get("fieldSelector", ""), limit,
            params.get("continue", ""))
        if resource.custom:
            return encode(self._list_body(resource, items, rv, token, remaining))
        # Built-in items are encoded once per object version and the page is joined from those
        # bytes: large lists (benchmarks) are then bounded by the client, as with a real server.
        envelope = json.dumps(self._list_body(resource, [], rv, token, remaining), separators=(",", ":")).encode()
        assert envelope.endswith(b'"items":[]}')
        body = envelope[:-2] + b",".join(self._encoded(obj) for obj in items) + b"]}"
        return Response(200, JSON, body)

    def _encoded(self, obj):
        """The JSON of one stored object, cached by identity and resourceVersion."""
        key = (id(obj), obj["metadata"].get("resourceVersion"))
        cached = self._encoded_cache.get(key)
        if cached is None:
            cached = self._encoded_cache[key] = json.dumps(obj, separators=(",", ":")).encode()
        return cached

    @staticmethod
    def _list_body(resource, items, rv, token=None, remaining=None):
        metadata = {"resourceVersion": str(rv)}
        if token:
            metadata["continue"] = token
        if remaining is not None:
            metadata["remainingItemCount"] = remaining
        if resource.custom:  # custom resources carry apiVersion/kind on items; built-in list items do not
            items = [{"apiVersion": resource.api_version, "kind": resource.kind, **obj} for obj in items]
        return {"kind": f"{resource.kind}List", "apiVersion": resource.api_version, "metadata": metadata,
                "items": items}

    def _delete_collection(self, resource, namespace, params, dry_run, propagation=None):
        items = self.store.list(resource, namespace, params.get("labelSelector", ""),
                                params.get("fieldSelector", ""))[0]
        for obj in items:
            if _exists(self.store, resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]):
                self.store.delete(resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], dry_run,
                                  propagation)
        return encode(self._list_body(resource, items, self.store.resource_version))

    @staticmethod
    def _patch_body(resource, headers, body, params, name):
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        patch_type = PATCH_TYPES.get(content_type)
        if patch_type is None or (patch_type == "strategic" and resource.custom):
            accepted = [t for t, k in PATCH_TYPES.items() if not (k == "strategic" and resource.custom)]
            raise errors.unsupported_media_type(", ".join(accepted))
        if params.get("force") not in (None, "false", "False") and patch_type != "apply":
            raise errors.bad_request("force flag can only be used with apply patches")
        if patch_type == "apply":
            if not params.get("fieldManager"):
                raise errors.bad_request("PATCH requests with apply content type require fieldManager")
            try:
                patch = yaml.safe_load(body or b"{}")
            except yaml.YAMLError as err:
                raise errors.bad_request(f"error decoding YAML: {err}") from err
            if not isinstance(patch, dict) or not patch.get("apiVersion") or not patch.get("kind"):
                raise errors.bad_request("an apply patch must be an object with apiVersion and kind")
            applied_name = (patch.get("metadata") or {}).get("name")
            if applied_name != name:
                raise errors.bad_request(
                    f"the name of the object ({applied_name or ''}) does not match the name on the URL ({name})")
            return "apply", patch
        return ("merge" if patch_type == "strategic" else patch_type), _json(body)


def _exists(store, resource, namespace, name):
    try:
        store.read(resource, namespace, name)
        return True
    except errors.ApiError:
        return False


def _delete_options(params, body, headers):
    """(propagationPolicy, dryRun=All) of a DELETE from its query or DeleteOptions body (the body wins);
    gracePeriodSeconds is checked and otherwise ignored (objects go at once)."""
    protobuf_body = (headers.get("Content-Type") or "").split(";")[0].strip() == protobuf.MEDIA_TYPE
    options = (_protobuf(body) if protobuf_body else _json(body)) if body else {}
    if not isinstance(options, dict):
        raise errors.bad_request("the body of a DELETE must be a DeleteOptions object")
    grace = options.get("gracePeriodSeconds", params.get("gracePeriodSeconds"))
    if grace is not None:
        try:
            int(grace)
        except (TypeError, ValueError) as err:
            raise errors.bad_request(f"invalid gracePeriodSeconds: {grace!r}") from err
    if options.get("dryRun") not in (None, [], ["All"]):
        raise errors.ApiError(422, "Invalid", f'dryRun: Unsupported value: {options["dryRun"]!r}: supported values: "All"')
    return options.get("propagationPolicy") or params.get("propagationPolicy"), options.get("dryRun") == ["All"]


def _object_body(headers, body):
    """The object of a POST/PUT body: JSON or YAML (protobuf and CBOR bodies are not understood)."""
    content_type = (headers.get("Content-Type") or JSON).split(";")[0].strip()
    if content_type == JSON:
        return _json(body)
    if content_type == protobuf.MEDIA_TYPE:
        return _protobuf(body)
    if content_type == "application/yaml":
        try:
            return yaml.safe_load(body or b"null")
        except yaml.YAMLError as err:
            raise errors.bad_request(f"error decoding YAML: {err}") from err
    raise errors.unsupported_media_type("application/json, application/yaml")


def _protobuf(body):
    try:
        return protobuf.decode(body or b"")
    except (ValueError, UnicodeDecodeError) as err:
        raise errors.unsupported_media_type(f"application/json, application/yaml ({err})") from err


def _json(body):
    try:
        return json.loads(body or b"null")
    except ValueError as err:
        raise errors.bad_request(f"the request body is not valid JSON: {err}") from err


def _group_resource(entry):
    """``"resource.k8s.io/v1/resourceslices"`` or ``"v1/pods"`` -> (group, plural); RBAC ignores the version."""
    parts = entry.strip("/").split("/")
    if len(parts) == 2:
        return ("", parts[1])
    if len(parts) == 3:
        return (parts[0], parts[2])
    raise ValueError(f"forbidden entry {entry!r} is not group/version/plural (or v1/plural)")
