"""The writers: checklist YAML in the program's schema, JSON, Markdown, JUnit, evidence, files."""

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists, report
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


@pytest.mark.parametrize("version", ["1.33", "1.34", "1.35", "1.36"])
def test_checklist_round_trips_to_the_published_structure(version):
    checklist = load(version)
    source = yaml.safe_load(published(version))
    rendered = yaml.safe_load(report.render_checklist(checklist, []))
    assert list(rendered) == ["metadata", "spec"]
    assert list(rendered["spec"]) == list(source["spec"])
    for section, published_items in source["spec"].items():
        ours = rendered["spec"][section]
        assert [list(item) for item in ours] == [["id", "description", "level", "status", "evidence", "notes"]] * len(ours)
        for theirs, mine in zip(published_items, ours):
            assert {k: mine[k] for k in ("id", "description", "level")} == {k: theirs[k] for k in ("id", "description", "level")}
            assert (mine["status"], mine["evidence"], mine["notes"]) == ("", [], report.NOT_VERIFIED)


@pytest.mark.parametrize("version", ["1.33", "1.35", "1.36"])
def test_checklist_text_keeps_header_and_description_lines_byte_identical(version):
    text = report.render_checklist(load(version), sample_results() if version == "1.35" else [])
    source = published(version)
    assert text.startswith(load(version).header + "\n\nmetadata:\n")
    description_lines = [line for line in source.splitlines() if line.lstrip().startswith("description:")]
    assert description_lines and all(line in text.splitlines() for line in description_lines)
    assert "\n\nspec:\n" in text and text.endswith("\n")


def test_metadata_keeps_template_order_and_placeholders_and_maps_snake_case():
    checklist = load("1.35")
    doc = yaml.safe_load(report.render_checklist(checklist, [], metadata={
        "platform_name": "Turbo Encabulator", "websiteUrl": "https://yoyo.dyne", "contact_email_address": "a@b.io"}))
    assert list(doc["metadata"]) == list(checklist.metadata)
    assert doc["metadata"]["platformName"] == "Turbo Encabulator"
    assert doc["metadata"]["websiteUrl"] == "https://yoyo.dyne"
    assert doc["metadata"]["contactEmailAddress"] == "a@b.io"
    assert doc["metadata"]["vendorName"] == "[Vendor Name]"
    assert doc["metadata"]["kubernetesVersion"] == "v1.35"
    assert "  kubernetesVersion: v1.35\n" in report.render_checklist(checklist, [])


def test_1_36_gets_k8s_conformance_url_after_contact_email():
    doc = yaml.safe_load(report.render_checklist(load("1.36"), []))
    keys = list(doc["metadata"])
    assert keys[keys.index("contactEmailAddress") + 1] == "k8sConformanceUrl"
    assert doc["metadata"]["k8sConformanceUrl"].startswith("[") and "v1.36" in doc["metadata"]["k8sConformanceUrl"]
    given = yaml.safe_load(report.render_checklist(load("1.36"), [], metadata={
        "k8s_conformance_url": "https://github.com/cncf/k8s-conformance/tree/master/v1.36/x"}))
    assert given["metadata"]["k8sConformanceUrl"].endswith("/v1.36/x")


def test_1_33_gets_k8s_conformance_url_only_when_given():
    assert "k8sConformanceUrl" not in yaml.safe_load(report.render_checklist(load("1.33"), []))["metadata"]
    doc = yaml.safe_load(report.render_checklist(load("1.33"), [], metadata={"k8sConformanceUrl": "https://x"}))
    assert doc["metadata"]["k8sConformanceUrl"] == "https://x"


def test_unknown_or_conflicting_metadata_is_an_error():
    with pytest.raises(report.ReportError, match="websiteURL2"):
        report.render_checklist(load(), [], metadata={"websiteURL2": "x"})
    with pytest.raises(report.ReportError, match="twice"):
        report.render_checklist(load(), [], metadata={"platformName": "a", "platform_name": "b"})


def test_status_evidence_and_notes_follow_the_outcome():
    doc = items(yaml.safe_load(report.render_checklist(
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
        "level": "SHOULD", "status": "", "evidence": [], "notes": "not verified in this run"}


def test_user_notes_or_urls_for_unknown_ids_are_errors():
    with pytest.raises(report.ReportError, match="evidence_urls names ai_inferance"):
        report.render_checklist(load(), [], evidence_urls={"ai_inferance": ["https://x"]})
    with pytest.raises(report.ReportError, match="notes names nope"):
        report.render_checklist(load(), [], notes={"nope": "x"})


def test_checklist_is_byte_stable_and_independent_of_result_order():
    first = report.render_checklist(load(), sample_results())
    assert report.render_checklist(load(), list(reversed(sample_results()))) == first
    assert report.render_checklist(load(), [r.to_dict() for r in sample_results()]) == first


@pytest.mark.parametrize("text", [
    'say "hi"', "back\\slash", "two\nlines", "tab\there", "colon: and # hash", "ünïcödé – ✓", "bell\x07", "[x]", "", "'single'",
    "\u2028sep", "emoji \U0001F680",
])
def test_quoted_strings_round_trip(text):
    assert yaml.safe_load("k: %s" % report.quote(text))["k"] == text


def test_results_for_unknown_ids_or_duplicates_are_errors():
    with pytest.raises(report.ReportError, match="advanced_inference_ingress"):
        report.render_checklist(load("1.35"), [Result("advanced_inference_ingress", "networking", "SHOULD", "pass")])
    with pytest.raises(report.ReportError, match="two results"):
        report.render_checklist(load(), [sample_results()[0], sample_results()[0]])


# ---------------------------------------------------------------------------- JSON, Markdown, JUnit, evidence


def test_json_has_tool_summary_results_and_only_an_explicit_timestamp():
    doc = json.loads(report.render_json(load(), sample_results(), cluster={"distribution": "rke2"}))
    assert doc["tool"] == {"name": "k8s_ai.conformance", "version": report.TOOL_VERSION}
    assert doc["checklist_version"] == "1.35" and doc["cluster"] == {"distribution": "rke2"}
    assert "generated_at" not in doc
    assert doc["summary"]["must_not_implemented"] == ["gang_scheduling", "pod_autoscaling"]
    assert [r["id"] for r in doc["results"]] == [
        "dra_support", "gpu_sharing", "virtualized_accelerator", "ai_inference", "gang_scheduling", "cluster_autoscaling", "pod_autoscaling"]
    assert doc["results"][0]["status"] == "Implemented"
    assert "accelerator_metrics" in doc["not_verified"]
    stamped = json.loads(report.render_json(load(), sample_results(), generated_at="2026-01-01T00:00:00Z"))
    assert stamped["generated_at"] == "2026-01-01T00:00:00Z"


def test_tool_version_matches_galaxy_yml():
    assert yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"] == report.TOOL_VERSION


def test_markdown_has_verdict_table_fixes_violations_and_how_to_read():
    text = report.render_markdown(load(), sample_results(), cluster={
        "kubernetes_version": "v1.35.2+rke2r1", "distribution": "rke2", "node_count": 3,
        "accelerator_total": 4, "accelerator_node_count": 2},
        violations=[{"rule": "metadata.placeholder", "path": "metadata.vendorName", "message": "vendorName still has [Vendor Name]",
                     "fix": "set it", "severity": "error"}])
    lines = text.splitlines()
    assert lines[0].startswith("# ")
    assert "Cluster: Kubernetes v1.35.2+rke2r1, rke2, 3 nodes, 4 accelerators on 2 nodes" in lines
    assert any(line.startswith("**Not conformant**: 2 of 9 MUST requirements Implemented, 1 N/A") for line in lines)
    rows = [line for line in lines if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == load().ids
    gang = next(r for r in rows if r.startswith("| `gang_scheduling`"))
    assert "Not Implemented" in gang and "Fix: Install Kueue with role k8s_ai.conformance.gang_scheduler" in gang
    assert any(r.startswith("| `gpu_sharing` | SHOULD | — (unknown: needs a person)") for r in rows)
    assert any(r.startswith("| `accelerator_metrics` | MUST | — (not verified) |") for r in rows)
    assert "### `gang_scheduling` (MUST): Not Implemented" in text
    assert "### `dra_support`" not in text, "passing requirements get no section"
    assert "## Submission-rule violations" in text
    assert "| error | `metadata.placeholder` | `metadata.vendorName` | vendorName still has [Vendor Name] | set it |" in lines
    assert "## How to read this" in text and "ORKESTRIX" in text


def test_markdown_verdict_conformant_counts_na_on_must_as_met():
    checklist = load("1.33")
    results = [Result(r.id, r.section, r.level, "pass", "ok") for r in checklist.requirements if r.id != "cluster_autoscaling"]
    results.append(Result("cluster_autoscaling", "schedulingOrchestration", "MUST", "not_applicable", "bare metal"))
    assert "**Conformant**: 7 of 8 MUST requirements Implemented, 1 N/A with justification." in report.render_markdown(checklist, results)


def test_junit_has_one_testcase_per_requirement():
    checklist = load()
    root = ET.fromstring(report.render_junit(checklist, sample_results()))
    suite = root.find("testsuite")
    assert root.get("name") == suite.get("name") == "k8s_ai.conformance"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == checklist.ids
    assert cases["ai_inference"].get("classname") == "k8s_ai.conformance.networking"
    assert cases["gang_scheduling"].find("failure") is not None
    assert "Install Kueue" in cases["gang_scheduling"].find("failure").text
    assert cases["pod_autoscaling"].find("error") is not None
    for skipped in ("cluster_autoscaling", "gpu_sharing", "virtualized_accelerator", "accelerator_metrics"):
        assert cases[skipped].find("skipped").get("message"), skipped
    assert cases["dra_support"].find("failure") is None and cases["dra_support"].find("skipped") is None
    props = {p.get("name"): p.get("value") for p in cases["ai_inference"].find("properties")}
    assert props == {"level": "MUST", "status": "Implemented"}
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("12", "1", "1", "8")


def test_evidence_transcript_lists_commands_api_and_output():
    req = load().get("dra_support")
    result = Result("dra_support", "accelerators", "MUST", "pass", "served", evidence=[
        Evidence("kubectl api-resources --api-group=resource.k8s.io", "deviceclasses\n```nested```", "GET /apis/resource.k8s.io/v1"),
        Evidence("kubectl get deviceclasses", "gpu.nvidia.com")])
    text = report.render_evidence(req, result)
    assert text.startswith("# dra_support")
    assert req.description in text and "MUST" in text and "Implemented" in text
    assert "### 1. `kubectl api-resources --api-group=resource.k8s.io`" in text
    assert "API: `GET /apis/resource.k8s.io/v1`" in text
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
    assert leaked not in report.redact(secret)
    assert report.redact(report.redact(secret)) == report.redact(secret)


def test_redact_keeps_ordinary_text():
    text = "serviceAccountToken: true; 3 tokens per request; basic checks passed; secretName: gpu-creds"
    assert report.redact(text) == text


def test_every_writer_redacts():
    leaky = Result("dra_support", "accelerators", "MUST", "pass", "saw token: topsecret1",
                   remediation="use Bearer abcdefghijklmnopqrstuvwx", details={"kubeconfig": {"client-key-data": "S3CRETKEY"}, "jwt": JWT},
                   evidence=[Evidence("kubectl get secret -o yaml", PEM + "\ntoken: topsecret2", "GET /api/v1/secrets")])
    checklist = load()
    outputs = [
        report.render_checklist(checklist, [leaky]), report.render_json(checklist, [leaky]),
        report.render_markdown(checklist, [leaky]), report.render_junit(checklist, [leaky]),
        report.render_evidence(checklist.get("dra_support"), leaky),
    ]
    for text in outputs:
        for secret in ("topsecret1", "topsecret2", "abcdefghijklmnopqrstuvwx", "S3CRETKEY", "c2lnbmF0dXJlLXZhbHVl", "MIIEowIBAAKCAQEA"):
            assert secret not in text
    assert json.loads(outputs[1])["results"][0]["details"]["kubeconfig"]["client-key-data"] == report.REDACTED


# ---------------------------------------------------------------------------- files


def test_write_artifacts_writes_every_file_then_is_idempotent(tmp_path):
    out = tmp_path / "report"
    first = report.write_artifacts(str(out), load(), sample_results(), cluster={"distribution": "rke2"})
    assert first["changed"] is True
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == sorted(["AIConformance-1.35.yaml", "ai-conformance-results.json", "report.md", "ai-conformance-checks.junit.xml"]
                           + ["evidence/%s.md" % r.id for r in sample_results()])
    assert set(first["written"]) == {str(out / n) for n in names}
    assert first["paths"]["report"] == str(out / "report.md")
    assert first["paths"]["evidence"]["dra_support"] == str(out / "evidence" / "dra_support.md")
    before = {n: (out / n).read_bytes() for n in names}
    again = report.write_artifacts(str(out), load(), sample_results(), cluster={"distribution": "rke2"})
    assert again["changed"] is False and again["written"] == []
    assert {n: (out / n).read_bytes() for n in names} == before, "the JSON keeps its first timestamp"


def test_durations_alone_do_not_make_a_change(tmp_path):
    report.write_artifacts(str(tmp_path), load(), sample_results())
    slower = sample_results()
    for result in slower:
        result.duration_s += 3.5
    assert report.write_artifacts(str(tmp_path), load(), slower)["changed"] is False


def test_a_changed_result_rewrites_only_what_depends_on_it(tmp_path):
    report.write_artifacts(str(tmp_path), load(), sample_results())
    changed = sample_results()
    changed[2] = Result("gang_scheduling", "schedulingOrchestration", "MUST", "pass", "Kueue served")
    outcome = report.write_artifacts(str(tmp_path), load(), changed)
    written = {os.path.relpath(p, str(tmp_path)) for p in outcome["written"]}
    assert written == {"AIConformance-1.35.yaml", "ai-conformance-results.json", "report.md",
                       "ai-conformance-checks.junit.xml", os.path.join("evidence", "gang_scheduling.md")}


def test_check_mode_writes_nothing_but_reports_the_change(tmp_path):
    out = tmp_path / "report"
    outcome = report.write_artifacts(str(out), load(), sample_results(), check_mode=True)
    assert outcome["changed"] is True and outcome["written"]
    assert not out.exists()


def test_submission_layout(tmp_path):
    metadata = {"platformName": "Turbo Encabulator 2"}
    outcome = report.write_artifacts(str(tmp_path / "out"), load(), sample_results(), metadata=metadata,
                                     submission_dir=str(tmp_path / "sub"))
    product = tmp_path / "sub" / "v1.35" / "turbo-encabulator-2"
    assert outcome["paths"]["submission"]["product"] == str(product / "PRODUCT.yaml")
    assert (product / "PRODUCT.yaml").read_text() == (tmp_path / "out" / "AIConformance-1.35.yaml").read_text()
    assert sorted(p.name for p in (product / "evidence").iterdir()) == sorted("%s.md" % r.id for r in sample_results())
    assert outcome["paths"]["checklist_dir"] == str(product)
    named = report.write_artifacts(str(tmp_path / "out"), load(), sample_results(), metadata=metadata,
                                   submission_dir=str(tmp_path / "sub"), product_dir="turbo")
    assert (tmp_path / "sub" / "v1.35" / "turbo" / "PRODUCT.yaml").is_file() and named["changed"]


def test_submission_needs_a_product_name(tmp_path):
    with pytest.raises(report.ReportError, match="platformName"):
        report.write_artifacts(str(tmp_path), load(), [], submission_dir=str(tmp_path / "sub"))
    with pytest.raises(report.ReportError, match="single directory name"):
        report.write_artifacts(str(tmp_path), load(), [], submission_dir=str(tmp_path / "sub"), product_dir="../x")


def test_canonical_artifact_names_are_never_written(tmp_path):
    for name in ("junit.xml", "results.json", "E2E.log"):
        with pytest.raises(report.ReportError, match="refusing"):
            report.write_file(str(tmp_path / name), "x")
        assert not (tmp_path / name).exists()
    ours = {report.JSON_FILE, report.REPORT_FILE, report.JUNIT_FILE, report.PRODUCT_FILE}
    assert not ours & report.CANONICAL_ARTIFACTS
    assert report.CANONICAL_ARTIFACTS == {"junit.xml", "results.json", "e2e.log"}


def test_write_file_is_atomic_and_keeps_mode(tmp_path):
    target = tmp_path / "report.md"
    report.write_file(str(target), "one")
    os.chmod(str(target), 0o640)
    report.write_file(str(target), "two")
    assert target.read_text() == "two"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"], "no temporary file left behind"


def test_long_notes_are_shortened_in_the_table_only():
    long_note = "Operator found: " + ", ".join("crd-%d" % i for i in range(60))
    result = Result("robust_controller", "operator", "MUST", "pass", long_note)
    row = next(line for line in report.render_markdown(load(), [result]).splitlines() if line.startswith("| `robust_controller`"))
    assert row.endswith(" … |") and len(row) < 260
    assert long_note in report.render_evidence(load().get("robust_controller"), result)
