"""The probes that give pods accelerators (dra_support, driver_runtime_management, and secure_accelerator_access of the
security section) over real HTTP against the fake API server: its DRA scheduler is tests/fakeapi/simulations/dra.py,
and what the probe containers print on the GPU nodes is its simulated kubelet's (simulations/kubelet.py), scripted by
node annotations. Only nvidia-smi reporting another driver than the node advertises is answered in the client
(``kubelet_logs``): the simulated nodes run the driver they advertise, and advertising two makes the read-only check
fail, so the probe would not run."""

import contextlib

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.pods import MARK
from tests.fakeapi.simulations import kubelet
from tests.fakeapi.simulations.dra import NEVER_ALLOCATE
from tests.integration.conftest import probed_result, scratch_left, serving

NO_OUTPUT = "could not observe container output"


@contextlib.contextmanager
def cluster(tmp_path, name="rke2-gpu"):
    """A client of the simulated fixture cluster ``name`` while the block runs."""
    with serving(name, tmp_path) as (dummy, kube):
        yield kube


def probed(kube, requirement, probe_timeout=30.0):
    """The requirement's result with its probe run, and that probe's own finding."""
    result = probed_result(kube, requirement, probe_timeout=probe_timeout)
    return result, result["details"]["probe"]


def never_allocate(kube, device_class="gpu.nvidia.com"):
    kube.patch("resource.k8s.io", "v1", "deviceclasses", device_class, {"metadata": {"annotations": {NEVER_ALLOCATE: "true"}}})


def annotate(kube, annotation, value, nodes=("gpu-01", "gpu-02")):
    """Script the simulated kubelet of ``nodes`` (an annotation of simulations/kubelet.py)."""
    for node in nodes:
        kube.patch("", "v1", "nodes", node, {"metadata": {"annotations": {annotation: value}}})


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
        assert scratch_left(kube) == []
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
        assert scratch_left(kube) == []
    # the allocation it waited for did not come within the probe's time: a failure of what it awaited
    assert probe["outcome"] == "fail" and probe["notes"].startswith("ResourceClaim dra-probe for one device"), probe
    assert probe["cleanup"] == "done" and probe["namespace"].startswith("ai-conformance-")


# ------------------------------------------------------------------------------------------ secure_accelerator_access
def test_secure_access_probe_passes_with_every_subtest_observed_in_the_containers_logs(tmp_path):
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "secure_accelerator_access")
        assert scratch_left(kube) == []
    assert result["outcome"] == "pass" and probe["outcome"] == "pass", probe
    granted_on = probe["notes"].split("a pod granted one device (")[1].split(",")[0]
    assert "a pod granted one device (%s, /dev/nvidia<N> counted: probe 1)" % granted_on in probe["notes"]
    assert "a pod without a request on the same node (%s, /dev/nvidia<N> counted: probe 0)" % granted_on in probe["notes"]
    assert "counted: granted 1, other 0" in probe["notes"] and "stayed Unschedulable" in probe["notes"], probe["notes"]
    logs = {e["command"].split()[-3] + "/" + e["command"].split()[-1]: e["observed"] for e in result["evidence"]
            if e["command"].startswith("kubectl logs")}
    assert logs == {"access-granted/probe": "%s devices=1\n%s end" % (MARK, MARK), "access-none/probe": "%s devices=0\n%s end" % (MARK, MARK),
                    "access-multi/granted": "%s devices=1\n%s end" % (MARK, MARK), "access-multi/other": "%s devices=0\n%s end" % (MARK, MARK)}, logs


def test_secure_access_probe_fails_when_containers_without_a_request_see_the_nodes_gpus(tmp_path):
    with cluster(tmp_path) as kube:
        annotate(kube, kubelet.UNREQUESTED, "true")
        result, probe = probed(kube, "secure_accelerator_access")
    assert result["outcome"] == "fail" and probe["outcome"] == "fail", probe
    assert "a pod without a request on the same node (gpu-0" in probe["notes"]
    assert "container probe saw 2 device node(s), not 0" in probe["notes"], probe["notes"]
    assert "container other saw 2 device node(s), not 0" in probe["notes"], probe["notes"]  # the two-container pod


def test_secure_access_probe_without_container_output_is_unknown_and_says_what_it_observed(tmp_path):
    with cluster(tmp_path) as kube:
        annotate(kube, kubelet.OUTPUT, "none")
        result, probe = probed(kube, "secure_accelerator_access")
    # The kubelets print nothing: the device counts were not observed, so the probe must not pass.
    assert probe["outcome"] == "unknown", probe
    assert probe["notes"].count(NO_OUTPUT) == 3, probe["notes"]  # granted, no request, two containers
    observed, missing = probe["notes"].split("Not observed: ")
    assert "stayed Unschedulable" in observed and "a pod asking for 5 device(s) of DeviceClass gpu.nvidia.com" in observed
    assert all(s in missing for s in ("a pod granted one device", "a pod without a request", "a two-container pod"))
    assert result["outcome"] == "pass" and any(NO_OUTPUT in c for c in result["caveats"])  # the check's verdict, caveated


# ------------------------------------------------------------------------------------------ driver_runtime_management
def test_driver_probe_passes_when_nvidia_smi_reports_the_advertised_driver(tmp_path):
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "driver_runtime_management")
        assert scratch_left(kube) == []
    assert result["outcome"] == "pass" and probe["outcome"] == "pass", probe
    assert "reports driver 580.126.20 (CUDA 13.0), as advertised" in probe["notes"], probe["notes"]
    assert "DRA ResourceSlice" in probe["notes"] and "GPU feature discovery labels" in probe["notes"]
    log = next(e["observed"] for e in result["evidence"] if e["command"].startswith("kubectl logs -n %s driver-probe" % probe["namespace"]))
    assert "%s nvidia-smi=/usr/bin/nvidia-smi" % MARK in log and "Driver Version: 580.126.20" in log, log


def test_driver_probe_reads_the_newer_banner(tmp_path):
    with cluster(tmp_path) as kube:
        annotate(kube, kubelet.BANNER, "kmd")
        result, probe = probed(kube, "driver_runtime_management")
    assert probe["outcome"] == "pass", probe
    assert "reports driver 580.126.20 (CUDA 13.0)" in probe["notes"], probe["notes"]  # CUDA from "CUDA UMD Version"
    assert any("KMD Version: 580.126.20" in e["observed"] and "CUDA UMD Version: 13.0" in e["observed"] for e in result["evidence"])


def test_driver_probe_without_container_output_is_unknown(tmp_path):
    with cluster(tmp_path) as kube:
        annotate(kube, kubelet.OUTPUT, "none")
        result, probe = probed(kube, "driver_runtime_management")
    assert probe["outcome"] == "unknown" and NO_OUTPUT in probe["notes"], probe  # nvidia-smi's answer was never read
    assert "its log was empty after the container ended" in probe["notes"]
    assert any(e["command"].startswith("kubectl logs") and e["observed"].startswith("not observed") for e in result["evidence"])


def test_driver_probe_fails_when_nvidia_smi_reports_another_driver_in_its_banner_only(tmp_path, monkeypatch):
    banner = "| NVIDIA-SMI 575.57.08   KMD Version: 575.57.08   CUDA UMD Version: 12.9 |"
    kubelet_logs(monkeypatch, lambda pod, container: lines("devices=1", "nvidia-smi=/usr/bin/nvidia-smi", "query-rc=0", "smi: %s" % banner))
    with cluster(tmp_path) as kube:
        result, probe = probed(kube, "driver_runtime_management")
    assert result["outcome"] == "fail" and probe["outcome"] == "fail", probe
    # no query answer: the version comes from the banner
    assert "driver 580.126.20 advertised by DRA ResourceSlice" in probe["notes"], probe["notes"]
    assert "nvidia-smi reports 575.57.08" in probe["notes"] and "CUDA 13.0.0 advertised by DRA" in probe["notes"]


# ------------------------------------------------------------------------------------------ the device budget
def unschedulable_pods(server):
    """Names of the pods the simulated scheduler ever marked Unschedulable, from the fake's watch event log."""
    return sorted({obj["metadata"]["name"] for _rv, kind, key, obj in list(server.store._events)  # pylint: disable=protected-access
                   if key == ("", "pods") and kind != "DELETED"
                   and any(c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
                           for c in (obj.get("status") or {}).get("conditions") or [])})


def test_probes_holding_more_dra_devices_than_are_free_take_turns_instead_of_starving_each_other(tmp_path):
    """Two DRA devices (one per GPU node) for three probes that hold 1 + 2 + 1: each waits for its share before its
    time starts, so no probe pod ever waits for a device another probe holds (only the oversized one is Unschedulable,
    as it must be) and all pass; every share is in its transcript."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
    wanted = ("dra_support", "secure_accelerator_access", "driver_runtime_management")
    with serving("rke2-gpu", tmp_path) as (server, kube):
        server.store.namespace_termination_seconds = 1.5  # a probe's pods hold their devices until its namespace is gone
        for piece in kube.list_all("resource.k8s.io", "v1", "resourceslices"):
            kube.patch("resource.k8s.io", "v1", "resourceslices", piece["metadata"]["name"],
                       {"spec": {"devices": piece["spec"]["devices"][:1]}})
        outcome = verify(kube, requirements=list(wanted), options=Options(probes=True, probe_timeout=30.0))
        assert scratch_left(kube) == []
        assert unschedulable_pods(server) == ["access-too-many"]
    results = {r["id"]: r for r in outcome["results"]}
    assert {rid: results[rid]["details"]["probe"]["outcome"] for rid in wanted} == dict.fromkeys(wanted, "pass"), \
        {rid: results[rid]["notes"] for rid in wanted}
    budget = {rid: next(e["observed"] for e in results[rid]["evidence"] if e["command"] == "# accelerator devices for this probe (DRA)")
              for rid in wanted}
    assert budget["secure_accelerator_access"].startswith("2 of 2 taken after ") and budget["dra_support"].startswith("1 of 2 taken")
    assert all("2 of the 2 DRA devices of gpu.nvidia.com not allocated to a ResourceClaim" in text for text in budget.values())
