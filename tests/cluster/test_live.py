"""The live-cluster tier: the same checks against whatever KUBECONFIG points at.

    KUBECONFIG=~/.kube/config .venv/bin/python -m pytest -m cluster tests/cluster

Read-only; skipped when KUBECONFIG is unset. What a live cluster passes or fails is its own
business, so these tests assert the run's integrity: every requirement decided or explained,
every pass backed by evidence, no check crashing, bounded API calls.
"""

import os

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import OUTCOMES
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no live cluster to verify"),
]


@pytest.fixture(scope="module")
def live_run():
    kube = Kube.from_params(dict(kubeconfig=os.environ["KUBECONFIG"], context=os.environ.get("K8S_AUTH_CONTEXT")))
    return verify(kube, checklist_version=os.environ.get("AI_CONFORMANCE_CHECKLIST_VERSION"))


def test_every_requirement_of_the_checklist_has_a_result(live_run):
    assert [r["id"] for r in live_run["results"]] == checklists.load(live_run["checklist_version"]).ids
    assert all(r["outcome"] in OUTCOMES for r in live_run["results"])


def test_every_pass_names_its_evidence(live_run):
    for result in live_run["results"]:
        if result["outcome"] == "pass":
            assert result["evidence"], result["id"]


def test_no_check_crashed(live_run):
    crashed = [r["id"] for r in live_run["results"] if "a bug in k8s_ai.conformance" in r["notes"]]
    assert not crashed


def test_not_applicable_carries_a_justification(live_run):
    for result in live_run["results"]:
        if result["outcome"] == "not_applicable":
            assert result["notes"].strip(), result["id"]


def test_api_calls_are_bounded(live_run):
    assert live_run["api_requests"] <= 120
