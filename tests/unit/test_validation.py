"""The program's submission rules: a complete checklist passes, and each rule catches its case."""

import copy
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists, report, validation
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
def submission(tmp_path):
    """A complete, passing 1.35 submission on disk: (doc, product directory)."""
    outcome = report.write_artifacts(str(tmp_path / "out"), checklists.load("1.35"), passing_results("1.35"),
                                     metadata=METADATA, submission_dir=str(tmp_path / "sub"))
    product = outcome["paths"]["submission"]["directory"]
    with open(outcome["paths"]["submission"]["product"]) as handle:
        return yaml.safe_load(handle), product


def item(doc, section, index=0):
    return doc["spec"][section][index]


def rules(violations, severity=None):
    return sorted({v.rule for v in violations if severity is None or v.severity == severity})


def check(doc, base_dir=None, version="1.35"):
    return validation.validate(doc, version, base_dir=base_dir)


def test_complete_submission_passes(submission):
    doc, product = submission
    assert check(doc, product) == []
    assert validation.validate(yaml.safe_dump(doc, sort_keys=False), "1.35", base_dir=product) == []


@pytest.mark.parametrize("version", ["1.33", "1.34", "1.36"])
def test_rendered_checklists_of_every_version_pass_when_complete(tmp_path, version):
    metadata = dict(METADATA, k8sConformanceUrl=METADATA["k8sConformanceUrl"].replace("v1.35", "v" + version))
    checklist = checklists.load(version)
    report.write_artifacts(str(tmp_path), checklist, passing_results(version), metadata=metadata)
    text = (tmp_path / ("AIConformance-%s.yaml" % version)).read_text()
    assert validation.validate(text, version, base_dir=str(tmp_path)) == []


def test_snake_case_metadata_is_accepted(submission):
    doc, product = submission
    doc["metadata"] = {report._snake(k): v for k, v in METADATA.items()}
    doc["metadata"]["kubernetes_version"] = "v1.35"
    assert check(doc, product) == []


def test_violation_to_dict():
    violation = validation.Violation("metadata.required", "metadata.vendorName", "missing", "set it")
    assert violation.to_dict() == {"rule": "metadata.required", "path": "metadata.vendorName", "message": "missing",
                                   "fix": "set it", "severity": "error"}


# ---------------------------------------------------------------------------- document and metadata


@pytest.mark.parametrize("text", ["metadata: [unclosed", "- just\n- a list\n"])
def test_document_invalid(text):
    assert rules(validation.validate(text, "1.35")) == ["document.invalid"]


def test_missing_metadata_and_spec_are_invalid():
    assert [v.path for v in validation.validate({}, "1.35")] == ["metadata", "spec"]


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
def test_metadata_rules(submission, field, value, rule):
    doc, product = submission
    if value is None:
        del doc["metadata"][field]
    else:
        doc["metadata"][field] = value
    violations = check(doc, product)
    assert rules(violations) == [rule]
    assert violations[0].path == "metadata.%s" % field and violations[0].severity == "error"
    assert violations[0].fix


def test_optional_repo_url_may_be_absent_or_empty(submission):
    doc, product = submission
    doc["metadata"]["repoUrl"] = ""
    assert check(doc, product) == []
    del doc["metadata"]["repoUrl"]
    assert check(doc, product) == []


def test_patch_version_is_accepted(submission):
    doc, product = submission
    doc["metadata"]["kubernetesVersion"] = "v1.35.3"
    assert check(doc, product) == []


def test_logo_that_is_not_svg_is_a_warning(submission):
    doc, product = submission
    doc["metadata"]["productLogoUrl"] = "https://yoyo.dyne/logo.png"
    assert rules(check(doc, product), "warning") == ["metadata.logo_format"] and rules(check(doc, product), "error") == []


def test_1_36_requires_k8s_conformance_url_though_its_template_lacks_it(tmp_path):
    metadata = {k: v for k, v in METADATA.items() if k != "k8sConformanceUrl"}
    text = report.render_checklist(checklists.load("1.36"), passing_results("1.36"), metadata=metadata)
    violations = validation.validate(text, "1.36")
    assert [(v.rule, v.path, v.severity) for v in violations] == [("metadata.placeholder", "metadata.k8sConformanceUrl", "error")]
    doc = yaml.safe_load(text)
    del doc["metadata"]["k8sConformanceUrl"]
    assert [(v.rule, v.severity) for v in validation.validate(doc, "1.36")] == [("metadata.required", "error")]


def test_1_33_without_k8s_conformance_url_is_only_a_warning():
    metadata = {k: v for k, v in METADATA.items() if k != "k8sConformanceUrl"}
    text = report.render_checklist(checklists.load("1.33"), passing_results("1.33"), metadata=metadata)
    assert [(v.rule, v.severity) for v in validation.validate(text, "1.33")] == [("metadata.required", "warning")]


# ---------------------------------------------------------------------------- spec


def test_missing_section(submission):
    doc, product = submission
    del doc["spec"]["operator"]
    assert [(v.rule, v.path) for v in check(doc, product)] == [("spec.missing_section", "spec.operator")]


def test_missing_item(submission):
    doc, product = submission
    del doc["spec"]["schedulingOrchestration"][1]
    assert [(v.rule, v.path) for v in check(doc, product)] == [("spec.missing_item", "spec.schedulingOrchestration")]


def test_unknown_item_and_section(submission):
    doc, product = submission
    extra = dict(item(doc, "networking"), id="my_feature")
    doc["spec"]["networking"].append(extra)
    doc["spec"]["extras"] = [dict(extra)]
    assert [(v.rule, v.path) for v in check(doc, product)] == [
        ("spec.unknown_item", "spec.networking[1].id"), ("spec.unknown_item", "spec.extras")]


def test_duplicate_item(submission):
    doc, product = submission
    doc["spec"]["networking"].append(copy.deepcopy(item(doc, "networking")))
    assert rules(check(doc, product)) == ["spec.duplicate_item"]


@pytest.mark.parametrize("key, value", [("description", "Support Gateway API."), ("level", "SHOULD")])
def test_changed_field(submission, key, value):
    doc, product = submission
    item(doc, "networking")[key] = value
    violations = check(doc, product)
    assert [(v.rule, v.path) for v in violations] == [("spec.changed_field", "spec.networking[0].%s" % key)]


# ---------------------------------------------------------------------------- status


def test_invalid_status(submission):
    doc, product = submission
    item(doc, "accelerators", 1)["status"] = "Done"
    assert [(v.rule, v.path) for v in check(doc, product)] == [("status.invalid", "spec.accelerators[1].status")]


def test_should_with_evidence_but_no_status_is_invalid(submission):
    doc, product = submission
    item(doc, "accelerators", 1)["status"] = ""
    assert rules(check(doc, product)) == ["status.invalid"]


def test_should_may_be_left_empty(submission):
    doc, product = submission
    item(doc, "accelerators", 1).update(status="", evidence=[], notes="")
    assert check(doc, product) == []


@pytest.mark.parametrize("status", ["Not Implemented", "Partially Implemented", ""])
def test_must_not_implemented(submission, status):
    doc, product = submission
    item(doc, "networking")["status"] = status
    assert [(v.rule, v.severity) for v in check(doc, product)] == [("status.must_not_implemented", "error")]


def test_na_on_cluster_autoscaling_is_a_warning(submission):
    doc, product = submission
    item(doc, "schedulingOrchestration", 1).update(status="N/A", notes="Bare metal: nodes are not provisioned by the platform.")
    violations = check(doc, product)
    assert [(v.rule, v.severity) for v in violations] == [("status.must_not_applicable", "warning")]
    assert "accepts it with a warning" in violations[0].message


def test_na_on_any_other_must_is_an_error_as_the_validator_rejects_it(submission):
    doc, product = submission
    item(doc, "networking").update(status="N/A", notes="We serve no inference.")
    violations = check(doc, product)
    assert [(v.rule, v.severity) for v in violations] == [("status.must_not_applicable", "error")]
    assert "rejects" in violations[0].message and "cluster_autoscaling" in violations[0].message


def test_na_without_notes(submission):
    doc, product = submission
    item(doc, "accelerators", 2).update(status="N/A", notes="")
    assert [(v.rule, v.path) for v in check(doc, product)] == [("status.na_without_notes", "spec.accelerators[2].notes")]


# ---------------------------------------------------------------------------- evidence


def test_must_without_evidence(submission):
    doc, product = submission
    item(doc, "networking")["evidence"] = []
    assert [(v.rule, v.path) for v in check(doc, product)] == [("evidence.missing_for_must", "spec.networking[0].evidence")]


@pytest.mark.parametrize("entry", [
    "/etc/passwd", "../other/evidence.md", "evidence/../../x.md", "file://evidence/ai_inference.md", "ftp://x.org/a", 42,
])
def test_bad_reference(submission, entry):
    doc, product = submission
    item(doc, "networking")["evidence"] = ["evidence/ai_inference.md", entry]
    violations = check(doc, product)
    assert [(v.rule, v.path) for v in violations] == [("evidence.bad_reference", "spec.networking[0].evidence[1]")]


def test_evidence_that_is_not_a_list(submission):
    doc, product = submission
    item(doc, "networking")["evidence"] = "evidence/ai_inference.md"
    assert rules(check(doc, product)) == ["evidence.bad_reference"]


def test_missing_evidence_file(submission, tmp_path):
    doc, product = submission
    item(doc, "networking")["evidence"] = ["evidence/nope.md"]
    violations = check(doc, product)
    assert [(v.rule, v.path) for v in violations] == [("evidence.file_missing", "spec.networking[0].evidence[0]")]
    assert validation.validate(doc, "1.35", base_dir=product, planned_files=["evidence/nope.md"]) == []
    assert check(doc, base_dir=None) == [], "without base_dir files are not checked"


def test_canonical_artifact_reference_is_a_warning(submission, tmp_path):
    doc, product = submission
    with open(product + "/junit.xml", "w") as handle:
        handle.write("<testsuites/>")
    item(doc, "networking")["evidence"].append("junit.xml")
    assert [(v.rule, v.severity) for v in check(doc, product)] == [("artifact.canonical_name", "warning")]


def test_file_urls_from_1_37_on():
    assert validation.evidence_file("file://junit.xml#TestGangScheduling", "1.37") == ("junit.xml", "")
    assert validation.evidence_file("file://v1.37/talos/junit.xml#TestX", "1.37", "talos") == ("junit.xml", "")
    assert validation.evidence_file("file://../junit.xml", "1.37")[1]
    assert validation.evidence_file("file://junit.xml", "1.36")[1].startswith("file:// references are accepted from")
    assert validation.evidence_file("https://example.com/x", "1.35") == (None, "")
    assert validation.evidence_file("./evidence/x.md", "1.35") == ("evidence/x.md", "")


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
    assert validation.url_problem(web + "/ok") == ""
    assert validation.url_problem(web + "/get-only") == ""
    assert validation.url_problem(web + "/missing") == "status code 404"
    assert set(Handler.agents) == {validation.USER_AGENT}
    assert validation.url_problem("http://127.0.0.1:9/x", timeout=1)


def test_check_urls_reports_unreachable_metadata_and_evidence(submission, web):
    doc, product = submission
    for key in ("websiteUrl", "documentationUrl", "repoUrl"):
        doc["metadata"][key] = web + "/ok"
    doc["metadata"]["productLogoUrl"] = web + "/missing.svg"
    doc["metadata"]["k8sConformanceUrl"] = "https://github.com/cncf/k8s-conformance/tree/master/v1.35/x"
    item(doc, "networking")["evidence"] = [web + "/ok", web + "/missing"]
    targets = validation._urls(doc, checklists.load("1.35"))
    assert [t for t in targets if "github.com" in t[2]], "k8sConformanceUrl is fetched too"
    doc["metadata"]["k8sConformanceUrl"] = ""  # keep the test offline
    violations = validation.validate(doc, "1.35", base_dir=product, check_urls=True)
    assert [(v.rule, v.path) for v in violations] == [
        ("metadata.required", "metadata.k8sConformanceUrl"),
        ("metadata.unreachable", "metadata.productLogoUrl"),
        ("evidence.unreachable", "spec.networking[0].evidence[1]"),
    ]
    assert "status code 404" in violations[2].message
