"""The engine: selection, concurrency, per-check timeouts, isolation of failures."""

import threading
import time

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists, engine
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import (
    ERROR, FAIL, NOT_APPLICABLE, PASS, SKIPPED, Finding, Result, summarize,
)

CHECKLIST = checklists.load("1.35")


def run(checks, **options):
    return {r.id: r for r in engine.run(None, CHECKLIST, list(CHECKLIST.requirements), engine.Options(**options), checks=checks)}


def test_unregistered_requirements_are_skipped_not_passed():
    results = run({})
    assert {r.outcome for r in results.values()} == {SKIPPED}
    assert all(r.notes == engine.NOT_IMPLEMENTED_NOTE and r.status == "" for r in results.values())


def test_exception_and_api_error_make_only_their_requirement_error():
    def boom(ctx):
        raise RuntimeError("unexpected shape")

    def forbidden(ctx):
        raise KubeError("GET", "/apis/x/v1/things", 403, "Forbidden", "no")

    def ok(ctx):
        ctx.record("kubectl get things", "thing-1")
        return Finding(PASS, "found thing-1")

    results = run({"gang_scheduling": boom, "ai_inference": forbidden, "dra_support": ok})
    assert results["gang_scheduling"].outcome == ERROR and "RuntimeError: unexpected shape" in results["gang_scheduling"].notes
    assert results["ai_inference"].outcome == ERROR and "GET /apis/x/v1/things" in results["ai_inference"].notes
    assert "grant the identity 'list'" in results["ai_inference"].remediation
    assert results["dra_support"].outcome == PASS and results["dra_support"].evidence[0].command == "kubectl get things"


def test_checks_run_concurrently_and_a_slow_one_times_out():
    release = threading.Event()

    def slow(ctx):
        release.wait(5)
        return Finding(PASS, "late")

    def quick(ctx):
        time.sleep(0.2)
        return Finding(FAIL, "missing")

    started = time.monotonic()
    results = run({"gang_scheduling": slow, "ai_inference": quick, "pod_autoscaling": quick, "dra_support": quick},
                  check_timeout=0.5)
    elapsed = time.monotonic() - started
    release.set()
    assert results["gang_scheduling"].outcome == ERROR and "check_timeout=0.5" in results["gang_scheduling"].notes
    assert results["ai_inference"].outcome == FAIL
    assert elapsed < 1.5, "quick checks must overlap and the slow one must not hold the run"


def test_results_come_back_in_checklist_order():
    assert list(run({})) == CHECKLIST.ids


def test_selection_include_exclude_and_unknown_names():
    picked = engine.select(CHECKLIST, sections=["networking", "security"], exclude_requirements=["ai_inference"])
    assert [r.id for r in picked] == ["secure_accelerator_access"]
    assert [r.id for r in engine.select(CHECKLIST, requirements=["gang_scheduling"])] == ["gang_scheduling"]
    with pytest.raises(checklists.ChecklistError, match="unknown section"):
        engine.select(CHECKLIST, sections=["network"])


def test_not_applicable_needs_a_justification():
    with pytest.raises(ValueError):
        Finding(NOT_APPLICABLE, "")
    with pytest.raises(ValueError):
        Finding("maybe", "x")


def test_summary_counts_and_must_rule():
    results = [Result("a", "s", "MUST", PASS), Result("b", "s", "MUST", NOT_APPLICABLE, notes="bare metal"),
               Result("c", "s", "SHOULD", FAIL), Result("d", "s", "MUST", ERROR)]
    summary = summarize(results, ["a", "b", "c", "d"], ("b",))
    assert summary["counts"][PASS] == 1 and summary["must_total"] == 3
    assert summary["must_not_met"] == [] and [u["id"] for u in summary["must_undecided"]] == ["d"]
    assert summary["verdict"] == "undecided" and summary["conformant"] is False and summary["passed"] is False
    assert summary["headline"].startswith("Undecided: 2 of 3 MUST requirements met (1 N/A with justification); could not decide: d (error)")
    assert Result.from_dict(results[1].to_dict()).status == "N/A"
