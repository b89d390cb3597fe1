"""playbooks/verify.yml end to end: real ansible-playbook, real modules, fake API server over HTTP."""

import json

import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils.submission import validate
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
    statuses = {i["id"]: i["status"] for i in must}
    # The fixture justifies exactly one N/A (bare-metal RKE2: no autoscaler); every other MUST is Implemented.
    assert {i: s for i, s in statuses.items() if s != "Implemented"} == {"cluster_autoscaling": "N/A"}, statuses
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
    assert "Not conformant: 4 of 9 MUST requirements met" in proc.stdout and "ai_inference: not met" in proc.stdout
    report = (tmp_path / "out" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| `ai_inference`"))
    assert "Not Implemented" in row and "oci://docker.io/envoyproxy/gateway-helm" in report
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


def test_forbidden_resource_is_undecided_and_fails_the_play_saying_why(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["gateway.networking.k8s.io/v1/gatewayclasses"])
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path))
    assert proc.returncode != 0
    assert "Undecided: 8 of 9 MUST requirements met" in proc.stdout
    assert "ai_inference: could not decide (error)" in proc.stdout and "403" in proc.stdout
    assert "not met: ai_inference" not in proc.stdout
    report = (tmp_path / "out" / "report.md").read_text()
    assert "**Undecided**" in report and "could not decide: ai_inference (error)" in report


def test_forbidden_resource_is_reported_per_requirement(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["gateway.networking.k8s.io/v1/gatewayclasses"])
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, ai_conformance_fail_on_must=False))
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())["results"]
    gateway = next(r for r in results if r["id"] == "ai_inference")
    assert gateway["outcome"] == "error" and "403" in gateway["notes"]
    assert "Traceback" not in proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- which cluster, and subsets


def kubeconfig_for(server, path, context):
    server.write_kubeconfig(str(path), context=context)
    return path


def test_multi_file_kubeconfig_verifies_the_cluster_kubectl_names(fake_cluster, tmp_path):
    first, second = fake_cluster("rke2-gpu"), fake_cluster("kubeadm-plain")
    a = kubeconfig_for(first, tmp_path / "a.yaml", "first")
    b = kubeconfig_for(second, tmp_path / "b.yaml", "second")
    proc = run_playbook("playbooks/verify.yml", tmp_path, dict(ai_conformance_output_dir=str(tmp_path / "out")),
                        env={"KUBECONFIG": "%s:%s" % (a, b)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "`%s`" % first.url in report and "`first`" in report, "kubectl takes the first file's current-context"
    assert second.request_count == 0


def test_subset_run_has_no_verdict_and_agrees_everywhere(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    passing = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, ai_conformance_sections=["operator"]))
    doc = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())
    report = (tmp_path / "out" / "report.md").read_text()
    checklist = yaml.safe_load((tmp_path / "out" / "AIConformance-1.35.yaml").read_text())
    ai_inference = checklist["spec"]["networking"][0]
    assert ai_inference["status"] == "" and ai_inference["notes"] == "not run in this subset"
    assert doc["summary"]["verdict"] == "subset" and doc["summary"]["conformant"] is None
    assert "**Subset run, no conformance verdict**" in report and "Conformant" not in report.replace("conformance", "")
    robust = next(r for r in doc["results"] if r["id"] == "robust_controller")
    assert (passing.returncode == 0) == (robust["outcome"] == "pass"), passing.stdout[-2000:]
    failing = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, ai_conformance_sections=["networking"]))
    assert failing.returncode != 0 and "Subset run, no conformance verdict" in failing.stdout
    assert "ai_inference: not met" in failing.stdout


def test_a_bad_output_directory_fails_before_the_cluster_is_asked_anything(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = run_playbook("playbooks/verify.yml", tmp_path, dict(playbook_vars(server, tmp_path), ai_conformance_output_dir=str(blocker)))
    assert proc.returncode != 0 and str(blocker) in proc.stdout and "is a file" in proc.stdout, proc.stdout[-2000:]
    assert server.request_count == 0
    assert blocker.read_text() == "not a directory"


def test_a_host_pattern_that_matches_nothing_fails(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, ai_conformance_api_host="no-such-host"))
    assert proc.returncode != 0 and "matches no host of the inventory" in proc.stdout
    assert server.request_count == 0


def test_a_server_that_never_answers_fails_within_the_timeout(tmp_path):
    import socket
    import time
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "mute",
        "clusters": [{"name": "mute", "cluster": {"server": "http://127.0.0.1:%d" % port}}],
        "users": [{"name": "u", "user": {"token": "throwaway-test-token"}}],
        "contexts": [{"name": "mute", "context": {"cluster": "mute", "user": "u"}}]}))
    started = time.monotonic()
    try:
        proc = run_playbook("playbooks/verify.yml", tmp_path, dict(
            ai_conformance_kubeconfig=str(kubeconfig), ai_conformance_output_dir=str(tmp_path / "out"),
            ai_conformance_request_timeout=2, ai_conformance_api_retries=3))
    finally:
        listener.close()
    assert proc.returncode != 0
    assert time.monotonic() - started < 25, "one timeout, not (retries + 1) timeouts"
    assert "request_timeout" in proc.stdout and "retries" in proc.stdout and "127.0.0.1:%d" % port in proc.stdout
    assert "throwaway-test-token" not in proc.stdout + proc.stderr


def test_kubeconfig_errors_name_the_file_and_the_valid_contexts(fake_cluster, tmp_path):
    missing = tmp_path / "no" / "such-kubeconfig"
    proc = run_playbook("playbooks/verify.yml", tmp_path, dict(ai_conformance_kubeconfig=str(missing),
                                                               ai_conformance_output_dir=str(tmp_path / "out")))
    assert proc.returncode != 0 and str(missing) in proc.stdout, proc.stdout[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    server = fake_cluster("rke2-gpu")
    kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"), context="the-real-one")
    proc = run_playbook("playbooks/verify.yml", tmp_path, dict(ai_conformance_kubeconfig=str(kubeconfig), ai_conformance_context="typo",
                                                               ai_conformance_output_dir=str(tmp_path / "out")))
    assert proc.returncode != 0 and "typo" in proc.stdout and "the-real-one" in proc.stdout and str(kubeconfig) in proc.stdout
    assert server.request_count == 0


# ---------------------------------------------------------------------------- the role's variables


def test_a_misspelled_variable_fails_before_any_request_and_names_it(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, ai_conformance_outptu_dir=str(tmp_path / "x")))
    assert proc.returncode != 0
    assert "Unknown variable ai_conformance_outptu_dir" in proc.stdout, proc.stdout[-3000:]
    assert "did you mean ai_conformance_output_dir?" in proc.stdout and "docs/variables.md" in proc.stdout
    assert server.request_count == 0
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


def test_a_misspelled_variable_with_no_close_name_lists_the_known_ones(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, ai_conformance_zz_top=1))
    assert proc.returncode != 0 and "Unknown variable ai_conformance_zz_top" in proc.stdout, proc.stdout[-3000:]
    assert "ai_conformance_fail_on_must" in proc.stdout and "ai_conformance_audit_strategy" in proc.stdout
    assert server.request_count == 0


def test_a_mistyped_variable_fails_before_any_request_and_names_it(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    for name, value, says in (("ai_conformance_audit_strategy", "bogus", "auto, per-node, stream"),
                              ("ai_conformance_fail_on_must", "sometimes", "bool"),
                              ("ai_conformance_sections", {"not": "a list"}, "list")):
        proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, **{name: value}))
        assert proc.returncode != 0, proc.stdout[-3000:]
        assert name in proc.stdout and says in proc.stdout, proc.stdout[-3000:]
        assert "Traceback" not in proc.stdout + proc.stderr
    assert server.request_count == 0


def test_the_role_run_twice_in_one_play_is_not_tripped_by_its_own_results(fake_cluster, tmp_path):
    """What the role registers (ai_conformance, ai_conformance_artifacts) is not a misspelled variable."""
    server = fake_cluster("rke2-gpu")
    play = tmp_path / "twice.yml"
    play.write_text(yaml.safe_dump([{
        "name": "Verify twice", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "Verify %s" % n, "ansible.builtin.include_role": {"name": "k8s_ai.conformance.verify"},
                   "vars": {"ai_conformance_output_dir": str(tmp_path / n)}} for n in ("first", "second")]}]))
    variables = playbook_vars(server, tmp_path, ai_conformance_fail_on_must=False)
    del variables["ai_conformance_output_dir"]  # an extra var would win over each include's own
    proc = run_playbook(str(play), tmp_path, variables)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Unknown variable" not in proc.stdout
    assert (tmp_path / "first" / "report.md").is_file() and (tmp_path / "second" / "report.md").is_file()


def test_a_misspelling_near_several_names_suggests_each(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    proc = run_playbook("playbooks/verify.yml", tmp_path, playbook_vars(server, tmp_path, ai_conformance_timeout=5))
    assert proc.returncode != 0 and "Unknown variable ai_conformance_timeout: did you mean" in proc.stdout, proc.stdout[-3000:]
    assert all(name in proc.stdout for name in ("ai_conformance_check_timeout", "ai_conformance_request_timeout",
                                                "ai_conformance_connect_timeout"))
    assert "ai_conformance_fail_on_must" not in proc.stdout
    assert server.request_count == 0
