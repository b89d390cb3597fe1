"""The accelerators probes (dra_support, secure_accelerator_access, driver_runtime_management) over real HTTP against
the fake API server, whose DRA scheduler and kubelet are tests/fakeapi/simulations/dra.py.

That kubelet writes no container output, as kwok's does not: the probes that need it must say they could not observe
it. Where a test needs output, ``kubelet_logs`` answers the pod log reads in the client with what the containers would
print on a node with GPUs."""

import contextlib

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.accelerators import MARK
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.scratch import OURS
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import FakeKubeServer, load_cluster
from tests.fakeapi.simulations.dra import NEVER_ALLOCATE

NO_OUTPUT = "could not observe container output"


@contextlib.contextmanager
def cluster(tmp_path, name="rke2-gpu"):
    """The fake server of fixture ``name`` with the simulated controllers and operators, and a client for it."""
    server = FakeKubeServer(load_cluster(name), controller_delay=0.3, operators=True).start()
    try:
        kubeconfig = tmp_path / "kubeconfig"
        server.write_kubeconfig(str(kubeconfig))
        yield Kube.from_params(dict(kubeconfig=str(kubeconfig)))
    finally:
        server.stop()


def probed(kube, requirement, probe_timeout=30.0):
    """The requirement's result with its probe run, and that probe's own finding."""
    result = verify(kube, requirements=[requirement], options=Options(probes=True, probe_timeout=probe_timeout))["results"][0]
    return result, result["details"]["probe"]


def never_allocate(kube, device_class="gpu.nvidia.com"):
    kube.patch("resource.k8s.io", "v1", "deviceclasses", device_class, {"metadata": {"annotations": {NEVER_ALLOCATE: "true"}}})


def scratch_namespaces(kube):
    return [n["metadata"]["name"] for n in kube.list_all("", "v1", "namespaces", label_selector=OURS)]


def kubelet_logs(monkeypatch, printed):
    """Pod log reads answered with ``printed(pod, container)``: the output of a kubelet on a GPU node."""
    request = Kube.request

    def answer(self, method, path, query=None, **kwargs):
        if method == "GET" and path.endswith("/log"):
            return printed(path.split("/")[-2], (query or {}).get("container"))
        return request(self, method, path, query=query, **kwargs)
    monkeypatch.setattr(Kube, "request", answer)


def lines(*texts):
    return "".join("%s %s\n" % (MARK, t) for t in texts + ("end",))


# ------------------------------------------------------------------------------------------ dra_support
def test_dra_support_probe_gets_a_device_allocated_and_the_pod_running_on_its_node(tmp_path):
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "dra_support")
        assert scratch_namespaces(kube) == []
    assert result["outcome"] == "pass" and probe["outcome"] == "pass", probe
    assert "allocated device gpu.nvidia.com/gpu-0" in probe["notes"] and "reserved for pod dra-probe" in probe["notes"], probe
    node = probe["notes"].split("device's node ")[1].split(",")[0]
    assert node in ("gpu-01", "gpu-02") and "gpu.nvidia.com/%s/" % node in probe["notes"], probe  # the pod runs where its device is
    waits = [e for e in result["evidence"] if e["command"].startswith("kubectl wait")]
    assert "reservedFor: pods/dra-probe" in waits[0]["observed"] and "phase=Running" in waits[1]["observed"], waits


def test_dra_support_probe_fails_naming_what_it_saw_when_the_claim_is_never_allocated(tmp_path):
    with cluster(tmp_path) as kube:
        never_allocate(kube)
        result, probe = probed(kube, "dra_support", probe_timeout=6)
    assert result["outcome"] == "fail" and probe["outcome"] == "fail", probe
    assert "was not allocated and reserved for pod dra-probe" in result["notes"], result["notes"]
    assert "allocation: none; reservedFor: nobody" in result["notes"], result["notes"]  # the claim as last seen
    assert "Unschedulable: 0/3 nodes are available" in result["notes"] and "cannot allocate all claims" in result["notes"]
    assert "kubectl describe pod dra-probe" in result["remediation"]


def test_a_probe_past_its_timeout_leaves_no_scratch_namespace(tmp_path):
    with cluster(tmp_path) as kube:
        never_allocate(kube)
        result, probe = probed(kube, "dra_support", probe_timeout=1)
        assert scratch_namespaces(kube) == []
    # the allocation it waited for did not come within the probe's time: a failure of what it awaited
    assert probe["outcome"] == "fail" and probe["notes"].startswith("ResourceClaim dra-probe for one device"), probe
    assert probe["cleanup"] == "done" and probe["namespace"].startswith("ai-conformance-")


# ------------------------------------------------------------------------------------------ without container output
def test_secure_access_probe_without_container_output_is_unknown_and_says_what_it_observed(tmp_path):
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "secure_accelerator_access")
    # The fake kubelet prints nothing: the device counts were not observed, so the probe must not pass.
    assert probe["outcome"] == "unknown", probe
    assert probe["notes"].count(NO_OUTPUT) == 3, probe["notes"]  # granted, no request, two containers
    observed, missing = probe["notes"].split("Not observed: ")
    assert "stayed Unschedulable" in observed and "a pod asking for 5 device(s) of DeviceClass gpu.nvidia.com" in observed
    assert all(s in missing for s in ("a pod granted one device", "a pod without a request", "a two-container pod"))
    assert result["outcome"] == "pass" and any(NO_OUTPUT in c for c in result["caveats"])  # the check's verdict, caveated


def test_driver_probe_without_container_output_is_unknown(tmp_path):
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "driver_runtime_management")
    assert probe["outcome"] == "unknown" and NO_OUTPUT in probe["notes"], probe  # nvidia-smi's answer was never read
    assert "its log was empty after the container ended" in probe["notes"]
    assert any(e["command"].startswith("kubectl logs") and e["observed"].startswith("not observed") for e in result["evidence"])


# ------------------------------------------------------------------------------------------ with container output
def test_secure_access_probe_passes_when_every_subtest_is_observed(tmp_path, monkeypatch):
    sees = {("access-granted", "probe"): 1, ("access-none", "probe"): 0, ("access-multi", "granted"): 1,
            ("access-multi", "other"): 0}
    kubelet_logs(monkeypatch, lambda pod, container: lines("devices=%d" % sees[(pod, container)]))
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "secure_accelerator_access")
    assert probe["outcome"] == "pass", probe
    granted_on = probe["notes"].split("a pod granted one device (")[1].split(",")[0]
    assert "a pod without a request on the same node (%s, /dev/nvidia<N> counted: probe 0)" % granted_on in probe["notes"]
    assert "counted: granted 1, other 0" in probe["notes"], probe["notes"]
    assert any(e["command"] == "kubectl logs -n %s access-multi -c other" % probe["namespace"] for e in result["evidence"])


def test_secure_access_probe_fails_when_a_pod_without_a_request_sees_a_device(tmp_path, monkeypatch):
    kubelet_logs(monkeypatch, lambda pod, container: lines("devices=%d" % (0 if container == "other" else 1)))
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "secure_accelerator_access")
    assert result["outcome"] == "fail" and probe["outcome"] == "fail", probe
    assert "a pod without a request on the same node (gpu-0" in probe["notes"]
    assert "container probe saw 1 device node(s), not 0" in probe["notes"], probe["notes"]


def smi(banner, query=("580.126.20",), devices=1):
    return lambda pod, container: lines("devices=%d" % devices, "nvidia-smi=/usr/bin/nvidia-smi", "query-rc=0",
                                        *["query: %s" % q for q in query], "smi: %s" % banner)


def test_driver_probe_reads_the_newer_banner_and_matches_the_advertised_versions(tmp_path, monkeypatch):
    banner = "| NVIDIA-SMI 580.126.20        KMD Version: 580.126.20      CUDA UMD Version: 13.0     |"
    kubelet_logs(monkeypatch, smi(banner, query=()))  # no query answer: the version comes from the banner
    with cluster(tmp_path) as kube:
        _result, probe = probed(kube, "driver_runtime_management")
    assert probe["outcome"] == "pass", probe
    assert "reports driver 580.126.20 (CUDA 13.0)" in probe["notes"], probe["notes"]
    assert "DRA ResourceSlice" in probe["notes"] and "GPU feature discovery labels" in probe["notes"]


def test_driver_probe_fails_when_nvidia_smi_reports_another_driver(tmp_path, monkeypatch):
    kubelet_logs(monkeypatch, smi("| NVIDIA-SMI 575.57.08   Driver Version: 575.57.08   CUDA Version: 12.9 |", query=("575.57.08",)))
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "driver_runtime_management")
    assert result["outcome"] == "fail" and probe["outcome"] == "fail", probe
    assert "driver 580.126.20 advertised by DRA ResourceSlice" in probe["notes"], probe["notes"]
    assert "nvidia-smi reports 575.57.08" in probe["notes"] and "CUDA 13.0.0 advertised by DRA" in probe["notes"]
