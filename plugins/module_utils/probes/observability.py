# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the observability section.

* accelerator_metrics (TestAcceleratorPerformanceMetrics, on every node): the read-only check scrapes the exporter
  once, through its Service (whichever pod answers). The probe scrapes the exporter pod of every accelerator node
  through the API server's pods proxy and requires, on each, utilization and memory series for as many devices as
  the node advertises; temperature, power and interconnect series are reported where the exporter has them. It
  creates nothing, so it needs no scratch namespace.
* ai_service_metrics (TestAIServiceMetrics): a stub inference server (Python, no dependencies) exposing a request
  counter, a latency histogram and a queue-depth gauge labelled with the run's id; a Service; a ServiceMonitor that
  the Prometheus the check found selects (its serviceMonitorSelector's labels, the scratch namespace labelled for its
  namespace selector). Ten requests go through the service proxy; Prometheus's query API, through the service proxy,
  must then answer exactly ten for the counter and for the histogram's count, and a queue-depth sample, within the
  probe's time. More than ten fails at once (extra requests reached the workload); a collector other than the
  Prometheus Operator's is not driven (skipped, with the reason).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

from ansible_collections.k8s_ai.conformance.plugins.module_utils import lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError, Predicate
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import meta_of, pod_ready
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import pods, probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import image
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import ERROR, FAIL, PASS, SKIPPED, Finding
from ansible_collections.k8s_ai.conformance.plugins.module_utils.sections.observability import (
    MON_GROUP, MON_VERSION, OPTIONAL_KINDS, POD_PAGE, analyse_exposition, device_line, read_targets, under_prefix,
)

# ================================================================================================ accelerator_metrics
SCRAPERS = 8  # exporter pods scraped at once
SHOWN_NODES = 40  # nodes listed in the evidence beyond those with a problem


def _exporter_pods(ctx, exporter: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """node -> the exporter's pod there (a ready one when there are several)."""
    found: Dict[str, Dict[str, Any]] = {}
    for pod in ctx.list("", "v1", "pods", namespace=exporter["namespace"], label_selector=exporter["pod_selector"],
                        page_size=POD_PAGE, args="-o wide",
                        show=lambda items: "%d exporter pod(s), %d ready" % (len(items), sum(pod_ready(p) for p in items))):
        node = pods.node_of(pod)
        if node and (node not in found or pod_ready(pod)):
            found[node] = pod
    return found


class NodeScrape:
    """What one accelerator node's exporter pod served: ``shown`` in the evidence, ``problem`` ("" when none)."""

    def __init__(self, shown: str = "", problem: str = "", devices: int = 0, optional=()):
        self.shown, self.problem, self.devices, self.optional = shown, problem, devices, set(optional)


def _scrape_node(kube, exporter: Dict[str, Any], node, pod: Optional[Dict[str, Any]]) -> NodeScrape:
    vendor = exporter["vendor"]
    if pod is None or not pod_ready(pod):
        return NodeScrape(problem="no ready exporter pod%s" % (" (pod %s %s)" % (meta_of(pod)["name"], pods.pod_state(pod)) if pod else ""))
    name = meta_of(pod)["name"]
    try:
        text = kube.proxy_get(exporter["namespace"], name, exporter["pod_port"], "metrics", resource="pods")
    except KubeError as exc:
        if exc.status in (401, 403):
            raise
        said = " ".join(str(part) for part in (exc.status, exc.reason) if part) or str(exc)
        return NodeScrape(problem="pod %s did not answer through the pods proxy (%s%s)" % (
            name, said, ": %s" % exc.message if exc.message else ""))
    found = analyse_exposition(text, vendor)
    devices = found["devices"]
    scraped = NodeScrape("pod %s, %d device(s): %s" % (name, len(devices), "; ".join(
        device_line(k, v, vendor) for k, v in sorted(devices.items())) or "no per-device series"),
        devices=len(devices), optional=[kind for kind in OPTIONAL_KINDS if found["optional"].get(kind)])
    missing = [kind for kind in ("utilization", "memory") if any(not v["metrics"].get(kind) for v in devices.values())]
    if not devices:
        scraped.problem = "pod %s serves no per-device series" % name
    elif node.count and len(devices) < node.count:
        scraped.problem = "pod %s reports %d of the node's %d accelerators" % (name, len(devices), node.count)
    elif missing:
        scraped.problem = "pod %s reports no %s for device(s) %s" % (name, " or ".join(missing), ", ".join(
            k for k, v in sorted(devices.items()) if any(not v["metrics"].get(kind) for kind in missing)))
    return scraped


def _scrape_exporter(ctx, exporter: Dict[str, Any], nodes) -> Tuple[List[str], str]:
    """(the problems, a summary) of scraping the exporter pod of each of the exporter's accelerator nodes."""
    on_node = _exporter_pods(ctx, exporter)
    names = [n for n in exporter["accelerator_nodes"] if n in nodes]

    def scrape(name: str) -> Tuple[str, NodeScrape]:
        ctx.check_cancelled()
        return name, _scrape_node(ctx.kube, exporter, nodes[name], on_node.get(name))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(SCRAPERS, max(1, len(names)))) as pool:
        answers = list(pool.map(scrape, names))
    failed = [(n, a) for n, a in answers if a.problem]
    lines = ["%s: %s%s" % (n, a.problem, " (%s)" % a.shown if a.shown else "") for n, a in failed]
    lines += ["%s: %s" % (n, a.shown) for n, a in answers if not a.problem][:SHOWN_NODES]
    hidden = len(answers) - len(lines)
    where = "/api/v1/namespaces/%s/pods/<pod>:%s/proxy/metrics" % (exporter["namespace"], exporter["pod_port"])
    ctx.record("for each accelerator node: kubectl get --raw %s (<pod>: the exporter's pod on that node)" % where,
               "%d node(s) scraped in %.1fs, %d with a problem\n%s%s" % (
                   len(answers), time.monotonic() - started, len(failed), "\n".join(lines),
                   "\n(and %d more node(s) without a problem)" % hidden if hidden > 0 else ""),
               api="GET %s" % where, note="every accelerator node's exporter pod, through the API server's pods proxy")
    optional = sorted(set().union(*(a.optional for _n, a in answers))) if answers else []
    also = "; also reported: %s" % ", ".join(optional) if optional else ""
    summary = "%s: each of the %d accelerator node(s) serves, from its own exporter pod, utilization and memory for every one " \
              "of its devices (%d in all)%s" % (exporter["exporter"], len(answers), sum(a.devices for _n, a in answers), also)
    return ["%s on node %s: %s" % (exporter["exporter"], n, a.problem) for n, a in failed], summary


@probe("accelerator_metrics", scratch=False)
def accelerator_metrics(ctx):
    exporters = [e for e in (ctx.checked.details.get("exporters") or []) if e.get("pod_port") and e.get("pod_selector")]
    if not exporters:
        return Finding(SKIPPED, "the check found no exporter pods to scrape")
    nodes = {n.name: n for n in lookups.accelerator_nodes(ctx.kube)}
    problems: List[str] = []
    summaries: List[str] = []
    for exporter in exporters:
        found, summary = _scrape_exporter(ctx, exporter, nodes)
        problems += found
        summaries.append(summary)
    if problems:
        return Finding(FAIL, "; ".join(problems[:10]) + (" (and %d more)" % (len(problems) - 10) if len(problems) > 10 else ""),
                       remediation="read the exporter's log on those nodes (kubectl logs -n <namespace> <pod>) for the "
                                   "accelerators it could not open, and enable its utilization and memory fields")
    return Finding(PASS, "; ".join(summaries) + ".")


# ================================================================================================ ai_service_metrics
STUB = "ai-metrics-stub"
STUB_PORT = 8080
RUN_LABEL = "conformance_run"
REQUESTS = 10
HEALTH_TIMEOUT = 60.0  # seconds the stub's Service may take to answer /healthz through the proxy
QUERY_INTERVAL = 10.0  # seconds between two rounds of queries (the ServiceMonitor asks for a scrape every 15 s)
SCRAPE_INTERVAL = "15s"
COUNTER = "ai_conformance_inference_requests_total"
LATENCY = "ai_conformance_inference_request_duration_seconds"
QUEUE = "ai_conformance_inference_queue_depth"
# The stub: /v1/infer counts a request (10 ms of work), /metrics exposes the counter, the latency histogram and the
# in-flight gauge, labelled conformance_run=<RUN_ID>; /healthz is not counted.
STUB_SCRIPT = r'''
import os, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
RUN, PORT = os.environ["RUN_ID"], int(os.environ["PORT"])
LE = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
lock = threading.Lock()
seen = {"count": 0, "sum": 0.0, "inflight": 0, "le": [0] * len(LE)}
def exposition():
    run = 'conformance_run="%s"' % RUN
    with lock:
        s = dict(seen, le=list(seen["le"]))
    out = ["# TYPE ai_conformance_inference_requests_total counter",
           "ai_conformance_inference_requests_total{%s} %d" % (run, s["count"]),
           "# TYPE ai_conformance_inference_request_duration_seconds histogram"]
    out += ['ai_conformance_inference_request_duration_seconds_bucket{%s,le="%s"} %d' % (run, b, n) for b, n in zip(LE, s["le"])]
    out += ['ai_conformance_inference_request_duration_seconds_bucket{%s,le="+Inf"} %d' % (run, s["count"]),
            "ai_conformance_inference_request_duration_seconds_sum{%s} %f" % (run, s["sum"]),
            "ai_conformance_inference_request_duration_seconds_count{%s} %d" % (run, s["count"]),
            "# TYPE ai_conformance_inference_queue_depth gauge",
            "ai_conformance_inference_queue_depth{%s} %d" % (run, s["inflight"])]
    return "\n".join(out) + "\n"
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def answer(self, body, kind="text/plain"):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        if self.path == "/healthz":
            return self.answer("ok")
        if self.path == "/metrics":
            return self.answer(exposition(), "text/plain; version=0.0.4")
        if self.path.startswith("/v1/infer"):
            began = time.monotonic()
            with lock:
                seen["inflight"] += 1
            time.sleep(0.01)
            took = time.monotonic() - began
            with lock:
                seen["inflight"] -= 1
                seen["count"] += 1
                seen["sum"] += took
                seen["le"] = [n + (took <= b) for b, n in zip(LE, seen["le"])]
            return self.answer('{"output": "ok"}', "application/json")
        self.send_error(404)
ThreadingHTTPServer(("", PORT), Handler).serve_forever()
'''


def _selected_labels(selector: Optional[Dict[str, Any]]) -> Optional[Dict[str, str]]:
    """Labels a LabelSelector selects (the least that do), or None when it selects nothing or the probe cannot tell."""
    if selector is None:
        return None
    labels = dict(selector.get("matchLabels") or {})
    for term in selector.get("matchExpressions") or []:
        key, operator, values = term.get("key"), term.get("operator"), list(term.get("values") or [])
        if operator == "In" and values and labels.get(key, values[0]) in values:
            labels.setdefault(key, values[0])
        elif operator == "Exists":
            labels.setdefault(key, "true")
        elif operator == "NotIn" and labels.get(key) not in values or operator == "DoesNotExist" and key not in labels:
            continue
        else:
            return None
    return labels


def _stub(ctx, run: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The stub's pod (restricted Pod Security, bounded lifetime) and Service."""
    labels = {"app.kubernetes.io/name": STUB}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": STUB, "labels": labels}, "spec": {
        "restartPolicy": "Never",  # a restart would reset the counters and void the run
        "activeDeadlineSeconds": int(ctx.timeout) + 600,  # ends by itself if the cleanup could not run
        "terminationGracePeriodSeconds": 0,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "server", "image": image("python", ctx.options.probe_image_registry),
            "command": ["python3", "-u", "-c", STUB_SCRIPT],
            "env": [{"name": "RUN_ID", "value": run}, {"name": "PORT", "value": str(STUB_PORT)}],
            "ports": [{"name": "http", "containerPort": STUB_PORT}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": STUB, "labels": labels}, "spec": {
        "selector": labels, "ports": [{"name": "http", "port": STUB_PORT, "targetPort": "http"}]}}
    return pod, service


READY = Predicate("Ready", pod_ready, show=pods.pod_state,
                  hint="see why the stub is not Ready in kubectl describe pod (image pull, readiness on /healthz)")


def _query(ctx, api: Dict[str, Any], promql: str) -> Tuple[Optional[float], str]:
    """(the single sample's value or None while there is none, what the answer said) of an instant query."""
    path = under_prefix(api["prefix"], "api/v1/query?query=%s" % quote(promql, safe=""))
    body = ctx.kube.proxy_get(api["namespace"], api["service"], api["port"], path, scheme=api["scheme"])
    try:
        answer = json.loads(body)
        result = answer["data"]["result"] if answer.get("status") == "success" else None
    except (ValueError, KeyError, TypeError):
        return None, "not a Prometheus query answer"
    if result is None:
        return None, "query failed: %s" % answer.get("error", "?")
    if len(result) != 1:
        return None, "no sample yet" if not result else "%d samples, expected one" % len(result)
    return float(result[0]["value"][1]), "%s" % result[0]["value"][1]


def _until_healthy(ctx) -> bool:
    """Whether /healthz answers through the stub's Service within HEALTH_TIMEOUT."""
    def look() -> str:
        try:
            ctx.kube.proxy_get(ctx.namespace, STUB, "http", "healthz")
            return ""
        except KubeError as exc:
            return "%s %s" % (exc.status or "", exc.reason or exc)
    path = "/api/v1/namespaces/%s/services/%s:http/proxy/healthz" % (ctx.namespace, STUB)
    answered, _refusal = ctx.until(look, lambda refusal: "answered" if refusal == "" else None, pods.bounded(ctx, HEALTH_TIMEOUT),
                                   lambda refusal: "no answer: %s" % refusal, "kubectl get --raw %s" % path, "GET %s" % path)
    return bool(answered)


def _collected(ctx, api: Dict[str, Any], run: str) -> Tuple[str, str]:
    """("", what was collected) once Prometheus has the run's request count, latency count and queue depth, else
    (the problem, the last statuses). A count above REQUESTS ends it at once."""
    selector = '{%s="%s"}' % (RUN_LABEL, run)
    checks = (("request count", "max(%s%s)" % (COUNTER, selector), REQUESTS),
              ("latency histogram count", "max(%s_count%s)" % (LATENCY, selector), REQUESTS),
              ("queue depth gauge", "max(%s%s)" % (QUEUE, selector), None))
    started, statuses, problem = time.monotonic(), [], ""
    while True:
        ctx.check_cancelled()
        statuses, done = [], True
        for what, promql, want in checks:
            try:
                value, said = _query(ctx, api, promql)
            except KubeError as exc:
                value, said = None, "query error: %s %s" % (exc.status or "", exc.reason or exc)
            if value is not None and want is not None and value > want:
                problem = "%s is %g, more than the %d requests sent: other requests reached the stub" % (what, value, want)
            done = done and value is not None and (want is None or value == want)
            statuses.append("%s: %s (%s)" % (what, "ok %g" % value if value is not None and (want is None or value == want)
                                             else said if value is None else "%g, want %d" % (value, want), promql))
        if problem or done or ctx.remaining() <= QUERY_INTERVAL + pods.RESERVE:
            break
        time.sleep(QUERY_INTERVAL)
    if not done and not problem:
        problem = "Prometheus did not collect the stub's metrics within %.0fs" % (time.monotonic() - started)
    ctx.record("kubectl get --raw '/api/v1/namespaces/%s/services/%s:%s/proxy/api/v1/query?query=<each>'" % (
        api["namespace"], api["service"], api["port"]), "%s after %.1fs:\n%s" % (
            "collected" if not problem else "not collected", time.monotonic() - started, "\n".join(statuses)),
        api="GET /api/v1/namespaces/%s/services/%s:%s/proxy/api/v1/query (polled)" % (api["namespace"], api["service"], api["port"]))
    return problem, "; ".join(s.split(" (")[0] for s in statuses)


def _target_health(ctx, api: Dict[str, Any]) -> str:
    """How Prometheus's active targets show the probe's ServiceMonitor (for a failure's notes)."""
    pool = "serviceMonitor/%s/%s/" % (ctx.namespace, STUB)
    summary, why = read_targets(ctx, api["namespace"], api["service"], api["port"], api["prefix"], api["scheme"])
    if summary is None:
        return "its targets could not be read (%s)" % why
    mine = {name: entry for name, entry in summary["pools"].items() if name.startswith(pool)}
    if not mine:
        return "no active target of scrape pool %s* (the ServiceMonitor was not picked up)" % pool
    return "; ".join("%s: %d/%d up%s" % (name, entry["up"], entry["total"], "; down: %s" % ", ".join(entry["down"]) if entry["down"] else "")
                     for name, entry in sorted(mine.items()))


@probe("ai_service_metrics")
def ai_service_metrics(ctx):
    api = ctx.checked.details.get("query_api")
    if not api:
        return Finding(SKIPPED, "the probe drives a Prometheus of the Prometheus Operator (a ServiceMonitor for its stub "
                                "workload); the check found the metrics collected another way")
    monitor_labels = _selected_labels(api["service_monitor_selector"])
    namespace_labels = _selected_labels(api["service_monitor_namespace_selector"])
    who = "Prometheus %s/%s" % (api["namespace"], api["prometheus"])
    if monitor_labels is None:
        return Finding(SKIPPED, "%s selects no ServiceMonitor the probe can label itself into (serviceMonitorSelector %s)"
                       % (who, json.dumps(api["service_monitor_selector"])))
    if namespace_labels is None:
        return Finding(SKIPPED, "%s selects ServiceMonitors only in its own namespace %s (serviceMonitorNamespaceSelector "
                                "unset), and the probe creates nothing outside its scratch namespace" % (who, api["namespace"]))
    try:
        value, said = _query(ctx, api, "vector(1)")
    except KubeError as exc:
        value, said = None, "%s %s" % (exc.status or "", exc.reason or exc)
    if value != 1:
        return Finding(ERROR, "the query API of %s did not answer vector(1) through the service proxy: %s" % (who, said),
                       remediation="check that %s/%s:%s answers /api/v1/query" % (api["namespace"], api["service"], api["port"]))
    if namespace_labels:
        ctx.patch("", "v1", "namespaces", ctx.namespace, {"metadata": {"labels": namespace_labels}},
                  "namespace/%s labelled %s, as %s's serviceMonitorNamespaceSelector asks" % (
                      ctx.namespace, ",".join("%s=%s" % kv for kv in sorted(namespace_labels.items())), who))
    run = ctx.run_id
    pod, service = _stub(ctx, run)
    ctx.create("", "v1", "pods", pod, note="the stub inference server")
    ctx.create("", "v1", "services", service)
    monitor = {"apiVersion": "%s/%s" % (MON_GROUP, MON_VERSION), "kind": "ServiceMonitor",
               "metadata": {"name": STUB, "labels": monitor_labels},
               "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": STUB}}, "namespaceSelector": {"matchNames": [ctx.namespace]},
                        "endpoints": [{"port": "http", "path": "/metrics", "interval": SCRAPE_INTERVAL}]}}
    shown = ",".join("%s=%s" % kv for kv in sorted(monitor_labels.items())) or "(any)"
    ctx.create(MON_GROUP, MON_VERSION, "servicemonitors", monitor, note="labelled %s for %s's serviceMonitorSelector" % (shown, who))
    ctx.wait_for("", "v1", "pods", STUB, READY, timeout=pods.bounded(ctx, pods.START_TIMEOUT), interval=0.5)
    if not _until_healthy(ctx):
        return Finding(ERROR, "the stub's Service did not answer /healthz through the API server's proxy (see the evidence)")
    for sent in range(1, REQUESTS + 1):
        ctx.check_cancelled()
        try:
            ctx.kube.proxy_get(ctx.namespace, STUB, "http", "v1/infer")
        except KubeError as exc:
            return Finding(ERROR, "inference request %d of %d failed (%s), so the count to expect is unknown" % (sent, REQUESTS, exc))
    ctx.record("for i in $(seq %d); do kubectl get --raw /api/v1/namespaces/%s/services/%s:http/proxy/v1/infer; done" % (
        REQUESTS, ctx.namespace, STUB), "%d requests answered" % REQUESTS,
        api="GET /api/v1/namespaces/%s/services/%s:http/proxy/v1/infer" % (ctx.namespace, STUB))
    problem, seen = _collected(ctx, api, run)
    if problem:
        return Finding(FAIL, "%s (%s); %s shows %s" % (problem, seen, who, _target_health(ctx, api)),
                       remediation="check that %s picks up ServiceMonitors labelled like the probe's (kubectl get prometheus -n "
                                   "%s %s -o yaml: serviceMonitorSelector, serviceMonitorNamespaceSelector) and that its "
                                   "targets page lists them up" % (who, api["namespace"], api["prometheus"]))
    return Finding(PASS, "a stub inference server with a ServiceMonitor %s selects was discovered and scraped: after %d "
                         "requests its query API answers %s" % (who, REQUESTS, seen))
