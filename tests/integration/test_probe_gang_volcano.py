"""The gang_scheduling probe on Volcano against the fake API server with the simulated Volcano (simulations/volcano.py):
rke2-gpu passes with a gang of pods sized from its free GPUs, together over its allocatable (from CPU once no GPU is free); a scheduler without gang
semantics fails; a stopped scheduler errors within probe_timeout; no namespace of ours is left."""

from pathlib import Path

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import IMAGES
from tests.fakeapi import load_cluster
from tests.fakeapi.fixtures import read_objects
from tests.fakeapi.simulations import volcano
from tests.integration.conftest import probed_result, scratch_left, transcript

RID = "gang_scheduling"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def served(probe_cluster):
    """Start a simulated cluster: a Kube on it."""
    return lambda cluster: probe_cluster(cluster)[1]


@pytest.fixture
def probed(served):
    """Run gang_scheduling with probes on a simulated cluster: (its result, the namespaces of ours left)."""
    def run(cluster, probe_timeout=30.0):
        kube = served(cluster)
        return probed_result(kube, RID, gang_negative_window=2, probe_timeout=probe_timeout), scratch_left(kube)
    return run


def without_gpus(cluster):
    """``cluster`` whose nodes offer no nvidia.com/gpu."""
    for obj in cluster.objects:
        if obj["kind"] == "Node":
            obj["status"]["allocatable"].pop("nvidia.com/gpu", None)
    return cluster


def test_volcano_runs_a_gang_that_fits_and_keeps_one_too_big_for_the_free_gpus_pending(probed):
    result, left = probed(load_cluster("rke2-gpu"))
    assert result["outcome"] == "pass", result["notes"]
    assert "Probe: Volcano ran a 2-pod Job (minAvailable 2, queue default) to Running" in result["notes"]
    # gpu-01 and gpu-02 have 8 (time-sliced) each, one used by vLLM: 7 free on the freest, 16 allocatable: 3 pods of 7
    assert "a Job of 3 pods of 7 nvidia.com/gpu = 21 > 16 allocatable" in result["notes"]
    assert "without any pod scheduled for 2s (its PodGroup Pending)" in result["notes"]
    assert not any(c.startswith("functional part not demonstrated") for c in result["caveats"]), result["caveats"]
    text = transcript(result)
    assert "apiVersion: batch.volcano.sh/v1alpha1" in text and "schedulerName: volcano" in text
    assert "minAvailable: 3" in text and IMAGES["busybox"] in text
    assert "state.phase=Running" in text and "held after" in text
    assert "gang-too-big-member-2   Pending   <none>   False (Unschedulable)" in text
    assert "Unschedulable=True (NotEnoughResources)" in text
    assert result["details"]["probe"]["cleanup"] == "done" and left == []


def test_without_free_gpus_the_oversized_gang_is_sized_from_cpu(probed):
    result, left = probed(without_gpus(load_cluster("rke2-gpu")))
    assert result["outcome"] == "pass", result["notes"]
    # the GPU nodes have the most CPU free: 64 - 8 requested; cp-01 has 16 - 0.525, less the gang that fitted
    assert "a Job of 3 pods of 56000m cpu = 168000m > " in result["notes"]
    assert "nvidia.com/gpu: '" not in transcript(result) and left == []


def test_a_scheduler_without_gang_semantics_fails(probed, monkeypatch):
    monkeypatch.setattr(volcano, "SCHEDULER", "per-pod")
    result, left = probed(load_cluster("rke2-gpu"))
    assert result["outcome"] == "fail", result["notes"]
    assert result["status"] == "Not Implemented"
    assert "Probe failed: Volcano let part of a gang larger than the nodes' allocatable (3 pods of 7 nvidia.com/gpu = 21 > 16 " \
           "allocatable) start: pods scheduled or Running: " in result["notes"]
    assert "gang plugin" in result["remediation"]
    assert "broken: pods scheduled or Running" in transcript(result) and left == []


def test_a_stopped_scheduler_fails_when_the_probe_time_is_up_and_leaves_no_namespace(probed, monkeypatch):
    """The gang that fits never runs within probe_timeout: what the probe awaited did not happen (fail), and the
    requirement is not Implemented on its readiness."""
    monkeypatch.setattr(volcano, "SCHEDULER", "stopped")
    result, left = probed(load_cluster("rke2-gpu"), probe_timeout=2.0)
    assert result["outcome"] == "fail", result["notes"]
    assert result["status"] == "Not Implemented"
    assert "the probe's wait ended without the promised behaviour" in result["notes"]
    assert "not met after" in transcript(result) and "state.phase=Pending" in transcript(result)
    assert left == []


def test_with_both_the_probe_drives_the_scheduler_the_check_named(probed):
    """The check names Volcano first when both work; the probe shows that one, so notes and probe agree."""
    cluster = load_cluster("kueue-only")
    cluster.objects = list(cluster.objects) + read_objects(FIXTURES / "components" / "volcano.yaml")
    result, left = probed(cluster)
    assert result["details"]["probe"]["outcome"] == "pass", result["notes"]
    assert result["notes"].startswith("Volcano") and "Probe: Volcano ran" in result["notes"]
    assert "apiVersion: batch.volcano.sh" in transcript(result) and "kind: LocalQueue" not in transcript(result)
    assert left == []


def test_the_simulated_admission_denies_a_job_on_a_missing_queue(served):
    kube = served(load_cluster("rke2-gpu"))
    job = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "lost"},
           "spec": {"queue": "nowhere", "minAvailable": 1, "tasks": [{"name": "t", "replicas": 1, "template": {}}]}}
    with pytest.raises(KubeError) as denied:
        kube.create("batch.volcano.sh", "v1alpha1", "jobs", job, namespace="default")
    assert "Queue nowhere is missing, not Open" in str(denied.value)
