"""accelerator_metrics and ai_service_metrics over real HTTP against fixture clusters (and variants built in code)."""

import copy
import json
import re

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import promtext
from ansible_collections.k8s_ai.conformance.plugins.module_utils.sections import observability
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import Canned, Cluster, load_cluster

ACC, SVC = "accelerator_metrics", "ai_service_metrics"
DCGM_SVC = "/api/v1/namespaces/gpu-operator/services/nvidia-dcgm-exporter:9400/proxy/metrics"
SHARED = ("/version", "/api", "/apis", "/api/v1/nodes", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")


def own_requests(server):
    """The requests this section made (not discovery, the version, the shared node lookup or cluster facts)."""
    return [r for r in server.requests if r.path.split("?")[0] not in SHARED]


def run(server, kube_for, tmp_path, *rids, **params):
    outcome = verify(kube_for(server, tmp_path, **params), requirements=list(rids))
    return {r["id"]: r for r in outcome["results"]}


def observed(result):
    return "\n".join(e["command"] + "\n" + e["observed"] for e in result["evidence"])


def rke2():
    cluster = load_cluster("rke2-gpu")
    cluster.objects = copy.deepcopy(cluster.objects)
    cluster.proxy = dict(cluster.proxy)
    return cluster


def find(cluster, kind, name):
    return next(o for o in cluster.objects if o["kind"] == kind and o["metadata"]["name"] == name)


# -- the exposition parser --------------------------------------------------------------------------
def test_promtext_reads_labels_escapes_timestamps_and_skips_comments():
    text = "\n".join([
        "# HELP x_total A counter.", "# TYPE x_total counter",
        'x_total{a="1",b="with \\"quote\\", comma} and brace",c="back\\\\slash"} 3 1700000000000',
        "plain 4.5", 'nan_metric{gpu="0"} NaN', 'inf{gpu="1",} +Inf', "broken{a=1} 2", "# EOF", ""])
    samples = list(promtext.parse(text))
    assert samples[0] == ("x_total", {"a": "1", "b": 'with "quote", comma} and brace', "c": "back\\slash"}, 3.0)
    assert samples[1] == ("plain", {}, 4.5)
    assert samples[2][0] == "nan_metric" and samples[2][2] != samples[2][2]  # NaN
    assert samples[3] == ("inf", {"gpu": "1"}, float("inf"))
    assert len(samples) == 4  # the malformed line is skipped
    assert set(promtext.families(text)) == {"x_total", "plain", "nan_metric", "inf"}


def test_exposition_analysis_per_vendor():
    amd = "\n".join(['amd_gpu_gfx_activity{gpu_id="0",hostname="n1"} 12', 'amd_gpu_used_vram{gpu_id="0",hostname="n1"} 100',
                     'amd_gpu_gfx_activity{gpu_id="1",hostname="n1"} 0', 'gpu_junction_temperature{gpu_id="1"} 40'])
    found = observability.analyse_exposition(amd, "amd")
    assert sorted(found["devices"]) == ["gpu_id=0", "gpu_id=1"]
    assert found["devices"]["gpu_id=1"]["metrics"].get("memory") is None
    assert found["optional"]["temperature"] == ["gpu_junction_temperature"] and found["hosts"] == ["n1"]
    intel = 'xpum_gpu_ratio{uuid="u1",node="n2"} 5\nxpum_memory_used_bytes{uuid="u1",node="n2"} 7\nxpum_power_watts{uuid="u1"} 9'
    found = observability.analyse_exposition(intel, "intel")
    assert set(found["devices"]["uuid=u1"]["metrics"]) == {"utilization", "memory", "power"}


# -- accelerator_metrics ----------------------------------------------------------------------------
def test_rke2_gpu_passes_both_with_evidence_and_budget(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    results = run(server, kube_for, tmp_path, ACC, SVC)
    acc, svc = results[ACC], results[SVC]
    assert acc["outcome"] == "pass", acc["notes"]
    assert acc["status"] == "Implemented"
    assert "nvidia-dcgm-exporter" in acc["notes"] and "2/2" in acc["notes"]
    assert "DCGM_FI_DEV_GPU_UTIL" in acc["notes"] and "DCGM_FI_DEV_FB_USED" in acc["notes"]
    assert "temperature (DCGM_FI_DEV_GPU_TEMP)" in acc["notes"] and "not reported: interconnect" in acc["notes"]
    exporter = acc["details"]["exporters"][0]
    assert exporter["endpoint"] == DCGM_SVC and len(exporter["devices"]) == 2
    assert DCGM_SVC in observed(acc) and "GPU-3f8c2a61" in observed(acc)
    assert svc["outcome"] == "pass", svc["notes"]
    assert "serviceMonitor/monitoring/nvidia-dcgm-monitor/0" in svc["notes"]
    assert "serviceMonitor/ai-workloads/vllm-qwen3-8b/0" in svc["notes"]
    assert "every ServiceMonitor in all namespaces" in observed(svc)
    assert "targets?state=active" in observed(svc)
    own = own_requests(server)
    assert len(own) <= 8, [r.path for r in own]
    assert not any(r.path == "/api/v1/pods" for r in server.requests), "never list every pod"


def test_no_accelerators_is_not_applicable_and_no_monitoring_fails(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kubeadm-plain")
    results = run(server, kube_for, tmp_path, ACC, SVC)
    acc, svc = results[ACC], results[SVC]
    assert acc["outcome"] == "not_applicable" and acc["status"] == "N/A"
    assert "no accelerators: the requirement applies to supported accelerator types" in acc["notes"].lower()
    assert acc["evidence"]
    assert svc["outcome"] == "fail" and svc["status"] == "Not Implemented"
    assert "monitoring.coreos.com" in svc["notes"]
    assert "prometheus-community/kube-prometheus-stack -n monitoring --create-namespace --version 91.9.0" in svc["remediation"]
    assert "with role k8s_ai.conformance.monitoring (by hand: " in svc["remediation"]  # the role ships: tests/unit/test_roles.py
    assert len(own_requests(server)) <= 4


def test_half_installed_exporter_not_ready_names_the_node(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("half-installed")
    acc = run(server, kube_for, tmp_path, ACC)[ACC]
    assert acc["outcome"] == "fail"
    assert "gpu-02" in acc["notes"] and "1/2" in acc["notes"] and "CrashLoopBackOff" in acc["notes"]
    assert "gpu-01" not in acc["details"]["exporters"][0]["nodes_without_ready_exporter"][0]
    # the exporter is enabled and scheduled; its pod crash-loops: the fix is that pod's logs, not "enable the exporter"
    pod = next(p for p in acc["details"]["exporters"][0]["nodes_without_ready_exporter"] if "CrashLoopBackOff" in p)
    pod = pod.split("pod ", 1)[1].split(" ", 1)[0]
    assert "kubectl describe pod -n gpu-operator %s" % pod in acc["remediation"]
    assert "kubectl logs -n gpu-operator %s --previous" % pod in acc["remediation"]
    assert "dcgmExporter.enabled" not in acc["remediation"] and "helm install" not in acc["remediation"]
    assert "-l app=nvidia-dcgm-exporter" in observed(acc)  # the exporter's own pods, by label
    pod_lists = [r for r in server.requests if r.path.endswith("/pods")]
    assert [r.path for r in pod_lists] == ["/api/v1/namespaces/gpu-operator/pods"]


def test_exporter_missing_fails_with_gpu_operator_remediation(serve, kube_for, tmp_path):
    cluster = rke2()
    cluster.objects = [o for o in cluster.objects if "dcgm-exporter" not in o["metadata"]["name"] or o["kind"] == "ServiceMonitor"]
    acc = run(serve(cluster), kube_for, tmp_path, ACC)[ACC]
    assert acc["outcome"] == "fail"
    assert "no NVIDIA DCGM exporter DaemonSet" in acc["notes"] and "gpu-01, gpu-02" in acc["notes"]
    assert "kubectl patch clusterpolicies.nvidia.com/cluster-policy" in acc["remediation"]
    assert "dcgmExporter.enabled" in acc["remediation"]


def test_exporter_without_memory_metrics_fails(serve, kube_for, tmp_path):
    cluster = rke2()
    text = cluster.proxy[DCGM_SVC].body.decode()
    text = "\n".join(line for line in text.splitlines() if "DCGM_FI_DEV_FB_" not in line)
    for path in [p for p in cluster.proxy if "dcgm-exporter" in p]:
        cluster.proxy[path] = Canned(text.encode(), "text/plain; version=0.0.4")
    acc = run(serve(cluster), kube_for, tmp_path, ACC)[ACC]
    assert acc["outcome"] == "fail"
    assert "no memory metric" in acc["notes"] and "DCGM_FI_DEV_FB_USED" in acc["notes"]
    assert "utilization" not in acc["notes"].split("no memory metric")[0].split(";")[-1]
    assert "memory MISSING" in observed(acc)
    assert "DCGM_FI_DEV_FB_USED" in acc["remediation"]


def test_exporter_endpoint_unreachable_fails_naming_service_and_port(serve, kube_for, tmp_path):
    cluster = rke2()
    cluster.proxy = {p: c for p, c in cluster.proxy.items() if "dcgm-exporter" not in p}
    acc = run(serve(cluster), kube_for, tmp_path, ACC, api_retries=0)[ACC]
    assert acc["outcome"] == "fail"
    assert "gpu-operator/nvidia-dcgm-exporter port 9400" in acc["notes"] and "503" in acc["notes"]
    assert "nvidia-dcgm-exporter:9400" in acc["remediation"]


def test_forbidden_services_is_an_error(serve, kube_for, tmp_path):
    cluster = rke2()
    cluster.forbidden = ("v1/services",)
    results = run(serve(cluster), kube_for, tmp_path, ACC, SVC)
    for rid in (ACC, SVC):
        assert results[rid]["outcome"] == "error", results[rid]["notes"]
        assert results[rid]["status"] == ""
        assert "403" in results[rid]["notes"] and "services" in results[rid]["notes"]
        assert "grant" in results[rid]["remediation"]


def test_unknown_vendor_only_is_unknown(serve, kube_for, tmp_path):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "tpu-01", "labels": {}},
            "status": {"allocatable": {"google.com/tpu": "4"}, "capacity": {"google.com/tpu": "4"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}
    acc = run(serve(Cluster.from_objects(objects=[node])), kube_for, tmp_path, ACC)[ACC]
    assert acc["outcome"] == "unknown" and acc["status"] == ""
    assert "google" in acc["notes"] and "tpu-01" in acc["notes"] and "by hand" in acc["notes"]


def amd_cluster(metrics):
    ns = "kube-amd-gpu"
    labels = {"app": "exporter-amdgpu-metrics-exporter"}
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "mi300-01", "labels": {"feature.node.kubernetes.io/pci-1002.present": "true"}},
            "status": {"allocatable": {"amd.com/gpu": "2"}, "capacity": {"amd.com/gpu": "2"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet",
          "metadata": {"name": "exporter-amdgpu-metrics-exporter", "namespace": ns, "labels": {"app": "amdgpu-metrics-exporter"}},
          "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [
              {"name": "metrics-exporter", "image": "docker.io/rocm/device-metrics-exporter:v1.3.0",
               "ports": [{"containerPort": 5000, "name": "http"}]}]}}},
          "status": {"desiredNumberScheduled": 1, "numberReady": 1, "numberAvailable": 1, "currentNumberScheduled": 1}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "exporter-amdgpu-metrics-exporter", "namespace": ns},
           "spec": {"selector": labels, "ports": [{"name": "http", "port": 5000, "targetPort": 5000}]}}
    path = "/api/v1/namespaces/%s/services/exporter-amdgpu-metrics-exporter:5000/proxy/metrics" % ns
    return Cluster.from_objects(objects=[node, ds, svc], proxy={path: metrics})


def test_amd_exporter_passes_with_gfx_activity_and_vram(serve, kube_for, tmp_path):
    text = "\n".join('%s{gpu_id="%d",hostname="mi300-01"} %s' % (m, g, v) for g in (0, 1)
                     for m, v in (("gpu_gfx_activity", 40), ("gpu_used_vram", 1024), ("gpu_package_power", 300),
                                  ("gpu_xgmi_link_rx", 7)))
    acc = run(serve(amd_cluster(text)), kube_for, tmp_path, ACC)[ACC]
    assert acc["outcome"] == "pass", acc["notes"]
    assert "AMD Device Metrics Exporter" in acc["notes"] and "gpu_gfx_activity" in acc["notes"]
    assert "interconnect (gpu_xgmi_link_rx)" in acc["notes"]


def test_amd_exporter_reporting_fewer_devices_than_the_node_has_fails(serve, kube_for, tmp_path):
    text = 'gpu_gfx_activity{gpu_id="0",hostname="mi300-01"} 1\ngpu_used_vram{gpu_id="0",hostname="mi300-01"} 2'
    acc = run(serve(amd_cluster(text)), kube_for, tmp_path, ACC)[ACC]
    assert acc["outcome"] == "fail"
    assert "mi300-01 has 2 accelerators but the exporter reports 1" in acc["notes"]


# -- ai_service_metrics -----------------------------------------------------------------------------
def test_prometheus_not_ready_fails(serve, kube_for, tmp_path):
    cluster = rke2()
    prom = find(cluster, "Prometheus", "prometheus-stack-kube-prom-prometheus")
    prom["status"]["availableReplicas"] = 0
    prom["status"]["conditions"][0]["status"] = "False"
    svc = run(serve(cluster), kube_for, tmp_path, SVC)[SVC]
    assert svc["outcome"] == "fail"
    assert "no Prometheus is ready" in svc["notes"] and "0/1 available" in svc["notes"]
    assert "kubectl describe prometheus -n monitoring prometheus-stack-kube-prom-prometheus" in svc["remediation"]
    assert "helm install" not in svc["remediation"]


def test_prometheus_without_monitor_targets_fails_and_names_its_selector(serve, kube_for, tmp_path):
    cluster = rke2()
    prom = find(cluster, "Prometheus", "prometheus-stack-kube-prom-prometheus")
    prom["spec"]["serviceMonitorSelector"] = {"matchLabels": {"release": "prometheus-stack"}}
    targets = {"status": "success", "data": {"activeTargets": [], "droppedTargets": []}}
    for path in [p for p in cluster.proxy if p.endswith("/api/v1/targets")]:
        cluster.proxy[path] = Canned(json.dumps(targets).encode())
    svc = run(serve(cluster), kube_for, tmp_path, SVC)[SVC]
    assert svc["outcome"] == "fail"
    assert "ServiceMonitors labelled release=prometheus-stack in all namespaces" in svc["notes"]
    assert "ServiceMonitor or PodMonitor" in svc["remediation"]


def test_plain_prometheus_with_kubernetes_sd_passes(serve, kube_for, tmp_path):
    labels = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server",
              "app.kubernetes.io/instance": "prometheus"}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "prometheus-server", "namespace": "prometheus", "labels": labels},
              "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                       "spec": {"containers": [{"name": "prometheus-server", "image": "quay.io/prometheus/prometheus:v3.5.0",
                                                "ports": [{"containerPort": 9090}]}]}}},
              "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "prometheus-server", "namespace": "prometheus"},
               "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 9090}]}}
    target = {"discoveredLabels": {"__address__": "10.42.1.9:8000", "__meta_kubernetes_pod_name": "vllm-0",
                                   "__meta_kubernetes_namespace": "ai"},
              "labels": {"instance": "10.42.1.9:8000", "job": "kubernetes-pods"}, "scrapePool": "kubernetes-pods",
              "health": "up", "lastError": ""}
    body = {"status": "success", "data": {"activeTargets": [target], "droppedTargets": []}}
    cluster = Cluster.from_objects(objects=[deploy, service], proxy={
        "/api/v1/namespaces/prometheus/services/prometheus-server:80/proxy/api/v1/targets": {"json": body}})
    server = serve(cluster)
    svc = run(server, kube_for, tmp_path, SVC)[SVC]
    assert svc["outcome"] == "pass", svc["notes"]
    assert "kubernetes-pods" in svc["notes"] and "Kubernetes service discovery" in svc["notes"]
    assert any("labelSelector" in r.path or "labelSelector" in (r.query or "") for r in server.requests
               if r.path.startswith("/apis/apps/v1/deployments"))


def test_forbidden_prometheuses_is_an_error(serve, kube_for, tmp_path):
    cluster = rke2()
    cluster.forbidden = ("monitoring.coreos.com/v1/prometheuses",)
    svc = run(serve(cluster), kube_for, tmp_path, SVC)[SVC]
    assert svc["outcome"] == "error"
    assert "prometheuses" in svc["notes"] and "grant" in svc["remediation"]


@pytest.mark.parametrize("name", ["mig", "kueue-only", "time-slicing", "v1.36-gaie"])
def test_other_gpu_fixtures_pass_accelerator_metrics(fake_cluster, kube_for, tmp_path, name):
    acc = run(fake_cluster(name), kube_for, tmp_path, ACC)[ACC]
    assert acc["outcome"] == "pass", acc["notes"]
    if name == "mig":
        assert re.search(r"interconnect \(DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL\)", acc["notes"])
