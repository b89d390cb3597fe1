"""The pod_autoscaling probe against the fake API server with the simulated HPA controller (simulations/hpa.py): on
rke2-gpu an HPA on DCGM_FI_DEV_GPU_UTIL of the probe's own GPU pod scales up and back down; a metric the adapter
does not serve fails naming ScalingActive=False; the default scale-down window fails the scale-down; without a free GPU
or a per-pod or per-namespace metric the probe is unknown; no namespace of ours is left, also past probe_timeout."""

import json

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import scheduling
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import IMAGES
from tests.fakeapi import load_cluster
from tests.fakeapi.controllers import NEVER_READY
from tests.fakeapi.fixtures import Canned
from tests.fakeapi.simulations import hpa
from tests.integration.conftest import probed_result, scratch_left, transcript

RID = "pod_autoscaling"
DISCOVERY = "/apis/custom.metrics.k8s.io/v1beta1"


@pytest.fixture
def probed(probe_cluster):
    """Run pod_autoscaling with probes on a simulated cluster: (its result, the namespaces of ours left)."""
    def run(cluster, probe_timeout=30.0):
        dummy, kube = probe_cluster(cluster)
        return probed_result(kube, RID, probe_timeout=probe_timeout), scratch_left(kube)
    return run


def unserved(cluster, metrics):
    """``cluster`` whose adapter serves no value of ``metrics`` (the simulated HPA controller's switch)."""
    for obj in cluster.objects:
        if obj["kind"] == "APIService" and obj["metadata"]["name"] == hpa.CUSTOM_METRICS_APISERVICE:
            obj["metadata"].setdefault("annotations", {})[hpa.UNSERVED] = metrics
    return cluster


def listing(cluster, names):
    """``cluster`` whose custom metrics API lists just the metric resources ``names`` (``pods/<metric>``...)."""
    resources = [{"name": n, "singularName": "", "namespaced": not n.startswith("nodes/"), "kind": "MetricValueList",
                  "verbs": ["get"]} for n in names]
    document = dict(json.loads(cluster.aggregated[DISCOVERY].body), resources=resources)
    cluster.aggregated[DISCOVERY] = Canned(json.dumps(document).encode())
    return cluster


def without_gpus(cluster):
    for obj in cluster.objects:
        if obj["kind"] == "Node":
            obj["status"]["allocatable"].pop("nvidia.com/gpu", None)
    return cluster


def test_an_hpa_on_the_gpu_metric_of_its_own_pod_scales_up_and_back_down_on_rke2_gpu(probed):
    result, left = probed(load_cluster("rke2-gpu"))
    assert result["outcome"] == "pass", result["notes"]
    assert "Probe: HPA hpa-probe (autoscaling/v2) on the Pods metric DCGM_FI_DEV_GPU_UTIL of its pod, which holds one " \
           "nvidia.com/gpu, read through custom.metrics.k8s.io: ScalingActive=True at 82; a target of 20500m below it " \
           "scaled Deployment hpa-target from 1 to 2 replicas (maxReplicas), a target of 328 above it back to 1" in result["notes"]
    assert not any(c.startswith("functional part not demonstrated") for c in result["caveats"]), result["caveats"]
    text = transcript(result)
    assert "apiVersion: autoscaling/v2" in text and "stabilizationWindowSeconds: 0" in text and "nvidia.com/gpu: '1'" in text
    assert IMAGES["pause"] in text and "&id" not in text
    assert "met after" in text and "currentMetrics: DCGM_FI_DEV_GPU_UTIL=82; conditions: AbleToScale=True" in text
    assert "ScalingActive=True (ValidMetricFound" in text
    assert '"averageValue":"20500m"' in text and "SucceededRescale: the HPA controller was able to update the target scale to 2" in text
    assert '"averageValue":"328"' in text and "update the target scale to 1" in text
    assert result["details"]["probe"]["cleanup"] == "done" and left == []


def test_a_metric_the_adapter_does_not_serve_for_the_probes_pod_fails_naming_scaling_active(probed, monkeypatch):
    monkeypatch.setattr(scheduling, "METRIC_TIMEOUT", 1.5)
    result, left = probed(unserved(load_cluster("rke2-gpu"), "DCGM_FI_DEV_GPU_UTIL"))
    assert result["outcome"] == "fail", result["notes"]
    assert result["status"] == "Not Implemented"
    assert "Probe failed: HPA hpa-probe never computed replicas from the Pods metric DCGM_FI_DEV_GPU_UTIL of its pod (holding " \
           "one nvidia.com/gpu): currentReplicas=1 desiredReplicas=0 currentMetrics: none; conditions: AbleToScale=True " \
           "(SucceededGetScale: " in result["notes"]
    assert "ScalingActive=False (FailedGetPodsMetric: the HPA was unable to compute the replica count: unable to get metric " \
           "DCGM_FI_DEV_GPU_UTIL" in result["notes"]
    assert "exported_namespace/exported_pod" in result["remediation"] and left == []


def test_the_default_scale_down_window_keeps_the_replicas_up_and_fails_the_scale_down(probed, monkeypatch):
    """Without stabilizationWindowSeconds 0 the HPA keeps its highest recommendation of the last 300 s."""
    def default_window(*args):
        body = make_hpa(*args)
        del body["spec"]["behavior"]
        return body
    make_hpa = scheduling._hpa
    monkeypatch.setattr(scheduling, "_hpa", default_window)
    monkeypatch.setattr(scheduling, "SCALE_TIMEOUT", 1.5)
    result, left = probed(load_cluster("rke2-gpu"))
    assert result["outcome"] == "fail", result["notes"]
    assert "HPA hpa-probe scaled up but not back down with DCGM_FI_DEV_GPU_UTIL below its target 328: Deployment hpa-target " \
           "generation=2 observedGeneration=2, spec.replicas=2" in result["notes"]
    assert "ScaleDownStabilized: recent recommendations were higher than current one" in result["notes"] and left == []


def test_a_metric_served_per_namespace_only_drives_an_object_metric_on_the_scratch_namespace(probed):
    result, left = probed(listing(load_cluster("rke2-gpu"), ["namespaces/DCGM_FI_DEV_GPU_UTIL"]))
    assert result["details"]["probe"]["outcome"] == "pass", result["notes"]
    assert "on the Object metric DCGM_FI_DEV_GPU_UTIL of its namespace" in result["notes"]
    text = transcript(result)
    assert "type: Object" in text and "kind: Namespace" in text and '"value":"20500m"' in text and left == []


def test_without_a_free_gpu_or_a_metric_per_pod_the_probe_is_unknown_and_the_check_keeps_its_verdict(probed):
    result, left = probed(without_gpus(load_cluster("rke2-gpu")))
    assert result["outcome"] == "pass" and result["details"]["probe"]["outcome"] == "unknown", result["notes"]
    assert "functional part not demonstrated: no node the probe's pods may use has a free nvidia.com/gpu" in result["caveats"][-1]
    result, left = probed(listing(load_cluster("rke2-gpu"), ["nodes/DCGM_FI_DEV_GPU_UTIL"]))
    assert result["details"]["probe"]["outcome"] == "unknown", result["notes"]
    assert "no accelerator metric is served per pod or per namespace" in result["caveats"][-1] and left == []


def test_an_idle_gpu_reading_zero_or_a_pod_never_available_leaves_the_probe_unknown(probed, monkeypatch):
    cluster = load_cluster("rke2-gpu")
    path = DISCOVERY + "/namespaces/ai-workloads/pods/*/DCGM_FI_DEV_GPU_UTIL"
    values = json.loads(cluster.aggregated[path].body)
    for item in values["items"]:
        item["value"] = "0"
    cluster.aggregated[path] = Canned(json.dumps(values).encode())
    result, left = probed(cluster)
    assert result["outcome"] == "pass" and result["details"]["probe"]["outcome"] == "unknown", result["notes"]
    assert "HPA hpa-probe reads DCGM_FI_DEV_GPU_UTIL at 0 for the probe's idle pod: no target lies below it" in result["caveats"][-1]

    def never_ready(pause):
        body = make_deployment(pause)
        body["metadata"]["annotations"] = {NEVER_READY: "true"}
        return body
    make_deployment = scheduling._hpa_deployment
    monkeypatch.setattr(scheduling, "_hpa_deployment", never_ready)
    monkeypatch.setattr(scheduling, "POD_TIMEOUT", 1.0)
    result, left = probed(load_cluster("rke2-gpu"))
    assert result["details"]["probe"]["outcome"] == "unknown", result["notes"]
    assert "the probe's pod holding one nvidia.com/gpu did not become available (generation=1 observedGeneration=1, " \
           "spec.replicas=1 status.replicas=1 status.updatedReplicas=1 status.availableReplicas=0" in result["caveats"][-1]
    assert left == []


def test_a_metric_an_idle_accelerator_reports_above_zero_goes_first():
    served = ["namespaces/DCGM_FI_DEV_GPU_UTIL", "pods/DCGM_FI_DEV_GPU_UTIL", "namespaces/DCGM_FI_DEV_POWER_USAGE"]
    assert scheduling._autoscaling_metric(served) == ("Object", "DCGM_FI_DEV_POWER_USAGE")
    assert scheduling._autoscaling_metric(served[:2]) == ("Pods", "DCGM_FI_DEV_GPU_UTIL")
    assert scheduling._autoscaling_metric(["nodes/DCGM_FI_DEV_GPU_UTIL"]) is None


def test_past_probe_timeout_the_probe_fails_and_leaves_no_namespace(probed):
    cluster = unserved(load_cluster("rke2-gpu"), "DCGM_FI_DEV_GPU_UTIL")
    cluster.namespace_termination_seconds = 1.0
    result, left = probed(cluster, probe_timeout=2.0)
    assert result["outcome"] == "fail", result["notes"]
    assert result["status"] == "Not Implemented"
    assert "not met after" in transcript(result) and "FailedGetPodsMetric" in transcript(result)
    assert result["details"]["probe"]["cleanup"] == "done" and left == []
