"""The workload_sandboxing probe over real HTTP against the fake API server on the 1.37 fixture (Kata on gpu-02),
the kernels its pods see being the simulated kubelet's (tests/fakeapi/simulations/kubelet.py)."""

from tests.fakeapi.simulations import kubelet
from tests.integration.conftest import scratch_left
from tests.integration.test_probe_accelerators import NO_OUTPUT, annotate, cluster, probed


def sandboxing(tmp_path, annotations=()):
    """workload_sandboxing probed on v1.37-sandbox, gpu-02's kubelet scripted with ``annotations``; the namespaces left."""
    with cluster(tmp_path, "v1.37-sandbox") as kube:
        for annotation, value in dict(annotations).items():
            annotate(kube, annotation, value, nodes=("gpu-02",))
        result, probe = probed(kube, "workload_sandboxing")
        return result, probe, scratch_left(kube)


def test_sandbox_probe_passes_when_the_sandboxed_pod_sees_a_kernel_of_its_own(tmp_path):
    result, probe, left = sandboxing(tmp_path)
    assert left == []
    assert result["outcome"] == "pass" and probe["outcome"] == "pass", probe
    assert probe["notes"] == ("A pod on RuntimeClass kata-qemu (handler kata-qemu) sees kernel 6.12.42 where an unsandboxed "
                              "pod on the same node gpu-02 sees 6.8.0-87-generic (differing: release, version, boot_id)."), probe
    created = [e["command"] for e in result["evidence"] if e["command"].startswith("kubectl apply")]
    assert len(created) == 2 and "runtimeClassName: kata-qemu" in created[0] and "runtimeClassName" not in created[1], created
    assert all("- gpu-02\n" in c and "key: nvidia.com/gpu" in c for c in created), created  # pinned to gpu-02, its taint tolerated
    logs = [e["observed"] for e in result["evidence"] if e["command"].startswith("kubectl logs")]
    assert "kernel-release=6.12.42" in logs[0] and "kernel-release=6.8.0-87-generic" in logs[1], logs


def test_sandbox_probe_fails_when_the_sandbox_shares_the_host_kernel(tmp_path):
    result, probe, left = sandboxing(tmp_path, {kubelet.SANDBOX_KERNEL: "host"})
    assert left == []
    assert result["outcome"] == "fail" and probe["outcome"] == "fail", probe
    assert "sees the same kernel as an unsandboxed pod on node gpu-02 (release 6.8.0-87-generic" in probe["notes"], probe
    assert "Kata Containers" in result["remediation"], result["remediation"]


def test_sandbox_probe_without_container_output_is_unknown_and_keeps_the_checks_verdict(tmp_path):
    result, probe, left = sandboxing(tmp_path, {kubelet.OUTPUT: "none"})
    assert left == []
    assert probe["outcome"] == "unknown" and NO_OUTPUT in probe["notes"], probe
    assert "its log was empty after the container ended" in probe["notes"], probe
    assert result["outcome"] == "pass" and any(NO_OUTPUT in c for c in result["caveats"]), result["caveats"]
