"""The program's submission rules: a complete checklist passes, and each rule catches its case."""

import copy
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import artifacts, checklists, submission
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import Evidence, Result

METADATA = {
    "platformName": "Turbo Encabulator",
    "platformVersion": "v1.7.4",
    "vendorName": "Yoyodyne",
    "websiteUrl": "https://yoyo.dyne/turbo-encabulator",
    "repoUrl": "https://github.com/yoyodyne/turbo-encabulator",
    "documentationUrl": "https://yoyo.dyne/turbo-encabulator/docs",
    "productLogoUrl": "https://yoyo.dyne/assets/turbo-encabulator.svg",
    "description": "A superb Kubernetes distribution for all of your encabulating needs.",
    "contactEmailAddress": "yoyodyne@turbo-encabulator.org",
    "k8sConformanceUrl": "https://github.com/cncf/k8s-conformance/tree/master/v1.35/turbo-encabulator",
}


def passing_results(version):
    return [Result(r.id, r.section, r.level, "pass", "verified", evidence=[Evidence("kubectl get x", "x")])
            for r in checklists.load(version).requirements]


@pytest.fixture
def complete(tmp_path):
    """A complete, passing 1.35 submission on disk: (doc, product directory)."""
    outcome = artifacts.write_artifacts(str(tmp_path / "out"), checklists.load("1.35"), passing_results("1.35"),
                                        metadata=METADATA, submission_dir=str(tmp_path / "sub"))
    product = outcome["paths"]["submission"]["directory"]
    with open(outcome["paths"]["submission"]["product"]) as handle:
        return yaml.safe_load(handle), product


def item(doc, section, index=0):
    return doc["spec"][section][index]


def rules(violations, severity=None):
    return sorted({v.rule for v in violations if severity is None or v.severity == severity})


def check(doc, base_dir=None, version="1.35"):
    return submission.validate(doc, version, base_dir=base_dir)


def test_complete_submission_passes(complete):
    doc, product = complete
    assert check(doc, product) == []
    assert submission.validate(yaml.safe_dump(doc, sort_keys=False), "1.35", base_dir=product) == []


@pytest.mark.parametrize("version", ["1.33", "1.34", "1.36", "1.37"])
def test_rendered_checklists_of_every_version_pass_when_complete(tmp_path, version):
    metadata = dict(METADATA, k8sConformanceUrl=METADATA["k8sConformanceUrl"].replace("v1.35", "v" + version))
    checklist = checklists.load(version)
    artifacts.write_artifacts(str(tmp_path), checklist, passing_results(version), metadata=metadata)
    text = (tmp_path / ("AIConformance-%s.yaml" % version)).read_text()
    assert submission.validate(text, version, base_dir=str(tmp_path)) == []


def test_snake_case_metadata_is_accepted(complete):
    doc, product = complete
    doc["metadata"] = {artifacts._snake(k): v for k, v in METADATA.items()}
    doc["metadata"]["kubernetes_version"] = "v1.35"
    assert check(doc, product) == []


def test_violation_to_dict():
    violation = submission.Violation("metadata.required", "metadata.vendorName", "missing", "set it")
    assert violation.to_dict() == {"rule": "metadata.required", "path": "metadata.vendorName", "message": "missing",
                                   "fix": "set it", "severity": "error"}


# ---------------------------------------------------------------------------- document and metadata


@pytest.mark.parametrize("text", ["metadata: [unclosed", "- just\n- a list\n"])
def test_document_invalid(text):
    assert rules(submission.validate(text, "1.35")) == ["document.invalid"]


def test_missing_metadata_and_spec_are_invalid():
    assert [v.path for v in submission.validate({}, "1.35")] == ["metadata", "spec"]


@pytest.mark.parametrize("field, value, rule", [
    ("vendorName", None, "metadata.required"),
    ("documentationUrl", "", "metadata.required"),
    ("platformVersion", 1.7, "metadata.not_string"),
    ("vendorName", "[Vendor Name]", "metadata.placeholder"),
    ("repoUrl", "[Repository URL]", "metadata.placeholder"),
    ("kubernetesVersion", "v1.34", "metadata.kubernetes_version"),
    ("kubernetesVersion", "1.35", "metadata.kubernetes_version"),
    ("k8sConformanceUrl", "https://github.com/cncf/k8s-conformance/blob/master/v1.35/x", "metadata.k8s_conformance_url"),
    ("k8sConformanceUrl", None, "metadata.required"),
    ("websiteUrl", "yoyo.dyne", "metadata.url"),
    ("contactEmailAddress", "yoyodyne at example", "metadata.email"),
])
def test_metadata_rules(complete, field, value, rule):
    doc, product = complete
    if value is None:
        del doc["metadata"][field]
    else:
        doc["metadata"][field] = value
    violations = check(doc, product)
    assert rules(violations) == [rule]
    assert violations[0].path == "metadata.%s" % field and violations[0].severity == "error"
    assert violations[0].fix


def test_optional_repo_url_may_be_absent_or_empty(complete):
    doc, product = complete
    doc["metadata"]["repoUrl"] = ""
    assert check(doc, product) == []
    del doc["metadata"]["repoUrl"]
    assert check(doc, product) == []


def test_patch_version_is_accepted(complete):
    doc, product = complete
    doc["metadata"]["kubernetesVersion"] = "v1.35.3"
    assert check(doc, product) == []


def test_logo_that_is_not_svg_is_a_warning(complete):
    doc, product = complete
    doc["metadata"]["productLogoUrl"] = "https://yoyo.dyne/logo.png"
    assert rules(check(doc, product), "warning") == ["metadata.logo_format"] and rules(check(doc, product), "error") == []


def test_1_36_requires_k8s_conformance_url_though_its_template_lacks_it(tmp_path):
    metadata = {k: v for k, v in METADATA.items() if k != "k8sConformanceUrl"}
    text = artifacts.render_checklist(checklists.load("1.36"), passing_results("1.36"), metadata=metadata)
    violations = submission.validate(text, "1.36")
    assert [(v.rule, v.path, v.severity) for v in violations] == [("metadata.placeholder", "metadata.k8sConformanceUrl", "error")]
    doc = yaml.safe_load(text)
    del doc["metadata"]["k8sConformanceUrl"]
    assert [(v.rule, v.severity) for v in submission.validate(doc, "1.36")] == [("metadata.required", "error")]


def test_1_33_without_k8s_conformance_url_is_only_a_warning():
    metadata = {k: v for k, v in METADATA.items() if k != "k8sConformanceUrl"}
    text = artifacts.render_checklist(checklists.load("1.33"), passing_results("1.33"), metadata=metadata)
    assert [(v.rule, v.severity) for v in submission.validate(text, "1.33")] == [("metadata.required", "warning")]


# ---------------------------------------------------------------------------- spec


def test_missing_section(complete):
    doc, product = complete
    del doc["spec"]["operator"]
    assert [(v.rule, v.path) for v in check(doc, product)] == [("spec.missing_section", "spec.operator")]


def test_missing_item(complete):
    doc, product = complete
    del doc["spec"]["schedulingOrchestration"][1]
    assert [(v.rule, v.path) for v in check(doc, product)] == [("spec.missing_item", "spec.schedulingOrchestration")]


def test_unknown_item_and_section(complete):
    doc, product = complete
    extra = dict(item(doc, "networking"), id="my_feature")
    doc["spec"]["networking"].append(extra)
    doc["spec"]["extras"] = [dict(extra)]
    assert [(v.rule, v.path) for v in check(doc, product)] == [
        ("spec.unknown_item", "spec.networking[1].id"), ("spec.unknown_item", "spec.extras")]


def test_duplicate_item(complete):
    doc, product = complete
    doc["spec"]["networking"].append(copy.deepcopy(item(doc, "networking")))
    assert rules(check(doc, product)) == ["spec.duplicate_item"]


@pytest.mark.parametrize("key, value", [("description", "Support Gateway API."), ("level", "SHOULD")])
def test_changed_field(complete, key, value):
    doc, product = complete
    item(doc, "networking")[key] = value
    violations = check(doc, product)
    assert [(v.rule, v.path) for v in violations] == [("spec.changed_field", "spec.networking[0].%s" % key)]


# ---------------------------------------------------------------------------- status


def test_invalid_status(complete):
    doc, product = complete
    item(doc, "accelerators", 1)["status"] = "Done"
    assert [(v.rule, v.path) for v in check(doc, product)] == [("status.invalid", "spec.accelerators[1].status")]


def test_should_with_evidence_but_no_status_is_invalid(complete):
    doc, product = complete
    item(doc, "accelerators", 1)["status"] = ""
    assert rules(check(doc, product)) == ["status.invalid"]


def test_should_may_be_left_empty(complete):
    doc, product = complete
    item(doc, "accelerators", 1).update(status="", evidence=[], notes="")
    assert check(doc, product) == []


@pytest.mark.parametrize("status", ["Not Implemented", "Partially Implemented", ""])
def test_must_not_implemented(complete, status):
    doc, product = complete
    item(doc, "networking")["status"] = status
    assert [(v.rule, v.severity) for v in check(doc, product)] == [("status.must_not_implemented", "error")]


def test_na_on_cluster_autoscaling_is_a_warning(complete):
    doc, product = complete
    item(doc, "schedulingOrchestration", 1).update(status="N/A", notes="Bare metal: nodes are not provisioned by the platform.")
    violations = check(doc, product)
    assert [(v.rule, v.severity) for v in violations] == [("status.must_not_applicable", "warning")]
    assert "accepts it with a warning" in violations[0].message


def test_na_on_any_other_must_is_an_error_as_the_validator_rejects_it(complete):
    doc, product = complete
    item(doc, "networking").update(status="N/A", notes="We serve no inference.")
    violations = check(doc, product)
    assert [(v.rule, v.severity) for v in violations] == [("status.must_not_applicable", "error")]
    assert "rejects" in violations[0].message and "cluster_autoscaling" in violations[0].message


def test_na_without_notes(complete):
    doc, product = complete
    item(doc, "accelerators", 2).update(status="N/A", notes="")
    assert [(v.rule, v.path) for v in check(doc, product)] == [("status.na_without_notes", "spec.accelerators[2].notes")]


# ---------------------------------------------------------------------------- evidence


def test_must_without_evidence(complete):
    doc, product = complete
    item(doc, "networking")["evidence"] = []
    assert [(v.rule, v.path) for v in check(doc, product)] == [("evidence.missing_for_must", "spec.networking[0].evidence")]


@pytest.mark.parametrize("entry", [
    "/etc/passwd", "../other/evidence.md", "evidence/../../x.md", "file://evidence/ai_inference.md", "ftp://x.org/a", 42,
])
def test_bad_reference(complete, entry):
    doc, product = complete
    item(doc, "networking")["evidence"] = ["evidence/ai_inference.md", entry]
    violations = check(doc, product)
    assert [(v.rule, v.path) for v in violations] == [("evidence.bad_reference", "spec.networking[0].evidence[1]")]


def test_evidence_that_is_not_a_list(complete):
    doc, product = complete
    item(doc, "networking")["evidence"] = "evidence/ai_inference.md"
    assert rules(check(doc, product)) == ["evidence.bad_reference"]


def test_missing_evidence_file(complete, tmp_path):
    doc, product = complete
    item(doc, "networking")["evidence"] = ["evidence/nope.md"]
    violations = check(doc, product)
    assert [(v.rule, v.path) for v in violations] == [("evidence.file_missing", "spec.networking[0].evidence[0]")]
    assert submission.validate(doc, "1.35", base_dir=product, planned_files=["evidence/nope.md"]) == []
    assert check(doc, base_dir=None) == [], "without base_dir files are not checked"


def test_canonical_artifact_reference_is_a_warning(complete, tmp_path):
    doc, product = complete
    with open(product + "/junit.xml", "w") as handle:
        handle.write("<testsuites/>")
    item(doc, "networking")["evidence"].append("junit.xml")
    assert [(v.rule, v.severity) for v in check(doc, product)] == [("artifact.canonical_name", "warning")]


def test_file_urls_from_1_37_on():
    assert submission.evidence_file("file://junit.xml#TestGangScheduling", "1.37") == ("junit.xml", "")
    assert submission.evidence_file("file://v1.37/talos/junit.xml#TestX", "1.37", "talos") == ("junit.xml", "")
    assert submission.evidence_file("file://../junit.xml", "1.37")[1]
    assert submission.evidence_file("file://junit.xml", "1.36")[1].startswith("file:// references are accepted from")
    assert submission.evidence_file("https://example.com/x", "1.35") == (None, "")
    assert submission.evidence_file("./evidence/x.md", "1.35") == ("evidence/x.md", "")


# ---------------------------------------------------------------------------- 1.37: the official suite's artifacts

SUBMISSIONS = Path(__file__).resolve().parents[1] / "fixtures" / "published" / "submissions"
SUITE = "github.com/kubernetes-sigs/ai-conformance/test"

JUNIT_PASSING = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" failures="0" errors="0">
  <testsuite tests="5" failures="0" name="%s">
    <testcase classname="test" name="TestSecureAcceleratorAccess" time="30.1"></testcase>
    <testcase classname="test" name="TestGangScheduling/PositiveGangScheduling" time="20.0"></testcase>
    <testcase classname="test" name="TestGangScheduling/NegativeGangScheduling" time="30.0"></testcase>
    <testcase classname="test" name="TestAcceleratorClusterAutoscaling" time="0.0">
      <skipped message="-autoscaler-node-pool-label not set"></skipped>
    </testcase>
    <testcase classname="test" name="TestWorkloadSandboxing" time="12.0"></testcase>
  </testsuite>
</testsuites>
""" % SUITE
JUNIT_FAILING = """<testsuite tests="2" failures="1" name="test">
  <testcase name="TestSecureAcceleratorAccess"><failure message="Failed">VIOLATION: accelerator visible</failure></testcase>
  <testcase name="TestGangScheduling"></testcase>
</testsuite>
"""
JUNIT_ERRORED = """<testsuites><testsuite name="test">
  <testcase name="TestGangScheduling"><error message="panic">runtime error</error></testcase>
</testsuite></testsuites>
"""


def go_test_json(*events):
    """``go test -json`` lines: (action, test) pairs; a test of None is the package's own event."""
    lines = ['{"Time":"2026-10-01T21:36:36Z","Action":"start","Package":"%s"}' % SUITE]
    for action, test in events:
        lines.append('{"Time":"2026-10-01T21:36:37Z","Action":"output","Package":"%s",%s"Output":"=== RUN   x\\n"}'
                     % (SUITE, '"Test":"%s",' % test if test else ""))
        lines.append('{"Time":"2026-10-01T21:36:38Z","Action":"%s","Package":"%s",%s"Elapsed":1.5}'
                     % (action, SUITE, '"Test":"%s",' % test if test else ""))
    return "\n".join(lines) + "\n"


RESULTS_PASSING = go_test_json(("pass", "TestSecureAcceleratorAccess"), ("pass", "TestGangScheduling"),
                               ("skip", "TestAcceleratorClusterAutoscaling"), ("pass", None))
E2E_PASSING = """=== RUN   TestSecureAcceleratorAccess
=== RUN   TestSecureAcceleratorAccess/PositiveAccessTest
    util_test.go:114: Waiting for Pod pos-pod to be running...
    --- PASS: TestSecureAcceleratorAccess/PositiveAccessTest (12.04s)
--- PASS: TestSecureAcceleratorAccess (30.12s)
=== RUN   TestGangScheduling
--- PASS: TestGangScheduling (40.00s)
=== RUN   TestAcceleratorClusterAutoscaling
    autoscaling_test.go:20: -autoscaler-node-pool-label not set, skipping
--- SKIP: TestAcceleratorClusterAutoscaling (0.00s)
PASS
ok  \tgithub.com/kubernetes-sigs/ai-conformance/test\t70.120s
"""
E2E_FAILING = "=== RUN   TestGangScheduling\n    --- FAIL: TestGangScheduling/NegativeGangScheduling (0.06s)\n" \
              "--- FAIL: TestGangScheduling (62.11s)\nFAIL\n"


@pytest.fixture
def complete_137(tmp_path):
    """A complete, passing 1.37 submission on disk: (doc, product directory v1.37/turbo-encabulator)."""
    metadata = dict(METADATA, k8sConformanceUrl=METADATA["k8sConformanceUrl"].replace("v1.35", "v1.37"))
    outcome = artifacts.write_artifacts(str(tmp_path / "out"), checklists.load("1.37"), passing_results("1.37"),
                                        metadata=metadata, submission_dir=str(tmp_path / "sub"))
    with open(outcome["paths"]["submission"]["product"]) as handle:
        return yaml.safe_load(handle), outcome["paths"]["submission"]["directory"]


def write(product, relative, content):
    path = Path(product) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def cite(doc, requirement_id, *entries):
    """Add evidence entries to the item of ``requirement_id``; returns the item."""
    found = next(i for items in doc["spec"].values() for i in items if i["id"] == requirement_id)
    found["evidence"] = list(found["evidence"]) + list(entries)
    return found


def check_137(doc, product):
    return submission.validate(doc, "1.37", base_dir=product)


def test_1_37_passing_artifacts_cited_with_and_without_fragments_validate_clean(complete_137):
    doc, product = complete_137
    write(product, "junit.xml", JUNIT_PASSING)
    write(product, "results.json", RESULTS_PASSING)
    write(product, "e2e.log", E2E_PASSING)
    cite(doc, "gang_scheduling", "file://junit.xml#TestGangScheduling", "file://v1.37/turbo-encabulator/results.json",
         "e2e.log#TestGangScheduling")
    cite(doc, "secure_accelerator_access", "file:///v1.37/turbo-encabulator/junit.xml", "file://e2e.log")
    cite(doc, "workload_sandboxing", "file://junit.xml#TestWorkloadSandboxing")
    cite(doc, "ai_inference", "file://results.json")  # no test of its own: only the file's failures count
    assert check_137(doc, product) == []


def test_a_failing_test_in_a_cited_artifact_is_an_error_said_once_per_file(complete_137):
    doc, product = complete_137
    write(product, "junit.xml", JUNIT_FAILING)
    cite(doc, "gang_scheduling", "file://junit.xml#TestGangScheduling")
    cite(doc, "secure_accelerator_access", "file://junit.xml")
    violations = check_137(doc, product)
    assert [(v.rule, v.path, v.severity) for v in violations] == [
        ("artifact.failing_tests", "spec.schedulingOrchestration[0].evidence[1]", "error"),
        ("artifact.test_failed", "spec.security[0].evidence[1]", "error"),
    ]
    assert "contains failing tests: TestSecureAcceleratorAccess" in violations[0].message
    assert "TestSecureAcceleratorAccess referenced by secure_accelerator_access failed in file://junit.xml" in violations[1].message


@pytest.mark.parametrize("name, content, failing", [
    ("junit.xml", JUNIT_ERRORED, "TestGangScheduling"),
    ("results.json", go_test_json(("fail", "TestGangScheduling"), ("fail", None)), "TestGangScheduling"),
    ("results.json", go_test_json(("fail", None)), "package " + SUITE),
    ("e2e.log", E2E_FAILING, "TestGangScheduling, TestGangScheduling/NegativeGangScheduling"),
])
def test_each_format_reports_its_failures(complete_137, name, content, failing):
    doc, product = complete_137
    write(product, name, content)
    cite(doc, "ai_inference", "file://" + name)
    violations = check_137(doc, product)
    assert [(v.rule, v.severity) for v in violations] == [("artifact.failing_tests", "error")]
    assert violations[0].message.endswith("contains failing tests: " + failing)


def test_the_fragment_must_name_a_test_the_file_holds(complete_137):
    doc, product = complete_137
    write(product, "results.json", RESULTS_PASSING)
    cite(doc, "gang_scheduling", "file://results.json#TestGangSchedulingTypo")
    violations = check_137(doc, product)
    assert [(v.rule, v.path) for v in violations] == [("artifact.test_missing", "spec.schedulingOrchestration[0].evidence[1]")]
    assert "TestGangSchedulingTypo referenced by gang_scheduling was not found in file://results.json" in violations[0].message


def test_without_a_fragment_the_requirements_own_test_must_be_there(complete_137):
    doc, product = complete_137
    write(product, "e2e.log", "=== RUN   TestWorkloadSandboxing\n--- PASS: TestWorkloadSandboxing (3.00s)\n")
    cite(doc, "secure_accelerator_access", "e2e.log")
    cite(doc, "workload_sandboxing", "e2e.log")  # the program maps no test to it: nothing to look for
    assert [(v.rule, v.message) for v in check_137(doc, product)] == [
        ("artifact.test_missing", "test TestSecureAcceleratorAccess referenced by secure_accelerator_access was not found in e2e.log")]


def test_a_test_known_only_by_its_subtests_takes_their_outcome(complete_137):
    doc, product = complete_137
    write(product, "junit.xml", JUNIT_PASSING)  # TestGangScheduling appears only as its two subtests, both passing
    write(product, "e2e.log", E2E_FAILING.replace("--- FAIL: TestGangScheduling (62.11s)\n", ""))
    cite(doc, "gang_scheduling", "junit.xml", "e2e.log")
    assert rules(check_137(doc, product)) == ["artifact.failing_tests", "artifact.test_failed"]


def test_a_skipped_mapped_test_is_an_error_only_when_the_item_is_implemented(complete_137):
    doc, product = complete_137
    write(product, "results.json", RESULTS_PASSING)  # TestAcceleratorClusterAutoscaling skipped
    autoscaling = cite(doc, "cluster_autoscaling", "file://results.json")
    violations = check_137(doc, product)
    assert [(v.rule, v.severity) for v in violations] == [("artifact.test_skipped", "error")]
    assert "cluster_autoscaling is Implemented but test TestAcceleratorClusterAutoscaling was skipped" in violations[0].message
    autoscaling.update(status="N/A", notes="Bare metal: the platform provisions no nodes, so it has no cluster autoscaler.")
    assert [(v.rule, v.severity) for v in check_137(doc, product)] == [("status.must_not_applicable", "warning")]


def test_na_on_another_must_is_still_an_error_in_1_37(complete_137):
    doc, product = complete_137
    cite(doc, "gang_scheduling")["status"] = "N/A"
    cite(doc, "gang_scheduling")["notes"] = "We run no distributed training."
    assert [(v.rule, v.severity) for v in check_137(doc, product)] == [("status.must_not_applicable", "error")]


@pytest.mark.parametrize("name, content", [
    ("junit.xml", "<testsuites></testsuites>"), ("junit.xml", "not xml"), ("results.json", "{not json\n"),
    ("results.json", '{"Action":"output","Package":"p"}\n'), ("e2e.log", "no results here\n"),
])
def test_an_artifact_that_does_not_parse_is_an_error_said_once(complete_137, name, content):
    doc, product = complete_137
    write(product, name, content)
    cite(doc, "gang_scheduling", "file://%s#TestGangScheduling" % name)
    cite(doc, "secure_accelerator_access", "file://" + name)
    violations = check_137(doc, product)
    assert [(v.rule, v.path) for v in violations] == [("artifact.unparsable", "spec.schedulingOrchestration[0].evidence[1]")]


def test_canonical_names_are_matched_in_any_directory_and_case(complete_137):
    doc, product = complete_137
    write(product, "results/JUnit.XML", JUNIT_FAILING)
    cite(doc, "ai_inference", "file://results/JUnit.XML")
    assert rules(check_137(doc, product)) == ["artifact.failing_tests"]


def test_our_own_junit_file_is_never_parsed(complete_137):
    doc, product = complete_137
    write(product, artifacts.JUNIT_FILE, JUNIT_FAILING)
    write(product, "evidence/junit.xml.md", "not an artifact")
    cite(doc, "secure_accelerator_access", "file://" + artifacts.JUNIT_FILE, "evidence/junit.xml.md")
    assert artifacts.JUNIT_FILE.lower() not in submission.CANONICAL_ARTIFACTS
    assert check_137(doc, product) == []


def test_without_a_directory_1_37_artifacts_are_only_warned_about(complete_137):
    doc, dummy = complete_137
    cite(doc, "gang_scheduling", "file://junit.xml#TestGangScheduling")
    violations = submission.validate(doc, "1.37")
    assert [(v.rule, v.severity) for v in violations] == [("artifact.canonical_name", "warning")]
    assert "not parsed here" in violations[0].message


def test_1_37_evidence_references():
    ref = submission.evidence_reference
    assert ref("junit.xml#TestGangScheduling", "1.37") == ("junit.xml", "TestGangScheduling", "")
    assert ref("file:///v1.37/gke/results.json#TestX", "1.37", "gke") == ("results.json", "TestX", "")
    assert ref("v1.37/gke/artifacts/e2e.log", "1.37", "gke") == ("artifacts/e2e.log", "", "")
    assert "another product" in ref("file://v1.37/other/junit.xml", "1.37", "gke")[2]
    assert "another product" in ref("v1.36/gke/junit.xml", "1.37", "gke")[2]
    assert "names no file" in ref("file://#TestX", "1.37")[2] and "names no file" in ref("#TestX", "1.37")[2]
    assert "escapes" in ref("file://../../secret", "1.37")[2]
    assert ref("junit.xml#TestX", "1.36") == ("junit.xml#TestX", "", ""), "fragments are a 1.37 form"


def test_the_first_1_37_submission_validates_clean():
    product = SUBMISSIONS / "v1.37" / "gke"
    text = (product / "PRODUCT.yaml").read_text()
    assert "file://v1.37/gke/junit.xml#TestGangScheduling" in text
    assert submission.validate(text, "1.37", base_dir=str(product)) == []


def test_the_same_submission_citing_a_failing_run_is_rejected(tmp_path):
    product = tmp_path / "v1.37" / "gke"
    product.mkdir(parents=True)
    shutil.copy(str(SUBMISSIONS / "v1.37" / "gke" / "PRODUCT.yaml"), str(product))
    for name in ("junit.xml", "results.json", "e2e.log"):
        shutil.copy(str(SUBMISSIONS / "official-suite-failing-run" / name), str(product))
    violations = submission.validate((product / "PRODUCT.yaml").read_text(), "1.37", base_dir=str(product))
    assert {v.severity for v in violations} == {"error"}
    by_rule = {}
    for violation in violations:
        by_rule.setdefault(violation.rule, set()).add(violation.path.split(".evidence")[0])
    assert by_rule == {
        "artifact.failing_tests": {"spec.schedulingOrchestration[0]"},  # said once per file, where first cited
        "artifact.test_failed": {"spec.schedulingOrchestration[0]", "spec.security[0]"},
        "artifact.test_missing": {"spec.schedulingOrchestration[1]"},  # the failing run never ran autoscaling
    }
    assert len([v for v in violations if v.rule == "artifact.failing_tests"]) == 3


# ---------------------------------------------------------------------------- reachability


class Handler(BaseHTTPRequestHandler):
    """/ok answers; /get-only refuses HEAD; anything else is 404. Records User-Agents."""

    agents = []

    def do_HEAD(self):
        self.agents.append(self.headers.get("User-Agent"))
        self.send_response(200 if self.path == "/ok" else 405 if self.path == "/get-only" else 404)
        self.end_headers()

    def do_GET(self):
        self.agents.append(self.headers.get("User-Agent"))
        self.send_response(200 if self.path in ("/ok", "/get-only") else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_port
    server.shutdown()
    server.server_close()


def test_url_problem_tries_head_then_get_with_the_validator_user_agent(web):
    Handler.agents = []
    assert submission.url_problem(web + "/ok") == ""
    assert submission.url_problem(web + "/get-only") == ""
    assert submission.url_problem(web + "/missing") == "status code 404"
    assert set(Handler.agents) == {submission.USER_AGENT}
    assert submission.url_problem("http://127.0.0.1:9/x", timeout=1)


def test_check_urls_reports_unreachable_metadata_and_evidence(complete, web):
    doc, product = complete
    for key in ("websiteUrl", "documentationUrl", "repoUrl"):
        doc["metadata"][key] = web + "/ok"
    doc["metadata"]["productLogoUrl"] = web + "/missing.svg"
    doc["metadata"]["k8sConformanceUrl"] = "https://github.com/cncf/k8s-conformance/tree/master/v1.35/x"
    item(doc, "networking")["evidence"] = [web + "/ok", web + "/missing"]
    targets = submission._urls(doc, checklists.load("1.35"))
    assert [t for t in targets if "github.com" in t[2]], "k8sConformanceUrl is fetched too"
    doc["metadata"]["k8sConformanceUrl"] = ""  # keep the test offline
    violations = submission.validate(doc, "1.35", base_dir=product, check_urls=True)
    assert [(v.rule, v.path) for v in violations] == [
        ("metadata.required", "metadata.k8sConformanceUrl"),
        ("metadata.unreachable", "metadata.productLogoUrl"),
        ("evidence.unreachable", "spec.networking[0].evidence[1]"),
    ]
    assert "status code 404" in violations[2].message
