"""The accelerators section (dra_support, driver_runtime_management, gpu_sharing, virtualized_accelerator)
over real HTTP against fixture clusters and variants of them built in code."""

import copy


from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists, engine
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import load_cluster

SECTION = ["dra_support", "driver_runtime_management", "gpu_sharing", "virtualized_accelerator"]
# What this section reads itself (not the run's start-up, discovery or the shared accelerator-node lookup).
OWN = ("/apis/resource.k8s.io/", "/apis/nvidia.com/", "/apis/apps/", "/apis/node.k8s.io/", "/api/v1/configmaps",
       "/api/v1/namespaces/gpu-operator/", "/api/v1/pods")


def run(server, kube_for, tmp_path, requirements=None, version=None):
    outcome = verify(kube_for(server, tmp_path), requirements=requirements or SECTION, checklist_version=version)
    return {r["id"]: r for r in outcome["results"]}


def observed(result):
    return "\n".join(e["command"] + "\n" + e["observed"] for e in result["evidence"])


def own_requests(server):
    return [r for r in server.requests if r.path.startswith(OWN)]


def variant(name):
    cluster = load_cluster(name)
    cluster.objects = copy.deepcopy(cluster.objects)
    return cluster


def find(cluster, kind, name):
    return next(o for o in cluster.objects if o["kind"] == kind and o["metadata"]["name"] == name)


# ------------------------------------------------------------------------------------------ the demo cluster
def test_rke2_gpu_section_passes_with_evidence_in_budget(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    results = run(server, kube_for, tmp_path)
    dra, drm, sharing, vgpu = (results[r] for r in SECTION)
    assert dra["outcome"] == "pass" and dra["status"] == "Implemented"
    assert "DRA is usable: driver gpu.nvidia.com publishes 2 complete pool(s) (gpu-01, gpu-02)" in dra["notes"]
    assert "allocation mode: DRA and device plugin" in dra["notes"]
    assert dra["details"]["allocation_mode"] == "DRA and device plugin" and dra["details"]["dra_usable"] is True
    assert "gpu-01-gpu.nvidia.com-nmv9g" in observed(dra) and "gpu.nvidia.com  (selects driver gpu.nvidia.com)" in observed(dra)

    assert drm["outcome"] == "pass", drm["notes"]
    assert "DRA ResourceSlice attributes of driver gpu.nvidia.com (driverVersion 580.126.20" in drm["notes"]
    assert "ClusterPolicy cluster-policy ready" in drm["notes"] and "RuntimeClass nvidia (handler nvidia)" in drm["notes"]
    assert "nvidia-container-toolkit-daemonset" in drm["notes"]
    assert drm["details"]["nvidia"]["driver_versions"] == ["580.126.20"]
    assert "580.126.20" in observed(drm) and "gpu-operator/nvidia-driver-daemonset 2/2 ready" in observed(drm)

    assert sharing["outcome"] == "pass", sharing["notes"]
    assert "time-slicing on gpu-01, gpu-02 (4 replicas per GPU: 8 schedulable nvidia.com/gpu" in sharing["notes"]
    assert "ConfigMap gpu-operator/time-slicing-config" in sharing["notes"]
    assert "any: time-slicing nvidia.com/gpu replicas=4" in observed(sharing)

    assert vgpu["outcome"] == "not_applicable" and vgpu["status"] == "N/A"
    assert "no virtualized accelerators on this platform" in vgpu["notes"] and "physical GPUs" in vgpu["notes"]
    assert all(r["evidence"] for r in results.values())

    own = own_requests(server)
    assert len(own) <= 7, [r.path for r in own]
    assert sum(1 for r in own if r.path.endswith("/resourceslices")) == 1, "ResourceSlices are listed once per run"
    assert server.request_count <= 16


# ------------------------------------------------------------------------------------------ dra_support
def test_dra_served_but_not_usable_passes_with_a_note_naming_the_fix(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("kubeadm-plain"), kube_for, tmp_path, ["dra_support"])["dra_support"]
    assert result["outcome"] == "pass"
    assert "DRA is not usable yet: no DeviceClasses and no ResourceSlices" in result["notes"]
    assert "helm install --wait dra-driver-nvidia-gpu oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu" \
        in result["notes"] and "--version 0.4.1" in result["notes"]
    assert "with role k8s_ai.conformance.dra_driver (by hand: " in result["notes"]  # the role ships: tests/unit/test_roles.py
    assert result["details"]["allocation_mode"] == "none" and result["details"]["dra_usable"] is False


def test_device_plugin_only_cluster_reports_its_allocation_mode(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("kueue-only"), kube_for, tmp_path, ["dra_support"])["dra_support"]
    assert result["outcome"] == "pass"
    assert "allocation mode: device plugin (device plugin resources nvidia.com/gpu on gpu-01, gpu-02)" in result["notes"]


def test_incomplete_pool_is_named(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("half-installed"), kube_for, tmp_path, ["dra_support"])["dra_support"]
    assert result["outcome"] == "pass"
    assert "incomplete pool(s): gpu-02 (1 of 2 ResourceSlices at generation 1)" in result["notes"]
    assert result["details"]["drivers"]["gpu.nvidia.com"]["incomplete_pools"] == [
        {"pool": "gpu-02", "slices": 1, "expected": 2, "generation": 1}]
    assert "1/2" in observed(result)


def test_dra_not_usable_when_pool_nodes_are_not_ready(serve, kube_for, tmp_path):
    cluster = variant("rke2-gpu")
    for name in ("gpu-01", "gpu-02"):
        node = find(cluster, "Node", name)
        for cond in node["status"]["conditions"]:
            if cond["type"] == "Ready":
                cond["status"] = "False"
    result = run(serve(cluster), kube_for, tmp_path, ["dra_support"])["dra_support"]
    assert result["outcome"] == "pass"
    assert "Driver gpu.nvidia.com is not usable: no allocatable device in a complete pool on a Ready, schedulable node " \
           "(not ready: gpu-01, gpu-02)" in result["notes"]
    assert result["details"]["allocation_mode"] == "device plugin"


def test_dra_api_disabled_fails_with_remediation(serve, kube_for, tmp_path):
    cluster = variant("kubeadm-plain")
    cluster.runtime_config = ("resource.k8s.io/v1=false",)
    result = run(serve(cluster), kube_for, tmp_path, ["dra_support"])["dra_support"]
    assert result["outcome"] == "fail" and "resource.k8s.io/v1 is not fully served" in result["notes"]
    assert "runtime-config" in result["remediation"]


def test_forbidden_resourceslices_is_an_error(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["resource.k8s.io/v1/resourceslices"])
    results = run(server, kube_for, tmp_path, ["dra_support"])
    assert results["dra_support"]["outcome"] == "error"
    assert "GET /apis/resource.k8s.io/v1/resourceslices" in results["dra_support"]["notes"]


def test_many_resourceslices_are_paged_once_for_the_whole_section(serve, kube_for, tmp_path):
    cluster = variant("rke2-gpu")
    template = find(cluster, "ResourceSlice", "gpu-01-gpu.nvidia.com-nmv9g")
    for i in range(1100):  # a driver publishing one pool per GPU on a big cluster, all on gpu-01 for simplicity
        extra = copy.deepcopy(template)
        extra["metadata"]["name"] = "gpu-01-gpu.nvidia.com-x%04d" % i
        extra["metadata"]["uid"] = "00000000-0000-4000-8000-%012d" % i
        extra["spec"]["pool"]["name"] = "gpu-01-extra-%04d" % i
        cluster.objects.append(extra)
    server = serve(cluster)
    results = run(server, kube_for, tmp_path)
    assert results["dra_support"]["details"]["resource_slices"] == 1102
    assert any("1102 slices" in e["api"] for e in results["dra_support"]["evidence"])
    assert "\n... 1082 more" in observed(results["dra_support"]), "long tables are cut in evidence"
    assert sum(1 for r in server.requests if r.path.endswith("/resourceslices")) == 3  # 3 pages of 500, once


def test_1_36_has_no_dra_support_but_drivers_still_use_dra_attributes(fake_cluster, kube_for, tmp_path):
    results = run(fake_cluster("v1.36-gaie"), kube_for, tmp_path, ["driver_runtime_management"], version="1.36")
    assert "dra_support" not in results
    assert "DRA ResourceSlice attributes of driver gpu.nvidia.com" in results["driver_runtime_management"]["notes"]


# ------------------------------------------------------------------------------------------ driver_runtime_management
def test_no_accelerators_is_not_applicable_for_the_shoulds(fake_cluster, kube_for, tmp_path):
    results = run(fake_cluster("kubeadm-plain"), kube_for, tmp_path)
    for rid in ("driver_runtime_management", "gpu_sharing", "virtualized_accelerator"):
        assert results[rid]["outcome"] == "not_applicable", rid
        assert "no accelerator nodes" in results[rid]["notes"]
        assert results[rid]["evidence"], "N/A still shows what was looked at"


def test_cluster_policy_not_ready_fails(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("half-installed"), kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "fail"
    assert "ClusterPolicy cluster-policy is notReady: ClusterPolicy is not ready, states not ready: [state-dcgm-exporter]" \
        in result["notes"]
    assert "kubectl describe clusterpolicies.nvidia.com cluster-policy" in result["remediation"]
    assert "k8s_ai.conformance." not in result["remediation"]


def test_inconsistent_driver_versions_fail_naming_nodes(serve, kube_for, tmp_path):
    cluster = variant("kueue-only")
    labels = find(cluster, "Node", "gpu-02")["metadata"]["labels"]
    labels["nvidia.com/cuda.driver-version.full"] = "570.195.03"
    result = run(serve(cluster), kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "fail"
    assert "driver versions differ across accelerator nodes: 570.195.03 on gpu-02; 580.126.20 on gpu-01" in result["notes"]


def test_dra_and_labels_disagreeing_fail(serve, kube_for, tmp_path):
    cluster = variant("rke2-gpu")
    for device in find(cluster, "ResourceSlice", "gpu-02-gpu.nvidia.com-fmh8k")["spec"]["devices"]:
        device["attributes"]["driverVersion"] = {"version": "580.95.5"}
    result = run(serve(cluster), kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "fail"
    assert "disagree on the driver version: gpu-02 (label 580.126.20, DRA 580.95.5)" in result["notes"]


def test_operand_not_ready_names_the_node(serve, kube_for, tmp_path):
    cluster = variant("rke2-gpu")
    find(cluster, "DaemonSet", "nvidia-container-toolkit-daemonset")["status"].update(numberReady=1, numberAvailable=1)
    pod = find(cluster, "Pod", "nvidia-container-toolkit-daemonset-6p6fd")
    for cond in pod["status"]["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = "False"
    server = serve(cluster)
    result = run(server, kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "fail"
    assert "container toolkit DaemonSet nvidia-container-toolkit-daemonset is 1/2 ready for 2 accelerator node(s): " \
           "not ready on gpu-02" in result["notes"]
    assert any(r.path == "/api/v1/namespaces/gpu-operator/pods" for r in server.requests)


def test_host_installed_driver_is_accepted(serve, kube_for, tmp_path):
    cluster = variant("kueue-only")
    find(cluster, "ClusterPolicy", "cluster-policy")["spec"]["driver"]["enabled"] = False
    cluster.objects = [o for o in cluster.objects if not o["metadata"]["name"].startswith("nvidia-driver-daemonset")]
    result = run(serve(cluster), kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "pass", result["notes"]
    assert "driver installed on the hosts (ClusterPolicy driver.enabled=false), accepted because every node reports " \
           "its driver version" in result["notes"]


def test_missing_runtime_class_fails(serve, kube_for, tmp_path):
    cluster = variant("kueue-only")
    cluster.objects = [o for o in cluster.objects if o["kind"] != "RuntimeClass" or not o["metadata"]["name"].startswith("nvidia")]
    result = run(serve(cluster), kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "fail" and "no RuntimeClass nvidia" in result["notes"]


def amd_cluster():
    """kubeadm-plain whose workers carry AMD Instinct GPUs (AMD node labeller labels, amd.com/gpu device plugin)."""
    cluster = variant("kubeadm-plain")
    for name in ("worker-01", "worker-02"):
        node = find(cluster, "Node", name)
        node["metadata"]["labels"].update({
            "feature.node.kubernetes.io/pci-1002.present": "true", "amd.com/gpu.driver-version": "6.12.12",
            "amd.com/gpu.family": "AI", "amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM", "amd.com/gpu.vram": "191G"})
        for key in ("allocatable", "capacity"):
            node["status"][key]["amd.com/gpu"] = "8"
    return cluster


def test_amd_nodes_with_driver_labels_pass(serve, kube_for, tmp_path):
    results = run(serve(amd_cluster()), kube_for, tmp_path)
    drm = results["driver_runtime_management"]
    assert drm["outcome"] == "pass", drm["notes"]
    assert "AMD node labeller: amdgpu driver 6.12.12 on every AMD node" in drm["notes"]
    assert results["gpu_sharing"]["outcome"] == "unknown" and "AMD" in results["gpu_sharing"]["notes"]
    assert results["virtualized_accelerator"]["outcome"] == "not_applicable"
    assert "allocation mode: device plugin (device plugin resources amd.com/gpu" in results["dra_support"]["notes"]


def test_amd_nodes_without_driver_labels_are_unknown(serve, kube_for, tmp_path):
    cluster = amd_cluster()
    del find(cluster, "Node", "worker-02")["metadata"]["labels"]["amd.com/gpu.driver-version"]
    result = run(serve(cluster), kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "unknown" and result["status"] == ""
    assert "AMD node(s) worker-02 report no driver version" in result["notes"]


def test_unrecognised_vendor_is_unknown(serve, kube_for, tmp_path):
    cluster = variant("kubeadm-plain")
    node = find(cluster, "Node", "worker-01")
    node["metadata"]["labels"]["intel.feature.node.kubernetes.io/gpu"] = "true"
    node["status"]["allocatable"]["gpu.intel.com/i915"] = "1"
    result = run(serve(cluster), kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "unknown"
    assert "accelerator vendor 'intel' on node(s) worker-01" in result["notes"] and "manual verification" in result["notes"]


def test_forbidden_cluster_policies_is_an_error(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["nvidia.com/v1/clusterpolicies"])
    result = run(server, kube_for, tmp_path, ["driver_runtime_management"])["driver_runtime_management"]
    assert result["outcome"] == "error" and "GET /apis/nvidia.com/v1/clusterpolicies" in result["notes"]


# ------------------------------------------------------------------------------------------ gpu_sharing
def test_mig_cluster_shares_by_mig(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("mig"), kube_for, tmp_path, ["gpu_sharing"])["gpu_sharing"]
    assert result["outcome"] == "pass"
    assert "MIG on gpu-01, gpu-02 (mig.strategy=mixed, mig.config=all-balanced success; schedulable " \
           "nvidia.com/mig-1g.10gb=4" in result["notes"]
    assert result["details"]["strategies"] == {"MIG": ["gpu-01", "gpu-02"]}


def test_time_slicing_cluster_shares_by_time_slicing(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("time-slicing"), kube_for, tmp_path, ["gpu_sharing"])["gpu_sharing"]
    assert result["outcome"] == "pass" and "time-slicing on gpu-01, gpu-02" in result["notes"]
    assert "NVIDIA-L40S-SHARED" in observed(result)


def test_no_sharing_fails_with_remediation(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("kueue-only"), kube_for, tmp_path, ["gpu_sharing"])["gpu_sharing"]
    assert result["outcome"] == "fail" and result["status"] == "Not Implemented"
    assert "No GPU sharing strategy is in effect on the 2 NVIDIA accelerator node(s)" in result["notes"]
    assert "kubectl create configmap time-slicing-config -n gpu-operator" in result["remediation"]
    assert "kubectl patch clusterpolicies.nvidia.com/cluster-policy" in result["remediation"]
    assert "k8s_ai.conformance." not in result["remediation"]


def test_sharing_configured_but_not_applied_says_so(serve, kube_for, tmp_path):
    cluster = variant("time-slicing")
    for name in ("gpu-01", "gpu-02"):
        node = find(cluster, "Node", name)
        node["metadata"]["labels"].update({"nvidia.com/gpu.replicas": "1", "nvidia.com/gpu.sharing-strategy": "none",
                                           "nvidia.com/gpu.product": "NVIDIA-L40S"})
    result = run(serve(cluster), kube_for, tmp_path, ["gpu_sharing"])["gpu_sharing"]
    assert result["outcome"] == "fail"
    assert "ConfigMap gpu-operator/time-slicing-config configures time-slicing but no node advertises it" in result["notes"]


def test_dra_mig_devices_count_as_sharing(serve, kube_for, tmp_path):
    cluster = variant("kueue-only")
    slices = [o for o in load_cluster("rke2-gpu").objects if o["kind"] == "ResourceSlice"]
    cluster.objects += [o for o in load_cluster("rke2-gpu").objects if o["kind"] == "DeviceClass"]
    for obj in copy.deepcopy(slices):
        for device in obj["spec"]["devices"]:
            device["attributes"]["type"] = {"string": "mig"}
            device["attributes"]["profile"] = {"string": "1g.10gb"}
        cluster.objects.append(obj)
    result = run(serve(cluster), kube_for, tmp_path, ["gpu_sharing"])["gpu_sharing"]
    assert result["outcome"] == "pass" and "DRA MIG devices on gpu-01, gpu-02" in result["notes"]
    assert "gpu-01: 2 MIG device(s)" in observed(result)


def test_forbidden_sharing_configmap_is_an_error(serve, kube_for, tmp_path):
    cluster = variant("time-slicing")
    cluster.forbidden = ("v1/configmaps",)
    result = run(serve(cluster), kube_for, tmp_path, ["gpu_sharing"])["gpu_sharing"]
    assert result["outcome"] == "error" and "configmaps/time-slicing-config" in result["notes"]


# ------------------------------------------------------------------------------------------ virtualized_accelerator
def test_vgpu_nodes_pass(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("vgpu"), kube_for, tmp_path, ["virtualized_accelerator", "driver_runtime_management"])
    vgpu = result["virtualized_accelerator"]
    assert vgpu["outcome"] == "pass"
    assert "gpu-01, gpu-02 run on NVIDIA vGPUs (nvidia.com/vgpu.present=true, host driver 580.126.08, product " \
           "GRID-A100-40C)" in vgpu["notes"]
    assert "licensingConfig" in vgpu["notes"] and "580.126.08" in observed(vgpu)
    assert result["driver_runtime_management"]["outcome"] == "pass"


def vgpu_host_cluster(with_manager=True):
    """rke2-gpu turned into KubeVirt vGPU hosts: workload config vm-vgpu, vGPU types advertised by the sandbox plugin."""
    cluster = variant("rke2-gpu")
    policy = find(cluster, "ClusterPolicy", "cluster-policy")["spec"]
    policy["sandboxWorkloads"]["enabled"] = True
    policy["vgpuManager"]["enabled"] = True
    template = find(cluster, "DaemonSet", "nvidia-container-toolkit-daemonset")
    for _label, _key, name in (("", "", "nvidia-vgpu-manager-daemonset"), ("", "", "nvidia-vgpu-device-manager"),
                               ("", "", "nvidia-sandbox-device-plugin-daemonset")):
        if name == "nvidia-vgpu-manager-daemonset" and not with_manager:
            continue
        ds = copy.deepcopy(template)
        ds["metadata"].update(name=name, uid="11111111-2222-4333-8444-%012d" % len(name))
        cluster.objects.append(ds)
    for name in ("gpu-01", "gpu-02"):
        node = find(cluster, "Node", name)
        node["metadata"]["labels"]["nvidia.com/gpu.workload.config"] = "vm-vgpu"
        for key in ("allocatable", "capacity"):
            node["status"][key]["nvidia.com/GRID_L40S-12Q"] = "8"
    return cluster


def test_vgpu_hosts_pass_with_vgpu_types(serve, kube_for, tmp_path):
    result = run(serve(vgpu_host_cluster()), kube_for, tmp_path, ["virtualized_accelerator"])["virtualized_accelerator"]
    assert result["outcome"] == "pass", result["notes"]
    assert "schedulable resources nvidia.com/GRID_L40S-12Q" in result["notes"]
    assert "nvidia-vgpu-manager-daemonset 2/2 ready" in observed(result)


def test_vgpu_hosts_without_vgpu_manager_fail(serve, kube_for, tmp_path):
    result = run(serve(vgpu_host_cluster(with_manager=False)), kube_for, tmp_path,
                 ["virtualized_accelerator"])["virtualized_accelerator"]
    assert result["outcome"] == "fail"
    assert "vGPU manager DaemonSet gpu-operator/nvidia-vgpu-manager-daemonset is missing" in result["notes"]
    assert "vgpuManager.enabled=true" in result["remediation"]


def test_forbidden_nodes_is_an_error_for_every_check(fake_cluster, kube_for, tmp_path):
    # Through the engine directly: verify() itself also reads one node for the cluster facts.
    kube = kube_for(fake_cluster("rke2-gpu", forbidden=["v1/nodes"]), tmp_path)
    checklist = checklists.load("1.35")
    selected = engine.select(checklist, ["driver_runtime_management", "gpu_sharing", "virtualized_accelerator"])
    for result in engine.run(kube, checklist, selected, checks=engine.REGISTRY):
        assert result.outcome == "error" and "GET /api/v1/nodes" in result.notes, result.id
        assert "list" in result.remediation
