"""The observability probes against the fake API server.

accelerator_metrics scrapes the exporter pod of every accelerator node through the pods proxy (the fixture's canned
per-pod answers): on rke2-gpu both nodes serve utilization and memory for their two GPUs; a node whose exporter
reports one GPU of two, or no memory series, fails naming that node; it creates no namespace.
ai_service_metrics (simulations/prometheus.py): the stub inference server, its Service and a ServiceMonitor in the
scratch namespace; ten requests; Prometheus's query API answers ten for the counter and the histogram count. A
Prometheus that scrapes nothing fails naming the metrics not collected and the missing scrape pool; a selector the
probe can satisfy only with labels is met (the ServiceMonitor and the namespace labelled); a namespace selector that
is nil skips the probe; no namespace of ours is left.
"""

import json

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import observability
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import IMAGES
from tests.fakeapi import load_cluster
from tests.fakeapi.fixtures import Canned
from tests.fakeapi.simulations import prometheus
from tests.integration.conftest import probed_result, scratch_left, transcript

EXPORTER_POD = "/api/v1/namespaces/gpu-operator/pods/nvidia-dcgm-exporter-dxk6l:9400/proxy/metrics"


@pytest.fixture
def probed(probe_cluster, monkeypatch):
    """Run one requirement with probes on a simulated cluster: (its result, the namespaces of ours left)."""
    monkeypatch.setattr(observability, "QUERY_INTERVAL", 0.2)

    def run(cluster, requirement, probe_timeout=30.0):
        _server, kube = probe_cluster(cluster)
        return probed_result(kube, requirement, probe_timeout=probe_timeout), scratch_left(kube)
    return run


def exporter_answer(cluster, path, keep):
    """``cluster`` whose canned answer at ``path`` keeps only the lines ``keep(line)`` holds for."""
    canned = cluster.proxy[path]
    body = b"".join(line for line in canned.body.splitlines(keepends=True) if keep(line.decode()))
    cluster.proxy[path] = Canned(body, canned.content_type, canned.status)
    return cluster


def prometheus_spec(cluster, **spec):
    for obj in cluster.objects:
        if obj["kind"] == "Prometheus":
            obj["spec"].update(spec)
    return cluster


def prometheus_annotated(cluster, key, value):
    for obj in cluster.objects:
        if obj["kind"] == "Prometheus":
            obj["metadata"].setdefault("annotations", {})[key] = value
    return cluster


def test_every_accelerator_nodes_exporter_pod_serves_utilization_and_memory_for_each_gpu(probed):
    result, left = probed(load_cluster("rke2-gpu"), "accelerator_metrics")
    assert result["outcome"] == "pass", result["notes"]
    assert "Probe: NVIDIA DCGM exporter: each of the 2 accelerator node(s) serves, from its own exporter pod, utilization " \
           "and memory for every one of its devices (4 in all); also reported: " in result["notes"]
    text = transcript(result)
    assert "for each accelerator node: kubectl get --raw /api/v1/namespaces/gpu-operator/pods/<pod>:9400/proxy/metrics" in text
    assert "2 node(s) scraped in" in text and ", 0 with a problem" in text
    assert "gpu-01: pod nvidia-dcgm-exporter-" in text and "gpu-02: pod nvidia-dcgm-exporter-" in text
    assert result["details"]["probe"]["namespace"] == "" and result["details"]["probe"]["cleanup"] == "nothing created"
    assert left == []


def test_a_node_whose_exporter_reports_one_of_its_two_gpus_fails_naming_the_node(probed):
    cluster = exporter_answer(load_cluster("rke2-gpu"), EXPORTER_POD, lambda line: 'gpu="1"' not in line)
    result, _left = probed(cluster, "accelerator_metrics")
    assert result["outcome"] == "fail", result["notes"]
    assert "Probe failed: NVIDIA DCGM exporter on node gpu-02: pod nvidia-dcgm-exporter-dxk6l reports 1 of the node's 2 " \
           "accelerators" in result["notes"]
    assert result["status"] == "Not Implemented"


def test_a_node_whose_exporter_serves_no_memory_series_fails_naming_it(probed):
    cluster = exporter_answer(load_cluster("rke2-gpu"), EXPORTER_POD, lambda line: "_FB_" not in line)
    result, _left = probed(cluster, "accelerator_metrics")
    assert result["outcome"] == "fail", result["notes"]
    assert "on node gpu-02: pod nvidia-dcgm-exporter-dxk6l reports no memory for device(s) gpu=0" in result["notes"]


def test_an_exporter_pod_the_proxy_cannot_reach_fails_naming_the_node_and_the_proxys_reason(probed):
    """As on a real API server whose dial to one exporter pod is refused: 503 with the reason in its Status."""
    cluster = load_cluster("rke2-gpu")
    refused = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503, "reason": "ServiceUnavailable",
               "message": "error trying to reach service: dial tcp 10.42.2.17:9400: connect: connection refused"}
    cluster.proxy[EXPORTER_POD] = Canned(json.dumps(refused).encode(), "application/json", 503)
    result, _left = probed(cluster, "accelerator_metrics")
    assert result["outcome"] == "fail", result["notes"]
    assert "Probe failed: NVIDIA DCGM exporter on node gpu-02: pod nvidia-dcgm-exporter-dxk6l did not answer through the " \
           "pods proxy (503 Service Unavailable: error trying to reach service: dial tcp 10.42.2.17:9400: connect: " \
           "connection refused)" in result["notes"], result["notes"]


def test_the_stub_services_metrics_are_discovered_and_collected_by_prometheus(probed):
    result, left = probed(load_cluster("rke2-gpu"), "ai_service_metrics")
    assert result["outcome"] == "pass", result["notes"]
    assert "Probe: a stub inference server with a ServiceMonitor Prometheus monitoring/prometheus-stack-kube-prom-prometheus " \
           "selects was discovered and scraped: after 10 requests its query API answers request count: ok 10; latency " \
           "histogram count: ok 10; queue depth gauge: ok 0" in result["notes"]
    text = transcript(result)
    assert IMAGES["python"] in text and "kind: ServiceMonitor" in text and "runAsNonRoot: true" in text
    assert "10 requests answered" in text and "collected after" in text
    assert 'max(ai_conformance_inference_requests_total{conformance_run=' in text
    assert result["details"]["probe"]["cleanup"] == "done" and left == []


def test_a_prometheus_that_scrapes_nothing_fails_naming_what_was_not_collected(probed):
    cluster = prometheus_annotated(load_cluster("rke2-gpu"), prometheus.SCRAPE, "none")
    result, left = probed(cluster, "ai_service_metrics", probe_timeout=8.0)
    assert result["outcome"] == "fail", result["notes"]
    assert "Probe failed: Prometheus did not collect the stub's metrics within" in result["notes"]
    assert "request count: no sample yet" in result["notes"]
    assert "no active target of scrape pool serviceMonitor/ai-conformance-" in result["notes"]
    assert result["status"] == "Not Implemented" and left == []


def test_label_selectors_are_met_by_labelling_the_service_monitor_and_the_namespace(probed):
    cluster = prometheus_spec(load_cluster("rke2-gpu"), serviceMonitorSelector={"matchLabels": {"release": "prometheus-stack"}},
                              serviceMonitorNamespaceSelector={"matchExpressions": [{"key": "monitoring", "operator": "Exists"}]})
    result, left = probed(cluster, "ai_service_metrics")
    assert result["outcome"] == "pass", result["notes"]
    text = transcript(result)
    assert "release: prometheus-stack" in text
    assert "kubectl patch namespaces ai-conformance-" in text and '{"metadata":{"labels":{"monitoring":"true"}}}' in text
    assert left == []


def test_a_prometheus_that_selects_only_its_own_namespace_skips_the_probe_with_the_reason(probed):
    cluster = prometheus_spec(load_cluster("rke2-gpu"), serviceMonitorNamespaceSelector=None)
    result, left = probed(cluster, "ai_service_metrics")
    assert result["outcome"] == "pass", result["notes"]  # the read-only verdict stands
    assert any("functional part not demonstrated: Prometheus monitoring/prometheus-stack-kube-prom-prometheus selects "
               "ServiceMonitors only in its own namespace monitoring" in c for c in result["caveats"]), result["caveats"]
    assert left == []


def test_more_requests_counted_than_were_sent_fails_at_once(probed, monkeypatch):
    series = prometheus._series
    monkeypatch.setattr(prometheus, "_series", lambda pod: {m: v + (m == prometheus.STUB_MARK) for m, v in series(pod).items()})
    result, left = probed(load_cluster("rke2-gpu"), "ai_service_metrics")
    assert result["outcome"] == "fail", result["notes"]
    assert "Probe failed: request count is 11, more than the 10 requests sent: other requests reached the stub" in result["notes"]
    assert result["details"]["probe"]["duration_s"] < 10 and left == []
