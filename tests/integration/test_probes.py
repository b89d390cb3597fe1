"""The probe runner and the scratch-namespace lifecycle, over real HTTP against the fake API server, with the
gang_scheduling probe on Kueue (the kueue-only fixture) as the probe that runs."""

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import scratch
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.integration.conftest import probed_result, scratch_left

OURS = "/api/v1/namespaces?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dk8s-ai-conformance-probe"


@pytest.fixture
def cluster(probe_cluster):
    """start(name="kueue-only") -> (server, kube) of a simulated cluster."""
    return lambda name="kueue-only": probe_cluster(name)


def gang(kube, **options):
    return probed_result(kube, "gang_scheduling", **dict(dict(gang_negative_window=2, probe_timeout=30), **options))


def test_the_gang_probe_passes_on_kueue_with_a_transcript_and_leaves_nothing(cluster):
    server, kube = cluster()
    result = gang(kube)
    assert result["outcome"] == "pass", result["notes"]
    assert "Probe: Kueue ran a 2-pod Job through LocalQueue gang-probe (ClusterQueue gpu-cluster-queue) to Complete" in result["notes"]
    assert "1000-pod Job" in result["notes"] and not any(c.startswith("functional part") for c in result["caveats"])
    transcript = [(e["command"], e["observed"]) for e in result["evidence"] if e["note"] == "cleanup" or "-n ai-conformance-" in e["command"]]
    commands = "\n".join(command for command, observed in transcript)
    assert "kind: LocalQueue" in commands and "kind: Job" in commands and "kueue.x-k8s.io/queue-name: gang-probe" in commands
    assert any(o.startswith("met after") and "Complete=True" in o for c, o in transcript if "--for='Complete'" in c)
    assert any(o.startswith("held after") for c, o in transcript if "job-name=gang-too-big" in c)
    assert transcript[-1][0].startswith("kubectl delete namespace ai-conformance-") and "gone after" in transcript[-1][1]
    probe = result["details"]["probe"]
    assert probe["outcome"] == "pass" and probe["cleanup"] == "done" and probe["namespace"].startswith("ai-conformance-")
    assert scratch_left(kube) == []
    namespace_posts = [r for r in server.requests if r.method == "POST" and r.path == "/api/v1/namespaces"]
    assert len(namespace_posts) == 1


def test_every_object_the_probe_creates_is_labelled_as_ours_with_the_run(cluster, monkeypatch):
    server, kube = cluster()
    seen = []
    original = Kube.create

    def recording(self, group, version, plural, body, namespace=None, dry_run=False):
        seen.append((plural, dict((body.get("metadata") or {}).get("labels") or {})))
        return original(self, group, version, plural, body, namespace=namespace, dry_run=dry_run)
    monkeypatch.setattr(Kube, "create", recording)
    assert gang(kube)["outcome"] == "pass"
    assert [plural for plural, labels in seen] == ["namespaces", "localqueues", "jobs", "jobs"]
    every = [labels for plural, labels in seen]
    assert len({labels[scratch.RUN_LABEL] for labels in every}) == 1
    assert all(labels[scratch.MANAGED_BY_LABEL] == scratch.MANAGED_BY for labels in every)
    assert all(labels[scratch.REQUIREMENT_LABEL] == "gang-scheduling" for labels in every)


def test_a_queue_that_admits_part_of_an_oversized_gang_fails_the_requirement(cluster):
    server, kube = cluster()
    server.store.get("kueue.x-k8s.io/v1beta2", "ClusterQueue", "gpu-cluster-queue")["metadata"].setdefault(
        "annotations", {})["fakeapi.k8s-ai.io/admit-over-quota"] = "true"
    result = gang(kube)
    assert result["outcome"] == "fail" and result["status"] == "Not Implemented", result["notes"]
    assert result["notes"].startswith("Probe failed: Kueue let part of a gang larger than its quota start: pods Running or bound")
    assert "The read-only check found: Kueue v0.19.2 is installed and operational" in result["notes"]
    assert "waitForPodsReady" in result["remediation"]
    assert scratch_left(kube) == []


def test_a_probe_past_its_timeout_is_undecided_creates_nothing_more_and_leaves_nothing(cluster):
    server, kube = cluster()
    result = gang(kube, probe_timeout=2.5, gang_negative_window=30)
    assert result["outcome"] == "error", result["notes"]
    assert "did not finish within probe_timeout=2.5s" in result["notes"]
    assert scratch_left(kube) == []
    cleanup = max(i for i, r in enumerate(server.requests) if r.method == "DELETE")
    assert [r for r in server.requests[cleanup:] if r.method == "POST"] == []


def test_a_cancelled_probe_makes_no_further_call_that_writes(cluster):
    server, kube = cluster()
    from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists
    checklist = checklists.load("1.35")
    ctx = scratch.ProbeContext(kube, Options(), checklist, checklist.get("gang_scheduling"), "testrun1", timeout=60)
    ctx.open()
    ctx.cancelled.set()
    before = len(server.requests)
    with pytest.raises(scratch.Cancelled):
        ctx.create("", "v1", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    with pytest.raises(scratch.Cancelled):
        ctx.denied("", "v1", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert server.requests[before:] == []
    ctx.close()
    assert scratch_left(kube) == []


def test_a_namespace_stuck_terminating_is_reported_as_a_cleanup_failure(cluster, monkeypatch):
    server, kube = cluster()
    server.store.namespace_termination_seconds = 30
    monkeypatch.setattr(scratch, "CLEANUP_TIMEOUT", 1.0)
    result = gang(kube)
    assert result["outcome"] == "pass", result["notes"]
    leftover = [c for c in result["caveats"] if c.startswith("probe cleanup failed: namespace ai-conformance-")]
    assert leftover and "after its deletion" in leftover[0], result["caveats"]
    assert result["details"]["probe"]["cleanup"].startswith("namespace ai-conformance-")


def test_expired_namespaces_of_interrupted_runs_are_swept_and_a_live_runs_are_kept(cluster):
    server, kube = cluster()
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime(scratch.TIME_FORMAT)
    future = (datetime.now(timezone.utc) + timedelta(minutes=5)).strftime(scratch.TIME_FORMAT)
    for name, when in (("ai-conformance-old01", past), ("ai-conformance-live1", future)):
        kube.create("", "v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": name, "labels": {scratch.MANAGED_BY_LABEL: scratch.MANAGED_BY, scratch.RUN_LABEL: "earlier"},
            "annotations": {scratch.EXPIRES_ANNOTATION: when}}})
    assert gang(kube)["outcome"] == "pass"
    assert scratch_left(kube) == ["ai-conformance-live1"]


def test_keep_probe_resources_keeps_the_namespace_and_says_how_to_remove_it(cluster):
    server, kube = cluster()
    result = gang(kube, keep_probe_resources=True)
    kept = scratch_left(kube)
    assert result["outcome"] == "pass" and len(kept) == 1
    assert any("kept for debugging" in e["observed"] and "kubectl delete namespace %s" % kept[0] in e["observed"]
               for e in result["evidence"])


@pytest.mark.parametrize("probes, off, why", [(False, None, "probes: false"), (True, "check mode", "check mode")])
def test_a_probe_that_did_not_run_says_why_and_touches_nothing(cluster, probes, off, why):
    server, kube = cluster()
    outcome = verify(kube, requirements=["gang_scheduling"], options=Options(probes=probes), probes_off=off)
    result = outcome["results"][0]
    assert result["outcome"] == "pass"
    assert result["caveats"] == ["functional part not demonstrated: its probe did not run (%s)" % why]
    assert [r for r in server.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")] == []


def test_ctrl_c_during_a_probe_leaves_nothing_labelled_as_ours(cluster, tmp_path):
    """SIGINT to the whole process group (what Ctrl-C in a terminal does) while the gang probe watches its negative
    window: the verify module cancels the probe and removes its namespace before the play ends."""
    import os
    import signal
    import subprocess
    import time
    from tests.integration.conftest import ROOT, playbook_command
    server, kube = cluster()
    command, env = playbook_command("playbooks/verify.yml", tmp_path, dict(
        ai_conformance_kubeconfig=str(tmp_path / "kubeconfig"), ai_conformance_output_dir=str(tmp_path / "out"),
        ai_conformance_requirements=["gang_scheduling"], ai_conformance_probes=True, ai_conformance_gang_negative_window=60))
    proc = subprocess.Popen(command, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len([r for r in server.requests if r.method == "POST" and r.path.endswith("/jobs")]) < 2:  # the oversized gang
            assert time.monotonic() < deadline and proc.poll() is None, "the probe never reached its negative window"
            time.sleep(0.2)
        assert scratch_left(kube), "no scratch namespace while the probe runs"
        os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=90)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:  # the module process may outlive ansible-playbook by its cleanup
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a process of the run is still alive"
        time.sleep(0.2)
    assert proc.returncode != 0, output[-3000:]
    assert scratch_left(kube) == [], output[-3000:]
    deletes = [r.path for r in server.requests if r.method == "DELETE" and r.path.startswith("/api/v1/namespaces/ai-conformance-")]
    assert deletes, "nothing deleted the scratch namespace"
