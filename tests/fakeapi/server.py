"""FakeKubeServer: a simulated Kubernetes API server over plain HTTP on 127.0.0.1."""

import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple, Optional
from urllib.parse import unquote, urlsplit

import yaml

from . import rbac
from .api import KubeApi, Stream, encode
from .fixtures import Cluster
from .store import ObjectStore

DEFAULT_CONTROLLER_DELAY = 0.3
STANDARD_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
FAKE_TOKEN = "fake-token-for-the-simulated-cluster"


class Request(NamedTuple):
    """One recorded request; ``path`` is URL-decoded, ``query`` the raw query string.

    ``attributes`` are its RBAC attributes (``rbac.Attributes``: verb, api_group, resource,
    subresource, namespace, name, or path for a non-resource URL); ``allowed`` is whether the
    cluster's ``rbac_rules`` allowed it (None when the cluster has none).
    """

    method: str
    path: str
    query: str
    attributes: Optional[rbac.Attributes] = None
    allowed: Optional[bool] = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's connection pool reuses connections
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        """Stay quiet: tests and the demo own stderr."""

    def _serve(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        path = unquote(url.path)
        attributes = rbac.request_attributes(self.command, path, url.query)
        rules = fake.cluster.rbac_rules
        allowed = None if rules is None else rbac.allows(rules, attributes)
        fake._record(Request(self.command, path, url.query, attributes, allowed))
        try:
            if allowed is False:  # authorization comes before routing, as in kube-apiserver's filter chain
                err = rbac.forbidden(attributes, fake.cluster.user)
                response = encode(err.status(), err.code)
            else:
                response = fake.api.handle(self.command, path, url.query, self.headers, body)
        except Exception:  # a bug in the fake: answer like a real server's 500, with the traceback
            response = encode({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": traceback.format_exc(), "reason": "InternalError", "code": 500}, 500)
        if isinstance(response, Stream):
            self._stream(response)
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _stream(self, response):
        """Send a watch with chunked transfer encoding, one event a chunk; stops when the client goes."""
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.wfile.flush()
            for chunk in response.chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            self.close_connection = True
        finally:
            close = getattr(response.chunks, "close", None)
            if close:
                close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


def _owned_copy(obj):
    """The store changes only top-level keys and metadata of what it is given: copy those."""
    return {**obj, "metadata": dict(obj.get("metadata") or {})}


class FakeKubeServer:
    """Serves a Cluster on ``http://127.0.0.1:<port>`` from a daemon thread.

    ``store`` (an ObjectStore) holds the objects; ``requests`` records every request with its
    RBAC attributes. ``cluster.rbac_rules`` (read per request) turns on RBAC enforcement.
    ``store.namespace_termination_seconds`` (from the cluster) may be changed while serving.
    ``controller_delay`` (None: off; DEFAULT_CONTROLLER_DELAY is a good value) turns on the simulated
    controllers: Deployments, StatefulSets and DaemonSets created through the API get a ready status
    for each generation that many seconds after it; with controllers on, ``crd_establish_delay`` > 0
    keeps an API-created CRD unestablished and unserved that long (0: at once, as without controllers).
    With controllers on, ``operators`` (default True) also turns on the simulated operators
    (operators.py: GatewayClass accepted, EndpointSlices for Services, caBundle injection, Kueue/Volcano
    queues, Prometheus/APIService Available, ClusterPolicy ready); False keeps only the workload and CRD
    controllers, for waits that must time out. All three are ``store`` attributes (``controller_delay``,
    ``crd_establish_delay``, ``operators``) that may be changed while serving. Watches (``?watch=true``) stream from the store's event log.
    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, cluster=None, host="127.0.0.1", port=0, controller_delay=None, crd_establish_delay=0.0,
                 operators=True):
        self.cluster = cluster or Cluster()
        self.store = ObjectStore(self.cluster.version, self.cluster.runtime_config,
                                 self.cluster.aggregated_discovery())
        self.store.controller_delay = controller_delay
        self.store.crd_establish_delay = crd_establish_delay
        self.store.operators = operators
        self.store.namespace_termination_seconds = self.cluster.namespace_termination_seconds
        self.store.aggregated = self.cluster.aggregated  # the canned aggregated APIs, which simulations/hpa.py reads
        present = {o["metadata"]["name"] for o in self.cluster.objects if o.get("kind") == "Namespace"}
        self.store.add_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                                for name in STANDARD_NAMESPACES if name not in present]
                               + [_owned_copy(obj) for obj in self.cluster.objects])
        self.api = KubeApi(self.cluster, self.store)
        self._address = (host, port)
        self._httpd = None
        self._thread = None
        self._requests = []
        self._requests_lock = threading.Lock()

    def start(self):
        """Bind (port 0: an ephemeral port) and serve in a daemon thread; returns self."""
        self.store.stopped = False
        self._httpd = ThreadingHTTPServer(self._address, _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fakeapi", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.store.stop_watches()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
            self._httpd = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def url(self):
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def write_kubeconfig(self, path, context=None, namespace="default"):
        """Write a kubeconfig for this server (with a throwaway bearer token) and return its Path."""
        context = context or f"simulated-{self.cluster.name}"
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": FAKE_TOKEN}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                       "namespace": namespace}}],
            "current-context": context,
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    # Request recording.

    def _record(self, request):
        with self._requests_lock:
            self._requests.append(request)

    @property
    def requests(self):
        """A copy of the recorded requests, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    @property
    def request_count(self):
        with self._requests_lock:
            return len(self._requests)

    def reset_requests(self):
        with self._requests_lock:
            self._requests.clear()

    @property
    def attributes(self):
        """The distinct RBAC attributes of the recorded requests, in first-seen order."""
        return list(dict.fromkeys(r.attributes for r in self.requests))

    @property
    def denied(self):
        """The recorded requests the cluster's ``rbac_rules`` did not allow."""
        return [r for r in self.requests if r.allowed is False]

    def count_requests(self, prefix="", method=None):
        """How many recorded requests have a path starting with ``prefix`` (and the given method)."""
        with self._requests_lock:
            return sum(1 for r in self._requests
                       if r.path.startswith(prefix) and (method is None or r.method == method.upper()))
