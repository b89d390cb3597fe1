"""A Prometheus of the Prometheus Operator scraping what its ServiceMonitors select, and the workload the
ai_service_metrics probe has it scrape: the stub inference server.

- The stub: an API-created pod whose container runs the probes' stub script (its command names the metric
  ``ai_conformance_inference_requests_total``) is bound, one delay after its creation, to the first schedulable node
  whose NoSchedule/NoExecute taints it tolerates, Running and Ready (it serves until deleted). Through the service
  proxy of a Service selecting it, ``healthz`` answers ok, ``v1/infer`` counts a request, ``metrics`` exposes the
  request counter, the latency histogram's count and the queue depth, labelled ``conformance_run`` with its
  ``RUN_ID``.
- Prometheus: ``services/prometheus-operated:<port>/proxy/api/v1/query`` in a namespace holding a Prometheus
  answers ``vector(1)`` and ``max(<metric>{conformance_run="<id>"})`` (any other query: the canned answer, if any).
  A stub's series are collected once an API-created ServiceMonitor has existed for ``SCRAPE_DELAY`` seconds and
  the Prometheus selects it (serviceMonitorSelector and serviceMonitorNamespaceSelector: nil selects none / only its
  own namespace, {} all, else matchLabels and matchExpressions on the ServiceMonitor's and its namespace's labels)
  and it selects a Service (its selector; namespaceSelector matchNames, any, or its own namespace; an endpoint
  ``port`` naming a port of the Service) that selects the stub's pod.
- Annotation ``fakeapi.k8s-ai.io/scrape: "none"`` on a Prometheus: it scrapes nothing (every stub query is empty).
"""

import json
import re
import time
from urllib.parse import unquote

from ..controllers import NAMESPACES, NODES, PODS, SERVICES, metadata_of, tolerates
from .dra import bind, mark_unschedulable

PROMETHEUSES = ("monitoring.coreos.com", "prometheuses")
SERVICE_MONITORS = ("monitoring.coreos.com", "servicemonitors")
STUB_MARK = "ai_conformance_inference_requests_total"
RUN_LABEL = "conformance_run"
SCRAPE = "fakeapi.k8s-ai.io/scrape"
SCRAPE_DELAY = 0.5  # seconds from a ServiceMonitor's creation to its first scrape
STUB_QUERY = re.compile(r'^max\((\w+)\{%s="([^"]*)"\}\)$' % RUN_LABEL)
_REQUESTS = {}  # stub pod uid -> requests served: the stub keeps them in memory too
_CREATED = {}  # ServiceMonitor uid -> time.monotonic() when the simulation first saw it


def _spec(obj):
    return obj.get("spec") or {}


def _is_stub(pod):
    return any(STUB_MARK in " ".join(c.get("command") or []) for c in _spec(pod).get("containers") or [])


def stub_pod(ops, _resource_key, pod):
    """Bind an API-created stub pod to a node it may run on, Running and Ready; Unschedulable while there is none."""
    if not _is_stub(pod) or _spec(pod).get("nodeName"):
        return None
    nodes = ops.store.sim_objects(NODES)
    for node in nodes:
        if not _spec(node).get("unschedulable") and all(tolerates(_spec(pod).get("tolerations"), t) for t in _spec(node).get("taints") or []):
            bind(ops.store, pod, metadata_of(node)["name"], [], {})
            return None
    return mark_unschedulable(ops.store, pod, "0/%d nodes are available" % len(nodes))


def service_monitor(_ops, _resource_key, monitor):
    _CREATED.setdefault(metadata_of(monitor)["uid"], time.monotonic())
    return None


def _matches(selector, labels):
    """Whether a LabelSelector (not nil) selects ``labels``."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for term in selector.get("matchExpressions") or []:
        key, values = term.get("key"), term.get("values") or []
        held = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}.get(term.get("operator"), False)
        if not held:
            return False
    return True


def _labels(obj):
    return metadata_of(obj).get("labels") or {}


def _namespace_selected(store, selector, namespace, own):
    """A Prometheus-style namespace selector: nil is the object's own namespace only."""
    if selector is None:
        return namespace == own
    return _matches(selector, _labels(store.sim_get(NAMESPACES, "", namespace) or {}))


def _stub_pods(store, prometheus):
    """The running stub pods the Prometheus scrapes through a ServiceMonitor it selects."""
    spec, home = _spec(prometheus), metadata_of(prometheus).get("namespace")
    if str((metadata_of(prometheus).get("annotations") or {}).get(SCRAPE, "")).lower() == "none" or \
            spec.get("serviceMonitorSelector") is None:
        return []
    found = []
    for monitor in store.sim_objects(SERVICE_MONITORS):
        created = _CREATED.get(metadata_of(monitor).get("uid"))
        own = metadata_of(monitor).get("namespace")
        if created is None or time.monotonic() - created < SCRAPE_DELAY or \
                not _matches(spec["serviceMonitorSelector"], _labels(monitor)) or \
                not _namespace_selected(store, spec.get("serviceMonitorNamespaceSelector"), own, home):
            continue
        wanted = _spec(monitor).get("namespaceSelector") or {}
        ports = {e.get("port") for e in _spec(monitor).get("endpoints") or []}
        for service in store.sim_objects(SERVICES):
            namespace = metadata_of(service).get("namespace")
            if not (wanted.get("any") or namespace in (wanted.get("matchNames") or [own])) or \
                    not _matches(_spec(monitor).get("selector") or {}, _labels(service)) or \
                    not ports & {p.get("name") for p in _spec(service).get("ports") or []}:
                continue
            found += [p for p in _selected(store, service) if p not in found]
    return found


def _selected(store, service):
    """The Running stub pods a Service selects."""
    selector = _spec(service).get("selector") or {}
    return [p for p in store.sim_objects(PODS, metadata_of(service).get("namespace"))
            if selector and _is_stub(p) and (p.get("status") or {}).get("phase") == "Running"
            and all(_labels(p).get(k) == v for k, v in selector.items())]


def _run_id(pod):
    env = [e for c in _spec(pod).get("containers") or [] for e in c.get("env") or []]
    return next((e.get("value") for e in env if e.get("name") == "RUN_ID"), "")


def _series(pod):
    """{metric: value} the stub exposes."""
    served = _REQUESTS.get(metadata_of(pod)["uid"], 0)
    return {STUB_MARK: served, "ai_conformance_inference_request_duration_seconds_count": served,
            "ai_conformance_inference_queue_depth": 0}


def _json(body):
    return 200, "application/json", json.dumps(body).encode()


def _query(store, namespace, promql):
    prometheuses = store.sim_objects(PROMETHEUSES, namespace)
    if not prometheuses:
        return None
    vector = {"status": "success", "data": {"resultType": "vector", "result": []}}
    moment = round(time.time(), 3)
    if promql.replace(" ", "") == "vector(1)":
        vector["data"]["result"] = [{"metric": {}, "value": [moment, "1"]}]
        return _json(vector)
    asked = STUB_QUERY.match(promql.replace(" ", ""))
    if not asked:
        return None
    metric, run = asked.groups()
    values = [_series(p).get(metric) for prom in prometheuses for p in _stub_pods(store, prom) if _run_id(p) == run]
    values = [v for v in values if v is not None]
    if values:
        vector["data"]["result"] = [{"metric": {}, "value": [moment, str(max(values))]}]
    return _json(vector)


def _stub(store, service, path):
    pods = _selected(store, service)
    if not pods:
        return None
    pod = pods[0]
    if path == "healthz":
        return 200, "text/plain", b"ok"
    if path.startswith("v1/infer"):
        _REQUESTS[metadata_of(pod)["uid"]] = _REQUESTS.get(metadata_of(pod)["uid"], 0) + 1
        return _json({"output": "ok"})
    if path == "metrics":
        text = "".join('%s{%s="%s"} %d\n' % (m, RUN_LABEL, _run_id(pod), v) for m, v in _series(pod).items())
        return 200, "text/plain; version=0.0.4", text.encode()
    return 404, "text/plain", b"not found"


def proxy(store, resource_key, namespace, name, path, query):
    """The stub's and Prometheus's answers through ``services/<name>/proxy/<path>``, else None."""
    if resource_key != SERVICES:
        return None
    service = store.sim_get(SERVICES, namespace, name.split(":")[1 if name.count(":") == 2 else 0])
    if service is None:
        return None
    if path == "api/v1/query":
        promql = next((unquote(v.replace("+", " ")) for k, v in (p.split("=", 1) for p in query.split("&") if "=" in p)
                       if k == "query"), "")
        return _query(store, namespace, promql)
    return _stub(store, service, path)


RECONCILERS = {PODS: stub_pod, SERVICE_MONITORS: service_monitor}
PROXY = proxy
