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


def test_evidence_is_redacted_where_it_is_recorded():
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"

    def leaky(ctx):
        ctx.record("kubectl get secret -n ns s -o yaml", "token: %s\nAuthorization: Bearer abcdefghijklmnopqrstuvwxyz" % token,
                   api="GET /api/v1/namespaces/ns/secrets/s", note="password=hunter2hunter2")
        return Finding(PASS, "read it")

    evidence = run({"dra_support": leaky})["dra_support"].evidence[0]
    assert token not in evidence.observed and "abcdefghijklmnopqrstuvwxyz" not in evidence.observed
    assert "hunter2" not in evidence.note and "<redacted>" in evidence.observed and "<redacted>" in evidence.note


def test_redact_data_hides_secret_keys_and_values():
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.redact import redact_data

    assert redact_data({"token": "x", "notes": ["Bearer abcdefghijklmnopqrstuvwxyz"], "count": 3}) == \
        {"token": "<redacted>", "notes": ["Bearer <redacted>"], "count": 3}


class _StubDiscovery:
    def resources(self, group, version):
        return {"deployments": {"namespaced": True}} if group == "apps" else {"nodes": {"namespaced": False}}


class _StubKube:
    def __init__(self):
        self.calls = []

    def discovery(self):
        return _StubDiscovery()

    def get(self, group, version, plural, name, namespace=None):
        self.calls.append(("get", group, version, plural, name, namespace))
        return None

    def list_all(self, group, version, plural, namespace=None, label_selector=None, field_selector=None, page_size=500):
        self.calls.append(("list", group, version, plural, namespace, label_selector, field_selector))
        return [{"metadata": {"namespace": "ns", "name": "d"}}]


def test_context_calls_record_the_command_and_path_they_made():
    kube = _StubKube()
    ctx = engine.CheckContext(kube, engine.Options(), CHECKLIST, CHECKLIST.requirements[0])
    assert ctx.get("apps", "v1", "deployments", "kueue", "kueue-system") is None
    ctx.list("apps", "v1", "deployments", label_selector="app in (a,b)")
    ctx.list("", "v1", "nodes", field_selector="spec.unschedulable=false")
    first, second, third = ctx.evidence
    assert (first.command, first.observed, first.api) == (
        "kubectl get deployments.apps -n kueue-system kueue", "NotFound", "GET /apis/apps/v1/namespaces/kueue-system/deployments/kueue")
    assert (second.command, second.observed, second.api) == (
        "kubectl get deployments.apps -A -l 'app in (a,b)'", "ns/d", "GET /apis/apps/v1/deployments?labelSelector=app in (a,b)")
    assert (third.command, third.api) == (
        "kubectl get nodes --field-selector spec.unschedulable=false", "GET /api/v1/nodes?fieldSelector=spec.unschedulable=false")
    assert [c[0] for c in kube.calls] == ["get", "list", "list"]


def test_options_are_typed_and_an_unknown_one_is_an_error():
    options = engine.Options(audit_strategy="stream", custom_metrics_namespace="ml")
    assert (options.audit_strategy, options.custom_metrics_namespace, options.audit_exempt_namespaces) == ("stream", "ml", [])
    with pytest.raises(TypeError):
        engine.Options(audit_stratgy="stream")  # pylint: disable=unexpected-keyword-arg


class _StubRequests(_StubKube):
    """Raw requests: a 404 for one path, a one-item page for the others."""

    def request(self, method, path, query=None, **_kwargs):
        self.calls.append(("request", path, dict(query or {})))
        if path.endswith("/missing"):
            raise KubeError(method, path, 404, "Not Found", "gone")
        return {"items": [{"metadata": {"name": "n1"}}], "metadata": {"continue": "t"}}


def test_pages_raw_reads_failures_and_discovery_record_the_call_they_made():
    kube = _StubRequests()
    ctx = engine.CheckContext(kube, engine.Options(), CHECKLIST, CHECKLIST.requirements[0])
    page = ctx.page("", "v1", "nodes", 100, label_selector="a.b/c=true")
    assert page["metadata"]["continue"] == "t" and kube.calls[-1] == ("request", "/api/v1/nodes", {
        "labelSelector": "a.b/c=true", "fieldSelector": None, "limit": 100})
    ctx.raw("/apis/x/v1/things", {"labelSelector": "app in (a,b)"})
    with pytest.raises(KubeError):
        ctx.raw("/apis/x/v1/missing", on_error=lambda exc: "%s %s" % (exc.status, exc.message))
    with pytest.raises(KubeError):
        ctx.raw("/apis/x/v1/missing")  # no on_error: nothing recorded
    ctx.record_discovery("x served", group="x")
    paged, raw, failed, discovered = ctx.evidence
    assert (paged.command, paged.api) == ("kubectl get nodes -l a.b/c=true", "GET /api/v1/nodes?labelSelector=a.b/c=true&limit=100")
    assert raw.command == "kubectl get --raw '/apis/x/v1/things?labelSelector=app+in+%28a,b%29'"
    assert raw.api == "GET /apis/x/v1/things?labelSelector=app in (a,b)"
    assert (failed.command, failed.observed, failed.api) == ("kubectl get --raw /apis/x/v1/missing", "404 gone", "GET /apis/x/v1/missing")
    assert (discovered.command, discovered.api) == ("kubectl api-resources --api-group=x", engine.DISCOVERY_API)
