"""schedulingOrchestration (gang_scheduling, cluster_autoscaling, pod_autoscaling) over real HTTP against fixture
clusters and variants built from them in code."""

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import Cluster, load_cluster
from tests.fakeapi.fixtures import read_objects

COMPONENTS = Path(__file__).resolve().parents[1] / "fixtures" / "components"
SECTION = ("gang_scheduling", "cluster_autoscaling", "pod_autoscaling")
# What this section reads (start-up discovery, /version and the shared accelerator-node lists are not counted).
OWN = ("/apis/apps/", "/apis/admissionregistration.k8s.io/", "/apis/scheduling.volcano.sh/", "/apis/kueue.x-k8s.io/",
       "/apis/apiregistration.k8s.io/", "/apis/custom.metrics.k8s.io/", "/apis/autoscaling/", "/apis/karpenter.sh/",
       "/apis/cluster.x-k8s.io/", "/api/v1/namespaces/kube-system/configmaps/", "/api/v1/namespaces/kueue-system/configmaps/",
       "/api/v1/nodes/")


def run_all(server, kube_for, tmp_path, requirements=SECTION):
    out = verify(kube_for(server, tmp_path), requirements=list(requirements))
    return {r["id"]: r for r in out["results"]}


def observed(result):
    return "\n".join(e["command"] + "\n" + e["observed"] for e in result["evidence"])


def own_requests(server):
    return [r for r in server.requests if r.path.startswith(OWN)]


def variant(base, drop=(), add=(), **changes):
    """A fixture cluster with objects dropped (by (kind, name)) and added."""
    cluster = load_cluster(base)
    objects = [copy.deepcopy(o) for o in cluster.objects if (o["kind"], o["metadata"]["name"]) not in set(drop)]
    return Cluster.from_objects(version=cluster.version, objects=objects + list(add), proxy=cluster.proxy,
                                aggregated=cluster.aggregated, name=base + "-variant", **changes)


# -- the conformant cluster: all three at once, within budget ----------------------------------------------------

def test_rke2_gpu_section(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    results = run_all(server, kube_for, tmp_path)

    gang = results["gang_scheduling"]
    assert gang["outcome"] == "pass", gang["notes"]
    assert gang["notes"].startswith("Volcano v1.15.1 is installed and operational")
    assert "Queue default Open" in gang["notes"] and "needs probes" not in gang["notes"]
    assert gang["caveats"] and gang["caveats"][0].startswith("functional part not demonstrated")
    text = observed(gang)
    assert "volcano-system/volcano-scheduler 1/1 ready" in text and "validatepodgroup.volcano.sh" in text
    impl = gang["details"]["implementations"][0]
    assert impl["components"]["admission"]["ready"] and impl["default_queue"] == "Open"

    auto = results["cluster_autoscaling"]
    assert auto["outcome"] == "not_applicable" and auto["status"] == "N/A"
    assert auto["notes"].startswith("The platform does not provide a cluster autoscaler")
    # The justification alone: what the program's validator does with it is said once, in the report.
    assert "validator" not in auto["notes"] and "ORKESTRIX" not in auto["notes"] and len(auto["notes"]) < 700
    assert "cluster-autoscaler-status" in observed(auto)
    assert not any(r.path.startswith("/api/v1/nodes/") for r in server.requests)  # no node read when nothing autoscales

    pods = results["pod_autoscaling"]
    assert pods["outcome"] == "pass", pods["notes"]
    assert "DCGM_FI_DEV_GPU_UTIL with 2 value(s) in namespace ai-workloads" in pods["notes"]
    assert "HPA ai-workloads/vllm-qwen3-8b scales on it (Pods metric, ScalingActive=True" in pods["notes"]
    text = observed(pods)
    assert "v1beta1.custom.metrics.k8s.io monitoring/prometheus-adapter Available=True" in text
    assert "/apis/custom.metrics.k8s.io/v1beta1/namespaces/ai-workloads/pods/*/DCGM_FI_DEV_GPU_UTIL" in text
    assert "DCGM_FI_DEV_GPU_UTIL=82" in text
    # deployments, two webhook lists, the default Queue; status ConfigMap + autoscaler Deployments;
    # APIServices, custom metrics resource list, HPAs, one metric read.
    assert len(own_requests(server)) <= 11, own_requests(server)


# -- gang_scheduling ---------------------------------------------------------------------------------------------

def test_kueue_only_passes_with_wait_for_pods_ready(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kueue-only")
    result = run_all(server, kube_for, tmp_path, ["gang_scheduling"])["gang_scheduling"]
    assert result["outcome"] == "pass", result["notes"]
    assert result["notes"].startswith("Kueue v0.19.2 is installed and operational")
    assert "ClusterQueue(s) gpu-cluster-queue Active" in result["notes"]
    assert "waitForPodsReady enabled with blockAdmission" in result["notes"]
    assert "ai-training/gpu-queue -> gpu-cluster-queue" in observed(result)
    assert len(own_requests(server)) <= 7, own_requests(server)


def test_plain_cluster_has_no_gang_scheduler(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kubeadm-plain")
    results = run_all(server, kube_for, tmp_path)
    gang = results["gang_scheduling"]
    assert gang["outcome"] == "fail" and gang["status"] == "Not Implemented"
    assert gang["notes"].startswith("No gang scheduler found")
    assert "helm repo add volcano-sh https://volcano-sh.github.io/helm-charts" in gang["remediation"]
    assert "oci://registry.k8s.io/kueue/charts/kueue -n kueue-system --create-namespace --version 0.19.2" in gang["remediation"]
    assert "with role k8s_ai.conformance.gang_scheduler (by hand: " in gang["remediation"]  # the role ships: tests/unit/test_roles.py
    assert gang["evidence"]
    assert results["cluster_autoscaling"]["outcome"] == "not_applicable"
    pods = results["pod_autoscaling"]
    assert pods["outcome"] == "fail"
    assert "custom metrics API is not available" in pods["notes"] and "metrics.k8s.io is not Available" in pods["notes"]
    assert "prometheus-community/prometheus-adapter -n monitoring --create-namespace --version 5.3.0" in pods["remediation"]
    assert "with role k8s_ai.conformance.monitoring (by hand: " in pods["remediation"]  # the role ships: tests/unit/test_roles.py


def test_half_installed_volcano_scheduler_not_ready(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("half-installed")
    results = run_all(server, kube_for, tmp_path)
    gang = results["gang_scheduling"]
    assert gang["outcome"] == "fail"
    assert "installed but not operational" in gang["notes"]
    assert "volcano-system/volcano-scheduler 0/1 ready is not ready" in gang["notes"]
    assert "kubectl logs -n volcano-system deployment/volcano-scheduler" in gang["remediation"]
    assert "helm install" not in gang["remediation"]
    assert results["cluster_autoscaling"]["outcome"] == "not_applicable"
    pods = results["pod_autoscaling"]
    assert pods["outcome"] == "fail" and "v1beta1.custom.metrics.k8s.io does not exist" in pods["notes"]
    assert "metrics.k8s.io is Available" in pods["notes"]


def test_kueue_without_queues_fails(serve, kube_for, tmp_path):
    server = serve(variant("kueue-only", drop=(("ClusterQueue", "gpu-cluster-queue"), ("LocalQueue", "gpu-queue"))))
    result = run_all(server, kube_for, tmp_path, ["gang_scheduling"])["gang_scheduling"]
    assert result["outcome"] == "fail"
    assert "no ClusterQueue exists" in result["notes"] and "no LocalQueue exists" in result["notes"]


def test_gang_error_when_deployments_forbidden(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=("apps/v1/deployments",))
    result = run_all(server, kube_for, tmp_path, ["gang_scheduling"])["gang_scheduling"]
    assert result["outcome"] == "error" and result["status"] == ""
    assert "403" in result["notes"] and "deployments" in result["notes"]
    assert "grant the identity" in result["remediation"]


# -- cluster_autoscaling -----------------------------------------------------------------------------------------

def test_cluster_autoscaler_with_gpu_machine_deployment_passes(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kueue-only-autoscaled")
    results = run_all(server, kube_for, tmp_path, ["gang_scheduling", "cluster_autoscaling"])
    assert results["gang_scheduling"]["outcome"] == "pass"
    result = results["cluster_autoscaling"]
    assert result["outcome"] == "pass", result["notes"]
    assert "cluster-autoscaler 1.35.0" in result["notes"]
    assert "MachineDeployment/default/ai-cluster-gpu-l40s [accelerator nodes belong to it; its MachineDeployment " \
           "declares GPUs]" in result["notes"]
    text = observed(result)
    assert "autoscalerStatus: Running" in text and "min=1 max=4" in text
    assert "capacity.cluster-autoscaler.kubernetes.io/gpu-count=2" in text
    assert "cluster.x-k8s.io/owner-name=ai-cluster-gpu-l40s-7b9c5d4f8x" in text
    assert "ai-cluster-md-0 (no autoscaler min/max annotations)" in text
    assert result["details"]["autoscalers"][0]["cloud_provider"] == "clusterapi"


def _karpenter(without_gpu_pool=False):
    objects = read_objects(COMPONENTS / "karpenter.yaml")
    return [o for o in objects if not (without_gpu_pool and o["kind"] == "NodePool" and o["metadata"]["name"] == "gpu")]


def test_karpenter_gpu_nodepool_passes(serve, kube_for, tmp_path):
    server = serve(variant("kubeadm-plain", add=_karpenter()))
    result = run_all(server, kube_for, tmp_path, ["cluster_autoscaling"])["cluster_autoscaling"]
    assert result["outcome"] == "pass", result["notes"]
    assert "Karpenter 1.8.1" in result["notes"]
    assert "gpu [requirement karpenter.k8s.aws/instance-family In ['g6e', 'p5']" in result["notes"]
    assert "taint nvidia.com/gpu:NoSchedule" in result["notes"] and "limit nvidia.com/gpu=16" in result["notes"]
    assert "default ValidationSucceeded=True (ValidationSucceeded), NodeClassReady=True (NodeClassReady), Ready=True" in observed(result)


def test_autoscaler_without_accelerator_node_groups_fails(serve, kube_for, tmp_path):
    server = serve(variant("kubeadm-plain", add=_karpenter(without_gpu_pool=True)))
    result = run_all(server, kube_for, tmp_path, ["cluster_autoscaling"])["cluster_autoscaling"]
    assert result["outcome"] == "fail" and result["status"] == "Not Implemented"
    assert "none of its node groups carries accelerators" in result["notes"] and "Karpenter: default" in result["notes"]
    assert "karpenter.k8s.aws/instance-gpu-count Gt 0" in result["remediation"]
    assert "helm install --wait gpu-operator nvidia/gpu-operator" in result["remediation"]


def test_cluster_autoscaler_without_gpu_group_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("kueue-only-autoscaled")
    objects = []
    for obj in cluster.objects:
        obj = copy.deepcopy(obj)
        if obj["kind"] == "MachineDeployment" and obj["metadata"]["name"] == "ai-cluster-gpu-l40s":
            continue
        if obj["kind"] == "MachineDeployment":  # only the CPU workers are autoscaled
            obj["metadata"]["annotations"] = {"cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "0",
                                              "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "5"}
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "cluster-autoscaler-status":
            obj["data"]["status"] = obj["data"]["status"].replace("ai-cluster-gpu-l40s", "ai-cluster-md-0")
        if obj["kind"] == "Node":  # GPU nodes added by hand, outside any node group
            obj["metadata"]["annotations"] = {k: v for k, v in obj["metadata"]["annotations"].items()
                                              if not k.startswith("cluster.x-k8s.io/")}
        objects.append(obj)
    server = serve(Cluster.from_objects(version=cluster.version, objects=objects))
    result = run_all(server, kube_for, tmp_path, ["cluster_autoscaling"])["cluster_autoscaling"]
    # GPU nodes exist but nothing ties them to a node group: a person must confirm.
    assert result["outcome"] == "unknown", result["notes"]
    assert "nothing links its node groups to the accelerator nodes" in result["notes"]
    assert "MachineDeployment/default/ai-cluster-md-0" in result["notes"]


def test_cluster_autoscaler_not_ready_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("kueue-only-autoscaled")
    for obj in cluster.objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].startswith("cluster-autoscaler"):
            obj["status"].update(readyReplicas=0, availableReplicas=0)
    server = serve(cluster)
    result = run_all(server, kube_for, tmp_path, ["cluster_autoscaling"])["cluster_autoscaling"]
    assert result["outcome"] == "fail"
    assert "cluster-autoscaler-clusterapi-cluster-autoscaler 0/1 ready is not ready" in result["notes"]
    assert "kubectl logs -n kube-system deployment/cluster-autoscaler-clusterapi-cluster-autoscaler" in result["remediation"]


def test_cluster_autoscaling_error_when_machinedeployments_forbidden(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kueue-only-autoscaled", forbidden=("cluster.x-k8s.io/v1beta2/machinedeployments",))
    result = run_all(server, kube_for, tmp_path, ["cluster_autoscaling"])["cluster_autoscaling"]
    assert result["outcome"] == "error" and result["status"] == ""
    assert "machinedeployments" in result["notes"] and "403" in result["notes"]
    assert "grant the identity 'list'" in result["remediation"]


# -- pod_autoscaling ---------------------------------------------------------------------------------------------

def test_adapter_without_accelerator_metric_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("rke2-gpu")
    aggregated = dict(cluster.aggregated)
    doc = json.loads(aggregated["/apis/custom.metrics.k8s.io/v1beta1"].body)
    doc["resources"] = [r for r in doc["resources"] if "DCGM" not in r["name"]]
    aggregated["/apis/custom.metrics.k8s.io/v1beta1"] = {"json": doc}
    server = serve(Cluster.from_objects(version=cluster.version, objects=cluster.objects, aggregated=aggregated))
    result = run_all(server, kube_for, tmp_path, ["pod_autoscaling"])["pod_autoscaling"]
    assert result["outcome"] == "fail"
    assert "serves no accelerator metric" in result["notes"]
    assert "prometheus-adapter a rule" in result["remediation"] and "DCGM_FI_DEV_GPU_UTIL" in result["remediation"]
    assert "helm install" not in result["remediation"]  # the adapter runs: the fix is its rule, not an install
    assert "accelerator metrics: none" in observed(result)


def test_metric_listed_but_no_values_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("rke2-gpu")
    aggregated = {p: c for p, c in cluster.aggregated.items() if not p.endswith("/DCGM_FI_DEV_GPU_UTIL")}
    server = serve(Cluster.from_objects(version=cluster.version, objects=cluster.objects, aggregated=aggregated))
    result = run_all(server, kube_for, tmp_path, ["pod_autoscaling"])["pod_autoscaling"]
    assert result["outcome"] == "fail"
    assert "returns no value for it in namespace ai-workloads (404" in result["notes"]
    assert "exported_namespace" in result["remediation"]


def test_pod_autoscaling_error_when_apiservices_forbidden(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=("apiregistration.k8s.io/v1/apiservices",))
    result = run_all(server, kube_for, tmp_path, ["pod_autoscaling"])["pod_autoscaling"]
    assert result["outcome"] == "error"
    assert "apiservices" in result["notes"] and "grant the identity" in result["remediation"]


@pytest.mark.parametrize("config, enabled", [
    ("apiVersion: config.kueue.x-k8s.io/v1beta2\nkind: Configuration\nwaitForPodsReady:\n  timeout: 10m\n", True),
    ("apiVersion: config.kueue.x-k8s.io/v1beta2\nkind: Configuration\n", False),
    ("apiVersion: config.kueue.x-k8s.io/v1beta1\nkind: Configuration\nwaitForPodsReady:\n  timeout: 10m\n", False),
    ("apiVersion: config.kueue.x-k8s.io/v1beta1\nkind: Configuration\nwaitForPodsReady:\n  enable: true\n", True),
])
def test_wait_for_pods_ready_is_read_as_each_config_version_defines_it(config, enabled):
    """v1beta2 (Kueue 0.15+) has no `enable`: the block turns it on; v1beta1 needs enable: true."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.sections import scheduling
    cm = {"data": {"controller_manager_config.yaml": config}}
    assert scheduling._wait_enabled(scheduling._manager_config(cm)) is enabled  # pylint: disable=protected-access
