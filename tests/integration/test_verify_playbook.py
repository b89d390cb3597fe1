"""playbooks/verify.yml end to end: real ansible-playbook, real modules, fake API server over HTTP."""

import json

import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils.validation import validate
from tests.integration.conftest import run_playbook

METADATA = {
    "platformName": "Example AI Platform", "platformVersion": "v2.1.0", "vendorName": "Example Inc.",
    "websiteUrl": "https://example.com/ai", "repoUrl": "https://github.com/example/ai-platform",
    "documentationUrl": "https://example.com/ai/docs", "productLogoUrl": "https://example.com/ai/logo.svg",
    "description": "Example AI Platform runs AI workloads on RKE2.", "contactEmailAddress": "conformance@example.com",
    "k8sConformanceUrl": "https://github.com/cncf/k8s-conformance/tree/master/v1.35/example-ai-platform",
}
ARTIFACTS = ("AIConformance-1.35.yaml", "report.md", "ai-conformance-results.json", "ai-conformance-checks.junit.xml")


def playbook_vars(server, tmp_path, **extra):
    kubeconfig = tmp_path / "kubeconfig"
    server.write_kubeconfig(str(kubeconfig))
    return dict(ai_conformance_kubeconfig=str(kubeconfig), ai_conformance_output_dir=str(tmp_path / "out"), **extra)


def test_conformant_cluster_passes_and_writes_a_valid_submission(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(
        server, tmp_path, ai_conformance_metadata=METADATA, ai_conformance_submission_dir=str(tmp_path / "sub")))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = tmp_path / "out"
    for name in ARTIFACTS:
        assert (out / name).is_file(), name
    checklist = yaml.safe_load((out / "AIConformance-1.35.yaml").read_text())
    must = [i for items in checklist["spec"].values() for i in items if i["level"] == "MUST"]
    assert must and all(i["status"] in ("Implemented", "N/A") for i in must)
    for item in must:
        for ref in item["evidence"]:
            assert (out / ref).is_file(), ref
    violations = [v for v in validate((out / "AIConformance-1.35.yaml").read_text(), "1.35", base_dir=str(out))
                  if v.severity == "error"]
    assert not violations, [v.to_dict() for v in violations]
    assert (tmp_path / "sub" / "v1.35" / "example-ai-platform" / "PRODUCT.yaml").is_file()
    assert "dra_support: Implemented" in proc.stdout.replace("MUST ", "")


def test_plain_cluster_fails_the_play_and_says_what_to_fix(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path))
    assert proc.returncode != 0
    assert "MUST requirements not Implemented" in proc.stdout and "ai_inference" in proc.stdout
    report = (tmp_path / "out" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| `ai_inference`"))
    assert "Not Implemented" in row and "k8s_ai.conformance.gateway" in report
    assert "Traceback" not in proc.stdout + proc.stderr


def test_second_run_changes_nothing_and_check_mode_writes_nothing(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    variables = playbook_vars(server, tmp_path, ai_conformance_fail_on_must=False)
    first = run_playbook("playbooks/verify.yml", tmp_path, variables)
    assert first.returncode == 0, first.stdout[-3000:]
    second = run_playbook("playbooks/verify.yml", tmp_path, variables)
    assert "changed=0" in second.stdout, second.stdout[-2000:]
    checked = run_playbook("playbooks/verify.yml", tmp_path, dict(variables, ai_conformance_output_dir=str(tmp_path / "dry")),
                           check=True)
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert not (tmp_path / "dry").exists()


def test_unreachable_api_fails_clearly_without_traceback(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "throwaway-test-token"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}]}))
    proc = run_playbook("playbooks/verify.yml", tmp_path, dict(
        ai_conformance_kubeconfig=str(kubeconfig), ai_conformance_output_dir=str(tmp_path / "out")))
    assert proc.returncode != 0
    assert "cannot reach the API server at http://127.0.0.1:9" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "throwaway-test-token" not in proc.stdout + proc.stderr


def test_forbidden_resource_is_reported_per_requirement(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["gateway.networking.k8s.io/v1/gatewayclasses"])
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, ai_conformance_fail_on_must=False))
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())["results"]
    gateway = next(r for r in results if r["id"] == "ai_inference")
    assert gateway["outcome"] == "error" and "403" in gateway["notes"]
    assert "Traceback" not in proc.stdout + proc.stderr
