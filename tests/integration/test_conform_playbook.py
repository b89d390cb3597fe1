"""playbooks/conform.yml end to end: real ansible-playbook, the real roles, the fake API server over HTTP."""

import json
import re

from tests.integration.conftest import ROOT, get_json, helm_binary, helm_env, run_playbook, simulated_cluster

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def conform_vars(server, tmp_path, **extra):
    kubeconfig = tmp_path / "kubeconfig"
    server.write_kubeconfig(str(kubeconfig))
    extra.setdefault("ai_conformance_gang_negative_window", 2)  # conform runs the probes; the official 30 s is for clusters
    return dict(ai_conformance_kubeconfig=str(kubeconfig), ai_conformance_output_dir=str(tmp_path / "out"), **extra)


def plan_lines(stdout):
    """The lines of the 'Show the plan' task (the YAML result format of ansible.cfg)."""
    block = stdout.split("Show the plan", 1)[1].split("TASK [", 1)[0]
    return [line.replace("''", "'") for line in re.findall(r"^\s+- '?(.*?)'?$", block, re.M)]


def test_check_mode_on_the_plain_cluster_lists_exactly_the_roles_its_unmet_musts_need(fake_cluster, tmp_path):
    """The roles run too, in check mode (what each would change), from the stand-in charts as an air-gapped site would."""
    server = fake_cluster("kubeadm-plain")
    extra = conform_vars(server, tmp_path, ai_conformance_helm_binary=helm_binary(), **standin_charts())
    proc = run_playbook("playbooks/conform.yml", tmp_path, extra, check=True, env=helm_env(tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    lines = plan_lines(proc.stdout)
    assert lines[0] == "Check mode: nothing is installed; a real run would:"
    assert [line for line in lines if line.startswith("run ")] == [  # install_plan.ROLE_ORDER: the gang scheduler last
        "run k8s_ai.conformance.gateway for ai_inference",
        "run k8s_ai.conformance.monitoring for pod_autoscaling, ai_service_metrics",
        "run k8s_ai.conformance.training_operator for robust_controller",
        "run k8s_ai.conformance.gang_scheduler for gang_scheduling"]
    assert sorted(re.findall(r"^TASK \[Run k8s_ai\.conformance\.(\w+)\]", proc.stdout, re.M)) == [
        "gang_scheduler", "gateway", "monitoring", "training_operator"]
    assert "failed, so" not in proc.stdout, "a role failed in check mode"
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
    """Read-only conform (probes off: this fake has no simulated controllers for them; the plain-cluster run below
    runs them by default)."""
    server = fake_cluster("rke2-gpu")
    proc = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path, ai_conformance_probes=False))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert [r for r in server.requests if r.method in WRITES] == []
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Before and after (conform run at " in report and "| `ai_inference` | MUST | Implemented | Implemented | — |" in report
    doc = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())
    assert doc["remediation"]["roles"] == [] and {r["before"] for r in doc["remediation"]["requirements"]} <= {"Implemented", "N/A"}
    again = run_playbook("playbooks/conform.yml", tmp_path, conform_vars(server, tmp_path, ai_conformance_probes=False))
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
    # verify's probes ran (conform's default) in their scratch namespaces; nothing else was written
    assert [(r.method, r.path) for r in server.requests if r.method in WRITES and "/namespaces/ai-conformance-" not in r.path
            and not (r.method == "POST" and r.path == "/api/v1/namespaces")] == []
    assert get_json(server, "/api/v1/namespaces?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dk8s-ai-conformance-probe")["items"] == []
    doc = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())
    rows = {r["id"]: r for r in doc["remediation"]["requirements"]}
    assert rows["ai_inference"]["before"] == rows["ai_inference"]["after"] == "Not Implemented" and rows["ai_inference"]["roles"] == []


# ---------------------------------------------------------------------------- a real conform run (helm v4, fake API)
CHARTS = ROOT / "tests" / "fixtures" / "charts"
MANIFESTS = ROOT / "tests" / "fixtures" / "manifests"


def standin_charts():
    """Every install role's chart (and the Gateway API CRDs) pointed at its stand-in under tests/fixtures."""
    return dict(gateway_chart_archive=str(CHARTS / "gateway-helm"), gateway_crds_chart_archive=str(CHARTS / "gateway-crds-helm"),
                gateway_api_crds_manifest=str(MANIFESTS / "gateway-api-standard-standin.yaml"),
                gang_scheduler_kueue_chart_archive=str(CHARTS / "kueue"),
                gang_scheduler_volcano_chart_archive=str(CHARTS / "volcano"),
                monitoring_chart_archive=str(CHARTS / "kube-prometheus-stack"),
                monitoring_adapter_chart_archive=str(CHARTS / "prometheus-adapter"),
                gpu_operator_chart_archive=str(CHARTS / "gpu-operator"),
                dra_driver_chart_archive=str(CHARTS / "dra-driver-nvidia-gpu"),
                training_operator_trainer_chart_archive=str(CHARTS / "kubeflow-trainer"))


def outside_the_probes(server):
    """{(resource, namespace, name): resourceVersion} of every stored object but the probes' scratch namespaces."""
    with server.store._lock:  # pylint: disable=protected-access
        return {(key, ns, name): obj["metadata"].get("resourceVersion")
                for key, bucket in server.store._buckets.items() for (ns, name), obj in bucket.objects.items()  # pylint: disable=protected-access
                if not ns.startswith("ai-conformance-") and not (key == ("", "namespaces") and name.startswith("ai-conformance-"))}


def recap_changed(stdout):
    return [int(n) for n in re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", stdout, re.M)]


def test_conform_installs_through_helm_on_the_plain_cluster_and_a_second_run_changes_nothing(tmp_path):
    """kubeadm-plain with the simulated controllers and operators: the conform playbook installs the four roles its
    unmet MUSTs need with real helm, the report shows ai_inference and gang_scheduling fixed and what each role
    changed, and running it again changes nothing, on the cluster or on disk."""
    server = simulated_cluster("kubeadm-plain")
    try:
        extra = conform_vars(server, tmp_path, ai_conformance_helm_binary=helm_binary(), ai_conformance_fail_on_must=False,
                             **standin_charts())
        first = run_playbook("playbooks/conform.yml", tmp_path, extra, env=helm_env(tmp_path))
        out = first.stdout[-6000:] + first.stderr[-2000:]
        assert first.returncode == 0, out
        # exactly these four (in the plan's order, install_plan.ROLE_ORDER)
        assert sorted(line for line in plan_lines(first.stdout) if line.startswith("run ")) == [
            "run k8s_ai.conformance.gang_scheduler for gang_scheduling",
            "run k8s_ai.conformance.gateway for ai_inference",
            "run k8s_ai.conformance.monitoring for pod_autoscaling, ai_service_metrics",
            "run k8s_ai.conformance.training_operator for robust_controller"], out
        ran = re.findall(r"^TASK \[Run k8s_ai\.conformance\.(\w+)\]", first.stdout, re.M)
        assert sorted(ran) == ["gang_scheduler", "gateway", "monitoring", "training_operator"], ran
        releases = {s["metadata"]["labels"]["name"] for s in get_json(
            server, "/api/v1/secrets?labelSelector=owner%3Dhelm")["items"]}
        assert {"eg", "kueue", "kube-prometheus-stack", "prometheus-adapter", "kubeflow-trainer"} <= releases, releases
        report = (tmp_path / "out" / "report.md").read_text()
        table = report.split("## Before and after (conform run at ", 1)[1]
        for requirement, role in (("ai_inference", "gateway"), ("gang_scheduling", "gang_scheduler")):
            assert "| `%s` | MUST | Not Implemented | Implemented | %s |" % (requirement, role) in table, table
        doc = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())
        assert doc["remediation"]["roles"] == ran
        rows = {r["id"]: r for r in doc["remediation"]["requirements"]}
        for requirement, role in (("ai_inference", "gateway"), ("gang_scheduling", "gang_scheduler")):
            assert (rows[requirement]["before"], rows[requirement]["after"]) == ("Not Implemented", "Implemented"), rows[requirement]
            assert rows[requirement]["roles"] == [role], rows[requirement]
        first_report = report
        requests_before, before_second = len(server.requests), outside_the_probes(server)
        again = run_playbook("playbooks/conform.yml", tmp_path, extra, env=helm_env(tmp_path))
        out = again.stdout[-6000:] + again.stderr[-2000:]
        assert again.returncode == 0, out
        # Nothing on the cluster changes: no object was written (a no-op write keeps the resourceVersion). The plan
        # runs monitoring again, for pod_autoscaling and ai_service_metrics, which need accelerator metrics a cluster
        # without GPUs cannot serve; the role changes nothing. ai_inference, gang_scheduling and robust_controller
        # are met, so their roles do not run.
        assert [line for line in plan_lines(again.stdout) if line.startswith("run ")] == [
            "run k8s_ai.conformance.monitoring for pod_autoscaling, ai_service_metrics"], out
        # The probes (conform runs them) create and delete their scratch namespaces; nothing else is written, and none
        # of those namespaces is left.
        assert outside_the_probes(server) == before_second, [
            (r.method, r.path) for r in server.requests[requests_before:] if r.method in WRITES and "dryRun" not in (r.query or "")]
        probe_namespaces = [r for r in server.requests[requests_before:] if r.method == "POST" and r.path == "/api/v1/namespaces"]
        assert probe_namespaces, "conform ran no probe: the check above proves nothing about them"
        assert get_json(server, "/api/v1/namespaces?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dk8s-ai-conformance-probe")["items"] == []
        # Nor on disk: the run changed nothing on the cluster, so the artifacts keep the first run's before/after
        # record (its time, its 'Not Implemented -> Implemented' rows); every status is the same as the first run's.
        assert recap_changed(again.stdout) == [0, 0], out
        assert (tmp_path / "out" / "report.md").read_text() == first_report
        assert "| `ai_inference` | MUST | Not Implemented | Implemented | gateway |" in first_report
        assert ("- `monitoring` changed: Namespace monitoring (created); "
                "Helm release monitoring/kube-prometheus-stack (revision 1, deployed)") in first_report, first_report
    finally:
        server.stop()


def test_a_role_that_fails_is_reported_with_exactly_what_it_left(tmp_path):
    """The gateway role applies the Gateway API CRDs and Envoy Gateway's, then its chart cannot be read: the play
    fails naming the role, the requirement left unmet and each object the role applied before it failed."""
    server = simulated_cluster("kubeadm-plain")
    try:
        broken = tmp_path / "gateway-helm-broken.tgz"
        broken.write_bytes(b"not a chart archive")
        charts = standin_charts()
        charts["gateway_chart_archive"] = str(broken)
        extra = conform_vars(server, tmp_path, ai_conformance_helm_binary=helm_binary(), ai_conformance_fail_on_must=False,
                             ai_conformance_components=["gateway"], **charts)

        def crds():
            return {c["metadata"]["name"] for c in get_json(server, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]}
        found = crds()
        proc = run_playbook("playbooks/conform.yml", tmp_path, extra, env=helm_env(tmp_path))
        out = proc.stdout[-6000:] + proc.stderr[-2000:]
        assert proc.returncode == 2, out
        left = sorted(crds() - found)
        assert left, "the role applied no CRD before the chart: the test no longer fails where it means to"
        doc = json.loads((tmp_path / "out" / "ai-conformance-results.json").read_text())
        failed = [s for s in doc["remediation"]["skipped"] if s["name"] == "gateway"]
        assert len(failed) == 1 and failed[0]["requirements"] == ["ai_inference"], doc["remediation"]
        why = failed[0]["why"]
        assert why.startswith("the role failed: ") and "(at task: Install or upgrade the Envoy Gateway release)" in why, why
        named = re.findall(r"CustomResourceDefinition (\S+) \(applied\)", why)
        assert sorted(named) == left, why
        assert "Helm release" not in why, why  # the chart never loaded, so no release exists
        assert "gateway failed, so ai_inference may still be unmet" in proc.stdout, out
        assert doc["remediation"]["applied"]["gateway"] == ["CustomResourceDefinition %s (applied)" % n for n in named]
    finally:
        server.stop()
