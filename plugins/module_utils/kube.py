# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection reaches the Kubernetes API.

Connection settings are kubernetes.core's own (its argument spec, environment variables and
configuration code), except that kubeconfig files are found and merged exactly as kubectl does
(module_utils.kubeconfig) and handed to kubernetes.core as one dict. On top of that: raw JSON calls
with connect/read timeouts, retries with backoff on 429/5xx/connection resets, aggregated discovery
fetched once per run, paginated lists with selectors, and errors that name the API call and the
fix. Secrets never appear in errors.

Writes (create, patch, delete) and ``wait`` serve the functional probes and install roles: a write is
retried only on 429 or when its connection failed before anything was sent. The readiness section at
the end has the predicates ``wait`` takes (``deployment_available``, ``condition_is``, ...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kubeconfig import KubeconfigError, resolve as resolve_kubeconfig

try:  # optional: decodes large lists (the workload audit) several times faster
    from orjson import loads as json_loads
except ImportError:
    json_loads = json.loads

try:
    import kubernetes
    from kubernetes.client.rest import ApiException
    import urllib3
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module through missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as k8s_core_client
    HAS_KUBERNETES_CORE = True
except ImportError:  # the collection dependency is missing; the module says so
    AUTH_ARG_SPEC = {}
    HAS_KUBERNETES_CORE = False

AGGREGATED_DISCOVERY_ACCEPT = ",".join([
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
    "application/json",
])
RETRY_STATUSES = (429, 500, 502, 503, 504)
CONFIG_HINT = ("point kubeconfig/context (or K8S_AUTH_KUBECONFIG / KUBECONFIG / K8S_AUTH_CONTEXT) at a valid cluster, "
               "or give host and api_key")

FIELD_MANAGER = "k8s-ai-conformance"
PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
WATCH_REFUSED = (400, 403, 405, 406, 501)  # a list or watch the server will not serve this client: waits poll instead

CONNECTION_ARG_SPEC = dict(
    request_timeout=dict(type="float", default=30.0),
    connect_timeout=dict(type="float", default=5.0),
    api_retries=dict(type="int", default=3),
)


def connection_argspec() -> Dict[str, Any]:
    """kubernetes.core's authentication options plus our timeouts and retries.

    ``kubeconfig`` is not ``no_log`` here (kubernetes.core's is): Ansible would mask its value, a
    path, everywhere in the output, and every artifact and error must name the file. An inline
    kubeconfig (a dict) is hidden by ``hide_inline_kubeconfig`` instead.
    """
    spec = {k: dict(v) for k, v in AUTH_ARG_SPEC.items()}
    spec.update({k: dict(v) for k, v in CONNECTION_ARG_SPEC.items()})
    if "kubeconfig" in spec:
        spec["kubeconfig"]["no_log"] = False
    return spec


def hide_inline_kubeconfig(module) -> None:
    """Mask the credentials of an inline kubeconfig dict (every string of its users) in the module's
    output, as no_log would; server URLs and context names stay visible."""
    def strings(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str) and len(value) > 3:
            yield value
    kubeconfig = module.params.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        users = kubeconfig.get("users") if isinstance(kubeconfig.get("users"), list) else []
        module.no_log_values.update(strings([u.get("user") for u in users if isinstance(u, dict)]))


class KubeError(Exception):
    """An API call that failed, described by the call, the answer and the fix."""

    def __init__(self, method: str, path: str, status: int = 0, reason: str = "", message: str = "", hint: str = "",
                 retries: Optional[int] = None, note: str = ""):
        self.method, self.path, self.status, self.reason, self.message = method, path, status, reason, message
        self.retries, self.note = retries, note  # retries made before giving up (None: not a retryable failure)
        self.hint = hint or _hint_for(method, path, status, message)
        super().__init__(str(self))

    @property
    def call(self) -> str:
        return "%s %s" % (self.method, self.path)

    def __str__(self) -> str:
        answer = "%s %s" % (self.status, self.reason) if self.status else self.reason
        text = "%s failed: %s" % (self.call, answer)
        if self.message:
            text += ": %s" % self.message
        if self.note:
            text += "; %s" % self.note
        if self.hint:
            text += ". Fix: %s" % self.hint
        return text


class ApiUnreachable(KubeError):
    """The API server could not be reached at all."""


class WaitTimeout(KubeError):
    """A wait that ran out of time: the object, what was awaited, what was last seen, and the fix."""

    def __init__(self, path: str, target: str, awaited: str, observed: str, timeout: float, looks: int, hint: str,
                 last: Optional[Dict[str, Any]] = None):
        self.target, self.awaited, self.observed, self.timeout, self.looks = target, awaited, observed, timeout, looks
        self.last = last  # the last object seen (None: it did not exist)
        super().__init__("WAIT", path, reason="%s not %s after %gs (%d %s)" % (
            target, awaited, timeout, looks, "look" if looks == 1 else "looks"),
            message="last observed: %s" % observed, hint=hint)


def _verb(method: str, path: str) -> str:
    """The RBAC verb of a call: 'list' for a collection GET, 'get' for one object."""
    if method != "GET":
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
    parts = [p for p in path.split("?")[0].split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    return "list" if len(rest) == 1 else "get"


def _hint_for(method: str, path: str, status: int, message: str) -> str:
    if status == 401:
        return "the API server rejected the credentials; refresh the token or select a valid kubeconfig/context (options kubeconfig, context, api_key)"
    if status == 403:
        return ("grant the identity '%s' on this resource: bind it to the read-only ClusterRole ai-conformance-verify of "
                "docs/rbac.md, which covers every read of every check, or run with a kubeconfig context that has it"
                % _verb(method, path))
    if status == 404:
        return "the resource or API is not served by this cluster"
    if status in RETRY_STATUSES:
        return "the API server is overloaded or unavailable; retry later or raise api_retries/request_timeout"
    return ""


class Discovery:
    """Which groups, versions and resources the cluster serves."""

    def __init__(self, groups: Dict[str, Dict[str, Any]]):
        # groups: {group: {"versions": [v, ...] (preferred first), "resources": {v: {plural: info}}}}
        self.groups = groups

    def versions(self, group: str) -> List[str]:
        return list(self.groups.get(group, {}).get("versions", []))

    def preferred(self, group: str) -> Optional[str]:
        versions = self.versions(group)
        return versions[0] if versions else None

    def resources(self, group: str, version: str) -> Dict[str, Dict[str, Any]]:
        return dict(self.groups.get(group, {}).get("resources", {}).get(version, {}))

    def served(self, group: str, version: str, plural: str) -> bool:
        return plural in self.groups.get(group, {}).get("resources", {}).get(version, {})

    def serving_version(self, group: str, plural: str) -> Optional[str]:
        """The first version (preferred first) of ``group`` that serves ``plural``, or None."""
        return next((v for v in self.versions(group) if self.served(group, v, plural)), None)

    def group_version(self, group: str, version: str) -> str:
        return "%s/%s" % (group, version) if group else version


def _parse_aggregated(doc: Dict[str, Any], groups: Dict[str, Dict[str, Any]]) -> None:
    for item in doc.get("items") or []:
        name = (item.get("metadata") or {}).get("name", "")
        entry = groups.setdefault(name, {"versions": [], "resources": {}})
        for ver in item.get("versions") or []:
            version = ver.get("version")
            if ver.get("freshness") == "Stale" and not ver.get("resources"):
                continue
            entry["versions"].append(version)
            table = entry["resources"].setdefault(version, {})
            for res in ver.get("resources") or []:
                kind = (res.get("responseKind") or {}).get("kind", "")
                table[res["resource"]] = {
                    "kind": kind,
                    "namespaced": res.get("scope") == "Namespaced",
                    "verbs": list(res.get("verbs") or []),
                    "short_names": list(res.get("shortNames") or []),
                    "subresources": [s.get("subresource") for s in res.get("subresources") or []],
                }


def _parse_resource_list(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    table: Dict[str, Dict[str, Any]] = {}
    subresources: Dict[str, List[str]] = {}
    for res in doc.get("resources") or []:
        name = res.get("name", "")
        if "/" in name:
            parent, sub = name.split("/", 1)
            subresources.setdefault(parent, []).append(sub)
            continue
        table[name] = {
            "kind": res.get("kind", ""),
            "namespaced": bool(res.get("namespaced")),
            "verbs": list(res.get("verbs") or []),
            "short_names": list(res.get("shortNames") or []),
            "subresources": [],
        }
    for parent, subs in subresources.items():
        if parent in table:
            table[parent]["subresources"] = subs
    return table


class Kube:
    """A thread-safe API client returning plain JSON, counting its requests."""

    def __init__(self, api_client, connect_timeout: float = 5.0, request_timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.25, identity: Optional[Dict[str, Any]] = None):
        self.api_client = api_client
        # Which cluster this client reaches, for the artifacts: never credentials, paths only.
        self.identity: Dict[str, Any] = dict(identity or {
            "server": _public_url(api_client.configuration.host), "context": None, "kubeconfig": [], "source": "explicit"})
        self.timeout: Tuple[float, float] = (connect_timeout, request_timeout)
        self.retries = max(0, retries)
        self.backoff = backoff
        self._lock = threading.Lock()
        self._memo: Dict[str, Any] = {}
        self._memo_locks: Dict[str, threading.Lock] = {}
        self._unwatchable: set = set()  # (group, plural) whose list or watch the server refused: waits poll them
        self.request_count = 0

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: Optional[Dict[str, Any]] = None, module=None) -> "Kube":
        """Build from Ansible-style connection parameters (kubernetes.core's names and env vars)."""
        if not HAS_KUBERNETES:
            raise KubeError("CONNECT", "-", reason="the 'kubernetes' Python library is not installed",
                            hint="pip install kubernetes on the host that runs the module")
        if not HAS_KUBERNETES_CORE:
            raise KubeError("CONNECT", "-", reason="the kubernetes.core collection is not installed",
                            hint="ansible-galaxy collection install kubernetes.core (see requirements.yml)")
        params = dict(params or {})

        def option(name):
            if module is not None and module.params.get(name) is not None:
                return module.params.get(name)
            return params.get(name)

        try:
            auth = k8s_core_client._create_auth_spec(module, **params)
        except Exception as exc:
            raise KubeError("CONNECT", "-", reason="invalid connection options: %s" % _safe(exc), hint=CONFIG_HINT) from None
        identity: Dict[str, Any] = {"server": "", "context": None, "kubeconfig": [], "source": "explicit"}
        if not _explicit_credentials(auth):
            # kubeconfig resolution is kubectl's, not the Python client's (which lets the LAST
            # file that sets current-context win and resolves relative paths differently).
            try:
                kubeconfig = resolve_kubeconfig(option("kubeconfig"), option("context"))
            except KubeconfigError as exc:  # our own message: paths are not masked
                raise KubeError("CONNECT", "-", reason="could not load the cluster configuration: %s" % exc,
                                hint=CONFIG_HINT) from None
            auth.pop("kubeconfig", None)
            auth.pop("context", None)
            if kubeconfig is None:  # no kubeconfig file at all, KUBERNETES_SERVICE_HOST set: kubectl's order
                identity["source"] = "in-cluster"
                try:
                    kubernetes.config.load_incluster_config()
                except kubernetes.config.ConfigException as exc:
                    raise KubeError("CONNECT", "-", reason="no kubeconfig file exists and KUBERNETES_SERVICE_HOST is set, but the "
                                    "in-cluster configuration cannot be loaded: %s" % exc,
                                    hint="mount the service account (automountServiceAccountToken) or give a kubeconfig") from None
            else:
                auth["kubeconfig"], auth["context"] = kubeconfig.config, kubeconfig.context
                identity.update(source="kubeconfig", context=kubeconfig.context, kubeconfig=list(kubeconfig.files))
        try:
            configuration = k8s_core_client._create_configuration(auth)
            headers = k8s_core_client._create_headers(module, **params)
        except Exception as exc:  # the Python client refused what the resolver accepted (an exec plugin, ...)
            raise KubeError("CONNECT", "-", reason="could not load the cluster configuration: %s" % _safe(exc),
                            hint=CONFIG_HINT) from None
        configuration.retries = 0  # retries are ours: only for idempotent reads and retryable answers
        if identity["source"] == "explicit":
            # kubernetes.core starts from a copy of the client's global default configuration; after
            # any kubeconfig load in this process that copy carries a token-refresh hook that would
            # reset `host` to that kubeconfig's cluster on every call.
            configuration.refresh_api_key_hook = None
        identity["server"] = _public_url(configuration.host)
        api_client = kubernetes.client.ApiClient(configuration)
        for header, value in headers.items():
            for one in value if isinstance(value, list) else [value]:
                api_client.set_default_header(header, one)
        return cls(api_client,
                   connect_timeout=float(params.get("connect_timeout") or 5.0),
                   request_timeout=float(params.get("request_timeout") or 30.0),
                   retries=int(params["api_retries"]) if params.get("api_retries") is not None else 3,
                   identity=identity)

    @property
    def host(self) -> str:
        return self.api_client.configuration.host

    # -- raw calls -------------------------------------------------------------------------
    def request(self, method: str, path: str, query: Optional[Dict[str, Any]] = None, body: Any = None,
                content_type: str = "application/json", accept: str = "application/json", raw: bool = False,
                retry_statuses: Tuple[int, ...] = RETRY_STATUSES, first_contact: bool = False):
        """One API call with retries; JSON (or text when raw) back, KubeError on failure.

        ``first_contact``: a silent server (read timeout) or a refused connection fails at once."""
        query_list = [(k, v) for k, v in (query or {}).items() if v is not None and v != ""]
        shown = path + ("?" + urlencode(query_list) if query_list else "")
        idempotent = method in ("GET", "HEAD")
        attempt = 0
        while True:
            with self._lock:
                self.request_count += 1
            try:
                status, reason, headers, data = self._send(method, path, query_list, body,
                                                           {"Accept": accept, "Content-Type": content_type})
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                cause = _cause(exc)
                silent = _is_read_timeout(cause)
                final = first_contact and (silent or isinstance(cause, urllib3.exceptions.NewConnectionError))
                if idempotent and attempt < self.retries and not final:
                    attempt += 1
                    time.sleep(self._delay(attempt))
                    continue
                raise self._unreachable(method, shown, cause, attempt, first_contact and silent) from None
            if 200 <= status < 300:
                if raw:
                    return data.decode("utf-8", "replace")
                return json_loads(data) if data else {}
            if status in retry_statuses and attempt < self.retries and (idempotent or status == 429):
                attempt += 1
                time.sleep(self._delay(attempt, headers))
                continue
            retried = status in retry_statuses and (idempotent or status == 429)
            raise KubeError(method, shown, status, reason or "", _status_message(data), retries=attempt if retried else None,
                            note=self._retry_note(attempt) if retried else "")

    def _retry_note(self, attempt: int) -> str:
        return "%d %s made (api_retries=%d)" % (attempt, "retry" if attempt == 1 else "retries", self.retries)

    def _unreachable(self, method: str, shown: str, cause: Exception, attempt: int, silent_first_contact: bool) -> "ApiUnreachable":
        host, timeout = _public_url(self.host), self.timeout[1]
        if silent_first_contact:
            return ApiUnreachable(
                method, shown, reason="the API server at %s sent no answer within request_timeout=%gs" % (host, timeout),
                note="0 retries: a server that accepted the connection but sent nothing to %s %s within request_timeout=%gs "
                     "is not retried; api_retries=%d applies to later calls" % (method, shown, timeout, self.retries),
                retries=0,
                hint="check that the API server behind %s is up (a load balancer or proxy in front of a stopped API server "
                     "accepts connections and never answers); raise request_timeout if it is only slow" % host)
        note = self._retry_note(attempt)
        if attempt == 0 and isinstance(cause, urllib3.exceptions.NewConnectionError) and self.retries:
            note = "0 retries: a refused or failed first connection is not retried; api_retries=%d applies to later calls" % self.retries
        return ApiUnreachable(
            method, shown, reason="cannot reach the API server at %s (%s)" % (host, _connection_reason(cause)),
            note=note, retries=attempt,
            hint="check that the kubeconfig/context (or host) points at a running cluster and that this "
                 "machine can reach it; raise connect_timeout/request_timeout (now %gs/%gs) for a slow link"
                 % (self.timeout[0], timeout))

    def _send(self, method: str, path: str, query_list: List[Tuple[str, Any]], body: Any,
              header_params: Dict[str, str], read_timeout: Optional[float] = None) -> Tuple[int, str, Dict[str, str], Any]:
        """The HTTP exchange through the kubernetes client (old and new generator APIs alike): the body as bytes, or,
        given ``read_timeout`` (a watch's), a 2xx answer's unread urllib3 response."""
        client = self.api_client
        timeout = self.timeout if read_timeout is None else (self.timeout[0], read_timeout)
        if hasattr(client, "param_serialize"):  # kubernetes >= 35: OpenAPI generator 7
            method_, url, headers, body_, post = client.param_serialize(
                method, path, query_params=query_list, header_params=header_params, body=body,
                auth_settings=["BearerToken"])
            response = client.call_api(method_, url, header_params=headers, body=body_, post_params=post,
                                       _request_timeout=timeout).response  # RESTResponse's urllib3 response, unread
        else:
            try:
                response = client.call_api(
                    path, method, query_params=query_list, header_params=header_params, body=body,
                    auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                    _request_timeout=timeout)
            except ApiException as exc:
                data = exc.body or b""
                return exc.status or 0, exc.reason or "", dict(exc.headers or {}), data if isinstance(data, bytes) else data.encode("utf-8")
        status, reason, headers = response.status, response.reason, dict(response.headers or {})
        if read_timeout is not None and 200 <= status < 300:
            return status, reason, headers, response
        return status, reason, headers, response.data or b""

    def _delay(self, attempt: int, headers: Optional[Dict[str, str]] = None) -> float:
        retry_after = None
        headers = headers or {}
        try:
            retry_after = float(headers.get("Retry-After")) if headers.get("Retry-After") else None
        except (TypeError, ValueError):
            retry_after = None
        return min(retry_after if retry_after is not None else self.backoff * (2 ** (attempt - 1)), 5.0)

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a value once per client (per run), even when checks ask concurrently."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            lock = self._memo_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            value = compute()
            with self._lock:
                self._memo[key] = value
            return value

    # -- discovery -------------------------------------------------------------------------
    def version(self) -> Dict[str, Any]:
        """The server's version: the run's first call, which fails fast on a silent or refusing server."""
        return self.once("version", lambda: self.request("GET", "/version", first_contact=True))

    def discovery(self) -> Discovery:
        """Served groups/versions/resources: two calls with aggregated discovery, more on old servers."""
        return self.once("discovery", self._discover)

    def _discover(self) -> Discovery:
        groups: Dict[str, Dict[str, Any]] = {}
        legacy = []
        for path in ("/api", "/apis"):
            doc = self.request("GET", path, accept=AGGREGATED_DISCOVERY_ACCEPT)
            if doc.get("kind") == "APIGroupDiscoveryList":
                _parse_aggregated(doc, groups)
            else:
                legacy.append((path, doc))
        for path, doc in legacy:
            if path == "/api":
                entry = groups.setdefault("", {"versions": [], "resources": {}})
                for version in doc.get("versions") or []:
                    entry["versions"].append(version)
                    entry["resources"][version] = _parse_resource_list(self.request("GET", "/api/" + version))
            else:
                for group in doc.get("groups") or []:
                    entry = groups.setdefault(group["name"], {"versions": [], "resources": {}})
                    preferred = (group.get("preferredVersion") or {}).get("version")
                    versions = [v["version"] for v in group.get("versions") or []]
                    entry["versions"] = sorted(versions, key=lambda v: v != preferred)
                    for version in versions:
                        try:
                            entry["resources"][version] = _parse_resource_list(
                                self.request("GET", "/apis/%s/%s" % (group["name"], version)))
                        except KubeError as exc:
                            if exc.status in (503, 404):  # an unavailable aggregated API: not served
                                entry["versions"].remove(version)
                                continue
                            raise
        return Discovery(groups)

    # -- objects ---------------------------------------------------------------------------
    @staticmethod
    def path(group: str, version: str, plural: str, namespace: Optional[str] = None, name: Optional[str] = None) -> str:
        base = "/api/%s" % version if not group else "/apis/%s/%s" % (group, version)
        if namespace:
            base += "/namespaces/%s" % quote(namespace, safe="")
        base += "/" + plural
        if name:
            base += "/" + quote(name, safe="")
        return base

    def get(self, group: str, version: str, plural: str, name: str, namespace: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """One object, or None when it does not exist."""
        try:
            return self.request("GET", self.path(group, version, plural, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, group: str, version: str, plural: str, namespace: Optional[str] = None,
             label_selector: Optional[str] = None, field_selector: Optional[str] = None,
             page_size: int = 500) -> Iterator[Dict[str, Any]]:
        """Objects page by page, following `continue` tokens; the next page is fetched while the
        caller works through the current one, so memory stays at two pages."""
        path = self.path(group, version, plural, namespace)

        def fetch(token):
            return self.request("GET", path, query={
                "labelSelector": label_selector, "fieldSelector": field_selector,
                "limit": page_size, "continue": token,
            })

        page = fetch(None)
        prefetch = None
        try:
            while True:
                token = (page.get("metadata") or {}).get("continue")
                upcoming = None
                if token:
                    prefetch = prefetch or ThreadPoolExecutor(max_workers=1, thread_name_prefix="kube-list")
                    upcoming = prefetch.submit(fetch, token)
                yield from page.get("items") or []
                if upcoming is None:
                    return
                page = upcoming.result()
        finally:
            if prefetch is not None:
                prefetch.shutdown(wait=False, cancel_futures=True)

    def list_all(self, *args, **kwargs) -> List[Dict[str, Any]]:
        return list(self.list(*args, **kwargs))

    def proxy_get(self, namespace: str, service: str, port: Any, path: str, scheme: str = "", resource: str = "services") -> str:
        """GET through the API server's service proxy (``resource="pods"``: a pod's, ``service`` naming the pod); the
        body as text. A 503 there means the service has no ready endpoints, a final answer, so only 429 is retried."""
        target = "%s%s:%s" % (scheme + ":" if scheme else "", service, port)
        return self.request("GET", "/api/v1/namespaces/%s/%s/%s/proxy/%s" % (namespace, resource, target, path.lstrip("/")),
                            accept="*/*", raw=True, retry_statuses=(429,))

    # -- writes ----------------------------------------------------------------------------
    def create(self, group: str, version: str, plural: str, body: Dict[str, Any], namespace: Optional[str] = None,
               dry_run: bool = False) -> Dict[str, Any]:
        """Create an object in ``namespace`` (default: the body's metadata.namespace); the stored object back.

        ``dry_run``: the server checks and answers as if it created it (dryRun=All) and stores nothing."""
        if namespace is None:
            namespace = (body.get("metadata") or {}).get("namespace")
        return self._write("POST", self.path(group, version, plural, namespace), body, "application/json",
                           {"fieldManager": FIELD_MANAGER, "dryRun": "All" if dry_run else None})

    def patch(self, group: str, version: str, plural: str, name: str, patch: Any, namespace: Optional[str] = None,
              patch_type: str = "merge", field_manager: str = FIELD_MANAGER, force: bool = False,
              dry_run: bool = False) -> Dict[str, Any]:
        """Patch an object; the patched object back.

        ``patch_type``: "merge" (RFC 7386), "strategic" (built-in kinds only), "json" (RFC 6902, a list of
        operations) or "apply" (server-side apply: the body is the whole intent with apiVersion and kind,
        owned by ``field_manager``; creates the object if missing; ``force`` takes over conflicting fields)."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError("patch_type must be one of %s, not %r" % (", ".join(PATCH_CONTENT_TYPES), patch_type))
        if force and patch_type != "apply":
            raise ValueError("force is only valid for patch_type='apply' (server-side apply)")
        if patch_type == "json" and not isinstance(patch, list):
            raise ValueError("a JSON patch (patch_type='json') is a list of operations")
        if patch_type != "json" and not isinstance(patch, dict):
            raise ValueError("a %s patch is a dict" % patch_type)
        body = json.dumps(patch) if patch_type == "apply" else patch  # JSON is YAML: the client passes text as is
        return self._write("PATCH", self.path(group, version, plural, namespace, name), body,
                           PATCH_CONTENT_TYPES[patch_type],
                           {"fieldManager": field_manager, "force": "true" if force else None,
                            "dryRun": "All" if dry_run else None})

    def delete(self, group: str, version: str, plural: str, name: str, namespace: Optional[str] = None,
               propagation: str = "Background", grace_period_seconds: Optional[int] = None) -> bool:
        """Delete an object; whether it existed (any 404 is False, not an error). Deletion may still be
        under way (finalizers, a Terminating namespace): ``wait(..., gone=True)`` waits for the end."""
        if propagation not in PROPAGATION_POLICIES:
            raise ValueError("propagation must be one of %s, not %r" % (", ".join(PROPAGATION_POLICIES), propagation))
        try:
            self._write("DELETE", self.path(group, version, plural, namespace, name), None, "application/json",
                        {"propagationPolicy": propagation, "gracePeriodSeconds": grace_period_seconds})
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def wait(self, group: str, version: str, plural: str, name: str, namespace: Optional[str] = None,
             predicate: Optional[Callable[[Optional[Dict[str, Any]]], bool]] = None, timeout: float = 60.0,
             interval: float = 1.0, gone: bool = False) -> Optional[Dict[str, Any]]:
        """Watch one object until ``predicate(obj)`` holds; that object back. A Predicate is also asked while the
        object does not exist (obj None: only the gone ones hold), a plain callable only about existing objects.

        ``gone``: until it does not exist (None back; ``predicate``, default ``absent`` or ``namespace_gone``, only
        describes it). A first GET may decide at once; then each change a watch streams is a look, or a GET every
        ``interval`` where the server refuses to watch (``_looks``). At most ``timeout`` seconds (plus one call), then
        WaitTimeout counting the looks; API errors other than 404 end the wait at once."""
        if gone and predicate is None:
            predicate = namespace_gone if (group, plural) == ("", "namespaces") else absent
        if predicate is None:
            raise ValueError("wait needs a predicate, or gone=True")
        interval, timeout = max(float(interval), 0.05), max(float(timeout), 0.0)
        looks, obj = 0, None
        seen = self._looks(group, version, plural, name, namespace, time.monotonic() + timeout, interval)
        try:
            for obj in seen:
                looks += 1
                if gone:
                    satisfied = obj is None
                else:  # a plain callable sees existing objects only; a Predicate says what None means
                    satisfied = predicate(obj) if obj is not None or isinstance(predicate, Predicate) else False
                if satisfied:
                    return None if gone else obj
        finally:
            seen.close()
        resource = "%s.%s" % (plural, group) if group else plural
        target = "%s %s" % (resource, "%s/%s" % (namespace, name) if namespace else name)
        command = "kubectl describe %s %s%s" % (resource, name, " -n %s" % namespace if namespace else "")
        hint = getattr(predicate, "hint", "") or "look at the object's status and events"
        raise WaitTimeout(self.path(group, version, plural, namespace, name), target,
                          "gone" if gone else getattr(predicate, "description", None) or getattr(predicate, "__name__", "as awaited"),
                          observe(predicate, obj), timeout, looks,
                          "%s (%s); raise the timeout if the cluster is only slow" % (hint, command), last=obj)

    def _looks(self, group: str, version: str, plural: str, name: str, namespace: Optional[str], deadline: float,
               interval: float) -> Iterator[Optional[Dict[str, Any]]]:
        """The object (None: absent) at each look of a wait until ``deadline``: a GET, then the changes a watch from its
        resourceVersion streams; when a watch ends early (410 Gone, a broken stream), a list for a fresh resourceVersion
        and a new watch, at most one of those an ``interval``. Where the server refuses that list or watch, now or in an
        earlier wait, a GET every ``interval``."""
        obj = self.get(group, version, plural, name, namespace)
        yield obj
        path, selector = self.path(group, version, plural, namespace), "metadata.name=%s" % name
        version_seen = (obj.get("metadata") or {}).get("resourceVersion") if obj else None
        while time.monotonic() < deadline:
            started = time.monotonic()
            if (group, plural) in self._unwatchable:
                time.sleep(max(0.0, min(interval, deadline - started)))
                yield self.get(group, version, plural, name, namespace)
                continue
            try:
                if version_seen is None:
                    listed = self.request("GET", path, query={"fieldSelector": selector})
                    version_seen = (listed.get("metadata") or {}).get("resourceVersion", "")
                    kind = {"apiVersion": listed.get("apiVersion"), "kind": str(listed.get("kind", "")).rpartition("List")[0]}
                    yield next(({**kind, **item} for item in listed.get("items") or []), None)
                yield from self._watch(path, selector, version_seen, deadline)
            except KubeError as exc:
                if exc.status in WATCH_REFUSED:
                    self._unwatchable.add((group, plural))
                    continue
                if exc.status != 404:
                    raise
                yield None  # the resource is not served (yet, a CRD being established): nor is the object
            version_seen = None
            time.sleep(max(0.0, min(started + interval, deadline) - time.monotonic()))

    def _watch(self, path: str, selector: str, resource_version: str, deadline: float) -> Iterator[Optional[Dict[str, Any]]]:
        """The objects (None: deleted) one watch from ``resource_version`` streams until ``deadline``, an ERROR event
        (410 Gone: that version is too old), a broken stream or the watch's end. One request, never retried, and no
        read blocks past ``deadline``; a refusal (WATCH_REFUSED) is a KubeError, other failures just end it."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        query = {"watch": "true", "fieldSelector": selector, "resourceVersion": resource_version,
                 "timeoutSeconds": int(math.ceil(remaining)), "allowWatchBookmarks": "true"}
        query_list = list(query.items())
        with self._lock:
            self.request_count += 1
        try:
            status, reason, _headers, response = self._send("GET", path, query_list, None, {"Accept": "application/json"},
                                                            read_timeout=remaining)
        except (urllib3.exceptions.HTTPError, OSError):
            return  # unreachable or silent until the deadline: the caller lists again, through request's retries
        if not 200 <= status < 300:
            if status in WATCH_REFUSED:
                raise KubeError("GET", path + "?" + urlencode(query_list), status, reason or "", _status_message(response))
            return  # 410, 429, 5xx: the caller lists again
        try:
            for line in _lines(response):
                event = json_loads(line)
                if event.get("type") == "ERROR":
                    return
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    yield None if event["type"] == "DELETED" else event.get("object")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                sock = getattr(getattr(response, "connection", None), "sock", None)
                if sock is not None:
                    sock.settimeout(remaining)  # the next read may block only for what is left
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            return  # a read timeout at the deadline, a broken stream or line: the caller decides
        finally:
            response.close()
            response.release_conn()

    def _write(self, method: str, path: str, body: Any, content_type: str, query: Dict[str, Any]) -> Dict[str, Any]:
        """One write: retried on 429 (by request) and when the connection failed before anything was sent."""
        attempt = 0
        while True:
            try:
                return self.request(method, path, query=query, body=body, content_type=content_type, retry_statuses=(429,))
            except ApiUnreachable as exc:
                # the original error is the context of request's ApiUnreachable; connect errors mean nothing was sent
                unsent = isinstance(_cause(exc.__context__), urllib3.exceptions.ConnectTimeoutError)
                if unsent and attempt < self.retries:
                    attempt += 1
                    time.sleep(self._delay(attempt))
                    continue
                note = (self._retry_note(attempt) + "; a write is retried only when its connection failed before anything "
                        "was sent") if unsent else ("not retried: the server may have received it (a write is retried only "
                                                    "after 429 or a connection that failed before anything was sent); "
                                                    "check whether it took effect before trying again")
                raise ApiUnreachable(exc.method, exc.path, reason=exc.reason, hint=exc.hint, retries=attempt, note=note) from None
            except KubeError as exc:
                hint = _write_hint(method, exc.status, exc.message, content_type)
                if not hint:
                    raise
                raise KubeError(exc.method, exc.path, exc.status, exc.reason, exc.message, hint=hint, retries=exc.retries,
                                note=exc.note) from None


def _write_hint(method: str, status: int, message: str, content_type: str) -> str:
    """The fix for a failed write, where the read-oriented hint of KubeError would mislead."""
    verb = _verb(method, "")
    if status == 403 and "being terminated" in message:
        return "the namespace is being deleted; wait until it is gone or use another namespace"
    if status == 403:
        return ("grant the identity '%s' on this resource in this namespace: probes and installs write, which the "
                "read-only ClusterRole ai-conformance-verify of docs/rbac.md does not allow; or run without them" % verb)
    if status == 404 and method == "POST":
        return "create the namespace first, or install the API (CRD, APIService) that serves this resource"
    if status == 404 and method == "PATCH" and content_type != PATCH_CONTENT_TYPES["apply"]:
        return "the object does not exist: create it, or use patch_type='apply', which creates a missing object"
    if status == 409:
        return "an object of that name already exists: delete it first, pick another name, or use patch_type='apply'"
    if status == 415:
        return "this resource does not take that patch type (custom resources take no strategic merge): use 'merge'"
    if status in (400, 422):
        return "the API server rejected the request body; correct the field the message names"
    return ""


def _explicit_credentials(auth: Dict[str, Any]) -> bool:
    """Whether the parameters alone authenticate (kubernetes.core then loads no kubeconfig)."""
    def given(*names):
        return all(auth.get(name) for name in names)
    return given("username", "password", "host") or given("api_key", "host") or given("cert_file", "key_file", "host")


def _public_url(url: Any) -> str:
    """A server URL without any user:password part."""
    text = str(url or "")
    if "@" not in text:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment))


def _cause(exc: Exception) -> Exception:
    """The underlying error of urllib3's MaxRetryError (raised since the client's own retries are 0)."""
    reason = getattr(exc, "reason", None)
    return reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and isinstance(reason, Exception) else exc


def _lines(response) -> Iterator[bytes]:
    """The complete lines of a streamed urllib3 response (a watch: one JSON event each) as they arrive."""
    pending = b""
    for chunk in response.stream(None):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from (line for line in lines if line.strip())


def _is_read_timeout(exc: Exception) -> bool:
    return isinstance(exc, (urllib3.exceptions.ReadTimeoutError, socket.timeout, TimeoutError))


def _status_message(data: bytes) -> str:
    """The message of a Status-shaped error body."""
    try:
        body = json.loads(data or b"{}")
        return str(body.get("message") or "") if isinstance(body, dict) else ""
    except (TypeError, ValueError):
        return ""


def _connection_reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    # urllib3 embeds the connection object repr; keep the human part.
    return text.split(": ", 1)[-1] if "Connection" in text and ": " in text else text


def _safe(exc: Exception) -> str:
    """An exception's text without anything that looks like a credential."""
    text = str(exc)
    for marker in ("token", "password", "client-key", "Bearer"):
        if marker.lower() in text.lower():
            return exc.__class__.__name__
    return text


# -- readiness: predicates for Kube.wait ---------------------------------------------------

class Predicate:
    """A test of an object for ``Kube.wait``: called with the object (None when it does not exist), it
    says what it awaits (``description``), what it saw (``observe``) and what to do if it never holds."""

    def __init__(self, description: str, test: Callable[[Dict[str, Any]], bool], hint: str = "",
                 show: Optional[Callable[[Dict[str, Any]], str]] = None, missing: bool = False):
        self.description, self.test, self.hint, self.show, self.missing = description, test, hint, show, missing

    def __call__(self, obj: Optional[Dict[str, Any]]) -> bool:
        return self.missing if obj is None else bool(self.test(obj))

    def observe(self, obj: Optional[Dict[str, Any]]) -> str:
        if obj is None:
            return "it does not exist"
        return (self.show or describe_state)(obj)

    def __repr__(self) -> str:
        return "Predicate(%s)" % self.description


def observe(predicate: Any, obj: Optional[Dict[str, Any]]) -> str:
    """What ``predicate`` (a Predicate or any callable) saw in ``obj``."""
    if hasattr(predicate, "observe"):
        return predicate.observe(obj)
    return "it does not exist" if obj is None else describe_state(obj)


def _generation_text(obj: Dict[str, Any], expected: bool) -> str:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    if generation is None or (observed is None and not expected):
        return ""
    if observed is None:
        return "generation=%s, status.observedGeneration unset (no controller has seen it)" % generation
    stale = " (status is from an older generation)" if observed < generation else ""
    return "generation=%s observedGeneration=%s%s" % (generation, observed, stale)


def _conditions_text(obj: Dict[str, Any]) -> str:
    generation = (obj.get("metadata") or {}).get("generation")
    parts = []
    for cond in (obj.get("status") or {}).get("conditions") or []:
        text = "%s=%s" % (cond.get("type"), cond.get("status"))
        why = ": ".join(str(cond[k])[:200] for k in ("reason", "message") if cond.get(k))
        if why:
            text += " (%s)" % why
        if generation is not None and cond.get("observedGeneration") is not None and cond["observedGeneration"] < generation:
            text += " [stale: observedGeneration %s < generation %s]" % (cond["observedGeneration"], generation)
        parts.append(text)
    return "conditions: " + "; ".join(parts) if parts else ""


def describe_state(obj: Dict[str, Any], counts: Tuple[str, ...] = ()) -> str:
    """A one-line account of an object's state: generations, phase, deletion, the ``counts`` fields, conditions."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    parts = [_generation_text(obj, expected=bool(counts))]
    if status.get("phase"):
        parts.append("phase=%s" % status["phase"])
    if meta.get("deletionTimestamp"):
        finalizers = list(meta.get("finalizers") or []) + list((obj.get("spec") or {}).get("finalizers") or [])
        parts.append("deletionTimestamp=%s finalizers=%s" % (meta["deletionTimestamp"], ",".join(finalizers) or "none"))
    if counts:
        parts.append(" ".join("%s=%s" % (c, _field(obj, c)) for c in counts))
    parts.append(_conditions_text(obj))
    text = ", ".join(p for p in parts if p)
    return text or "no status yet"


def _field(obj: Dict[str, Any], dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _status_current(obj: Dict[str, Any]) -> bool:
    """status.observedGeneration is set and not older than metadata.generation."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    return observed is not None and (generation is None or observed >= generation)


def condition_is(condition_type: str, status: str = "True") -> Predicate:
    """The condition ``condition_type`` has ``status`` and is current: its observedGeneration (or, when it has
    none, status.observedGeneration) is not older than metadata.generation; with neither it counts."""
    def test(obj):
        cond = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == condition_type), None)
        if cond is None or str(cond.get("status")) != status:
            return False
        observed = cond.get("observedGeneration", (obj.get("status") or {}).get("observedGeneration"))
        generation = (obj.get("metadata") or {}).get("generation")
        return observed is None or generation is None or observed >= generation
    return Predicate("%s=%s" % (condition_type, status), test,
                     hint="see why the %s condition is not %s in the object's conditions and events; the controller "
                          "that sets it may not be running" % (condition_type, status))


DEPLOYMENT_COUNTS = ("spec.replicas", "status.replicas", "status.updatedReplicas", "status.availableReplicas")
DAEMONSET_COUNTS = ("status.desiredNumberScheduled", "status.numberReady", "status.updatedNumberScheduled")


def _deployment_available(obj: Dict[str, Any]) -> bool:
    want, status = (obj.get("spec") or {}).get("replicas", 1), obj.get("status") or {}
    return _status_current(obj) and all(status.get(k, 0) == want for k in ("replicas", "updatedReplicas", "availableReplicas"))


def _daemonset_ready(obj: Dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    desired = status.get("desiredNumberScheduled", 0)
    return _status_current(obj) and status.get("numberReady", 0) == desired and status.get("updatedNumberScheduled", 0) == desired


deployment_available = Predicate(
    "available (status of the current generation; replicas, updatedReplicas and availableReplicas equal spec.replicas)",
    _deployment_available, show=lambda obj: describe_state(obj, DEPLOYMENT_COUNTS),
    hint="look at the Deployment's pods (kubectl get pods -l <its selector>; kubectl describe pod) for image pulls, "
         "scheduling or readiness failures; a stale observedGeneration means the deployment controller has not seen it")
daemonset_ready = Predicate(
    "ready (status of the current generation; numberReady and updatedNumberScheduled equal desiredNumberScheduled)",
    _daemonset_ready, show=lambda obj: describe_state(obj, DAEMONSET_COUNTS),
    hint="look at the DaemonSet's pods on the nodes that lack a ready one (kubectl get pods -o wide; kubectl describe pod); "
         "desiredNumberScheduled=0 counts as ready: check its nodeSelector and tolerations match nodes")
job_complete = Predicate("Complete", condition_is("Complete"),
                         hint="the Job's pods did not succeed: read kubectl logs job/<name> and its pods' events")
job_failed = Predicate("Failed", condition_is("Failed"), hint="the Job has not failed (it may still be running)")
crd_established = Predicate("Established", condition_is("Established"),
                            hint="its names may conflict with another CRD (see the NamesAccepted condition)")
absent = Predicate("gone", lambda obj: False, missing=True,
                   hint="the object still exists: metadata.finalizers that no controller removes keep it")
namespace_gone = Predicate(
    "gone", lambda obj: False, missing=True,
    hint="a namespace stays Terminating until its objects are deleted and its finalizers removed: read its conditions "
         "(NamespaceContentRemaining, NamespaceFinalizersRemaining, NamespaceDeletionDiscoveryFailure); an unavailable "
         "APIService (kubectl get apiservices) or an object whose finalizer no controller removes blocks it")


def pod_phase(*phases: str) -> Predicate:
    """The pod's status.phase is one of ``phases`` (e.g. "Succeeded", "Failed")."""
    wanted = phases or ("Running",)
    return Predicate("in phase %s" % " or ".join(wanted), lambda obj: (obj.get("status") or {}).get("phase") in wanted,
                     hint="see why the pod is not %s in kubectl describe pod (scheduling, image pulls, crashes)" % "/".join(wanted))


def any_of(*predicates: Any) -> Predicate:
    """Holds when one of ``predicates`` does, e.g. ``any_of(job_complete, job_failed)`` to stop waiting on failure."""
    return Predicate(" or ".join(getattr(p, "description", getattr(p, "__name__", "?")) for p in predicates),
                     lambda obj: any(p(obj) for p in predicates), missing=any(getattr(p, "missing", False) for p in predicates),
                     hint="; ".join(getattr(p, "hint", "") for p in predicates if getattr(p, "hint", "")),
                     show=getattr(predicates[0], "show", None) if predicates else None)
