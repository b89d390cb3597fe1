"""secure_accelerator_access over real HTTP against fixture clusters (and variants built from them in code)."""

import copy

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
from ansible_collections.k8s_ai.conformance.plugins.module_utils.sections import security
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import Cluster, load_cluster

RID = "secure_accelerator_access"
OWN = ("/apis/nvidia.com/", "/apis/apps/", "/apis/node.k8s.io/", "/apis/resource.k8s.io/",
       "/api/v1/pods")  # what this section reads


def own_requests(server):
    """The requests this section made itself (not the run's start-up, discovery or the shared node lookup)."""
    return [r for r in server.requests if r.path.startswith(OWN)]


def run(server, kube_for, tmp_path, audit=False):
    outcome = verify(kube_for(server, tmp_path), requirements=[RID], options=Options(audit_workloads=audit))
    return outcome["results"][0]


def observed(result):
    return "\n".join(e["command"] + "\n" + e["observed"] for e in result["evidence"])


def find(cluster, kind, name):
    return next(o for o in cluster.objects if o["kind"] == kind and o["metadata"]["name"] == name)


def set_env(env_list, name, value):
    """Set (value) or remove (None) one entry of an env list in place."""
    env_list[:] = [e for e in env_list if e.get("name") != name]
    if value is not None:
        env_list.append({"name": name, "value": value})


def rke2_with(plugin_strategy="keep", toolkit=None, cdi=None, drop_dra=False):
    """rke2-gpu with the ClusterPolicy and the device-plugin DaemonSet changed as the operator would change them."""
    cluster = load_cluster("rke2-gpu")
    cluster.objects = copy.deepcopy(cluster.objects)
    policy = find(cluster, "ClusterPolicy", "cluster-policy")
    daemonset = find(cluster, "DaemonSet", "nvidia-device-plugin-daemonset")
    plugin_env = next(c for c in daemonset["spec"]["template"]["spec"]["containers"] if c["name"] == "nvidia-device-plugin")["env"]
    if plugin_strategy != "keep":
        policy["spec"]["devicePlugin"]["env"] = [] if plugin_strategy is None else [
            {"name": "DEVICE_LIST_STRATEGY", "value": plugin_strategy}]
        set_env(plugin_env, "DEVICE_LIST_STRATEGY", plugin_strategy or "cdi-annotations,cdi-cri")
    for name, value in (toolkit or {}).items():
        set_env(policy["spec"]["toolkit"]["env"], name, value)
    if cdi is not None:
        policy["spec"]["cdi"] = cdi
    if drop_dra:
        cluster.objects = [o for o in cluster.objects if o["kind"] != "ResourceSlice"]
    return cluster


def test_rke2_gpu_passes_with_volume_mounts_and_toolkit_env(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "pass", result["notes"]
    assert result["status"] == "Implemented"
    assert "DEVICE_LIST_STRATEGY=volume-mounts" in result["notes"]
    assert "DRA driver gpu.nvidia.com" in result["notes"]
    assert "probes" not in result["notes"] and "its probe did not run (probes: false)" in result["caveats"][-1]
    text = observed(result)
    assert "ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED=false" in text
    assert "gpu-operator/nvidia-device-plugin-daemonset" in text and "DEVICE_LIST_STRATEGY=volume-mounts" in text
    assert "nvidia  handler=nvidia" in text
    config = result["details"]["configurations"][0]
    assert config["strategy_source"].startswith("DaemonSet gpu-operator/")
    # ClusterPolicy list + device-plugin DaemonSet + RuntimeClasses + one ResourceSlice probe.
    assert len(own_requests(server)) <= 4, own_requests(server)


def test_no_accelerator_nodes_is_not_applicable_with_justification(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kubeadm-plain")
    result = run(server, kube_for, tmp_path, audit=True)
    assert result["outcome"] == "not_applicable"
    assert result["status"] == "N/A"
    assert "No accelerator nodes" in result["notes"]
    assert result["evidence"]


def test_envvar_strategy_fails_with_helm_values(serve, kube_for, tmp_path):
    server = serve(rke2_with(plugin_strategy="envvar"))
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "fail"
    assert "DEVICE_LIST_STRATEGY=envvar" in result["notes"]
    assert "devicePlugin.env" in result["remediation"] and "toolkit.env" in result["remediation"]
    assert "cdi.enabled=true" in result["remediation"]
    assert "helm upgrade gpu-operator nvidia/gpu-operator -n gpu-operator --reuse-values" in result["remediation"]
    assert "[N]" not in result["remediation"] and "k8s_ai.conformance." not in result["remediation"]
    assert "DEVICE_LIST_STRATEGY=envvar" in observed(result)


def test_volume_mounts_without_toolkit_settings_fails(serve, kube_for, tmp_path):
    server = serve(rke2_with(toolkit={"ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED": None,
                                      "ACCEPT_NVIDIA_VISIBLE_DEVICES_AS_VOLUME_MOUNTS": None}))
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "fail"
    assert "ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED is unset, default true" in result["notes"]
    assert "ACCEPT_NVIDIA_VISIBLE_DEVICES_AS_VOLUME_MOUNTS is unset, default false" in result["notes"]


def test_cdi_default_passes_with_hardening_note(serve, kube_for, tmp_path):
    server = serve(rke2_with(plugin_strategy=None, toolkit={"ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED": None,
                                                            "ACCEPT_NVIDIA_VISIBLE_DEVICES_AS_VOLUME_MOUNTS": None},
                             drop_dra=True))
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "pass", result["notes"]
    assert "device plugin with CDI (DEVICE_LIST_STRATEGY=cdi-annotations,cdi-cri" in result["notes"]
    assert "Hardening" in result["notes"] and "RuntimeClass nvidia" in result["notes"]


def test_cdi_disabled_with_default_toolkit_fails(serve, kube_for, tmp_path):
    server = serve(rke2_with(plugin_strategy="envvar", cdi={"enabled": False},
                             toolkit={"ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED": None}))
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "fail"
    assert "envvar" in result["notes"]


def test_unrecognised_vendor_is_unknown(serve, kube_for, tmp_path):
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "npu-01", "labels": {"kubernetes.io/hostname": "npu-01"}},
            "spec": {}, "status": {"allocatable": {"cpu": "64", "aws.amazon.com/neuron": "16"},
                                   "capacity": {"cpu": "64", "aws.amazon.com/neuron": "16"},
                                   "conditions": [{"type": "Ready", "status": "True"}]}}
    server = serve(Cluster.from_objects(objects=[node]))
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "unknown"
    assert result["status"] == ""
    assert "aws" in result["notes"] and "check by hand" in result["notes"]


def test_forbidden_clusterpolicies_is_an_error(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["nvidia.com/v1/clusterpolicies"])
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "error"
    assert "GET /apis/nvidia.com/v1/clusterpolicies" in result["notes"] and "403" in result["notes"]


# ------------------------------------------------------------------------------------------------ audit
def pod(name, node, namespace="ml-team", phase="Running", privileged=False, host_path=None, env=None, gpu=False):
    container = {"name": "main", "image": "nvcr.io/nvidia/pytorch:25.10-py3", "resources": {}}
    if gpu:
        container["resources"] = {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
    if privileged:
        container["securityContext"] = {"privileged": True}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec = {"nodeName": node, "containers": [container], "restartPolicy": "Always"}
    if host_path:
        spec["volumes"] = [{"name": "dev", "hostPath": {"path": host_path, "type": ""}}]
        container["volumeMounts"] = [{"name": "dev", "mountPath": host_path}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": spec, "status": {"phase": phase}}


def audited_cluster(clean=300, extra=()):
    cluster = load_cluster("rke2-gpu")
    cluster.objects = list(cluster.objects) + [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in ("ml-team", "research")]
    pods = [pod("trainer-%03d" % i, "gpu-0%d" % (1 + i % 2), gpu=True,
                env={"NVIDIA_VISIBLE_DEVICES": "all"} if i % 3 == 0 else None) for i in range(clean)]
    pods += [
        pod("dev-shell", "gpu-01", privileged=True, host_path="/dev/nvidia0"),
        pod("sneaky-notebook", "gpu-02", namespace="research", env={"NVIDIA_VISIBLE_DEVICES": "all"}),
        pod("harmless-void", "gpu-02", env={"NVIDIA_VISIBLE_DEVICES": "void"}),
        pod("operator-like", "gpu-01", namespace="gpu-operator", privileged=True, host_path="/dev"),
        pod("finished-debug", "gpu-01", phase="Succeeded", privileged=True),
        pod("cpu-privileged", "cp-01", privileged=True),
    ]
    cluster.objects += pods + list(extra)
    return cluster


@pytest.mark.parametrize("per_node_max,ratio,per_node", [(64, 20, True), (0, 20, True), (0, 10 ** 9, False)],
                         ids=["per-node-few-nodes", "per-node-by-pod-count", "cluster-wide"])
def test_audit_names_offending_pods_among_clean_ones(serve, kube_for, tmp_path, monkeypatch, per_node_max, ratio, per_node):
    monkeypatch.setattr(security, "PER_NODE_MAX", per_node_max)
    monkeypatch.setattr(security, "PODS_PER_NODE_REQUEST", ratio)
    server = serve(audited_cluster())
    result = run(server, kube_for, tmp_path, audit=True)
    assert result["outcome"] == "fail"
    audit = result["details"]["audit"]
    assert audit["violations"] == 2
    offenders = {o["pod"]: o for o in audit["offenders"]}
    assert set(offenders) == {"ml-team/dev-shell", "research/sneaky-notebook"}
    assert any("privileged" in r for r in offenders["ml-team/dev-shell"]["reasons"])
    assert any("hostPath" in r and "/dev/nvidia0" in r for r in offenders["ml-team/dev-shell"]["reasons"])
    assert any("NVIDIA_VISIBLE_DEVICES=all" in r for r in offenders["research/sneaky-notebook"]["reasons"])
    assert audit["pods_examined"] >= 302
    assert "gpu-operator" in audit["exempt_namespaces"]
    assert ("per-node" in audit["strategy"]) == per_node
    assert audit["pods_streamed"] > audit["pods_examined"] if not per_node else audit["pods_streamed"] >= audit["pods_examined"]
    assert "ml-team/dev-shell" in result["notes"]
    assert "Pod Security Admission" in result["remediation"]
    assert "research/sneaky-notebook" in observed(result)


def test_audit_caps_the_list_and_counts_the_rest(serve, kube_for, tmp_path):
    extra = [pod("leak-%02d" % i, "gpu-01", env={"NVIDIA_VISIBLE_DEVICES": "all"}) for i in range(60)]
    server = serve(audited_cluster(clean=10, extra=extra))
    result = run(server, kube_for, tmp_path, audit=True)
    audit = result["details"]["audit"]
    assert audit["violations"] == 62
    assert len(audit["offenders"]) == security.AUDIT_CAP
    # one evidence entry per audited node: gpu-01 lists 50 of its 61 offenders
    assert "61 reach devices" in observed(result) and "and 11 more" in observed(result)


def test_audit_on_a_clean_cluster_passes_and_pages(serve, kube_for, tmp_path, monkeypatch):
    monkeypatch.setattr(security, "PAGE_SIZE", 50)
    server = serve(_clean(400))
    result = run(server, kube_for, tmp_path, audit=True)
    assert result["outcome"] == "pass", result["notes"]
    assert "Workload audit: " in result["notes"]
    audit = result["details"]["audit"]
    assert audit["pods_examined"] >= 400 and audit["violations"] == 0
    assert audit["requests"] >= 400 // 50  # paginated


def _clean(count):
    cluster = load_cluster("rke2-gpu")
    cluster.objects = list(cluster.objects) + [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-team"}}] + [
        pod("trainer-%03d" % i, "gpu-0%d" % (1 + i % 2), gpu=True) for i in range(count)]
    return cluster


# ---------------------------------------------------------------------------- workload_sandboxing (1.37)


def sandboxing(server, kube_for, tmp_path):
    outcome = verify(kube_for(server, tmp_path), requirements=["workload_sandboxing"])
    assert outcome["checklist_version"] == "1.37"
    return outcome["results"][0]


def test_the_1_37_fixture_verifies_fifteen_requirements_with_sandboxing_decided(fake_cluster, kube_for, tmp_path):
    outcome = verify(kube_for(fake_cluster("v1.37-sandbox"), tmp_path))
    assert outcome["checklist_version"] == "1.37" and len(outcome["results"]) == 15
    result = next(r for r in outcome["results"] if r["id"] == "workload_sandboxing")
    assert result["level"] == "SHOULD" and result["outcome"] == "pass", result["notes"]
    assert "kata-qemu (handler kata-qemu) on gpu-02" in result["notes"]
    assert "gvisor names handler runsc, which the container runtime of none" in result["notes"], "a class no node runs is named"
    assert result["caveats"] == ["functional part not demonstrated: its probe did not run (probes: false)"]
    assert "kubectl get nodes -l katacontainers.io/kata-runtime=true" in observed(result)


def test_a_sandbox_class_no_node_can_run_is_not_implemented(serve, kube_for, tmp_path):
    cluster = load_cluster("v1.37-sandbox")
    cluster.objects = [o for o in cluster.objects if not (o["kind"] == "RuntimeClass" and o["metadata"]["name"] == "kata-qemu")]
    result = sandboxing(serve(cluster), kube_for, tmp_path)
    assert result["outcome"] == "fail" and "no node can run them" in result["notes"]
    assert "runtimeHandlers" in result["remediation"]


def test_no_sandbox_at_all_names_the_install(serve, kube_for, tmp_path):
    cluster = load_cluster("v1.37-sandbox")
    cluster.objects = [o for o in cluster.objects if o["kind"] != "RuntimeClass"]
    result = sandboxing(serve(cluster), kube_for, tmp_path)
    assert result["outcome"] == "fail" and result["status"] == "Not Implemented"
    assert "oci://ghcr.io/kata-containers/kata-deploy-charts/kata-deploy" in result["remediation"]
