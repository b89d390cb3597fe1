"""The live-cluster tier: the same checks against the cluster KUBECONFIG names, asserting a verdict.

    KUBECONFIG=~/.kube/config .venv/bin/python -m pytest -m cluster tests/cluster
    AI_CONFORMANCE_EXPECT=expect.yaml KUBECONFIG=... .venv/bin/python -m pytest -m cluster tests/cluster

Read-only, except with ``AI_CONFORMANCE_PROBES=true``: then the functional probes run too (they create and remove
their scratch namespaces; the identity needs docs/rbac-probes.md's grants) and their tests assert what they
decided. Skipped when KUBECONFIG is unset. ``AI_CONFORMANCE_EXPECT`` names a YAML (or JSON) file
mapping requirement ids to the outcome (pass, fail, not_applicable, unknown, error, skipped) or the
status (Implemented, Not Implemented, N/A) this cluster must get, and optionally ``verdict:`` (e.g.
"not conformant"); every id it names is asserted. Without it, every MUST must be decided (no error,
unknown or skipped). Either way the artifacts must name this cluster: the API server kubectl names
for the same KUBECONFIG and the kube-system namespace UID read here independently.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import artifacts as report, checklists
from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import PROBES as REGISTERED, scratch
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import OUTCOMES, UNDECIDED
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no live cluster to verify"),
]


def expectations():
    """The user's expected outcome per requirement, or None."""
    path = os.environ.get("AI_CONFORMANCE_EXPECT")
    if not path:
        return None
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        pytest.fail("AI_CONFORMANCE_EXPECT=%s must map requirement ids to outcomes or statuses" % path)
    return data


PROBES = os.environ.get("AI_CONFORMANCE_PROBES", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def live_run():
    kube = Kube.from_params({})  # KUBECONFIG and K8S_AUTH_*, resolved as kubectl resolves them
    outcome = verify(kube, checklist_version=os.environ.get("AI_CONFORMANCE_CHECKLIST_VERSION"), options=Options(probes=PROBES))
    return kube, outcome


@pytest.fixture(scope="module")
def artifacts(live_run, tmp_path_factory):
    dummy, outcome = live_run
    out = tmp_path_factory.mktemp("live") / "report"
    report.write_artifacts(str(out), checklists.load(outcome["checklist_version"]), outcome["results"], cluster=outcome["cluster"])
    return out


def test_every_requirement_of_the_checklist_has_a_result(live_run):
    dummy, outcome = live_run
    assert [r["id"] for r in outcome["results"]] == checklists.load(outcome["checklist_version"]).ids
    assert all(r["outcome"] in OUTCOMES for r in outcome["results"])


def test_the_verdict_is_the_expected_one(live_run):
    dummy, outcome = live_run
    expected = expectations()
    by_id = {r["id"]: r for r in outcome["results"]}
    if expected is None:
        undecided = ["%s (%s: %s)" % (r["id"], r["outcome"], r["notes"][:200]) for r in outcome["results"]
                     if r["level"] == "MUST" and r["outcome"] in UNDECIDED]
        assert not undecided, "MUSTs not decided on this cluster: %s" % "; ".join(undecided)
        return
    verdict = expected.pop("verdict", None)
    if verdict is not None:
        assert outcome["summary"]["verdict"] == verdict, outcome["summary"]["headline"]
    wrong = []
    for req_id, want in expected.items():
        got = by_id.get(req_id)
        if got is None:
            wrong.append("%s: no result (not in checklist %s)" % (req_id, outcome["checklist_version"]))
        elif want not in (got["outcome"], got["status"]) and not (want == "" and got["status"] == ""):
            wrong.append("%s: expected %s, got %s (%s)" % (req_id, want, got["outcome"], got["notes"][:200]))
    assert not wrong, "; ".join(wrong)


def test_every_pass_names_its_evidence(live_run):
    dummy, outcome = live_run
    for result in outcome["results"]:
        if result["outcome"] == "pass":
            assert result["evidence"], result["id"]


def test_no_check_crashed(live_run):
    dummy, outcome = live_run
    crashed = [r["id"] for r in outcome["results"] if "a bug in k8s_ai.conformance" in r["notes"]]
    assert not crashed


def test_not_applicable_carries_a_justification(live_run):
    dummy, outcome = live_run
    for result in outcome["results"]:
        if result["outcome"] == "not_applicable":
            assert result["notes"].strip(), result["id"]


def test_api_calls_are_bounded(live_run):
    if PROBES:
        pytest.skip("with probes the run also polls what each probe awaits; the bound is the read-only checks'")
    dummy, outcome = live_run
    assert outcome["api_requests"] <= 120


def kubectl():
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else shutil.which("kubectl")


def test_the_artifacts_name_the_cluster_kubectl_names(live_run, artifacts):
    kube, outcome = live_run
    identity = outcome["cluster"]["identity"]
    namespace = kube.request("GET", "/api/v1/namespaces/kube-system")
    assert identity["cluster_uid"] == namespace["metadata"]["uid"]
    tool = kubectl()
    if tool:
        server = subprocess.run([tool, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"],
                                capture_output=True, text=True, check=True, timeout=30).stdout.strip()
        context = subprocess.run([tool, "config", "current-context"], capture_output=True, text=True, check=True,
                                 timeout=30).stdout.strip()
        assert identity["server"].rstrip("/") == server.rstrip("/")
        if not os.environ.get("K8S_AUTH_CONTEXT"):
            assert identity["context"] == context
    for name in ("report.md", "ai-conformance-checks.junit.xml", "evidence/%s.md" % outcome["results"][0]["id"]):
        text = (artifacts / name).read_text()
        assert identity["server"] in text and identity["cluster_uid"] in text, name
    assert yaml.safe_load((artifacts / "ai-conformance-results.json").read_text())["cluster"]["identity"]["cluster_uid"] == identity["cluster_uid"]


@pytest.mark.skipif(not PROBES, reason="AI_CONFORMANCE_PROBES is not true: the run was read-only")
def test_every_probe_that_ran_decided_and_a_failed_probe_is_never_implemented(live_run):
    dummy, outcome = live_run
    probed = {r["id"]: r for r in outcome["results"] if "probe" in r["details"]}
    passed_checks = [r["id"] for r in outcome["results"] if r["id"] in REGISTERED and r["id"] not in probed and r["outcome"] == "pass"]
    assert passed_checks == [], "a requirement with a probe passed without its probe running: %s" % passed_checks
    for requirement, result in probed.items():
        probe = result["details"]["probe"]
        assert probe["outcome"] != "error", "%s: the probe could not decide: %s" % (requirement, probe["notes"])
        assert probe["cleanup"] == "done", "%s: %s" % (requirement, probe["cleanup"])
        if probe["outcome"] == "fail":
            assert result["status"] == "Not Implemented", requirement
        if probe["outcome"] == "pass":
            assert any(e["note"] == "cleanup" for e in result["evidence"]), requirement


@pytest.mark.skipif(not PROBES, reason="AI_CONFORMANCE_PROBES is not true: the run was read-only")
def test_the_probes_left_nothing_labelled_as_ours(live_run):
    kube, dummy = live_run
    assert [n["metadata"]["name"] for n in kube.list_all("", "v1", "namespaces", label_selector=scratch.OURS)
            if (n.get("status") or {}).get("phase") != "Terminating"] == []
