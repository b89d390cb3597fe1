"""playbooks/conform.yml end to end: real ansible-playbook, the real roles, the fake API server over HTTP."""

import json
import re

from tests.integration.conftest import run_playbook

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def conform_vars(server, tmp_path, **extra):
    kubeconfig = tmp_path / "kubeconfig"
    server.write_kubeconfig(str(kubeconfig))
    return dict(ai_conformance_kubeconfig=str(kubeconfig), ai_conformance_output_dir=str(tmp_path / "out"), **extra)


def plan_lines(stdout):
    """The lines of the 'Show the plan' task (the YAML result format of ansible.cfg)."""
    block = stdout.split("Show the plan", 1)[1].split("TASK [", 1)[0]
    return [line.replace("''", "'") for line in re.findall(r"^\s+- '(.*)'$", block, re.M)]


def test_check_mode_on_the_plain_cluster_lists_exactly_the_roles_its_unmet_musts_need(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path), check=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    lines = plan_lines(proc.stdout)
    assert lines[0] == "Check mode: nothing is installed; a real run would:"
    assert [line for line in lines if line.startswith("run ")] == [
        "run k8s_ai.conformance.gateway for ai_inference",
        "run k8s_ai.conformance.gang_scheduler for gang_scheduling",
        "run k8s_ai.conformance.monitoring for pod_autoscaling, ai_service_metrics",
        "run k8s_ai.conformance.training_operator for robust_controller"]
    assert any(line.startswith("not k8s_ai.conformance.gpu_operator (for pod_autoscaling): no NVIDIA accelerator") for line in lines)
    assert [r for r in server.requests if r.method in WRITES and "dryRun" not in (r.query or "")] == []
    assert not (tmp_path / "out").exists(), "check mode wrote artifacts"


def test_check_mode_on_the_conformant_cluster_lists_no_role(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    proc = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path), check=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert plan_lines(proc.stdout) == ["Check mode: nothing is installed; a real run would:",
                                       "nothing to install: every requirement is met or not applicable"]
    assert "included: k8s_ai.conformance" not in proc.stdout.split("Show the plan", 1)[1].split("Verify every checklist", 1)[0]


def test_a_conformant_cluster_is_left_alone_and_the_report_has_before_and_after(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    proc = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert [r for r in server.requests if r.method in WRITES] == []
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Before and after (conform)" in report and "| `ai_inference` | MUST | Implemented | Implemented | — |" in report
    doc = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())
    assert doc["remediation"]["roles"] == [] and {r["before"] for r in doc["remediation"]["requirements"]} <= {"Implemented", "N/A"}
    again = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path))
    assert again.returncode == 0 and re.search(r"changed=0\b", again.stdout), again.stdout[-3000:]


def test_a_misspelled_conform_variable_is_an_error_with_a_suggestion(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path, ai_conformance_skip_component=["gateway"]))
    assert proc.returncode != 0
    assert "Unknown variable ai_conformance_skip_component: did you mean ai_conformance_skip_components?" in proc.stdout
    assert server.request_count == 0


def test_a_bad_install_mode_is_rejected_by_the_argument_spec(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path, ai_conformance_install="everything"))
    assert proc.returncode != 0 and "ai_conformance_install" in proc.stdout and "missing, all, none" in proc.stdout
    assert server.request_count == 0


def test_install_none_verifies_and_reports_without_running_a_role(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path, ai_conformance_install="none",
                                                                        ai_conformance_fail_on_must=False))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert [r for r in server.requests if r.method in WRITES] == []
    doc = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())
    rows = {r["id"]: r for r in doc["remediation"]["requirements"]}
    assert rows["ai_inference"]["before"] == rows["ai_inference"]["after"] == "Not Implemented" and rows["ai_inference"]["roles"] == []
