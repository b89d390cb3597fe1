"""The checklist action through ansible-playbook on localhost: files, check mode, idempotence, rules."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import Evidence, Result

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

PLAYBOOK = """
- name: Write the checklist
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the action
      k8s_ai.conformance.checklist:
        results: "{{ args.results }}"
        checklist_version: "{{ args.checklist_version }}"
        output_dir: "{{ args.output_dir }}"
        metadata: "{{ args.metadata | default(omit) }}"
        evidence_urls: "{{ args.evidence_urls | default(omit) }}"
        cluster: "{{ args.cluster | default(omit) }}"
        submission_dir: "{{ args.submission_dir | default(omit) }}"
        fail_on_violations: "{{ args.fail_on_violations | default(omit) }}"
      register: outcome
      ignore_errors: true

    - name: Keep what it returned, also in check mode
      ansible.builtin.copy:
        content: "{{ outcome | to_nice_json }}"
        dest: "{{ returned_path }}"
        mode: "0644"
      check_mode: false
"""

METADATA = {
    "platform_name": "Turbo Encabulator",
    "platform_version": "v1.7.4",
    "vendor_name": "Yoyodyne",
    "website_url": "https://yoyo.dyne/turbo-encabulator",
    "repo_url": "",
    "documentation_url": "https://yoyo.dyne/turbo-encabulator/docs",
    "product_logo_url": "https://yoyo.dyne/assets/turbo-encabulator.svg",
    "description": "A Kubernetes distribution for encabulating.",
    "contact_email_address": "yoyodyne@turbo-encabulator.org",
    "k8s_conformance_url": "https://github.com/cncf/k8s-conformance/tree/master/v1.35/turbo-encabulator",
}


def result_dicts(outcome="pass", version="1.35"):
    """verify's results for a checklist (1.35 unless told), as the dicts a playbook passes on."""
    return [Result(r.id, r.section, r.level, outcome, "checked: %s" % r.id,
                   evidence=[Evidence("kubectl get x", "x", "GET /x")], duration_s=0.5).to_dict()
            for r in checklists.load(version).requirements]


@pytest.fixture
def play(tmp_path):
    """Run the action with the given arguments from tmp_path; returns what the task returned."""
    def run(check=False, **args):
        returned = tmp_path / "returned.json"
        (tmp_path / "play.yml").write_text(PLAYBOOK)
        (tmp_path / "vars.json").write_text(json.dumps({
            "args": args, "returned_path": str(returned), "ansible_python_interpreter": sys.executable}))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / ".atmp"), ANSIBLE_LOCALHOST_WARNING="0")
        command = [str(ANSIBLE_PLAYBOOK), "play.yml", "-i", "localhost,", "-c", "local", "-e", "@vars.json"]
        proc = subprocess.run(command + (["--check"] if check else []), cwd=str(tmp_path), env=env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(returned.read_text())
    return run


def files_under(directory):
    """The artifacts under ``directory``; the set's manifest must be there and is left out."""
    assert (directory / ".ai-conformance-manifest.json").is_file()
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                  if p.is_file() and p.name != ".ai-conformance-manifest.json")


def test_writes_artifacts_relative_to_the_working_directory(play, tmp_path):
    outcome = play(results=result_dicts(), checklist_version="1.35", output_dir="report",
                   cluster={"kubernetes_version": "v1.35.2+rke2r1", "distribution": "rke2"})
    assert outcome["changed"] is True and not outcome.get("failed")
    out = tmp_path / "report"
    assert outcome["paths"]["directory"] == str(out)
    assert files_under(out) == sorted(
        ["AIConformance-1.35.yaml", "ai-conformance-checks.junit.xml", "ai-conformance-results.json", "report.md"]
        + ["evidence/%s.md" % i for i in checklists.load("1.35").ids])
    assert outcome["summary"]["conformant"] is True
    doc = yaml.safe_load((out / "AIConformance-1.35.yaml").read_text())
    assert doc["spec"]["networking"][0]["status"] == "Implemented"
    assert "- Cluster: Kubernetes v1.35.2+rke2r1, rke2" in (out / "report.md").read_text()
    rules = {v["rule"] for v in outcome["violations"]}
    assert rules == {"metadata.placeholder"}, "only the product metadata is missing"
    assert outcome["violation_count"] == len(outcome["violations"])
    assert "## Submission-rule violations" in (out / "report.md").read_text()


def test_check_mode_writes_nothing_and_a_second_run_changes_nothing(play, tmp_path):
    args = dict(results=result_dicts(), checklist_version="1.35", output_dir=str(tmp_path / "out"), metadata=METADATA)
    preview = play(check=True, **args)
    assert preview["changed"] is True and preview["written"]
    assert not (tmp_path / "out").exists()
    first = play(**args)
    assert first["changed"] is True and sorted(first["written"]) == sorted(preview["written"])
    again = play(**args)
    assert again["changed"] is False and again["written"] == []
    assert play(check=True, **args)["changed"] is False


def test_submission_layout_passes_the_rules(play, tmp_path):
    outcome = play(results=result_dicts(), checklist_version="1.35", output_dir=str(tmp_path / "out"),
                   metadata=METADATA, submission_dir=str(tmp_path / "k8s-ai-conformance"), fail_on_violations=True)
    product = tmp_path / "k8s-ai-conformance" / "v1.35" / "turbo-encabulator"
    assert not outcome.get("failed"), outcome.get("msg")
    assert outcome["violations"] == []
    assert outcome["paths"]["submission"]["product"] == str(product / "PRODUCT.yaml")
    assert files_under(product) == sorted(["PRODUCT.yaml"] + ["evidence/%s.md" % i for i in checklists.load("1.35").ids])


def test_violations_are_reported_and_fail_only_when_asked(play, tmp_path):
    results = [dict(r, outcome="fail", status="Not Implemented", remediation="install the Gateway API CRDs")
               if r["id"] == "ai_inference" else r for r in result_dicts()]
    args = dict(results=results, checklist_version="1.35", output_dir=str(tmp_path / "out"), metadata=METADATA)
    reported = play(**args)
    assert not reported.get("failed")
    assert [(v["rule"], v["path"]) for v in reported["violations"]] == [("status.must_not_implemented", "spec.networking[0].status")]
    assert reported["summary"]["must_not_met"] == ["ai_inference"] and reported["summary"]["verdict"] == "not conformant"
    failed = play(fail_on_violations=True, **args)
    assert failed["failed"] is True
    assert "status.must_not_implemented" in failed["msg"]


@pytest.mark.parametrize("args, expected", [
    (dict(results="not a list", checklist_version="1.35"), "results must be a list"),
    (dict(results=[{"id": "ai_inference"}], checklist_version="1.35"), "results[0] is not a verify result"),
    (dict(results=[], checklist_version="1.20"), "1.33, 1.34, 1.35, 1.36, 1.37"),
    (dict(results=[], checklist_version="1.35", metadata={"websiteURL2": "x"}), "not a checklist metadata field"),
])
def test_bad_arguments_give_clear_errors(play, tmp_path, args, expected):
    outcome = play(output_dir=str(tmp_path / "out"), **args)
    assert outcome["failed"] is True
    assert expected in outcome["msg"]
    assert not (tmp_path / "out").exists()


SUBMISSIONS = ROOT / "tests" / "fixtures" / "published" / "submissions"
SUITE_EVIDENCE = {"gang_scheduling": ["file://junit.xml#TestGangScheduling", "file://results.json#TestGangScheduling", "file://e2e.log"],
                  "secure_accelerator_access": ["file://v1.37/turbo-encabulator/junit.xml#TestSecureAcceleratorAccess"],
                  "cluster_autoscaling": ["file://results.json"]}


@pytest.mark.parametrize("run, rejected", [("v1.37/gke", False), ("official-suite-failing-run", True)])
def test_1_37_submission_citing_the_official_suites_artifacts(play, tmp_path, run, rejected):
    product = tmp_path / "k8s-ai-conformance" / "v1.37" / "turbo-encabulator"
    product.mkdir(parents=True)
    for name in ("junit.xml", "results.json", "e2e.log"):  # the vendor's own run, kept beside our files
        (product / name).write_bytes((SUBMISSIONS / run / name).read_bytes())
    metadata = dict(METADATA, k8s_conformance_url=METADATA["k8s_conformance_url"].replace("v1.35", "v1.37"))
    outcome = play(results=result_dicts(version="1.37"), checklist_version="1.37", output_dir=str(tmp_path / "out"),
                   metadata=metadata, evidence_urls=SUITE_EVIDENCE, submission_dir=str(tmp_path / "k8s-ai-conformance"),
                   fail_on_violations=True)
    assert {"junit.xml", "results.json", "e2e.log", "PRODUCT.yaml"} <= set(files_under(product))
    doc = yaml.safe_load((product / "PRODUCT.yaml").read_text())
    gang = next(i for i in doc["spec"]["schedulingOrchestration"] if i["id"] == "gang_scheduling")
    assert gang["evidence"] == ["evidence/gang_scheduling.md"] + SUITE_EVIDENCE["gang_scheduling"]
    if not rejected:
        assert not outcome.get("failed"), outcome.get("msg")
        assert outcome["violations"] == []
        return
    assert outcome["failed"] is True and "artifact.failing_tests" in outcome["msg"]
    assert {v["rule"] for v in outcome["violations"]} == {"artifact.failing_tests", "artifact.test_failed", "artifact.test_missing"}
    assert "artifact.failing_tests" in (tmp_path / "out" / "report.md").read_text()
