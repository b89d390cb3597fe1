"""The cluster_autoscaling probe against the fake API server with the simulated cluster autoscaler
(simulations/autoscaler.py): on kueue-only-autoscaled (cluster-autoscaler, Cluster API pool of two GPU nodes, max 4)
pods filling the pool plus one make a node join it and, once deleted, the pool return to its baseline; an autoscaler
that never scales up, a pool at its max size, one that never scales down each fail naming the step; probe_timeout
cutting a wait short is undecided; without autoscaler_node_pool_label the probe is skipped and the check's verdict
stands; a malformed label is an error naming the option; no namespace of ours is left."""

import threading

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import scheduling
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import IMAGES
from tests.fakeapi import load_cluster
from tests.fakeapi.simulations import autoscaler
from tests.integration.conftest import probed_result, run_playbook, scratch_left, transcript

RID = "cluster_autoscaling"
CLUSTER = "kueue-only-autoscaled"
POOL = "nvidia.com/gpu.present=true"
POOL_NODES = ("gpu-01", "gpu-02")
NOT_SHOWN = "functional part not demonstrated"


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """The official windows (30 s) and 2 s polls are for real nodes: the simulated autoscaler acts within a second."""
    monkeypatch.setattr(scheduling, "BASELINE_WINDOW", 0.5)
    monkeypatch.setattr(scheduling, "SCALE_DOWN_STABLE", 0.5)
    monkeypatch.setattr(scheduling, "POLL_INTERVAL", 0.05)


@pytest.fixture
def probed(probe_cluster):
    """Run cluster_autoscaling with probes on a simulated cluster: (its result, the namespaces of ours left, the
    names of the pool's nodes afterwards)."""
    def run(cluster=None, probe_timeout=30.0, **options):
        _server, kube = probe_cluster(cluster or load_cluster(CLUSTER))
        options.setdefault("autoscaler_node_pool_label", POOL)
        result = probed_result(kube, RID, probe_timeout=probe_timeout, **options)
        nodes = sorted(n["metadata"]["name"] for n in kube.list_all("", "v1", "nodes", label_selector=POOL))
        return result, scratch_left(kube), nodes
    return run


def annotated(annotations, cluster=None):
    """``cluster`` (kueue-only-autoscaled) whose pool nodes carry ``annotations`` (the simulated autoscaler's script)."""
    cluster = cluster or load_cluster(CLUSTER)
    for obj in cluster.objects:
        if obj["kind"] == "Node" and obj["metadata"]["name"] in POOL_NODES:
            obj["metadata"].setdefault("annotations", {}).update(annotations)
    return cluster


def without_gpus(cluster):
    """``cluster`` whose pool nodes advertise no accelerator resource (the probe then sizes its pods by CPU)."""
    for obj in cluster.objects:
        if obj["kind"] == "Node":
            for field in ("allocatable", "capacity"):
                obj["status"][field].pop("nvidia.com/gpu", None)
    return cluster


def test_pods_filling_the_pool_plus_one_make_a_node_join_it_and_the_pool_returns_to_its_baseline(probed):
    result, left, nodes = probed()
    assert result["outcome"] == "pass" and result["details"]["probe"]["outcome"] == "pass", result["notes"]
    assert "Probe: Node pool nvidia.com/gpu.present=true scaled up and back down: 5 pause pods holding one nvidia.com/gpu " \
           "each filled its 2 Ready nodes (4 free) and one more; pod autoscale-4 was Unschedulable (0/3 nodes are available: " \
           "2 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector.); node gpu-01-" in result["notes"]
    assert "joined the pool and ran it" in result["notes"] and "back at its 2 baseline nodes" in result["notes"]
    assert not any(c.startswith(NOT_SHOWN) for c in result["caveats"]), result["caveats"]
    text = transcript(result)
    steps = ["kubectl get nodes -l nvidia.com/gpu.present=true\n2 nodes",  # the pool and its baseline
             "kubectl get nodes -l nvidia.com/gpu.present=true -w\nheld after",  # stable before the probe
             "NVIDIA.COM/GPU REQUESTED",  # its free capacity
             "Pod/autoscale-4 created",
             "met after", "pod autoscale-4 PodScheduled=False (Unschedulable: 0/3 nodes are available",
             "joined: 3 Ready, schedulable nodes (baseline 2)",
             "kubectl wait -n ", "pods/autoscale-4 --for='Running'",
             "5 pods deleted: autoscale-0, autoscale-1, autoscale-2, autoscale-3, autoscale-4", "no pod left",
             "the pool's Ready nodes are its 2 baseline nodes again"]
    positions = [text.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), list(zip(steps, positions))
    assert "nodeSelector:\n    nvidia.com/gpu.present: 'true'" in text and "nvidia.com/gpu: '1'" in text
    assert "- key: nvidia.com/gpu\n    operator: Exists" in text and IMAGES["pause"] in text and "&id" not in text
    assert result["details"]["probe"]["cleanup"] == "done" and left == [] and nodes == list(POOL_NODES)


@pytest.mark.parametrize("script", [{autoscaler.SCRIPT: autoscaler.NEVER_UP}, {autoscaler.MAX_SIZE: "2"}],
                         ids=["never-scales-up", "pool-at-its-max-size"])
def test_no_node_joining_the_pool_fails_naming_the_scale_up(probed, monkeypatch, script):
    monkeypatch.setattr(scheduling, "SCALE_UP_TIMEOUT", 1.5)
    result, left, nodes = probed(annotated(script))
    assert result["outcome"] == "fail" and result["status"] == "Not Implemented", result["notes"]
    assert result["notes"].startswith("Probe failed: no new node joined pool nvidia.com/gpu.present=true within 2s of pod "
                                      "autoscale-4 waiting for one (0/3 nodes are available: 2 Insufficient nvidia.com/gpu"), \
        result["notes"]
    assert "(The read-only check found: cluster-autoscaler 1.35.0" in result["notes"]
    assert "cluster-autoscaler-status" in result["remediation"] and "NotTriggerScaleUp" in result["remediation"]
    assert "not met after" in transcript(result) and "pods deleted" not in transcript(result)
    assert left == [] and nodes == list(POOL_NODES)


def test_a_pool_that_keeps_its_new_node_fails_naming_the_scale_down(probed, monkeypatch):
    monkeypatch.setattr(scheduling, "SCALE_DOWN_TIMEOUT", 1.5)
    result, left, nodes = probed(annotated({autoscaler.SCRIPT: autoscaler.NEVER_DOWN}))
    assert result["outcome"] == "fail" and result["status"] == "Not Implemented", result["notes"]
    assert "Probe failed: pool nvidia.com/gpu.present=true scaled up (node gpu-01-" in result["notes"]
    assert "ran pod autoscale-4) but did not return to its 2 baseline nodes within 2s of the probe's pods being deleted: " \
           "3 nodes, Ready and schedulable: gpu-01, gpu-01-" in result["notes"]
    assert "--scale-down-enabled" in result["remediation"]
    text = transcript(result)
    assert "joined: 3 Ready, schedulable nodes" in text and "5 pods deleted" in text and "not met after" in text
    assert left == [] and len(nodes) == 3


def test_probe_timeout_cutting_the_scale_up_wait_short_leaves_the_requirement_undecided(probed):
    result, left, _nodes = probed(annotated({autoscaler.SCRIPT: autoscaler.NEVER_UP}), probe_timeout=4.0)
    assert result["outcome"] == "error", result["notes"]
    assert "Probe could not decide: probe_timeout=4.0s ran out in a wait the official test allows 1200s for: no new node " \
           "joined pool nvidia.com/gpu.present=true" in result["notes"]
    assert "raise probe_timeout" in result["remediation"] and left == []


def test_a_pool_without_accelerator_resources_is_filled_by_cpu(probed):
    result, left, nodes = probed(without_gpus(load_cluster(CLUSTER)))
    assert result["details"]["probe"]["outcome"] == "pass", result["notes"]
    assert "pause pods holding " in result["notes"] and "m CPU (the pool's nodes advertise no accelerator) each" in result["notes"]
    assert "Insufficient cpu" in result["notes"]
    text = transcript(result)
    assert "CPU REQUESTED" in text and "nvidia.com/gpu: '1'" not in text and "joined: 3 Ready" in text
    assert left == [] and nodes == list(POOL_NODES)


def test_without_the_pool_label_the_probe_is_skipped_and_the_check_keeps_its_verdict(probed):
    result, left, nodes = probed(autoscaler_node_pool_label="")
    assert result["outcome"] == "pass" and result["status"] == "Implemented", result["notes"]
    assert result["details"]["probe"]["outcome"] == "skipped" and "Probe:" not in result["notes"]
    assert result["caveats"][-1].startswith("%s: the probe needs autoscaler_node_pool_label, the node label key=value naming "
                                            "the accelerator node pool" % NOT_SHOWN), result["caveats"]
    assert "kubectl apply" not in transcript(result) and left == [] and nodes == list(POOL_NODES)


def test_a_label_no_ready_node_carries_leaves_the_probe_unknown(probed):
    result, left, _nodes = probed(autoscaler_node_pool_label="cloud.google.com/gke-nodepool=gpu-pool")
    assert result["outcome"] == "pass" and result["details"]["probe"]["outcome"] == "unknown", result["notes"]
    assert "no Ready, schedulable node carries cloud.google.com/gke-nodepool=gpu-pool" in result["caveats"][-1]
    assert left == []


@pytest.mark.parametrize("label", ["gpu", "pool=a=b", "=gpu", "nvidia.com/gpu.present=", "Bad_Prefix/x=y", "k=-v"])
def test_a_malformed_pool_label_is_an_error_naming_the_option_and_an_example(label):
    with pytest.raises(ValueError) as err:
        Options(autoscaler_node_pool_label=label)
    assert str(err.value).startswith("autoscaler_node_pool_label must be the one node label key=value that names the "
                                     "accelerator node pool the autoscaler scales, such as nvidia.com/gpu.present=true")
    assert "got %r" % label in str(err.value)
    assert Options(autoscaler_node_pool_label="cloud.google.com/gke-nodepool=gpu-pool").node_pool_label() == \
        ("cloud.google.com/gke-nodepool", "gpu-pool")


def test_the_playbook_fails_on_a_malformed_pool_label_before_asking_the_cluster(fake_cluster, tmp_path):
    server = fake_cluster(CLUSTER)
    kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"))
    proc = run_playbook("playbooks/verify.yml", tmp_path, dict(
        ai_conformance_kubeconfig=str(kubeconfig), ai_conformance_output_dir=str(tmp_path / "out"),
        ai_conformance_autoscaler_node_pool_label="gpu-pool"))  # checked whether or not the probes run
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "autoscaler_node_pool_label must be the one node label key=value" in proc.stdout, proc.stdout[-3000:]
    assert "got 'gpu-pool'" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert server.request_count == 0


def test_the_pool_resource_is_the_accelerator_most_nodes_advertise():
    def node(resources):
        return {"status": {"allocatable": dict(cpu="8", **resources)}}
    gpus, mig = node({"nvidia.com/gpu": "8"}), node({"nvidia.com/mig-1g.10gb": "7"})
    assert scheduling._pool_resource([gpus, mig, gpus]) == "nvidia.com/gpu"
    assert scheduling._pool_resource([mig, mig, gpus]) == "nvidia.com/mig-1g.10gb"
    assert scheduling._pool_resource([node({"nvidia.com/gpu": "0"}), node({})]) == "cpu"


def test_a_scale_up_faster_than_the_probe_looks_is_seen_by_the_pod_on_the_new_node(probe_cluster, monkeypatch):
    """An autoscaler that adds a node between two looks (seen on a real control plane with a quick one): the pod that
    could not fit is already bound to the new node when the probe looks again, PodScheduled=True. That is the
    scale-up, shown by the node that joined and the pod on it, not a pool with more room than it showed. (The fake's
    controllers act when requests arrive: a bystander's reads keep them going between the probe's looks.)"""
    monkeypatch.setattr(scheduling, "POLL_INTERVAL", 4.0)
    _server, kube = probe_cluster(load_cluster(CLUSTER))
    done = threading.Event()

    def bystander():
        while not done.wait(0.1):
            kube.list_all("", "v1", "nodes")
    reader = threading.Thread(target=bystander)
    reader.start()
    try:
        result = probed_result(kube, RID, probe_timeout=60.0, autoscaler_node_pool_label=POOL)
    finally:
        done.set()
        reader.join()
    assert result["outcome"] == "pass" and result["details"]["probe"]["outcome"] == "pass", (result["notes"], result["caveats"])
    assert "; pod autoscale-4 did not fit and was bound to node gpu-01-" in result["notes"], result["notes"]
    assert "which joined the pool after its baseline, before the probe's next look (4s)" in result["notes"]
    assert "back at its 2 baseline nodes" in result["notes"] and scratch_left(kube) == []
