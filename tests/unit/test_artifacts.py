"""The writers: checklist YAML in the program's schema, JSON, Markdown, JUnit, evidence, files."""

import json
import re
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import artifacts, checklists
from ansible_collections.k8s_ai.conformance.plugins.module_utils.redact import REDACTED
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import Evidence, Result

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_DIR = ROOT / "tests" / "fixtures" / "published"
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXZhbHVl"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretsecret\n-----END RSA PRIVATE KEY-----"


def published(version):
    return (PUBLISHED_DIR / ("AIConformance-%s.yaml" % version)).read_text(encoding="utf-8")


def sample_results():
    """One result per outcome, for the 1.35 checklist."""
    return [
        Result("dra_support", "accelerators", "MUST", "pass", "resource.k8s.io/v1 served with all four kinds",
               evidence=[Evidence("kubectl api-resources --api-group=resource.k8s.io",
                                  "deviceclasses resourceclaims resourceclaimtemplates resourceslices",
                                  "GET /apis/resource.k8s.io/v1")], duration_s=0.25),
        Result("ai_inference", "networking", "MUST", "pass", "Gateway API v1 served; GatewayClass traefik Accepted",
               evidence=[Evidence("kubectl get gatewayclasses", "traefik   Accepted=True")]),
        Result("gang_scheduling", "schedulingOrchestration", "MUST", "fail", "No gang scheduler: neither Kueue nor Volcano APIs are served",
               remediation="Install Kueue with role k8s_ai.conformance.gang_scheduler",
               evidence=[Evidence("kubectl api-resources --api-group=kueue.x-k8s.io", "(none)")]),
        Result("cluster_autoscaling", "schedulingOrchestration", "MUST", "not_applicable",
               "No cluster autoscaler or node-provisioning API: bare-metal nodes are not provisioned by the platform"),
        Result("pod_autoscaling", "schedulingOrchestration", "MUST", "error", "GET /apis/custom.metrics.k8s.io/v1beta1 answered 403",
               remediation="grant get/list on custom.metrics.k8s.io"),
        Result("gpu_sharing", "accelerators", "SHOULD", "unknown", "accelerator vendor example.com/npu is not recognised",
               remediation="check the vendor's sharing mechanism by hand"),
        Result("virtualized_accelerator", "accelerators", "SHOULD", "skipped", "check not implemented yet"),
    ]


def load(version="1.35"):
    return checklists.load(version)


def items(doc):
    return {item["id"]: item for section in doc["spec"].values() for item in section}


# ---------------------------------------------------------------------------- checklist YAML


@pytest.mark.parametrize("version", ["1.33", "1.34", "1.35", "1.36", "1.37"])
def test_checklist_round_trips_to_the_published_structure(version):
    checklist = load(version)
    source = yaml.safe_load(published(version))
    rendered = yaml.safe_load(artifacts.render_checklist(checklist, []))
    assert list(rendered) == ["metadata", "spec"]
    assert list(rendered["spec"]) == list(source["spec"])
    for section, published_items in source["spec"].items():
        ours = rendered["spec"][section]
        assert [list(item) for item in ours] == [["id", "description", "level", "status", "evidence", "notes"]] * len(ours)
        for theirs, mine in zip(published_items, ours):
            assert {k: mine[k] for k in ("id", "description", "level")} == {k: theirs[k] for k in ("id", "description", "level")}
            assert (mine["status"], mine["evidence"], mine["notes"]) == ("", [], artifacts.NOT_VERIFIED)


@pytest.mark.parametrize("version", ["1.33", "1.35", "1.36", "1.37"])
def test_checklist_text_keeps_header_and_description_lines_byte_identical(version):
    text = artifacts.render_checklist(load(version), sample_results() if version == "1.35" else [])
    source = published(version)
    assert text.startswith(load(version).header + "\n\nmetadata:\n")
    description_lines = [line for line in source.splitlines() if line.lstrip().startswith("description:")]
    assert description_lines and all(line in text.splitlines() for line in description_lines)
    assert "\n\nspec:\n" in text and text.endswith("\n")


def test_metadata_keeps_template_order_and_placeholders_and_maps_snake_case():
    checklist = load("1.35")
    doc = yaml.safe_load(artifacts.render_checklist(checklist, [], metadata={
        "platform_name": "Turbo Encabulator", "websiteUrl": "https://yoyo.dyne", "contact_email_address": "a@b.io"}))
    assert list(doc["metadata"]) == list(checklist.metadata)
    assert doc["metadata"]["platformName"] == "Turbo Encabulator"
    assert doc["metadata"]["websiteUrl"] == "https://yoyo.dyne"
    assert doc["metadata"]["contactEmailAddress"] == "a@b.io"
    assert doc["metadata"]["vendorName"] == "[Vendor Name]"
    assert doc["metadata"]["kubernetesVersion"] == "v1.35"
    assert "  kubernetesVersion: v1.35\n" in artifacts.render_checklist(checklist, [])


@pytest.mark.parametrize("version", ["1.36", "1.37"])
def test_templates_without_it_get_k8s_conformance_url_after_contact_email(version):
    doc = yaml.safe_load(artifacts.render_checklist(load(version), []))
    keys = list(doc["metadata"])
    assert keys[keys.index("contactEmailAddress") + 1] == "k8sConformanceUrl"
    assert doc["metadata"]["k8sConformanceUrl"].startswith("[") and "v" + version in doc["metadata"]["k8sConformanceUrl"]
    given = yaml.safe_load(artifacts.render_checklist(load(version), [], metadata={
        "k8s_conformance_url": "https://github.com/cncf/k8s-conformance/tree/master/v%s/x" % version}))
    assert given["metadata"]["k8sConformanceUrl"].endswith("/v%s/x" % version)


def test_1_33_gets_k8s_conformance_url_only_when_given():
    assert "k8sConformanceUrl" not in yaml.safe_load(artifacts.render_checklist(load("1.33"), []))["metadata"]
    doc = yaml.safe_load(artifacts.render_checklist(load("1.33"), [], metadata={"k8sConformanceUrl": "https://x"}))
    assert doc["metadata"]["k8sConformanceUrl"] == "https://x"


def test_unknown_or_conflicting_metadata_is_an_error():
    with pytest.raises(artifacts.ReportError, match="websiteURL2"):
        artifacts.render_checklist(load(), [], metadata={"websiteURL2": "x"})
    with pytest.raises(artifacts.ReportError, match="twice"):
        artifacts.render_checklist(load(), [], metadata={"platformName": "a", "platform_name": "b"})


def test_status_evidence_and_notes_follow_the_outcome():
    doc = items(yaml.safe_load(artifacts.render_checklist(
        load(), sample_results(), evidence_urls={"ai_inference": ["https://docs.example.com/gateway"]},
        notes={"gang_scheduling": "Kueue is installed by the platform's AI add-on"})))
    assert doc["ai_inference"]["status"] == "Implemented"
    assert doc["ai_inference"]["evidence"] == ["evidence/ai_inference.md", "https://docs.example.com/gateway"]
    assert doc["gang_scheduling"]["status"] == "Not Implemented"
    assert doc["gang_scheduling"]["notes"] == "Kueue is installed by the platform's AI add-on"
    assert doc["cluster_autoscaling"]["status"] == "N/A"
    assert doc["cluster_autoscaling"]["notes"].startswith("No cluster autoscaler")
    assert doc["cluster_autoscaling"]["evidence"] == ["evidence/cluster_autoscaling.md"]
    for undecided in ("pod_autoscaling", "gpu_sharing", "virtualized_accelerator"):
        assert doc[undecided]["status"] == "" and doc[undecided]["evidence"] == [], undecided
    assert doc["driver_runtime_management"] == {
        "id": "driver_runtime_management", "description": load().get("driver_runtime_management").description,
        "level": "SHOULD", "status": "", "evidence": [], "notes": "not run in this subset"}


def test_user_notes_or_urls_for_unknown_ids_are_errors():
    with pytest.raises(artifacts.ReportError, match="evidence_urls names ai_inferance"):
        artifacts.render_checklist(load(), [], evidence_urls={"ai_inferance": ["https://x"]})
    with pytest.raises(artifacts.ReportError, match="notes names nope"):
        artifacts.render_checklist(load(), [], notes={"nope": "x"})


def test_checklist_is_byte_stable_and_independent_of_result_order():
    first = artifacts.render_checklist(load(), sample_results())
    assert artifacts.render_checklist(load(), list(reversed(sample_results()))) == first
    assert artifacts.render_checklist(load(), [r.to_dict() for r in sample_results()]) == first


@pytest.mark.parametrize("text", [
    'say "hi"', "back\\slash", "two\nlines", "tab\there", "colon: and # hash", "ünïcödé – ✓", "bell\x07", "[x]", "", "'single'",
    "\u2028sep", "emoji \U0001F680",
])
def test_quoted_strings_round_trip(text):
    assert yaml.safe_load("k: %s" % artifacts.quote(text))["k"] == text


def test_results_for_unknown_ids_or_duplicates_are_errors():
    with pytest.raises(artifacts.ReportError, match="advanced_inference_ingress"):
        artifacts.render_checklist(load("1.35"), [Result("advanced_inference_ingress", "networking", "SHOULD", "pass")])
    with pytest.raises(artifacts.ReportError, match="two results"):
        artifacts.render_checklist(load(), [sample_results()[0], sample_results()[0]])


# ---------------------------------------------------------------------------- JSON, Markdown, JUnit, evidence


def test_json_has_tool_summary_results_and_only_an_explicit_timestamp():
    doc = json.loads(artifacts.render_json(load(), sample_results(), cluster={"distribution": "rke2"}))
    assert doc["tool"] == {"name": "k8s_ai.conformance", "version": artifacts.TOOL_VERSION}
    assert doc["checklist_version"] == "1.35" and doc["cluster"] == {"distribution": "rke2"}
    assert "generated_at" not in doc
    assert doc["summary"]["must_not_met"] == ["gang_scheduling"]
    assert [u["id"] for u in doc["summary"]["must_undecided"]] == ["pod_autoscaling"]
    assert doc["summary"]["verdict"] == "subset" and doc["summary"]["conformant"] is None
    assert [r["id"] for r in doc["results"]] == [
        "dra_support", "gpu_sharing", "virtualized_accelerator", "ai_inference", "gang_scheduling", "cluster_autoscaling", "pod_autoscaling"]
    assert doc["results"][0]["status"] == "Implemented"
    assert "accelerator_metrics" in doc["not_run"]
    stamped = json.loads(artifacts.render_json(load(), sample_results(), generated_at="2026-01-01T00:00:00Z"))
    assert stamped["generated_at"] == "2026-01-01T00:00:00Z"


def test_tool_version_matches_galaxy_yml():
    assert yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"] == artifacts.TOOL_VERSION


def test_markdown_has_verdict_table_fixes_violations_and_how_to_read():
    text = artifacts.render_markdown(load(), sample_results(), cluster={
        "kubernetes_version": "v1.35.2+rke2r1", "distribution": "rke2", "node_count": 3,
        "accelerator_total": 4, "accelerator_node_count": 2},
        violations=[{"rule": "metadata.placeholder", "path": "metadata.vendorName", "message": "vendorName still has [Vendor Name]",
                     "fix": "set it", "severity": "error"}])
    lines = text.splitlines()
    assert lines[0].startswith("# ")
    assert "- Cluster: Kubernetes v1.35.2+rke2r1, rke2, 3 nodes, 4 accelerators on 2 nodes" in lines
    assert any(line.startswith("**Subset run, no conformance verdict**: 7 of 12 requirements run; among them 3 of 5 MUST "
                               "requirements met (1 N/A with justification); not met: gang_scheduling; could not decide: "
                               "pod_autoscaling (error)") for line in lines)
    rows = [line for line in lines if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == load().ids
    gang = next(r for r in rows if r.startswith("| `gang_scheduling`"))
    assert "Not Implemented" in gang and "Fix: Install Kueue with role k8s_ai.conformance.gang_scheduler" in gang
    assert any(r.startswith("| `gpu_sharing` | SHOULD | — (unknown: needs a person)") for r in rows)
    assert any(r.startswith("| `accelerator_metrics` | MUST | — (not run in this subset) | not run in this subset |") for r in rows)
    assert "### `gang_scheduling` (MUST): Not Implemented" in text
    assert "### `dra_support`" not in text, "passing requirements get no section"
    assert "## Submission-rule violations" in text
    assert "| error | `metadata.placeholder` | `metadata.vendorName` | vendorName still has [Vendor Name] | set it |" in lines
    assert "## How to read this" in text


def test_markdown_verdict_conformant_counts_na_on_must_as_met():
    checklist = load("1.33")
    results = [Result(r.id, r.section, r.level, "pass", "ok") for r in checklist.requirements if r.id != "cluster_autoscaling"]
    results.append(Result("cluster_autoscaling", "schedulingOrchestration", "MUST", "not_applicable", "bare metal"))
    assert ("**Conformant**: 8 of 8 MUST requirements met (1 N/A with justification); the program's validator accepts N/A on "
            "cluster_autoscaling with a warning.") in artifacts.render_markdown(checklist, results)


def test_junit_has_one_suite_per_level_and_one_testcase_per_requirement():
    checklist = load()
    root = ET.fromstring(artifacts.render_junit(checklist, sample_results()))
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert root.get("name") == "k8s_ai.conformance" and list(suites) == ["k8s_ai.conformance.MUST", "k8s_ai.conformance.SHOULD"]
    cases = {case.get("name"): case for suite in suites.values() for case in suite.findall("testcase")}
    assert sorted(cases) == sorted(checklist.ids)
    assert cases["ai_inference"].get("classname") == "k8s_ai.conformance.networking"
    assert cases["gang_scheduling"].find("failure") is not None
    assert "Install Kueue" in cases["gang_scheduling"].find("failure").text
    assert cases["pod_autoscaling"].find("error") is not None
    assert cases["gpu_sharing"].find("error") is not None, "unknown is undecided: an error, not a skip"
    assert cases["virtualized_accelerator"].find("error") is not None, "skipped check: undecided"
    for skipped in ("cluster_autoscaling", "accelerator_metrics"):
        assert cases[skipped].find("skipped").get("message"), skipped
    assert cases["dra_support"].find("failure") is None and cases["dra_support"].find("skipped") is None
    props = {p.get("name"): p.get("value") for p in cases["ai_inference"].find("properties")}
    assert props == {"level": "MUST", "status": "Implemented", "outcome": "pass"}
    must = suites["k8s_ai.conformance.MUST"]
    assert (must.get("tests"), must.get("failures"), must.get("errors"), must.get("skipped")) == ("9", "1", "1", "5")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("12", "1", "3")


def test_junit_a_failing_should_never_counts_as_a_failure():
    checklist = load()
    results = [Result(r.id, r.section, r.level, "pass" if r.level == "MUST" else "fail", "x") for r in checklist.requirements]
    root = ET.fromstring(artifacts.render_junit(checklist, results))
    assert root.get("failures") == "0" and all(s.get("failures") == "0" for s in root.findall("testsuite"))
    should = {c.get("name"): c for c in root.find("testsuite[@name='k8s_ai.conformance.SHOULD']").findall("testcase")}
    assert "SHOULD not implemented" in should["gpu_sharing"].find("skipped").get("message")
    assert {p.get("name"): p.get("value") for p in should["gpu_sharing"].find("properties")}["status"] == "Not Implemented"


def test_evidence_transcript_lists_commands_api_and_output():
    req = load().get("dra_support")
    result = Result("dra_support", "accelerators", "MUST", "pass", "served", evidence=[
        Evidence("kubectl api-resources --api-group=resource.k8s.io", "deviceclasses\n```nested```", "GET /apis/resource.k8s.io/v1"),
        Evidence("kubectl get deviceclasses", "gpu.nvidia.com")])
    text = artifacts.render_evidence(req, result)
    assert text.startswith("# dra_support")
    assert req.description in text and "MUST" in text and "Implemented" in text
    assert "### 1. `kubectl api-resources --api-group=resource.k8s.io`" in text
    assert "What it showed (our summary of the API answer to `GET /apis/resource.k8s.io/v1`):" in text
    assert "````text\ndeviceclasses\n```nested```\n````" in text
    assert "### 2. `kubectl get deviceclasses`" in text
    assert "reproduce by hand" in text


# ---------------------------------------------------------------------------- redaction


@pytest.mark.parametrize("secret, leaked", [
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345"),
    ("token: %s" % JWT, JWT),
    ("the jwt %s was seen" % JWT, "c2lnbmF0dXJlLXZhbHVl"),
    (PEM, "secretsecret"),
    ("client-key-data: LS0tLS1CRUdJTiBSU0Eg", "LS0tLS1CRUdJTiBSU0Eg"),
    ('{"token": "s3cr3t-value"}', "s3cr3t-value"),
    ("password=hunter22", "hunter22"),
    ("id-token: abc.def.ghi", "abc.def.ghi"),
])
def test_redact_removes_secrets(secret, leaked):
    assert leaked not in artifacts.redact(secret)
    assert artifacts.redact(artifacts.redact(secret)) == artifacts.redact(secret)


def test_redact_keeps_ordinary_text():
    text = "serviceAccountToken: true; 3 tokens per request; basic checks passed; secretName: gpu-creds"
    assert artifacts.redact(text) == text


def test_every_writer_redacts():
    leaky = Result("dra_support", "accelerators", "MUST", "pass", "saw token: topsecret1",
                   remediation="use Bearer abcdefghijklmnopqrstuvwx", details={"kubeconfig": {"client-key-data": "S3CRETKEY"}, "jwt": JWT},
                   evidence=[Evidence("kubectl get secret -o yaml", PEM + "\ntoken: topsecret2", "GET /api/v1/secrets")])
    checklist = load()
    outputs = [
        artifacts.render_checklist(checklist, [leaky]), artifacts.render_json(checklist, [leaky]),
        artifacts.render_markdown(checklist, [leaky]), artifacts.render_junit(checklist, [leaky]),
        artifacts.render_evidence(checklist.get("dra_support"), leaky),
    ]
    for text in outputs:
        for secret in ("topsecret1", "topsecret2", "abcdefghijklmnopqrstuvwx", "S3CRETKEY", "c2lnbmF0dXJlLXZhbHVl", "MIIEowIBAAKCAQEA"):
            assert secret not in text
    assert json.loads(outputs[1])["results"][0]["details"]["kubeconfig"]["client-key-data"] == REDACTED


# ---------------------------------------------------------------------------- files


def test_write_artifacts_writes_every_file_then_is_idempotent(tmp_path):
    out = tmp_path / "report"
    first = artifacts.write_artifacts(str(out), load(), sample_results(), cluster={"distribution": "rke2"})
    assert first["changed"] is True
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert names == sorted(["AIConformance-1.35.yaml", "ai-conformance-results.json", "report.md", "ai-conformance-checks.junit.xml"]
                           + ["evidence/%s.md" % r.id for r in sample_results()])
    assert set(first["written"]) == {str(out / n) for n in names}
    assert first["paths"]["report"] == str(out / "report.md")
    assert first["paths"]["evidence"]["dra_support"] == str(out / "evidence" / "dra_support.md")
    before = {n: (out / n).read_bytes() for n in names}
    again = artifacts.write_artifacts(str(out), load(), sample_results(), cluster={"distribution": "rke2"})
    assert again["changed"] is False and again["written"] == []
    assert {n: (out / n).read_bytes() for n in names} == before, "the JSON keeps its first timestamp"


def test_durations_alone_do_not_make_a_change(tmp_path):
    artifacts.write_artifacts(str(tmp_path), load(), sample_results())
    slower = sample_results()
    for result in slower:
        result.duration_s += 3.5
    assert artifacts.write_artifacts(str(tmp_path), load(), slower)["changed"] is False


def test_a_changed_result_rewrites_only_what_depends_on_it(tmp_path):
    artifacts.write_artifacts(str(tmp_path), load(), sample_results())
    changed = sample_results()
    changed[2] = Result("gang_scheduling", "schedulingOrchestration", "MUST", "pass", "Kueue served")
    outcome = artifacts.write_artifacts(str(tmp_path), load(), changed)
    written = {os.path.relpath(p, str(tmp_path)) for p in outcome["written"]}
    assert written == {"AIConformance-1.35.yaml", "ai-conformance-results.json", "report.md",
                       "ai-conformance-checks.junit.xml", os.path.join("evidence", "gang_scheduling.md")}


def test_check_mode_writes_nothing_but_reports_the_change(tmp_path):
    out = tmp_path / "report"
    outcome = artifacts.write_artifacts(str(out), load(), sample_results(), check_mode=True)
    assert outcome["changed"] is True and outcome["written"]
    assert not out.exists()


def test_submission_layout(tmp_path):
    metadata = {"platformName": "Turbo Encabulator 2"}
    outcome = artifacts.write_artifacts(str(tmp_path / "out"), load(), sample_results(), metadata=metadata,
                                        submission_dir=str(tmp_path / "sub"))
    product = tmp_path / "sub" / "v1.35" / "turbo-encabulator-2"
    assert outcome["paths"]["submission"]["product"] == str(product / "PRODUCT.yaml")
    assert (product / "PRODUCT.yaml").read_text() == (tmp_path / "out" / "AIConformance-1.35.yaml").read_text()
    assert sorted(p.name for p in (product / "evidence").iterdir()) == sorted("%s.md" % r.id for r in sample_results())
    assert outcome["paths"]["checklist_dir"] == str(product)
    named = artifacts.write_artifacts(str(tmp_path / "out"), load(), sample_results(), metadata=metadata,
                                      submission_dir=str(tmp_path / "sub"), product_dir="turbo")
    assert (tmp_path / "sub" / "v1.35" / "turbo" / "PRODUCT.yaml").is_file() and named["changed"]


def test_submission_needs_a_product_name(tmp_path):
    with pytest.raises(artifacts.ReportError, match="platformName"):
        artifacts.write_artifacts(str(tmp_path), load(), [], submission_dir=str(tmp_path / "sub"))
    with pytest.raises(artifacts.ReportError, match="single directory name"):
        artifacts.write_artifacts(str(tmp_path), load(), [], submission_dir=str(tmp_path / "sub"), product_dir="../x")


def test_canonical_artifact_names_are_never_written(tmp_path):
    for name in ("junit.xml", "results.json", "E2E.log"):
        with pytest.raises(artifacts.ReportError, match="refusing"):
            artifacts.guard_name(str(tmp_path / name))
    ours = {artifacts.JSON_FILE, artifacts.REPORT_FILE, artifacts.JUNIT_FILE, artifacts.PRODUCT_FILE}
    assert not ours & artifacts.CANONICAL_ARTIFACTS
    assert artifacts.CANONICAL_ARTIFACTS == {"junit.xml", "results.json", "e2e.log"}


def test_long_notes_are_shortened_in_the_table_only():
    long_note = "Operator found: " + ", ".join("crd-%d" % i for i in range(60))
    result = Result("robust_controller", "operator", "MUST", "pass", long_note)
    row = next(line for line in artifacts.render_markdown(load(), [result]).splitlines() if line.startswith("| `robust_controller`"))
    assert row.endswith(" … |") and len(row) < 260
    assert long_note in artifacts.render_evidence(load().get("robust_controller"), result)


# ---------------------------------------------------------------------------- verdicts (subset, undecided, program rules)


def all_pass(checklist, **changes):
    results = [Result(r.id, r.section, r.level, "pass", "ok", evidence=[Evidence("kubectl get nodes", "x")])
               for r in checklist.requirements]
    for req_id, (outcome, notes) in changes.items():
        req = checklist.get(req_id)
        results = [Result(req.id, req.section, req.level, outcome, notes) if r.id == req_id else r for r in results]
    return results


def test_a_subset_that_passes_is_never_conformant():
    checklist = load()
    subset = [r for r in all_pass(checklist) if r.section == "networking"]
    text = artifacts.render_markdown(checklist, subset)
    assert "**Conformant**" not in text and "**Subset run, no conformance verdict**" in text
    doc = json.loads(artifacts.render_json(checklist, subset))
    assert doc["summary"]["conformant"] is None and doc["summary"]["verdict"] == "subset" and doc["summary"]["passed"] is True
    gang = items(yaml.safe_load(artifacts.render_checklist(checklist, subset)))["gang_scheduling"]
    assert gang["status"] == "" and gang["notes"] == "not run in this subset"
    row = next(line for line in text.splitlines() if line.startswith("| `gang_scheduling`"))
    assert "not met" not in row and "not run in this subset" in row


def test_undecided_is_kept_apart_from_not_met():
    checklist = load()
    results = all_pass(checklist, ai_inference=("fail", "no Gateway API"), pod_autoscaling=("error", "could not decide: 403 Forbidden"))
    summary = json.loads(artifacts.render_json(checklist, results))["summary"]
    assert summary["must_not_met"] == ["ai_inference"]
    assert summary["must_undecided"] == [{"id": "pod_autoscaling", "outcome": "error", "why": "could not decide: 403 Forbidden"}]
    assert summary["must_problems"] == ["ai_inference: not met: no Gateway API",
                                        "pod_autoscaling: could not decide (error): could not decide: 403 Forbidden"]
    headline = artifacts.verdict(checklist, artifacts.index_results(checklist, results))
    assert headline.startswith("**Not conformant**:") and "not met: ai_inference; could not decide: pod_autoscaling (error)" in headline
    only_undecided = all_pass(checklist, pod_autoscaling=("error", "timeout"))
    assert artifacts.verdict(checklist, artifacts.index_results(checklist, only_undecided)).startswith("**Undecided**:")


def test_headline_says_when_the_validator_rejects_an_na_must():
    checklist = load()
    results = all_pass(checklist, ai_inference=("not_applicable", "no inference here"))
    text = artifacts.render_markdown(checklist, results)
    assert "the program's validator rejects N/A on ai_inference" in text.splitlines()[next(
        i for i, line in enumerate(text.splitlines()) if line.startswith("**Conformant**"))]
    assert text.count("only cluster_autoscaling may be N/A") == 1, "the explanation is given once"


def test_a_caveat_is_never_cut_from_the_why():
    checklist = load()
    long_note = "Kueue installed and ready: " + ", ".join("webhook-%d" % i for i in range(60))
    result = Result("gang_scheduling", "schedulingOrchestration", "MUST", "pass", long_note,
                    caveats=["functional part not demonstrated (probes were not run)"])
    row = next(line for line in artifacts.render_markdown(checklist, [result]).splitlines() if line.startswith("| `gang_scheduling`"))
    assert "**Caveat:** functional part not demonstrated (probes were not run)" in row
    notes = items(yaml.safe_load(artifacts.render_checklist(checklist, [result])))["gang_scheduling"]["notes"]
    assert notes.endswith("functional part not demonstrated (probes were not run)")


IDENTITY = {"identity": {"server": "https://10.1.2.3:6443", "context": "prod-admin", "kubeconfig": ["/home/me/a", "/home/me/b"],
                         "source": "kubeconfig", "server_version": "v1.35.2", "cluster_uid": "0f0e-uid"}}


def test_every_artifact_names_the_cluster():
    checklist = load()
    results = all_pass(checklist)
    stamp = "2026-12-01T10:00:00Z"
    shown = ("https://10.1.2.3:6443", "prod-admin", "/home/me/a", "/home/me/b", "v1.35.2", "0f0e-uid")
    texts = [artifacts.render_markdown(checklist, results, IDENTITY, generated_at=stamp),
             artifacts.render_evidence(checklist.get("ai_inference"), results[3], IDENTITY, stamp),
             artifacts.render_junit(checklist, results, IDENTITY, stamp)]
    for text in texts:
        assert all(value in text for value in shown), text[:600]
        assert stamp in text
    doc = json.loads(artifacts.render_json(checklist, results, IDENTITY, stamp))
    assert doc["cluster"]["identity"]["cluster_uid"] == "0f0e-uid" and doc["generated_at"] == stamp
    props = {p.get("name"): p.get("value") for p in ET.fromstring(texts[2]).find("testsuite").find("properties")}
    assert props["cluster_server"] == "https://10.1.2.3:6443" and props["cluster_context"] == "prod-admin"


def test_a_new_run_restamps_the_whole_set_and_an_unchanged_one_keeps_it(tmp_path):
    checklist = load()
    out = tmp_path / "out"
    artifacts.write_artifacts(str(out), checklist, all_pass(checklist), cluster=IDENTITY)
    first = (out / "report.md").read_text()
    assert artifacts.write_artifacts(str(out), checklist, all_pass(checklist), cluster=IDENTITY)["changed"] is False
    assert (out / "report.md").read_text() == first
    artifacts.write_artifacts(str(out), checklist, all_pass(checklist, gpu_sharing=("fail", "none")), cluster=IDENTITY)
    stamps = {re.search(r"Generated at: (\S+)", (out / name).read_text()).group(1) for name in ("report.md", "evidence/dra_support.md")}
    stamps.add(json.loads((out / "ai-conformance-results.json").read_text())["generated_at"])
    assert len(stamps) == 1, "every file of a set carries the time of the run that wrote it"


def test_stale_evidence_is_gone_after_a_smaller_run(tmp_path):
    checklist = load()
    out = tmp_path / "out"
    artifacts.write_artifacts(str(out), checklist, all_pass(checklist))
    artifacts.write_artifacts(str(out), checklist, [r for r in all_pass(checklist) if r.section == "networking"])
    assert sorted(p.name for p in (out / "evidence").iterdir()) == ["ai_inference.md"]


def test_a_directory_an_earlier_release_wrote_is_adopted_and_a_foreign_one_refused(tmp_path):
    out = tmp_path / "out"
    (out / "evidence").mkdir(parents=True)
    for name in ("AIConformance-1.35.yaml", "report.md", "ai-conformance-results.json", "evidence/gone_requirement.md"):
        (out / name).write_text("from an earlier release")
    artifacts.write_artifacts(str(out), load(), sample_results())
    assert not (out / "evidence" / "gone_requirement.md").exists()
    assert (out / "report.md").read_text().startswith("# Kubernetes AI Conformance report")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(artifacts.artifact_set.ArtifactSetError, match="thesis.tex"):
        artifacts.write_artifacts(str(mine), load(), sample_results())
    assert (mine / "thesis.tex").read_text() == "precious"


def test_a_long_fix_is_shortened_in_the_table_and_whole_below():
    checklist = load()
    fix = "Install a Gateway API implementation: " + " && ".join("helm install x%d oci://example/x --version 1.%d" % (i, i) for i in range(12))
    result = Result("ai_inference", "networking", "MUST", "fail", "Gateway API not served", remediation=fix)
    text = artifacts.render_markdown(checklist, [result])
    row = next(line for line in text.splitlines() if line.startswith("| `ai_inference`"))
    assert "(the whole fix is below)" in row and len(row) < 400
    assert "**Fix:** " + fix in text


CONFORM_RUN = {"install": "missing",
               "before": [{"id": "ai_inference", "status": "Not Implemented", "outcome": "fail"},
                          {"id": "gang_scheduling", "status": "Not Implemented", "outcome": "fail"},
                          {"id": "pod_autoscaling", "status": "", "outcome": "error"}],
               "steps": [{"name": "gateway", "role": "k8s_ai.conformance.gateway", "requirements": ["ai_inference"]}],
               "skipped": [{"name": "gang_scheduler", "role": "k8s_ai.conformance.gang_scheduler",
                            "requirements": ["gang_scheduling"], "why": "in ai_conformance_skip_components"}]}


def conform_bundle(out, remediation, generated_at):
    bundle = artifacts.Bundle.build(str(out), load(), sample_results(), generated_at=generated_at)
    bundle.remediation = remediation
    return bundle


def test_a_conform_run_reports_each_requirement_before_and_after_and_the_roles_run():
    checklist = load()
    record = artifacts.remediation_record(checklist, artifacts.index_results(checklist, sample_results()), CONFORM_RUN,
                                          "2026-12-01T00:00:00Z")
    text = artifacts.render_markdown(checklist, sample_results(), remediation=record)
    assert "## Before and after (conform run at 2026-12-01T00:00:00Z)" in text
    assert "Install roles run (ai_conformance_install=missing): `k8s_ai.conformance.gateway`." in text
    assert "| `ai_inference` | MUST | Not Implemented | Implemented | gateway |" in text
    assert "| `gang_scheduling` | MUST | Not Implemented | Not Implemented | — |" in text
    assert "| `pod_autoscaling` | MUST | — (error: could not decide) | — (error: could not decide) | — |" in text
    assert "- Not run: `gang_scheduler` for gang_scheduling: in ai_conformance_skip_components" in text
    doc = json.loads(artifacts.render_json(checklist, sample_results(), remediation=record))
    rows = {r["id"]: r for r in doc["remediation"]["requirements"]}
    assert rows["ai_inference"] == {"id": "ai_inference", "level": "MUST", "before": "Not Implemented", "after": "Implemented",
                                    "roles": ["gateway"]}
    assert rows["accelerator_metrics"]["before"] == rows["accelerator_metrics"]["after"] == "(not run)"
    assert doc["remediation"]["roles"] == ["gateway"] and doc["remediation"]["skipped"][0]["name"] == "gang_scheduler"
    assert doc["remediation"]["at"] == "2026-12-01T00:00:00Z"
    plain = artifacts.render_markdown(checklist, sample_results())
    assert "Before and after" not in plain and "remediation" not in json.loads(artifacts.render_json(checklist, sample_results()))


def test_a_conform_run_that_changes_nothing_keeps_the_last_record_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    first = dict(CONFORM_RUN, applied={"gateway": ["CustomResourceDefinition gateways.gateway.networking.k8s.io (applied)",
                                                   "Helm release envoy-gateway-system/eg (revision 1, deployed)"]})
    assert artifacts.write_bundle(conform_bundle(out, first, "2026-12-01T00:00:00Z"))["changed"]
    report = (out / artifacts.REPORT_FILE).read_text()
    assert ("- `gateway` changed: CustomResourceDefinition gateways.gateway.networking.k8s.io (applied); "
            "Helm release envoy-gateway-system/eg (revision 1, deployed)") in report
    # The gateway role runs again (its requirement met now) and applies nothing; the same role is left out.
    idle = dict(CONFORM_RUN, before=[{"id": "ai_inference", "status": "Implemented", "outcome": "pass"}], applied={"gateway": []})
    again = conform_bundle(out, idle, "2026-12-02T00:00:00Z")
    assert again.remediation_record()["at"] == "2026-12-01T00:00:00Z"
    assert artifacts.write_bundle(again) == {"changed": False, "written": [], "paths": again.paths}
    assert (out / artifacts.REPORT_FILE).read_text() == report


@pytest.mark.parametrize("change", [
    {"applied": {"gateway": ["Helm release envoy-gateway-system/eg (revision 2, deployed)"]}},  # it repaired a drift
    {"skipped": []},  # the role left out before is not left out now
])
def test_a_conform_run_that_changes_something_replaces_the_record(tmp_path, change):
    out = tmp_path / "out"
    artifacts.write_bundle(conform_bundle(out, dict(CONFORM_RUN, applied={"gateway": ["Namespace x (created)"]}), "2026-12-01T00:00:00Z"))
    drifted = conform_bundle(out, dict(CONFORM_RUN, **dict({"applied": {"gateway": []}}, **change)), "2026-12-02T00:00:00Z")
    assert drifted.remediation_record()["at"] == "2026-12-02T00:00:00Z"
    assert artifacts.write_bundle(drifted)["changed"]
    assert json.loads((out / artifacts.JSON_FILE).read_text())["remediation"]["at"] == "2026-12-02T00:00:00Z"


def test_a_conform_run_that_fails_the_same_way_again_writes_nothing(tmp_path):
    out = tmp_path / "out"
    left_out = dict(CONFORM_RUN, steps=[])
    artifacts.write_bundle(conform_bundle(out, left_out, "2026-12-01T00:00:00Z"))
    assert not artifacts.write_bundle(conform_bundle(out, left_out, "2026-12-02T00:00:00Z"))["changed"]


def test_a_record_of_another_checklist_version_is_not_kept(tmp_path):
    checklist = load()
    fresh = artifacts.remediation_record(checklist, {}, dict(CONFORM_RUN, steps=[], skipped=[]), "2026-12-02T00:00:00Z")
    older = dict(fresh, checklist_version="1.0", at="2026-01-01T00:00:00Z")
    assert artifacts.kept_remediation(fresh, older) is fresh
    assert artifacts.kept_remediation(fresh, dict(fresh, at="2026-01-01T00:00:00Z"))["at"] == "2026-01-01T00:00:00Z"
    assert artifacts.kept_remediation(fresh, "not a record") is fresh
