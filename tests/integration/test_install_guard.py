"""install_guard against the fake API server: who installed a component, and the message that stops a second copy."""

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import install_guard

OPERATOR = {"api_version": "apps/v1", "kind": "Deployment", "resource": "deployments", "name": "gpu-operator", "any_namespace": True}
TRAINING = {"api_version": "apps/v1", "kind": "Deployment", "resource": "deployments", "name": "training-operator", "namespace": "kubeflow"}


def test_the_roles_own_release_is_an_upgrade_not_a_conflict(fake_cluster, kube_for, tmp_path):
    kube = kube_for(fake_cluster("rke2-gpu"), tmp_path)
    outcome = install_guard.inspect(kube, [OPERATOR], "gpu-operator", "gpu-operator")
    assert outcome["ours"] and outcome["foreign"] == []
    assert outcome["found"] == [{"kind": "Deployment", "namespace": "gpu-operator", "name": "gpu-operator",
                                 "release": "gpu-operator", "release_namespace": "gpu-operator"}]


def test_another_release_is_foreign_and_the_message_says_how_to_adopt_it(fake_cluster, kube_for, tmp_path):
    kube = kube_for(fake_cluster("rke2-gpu"), tmp_path)
    outcome = install_guard.inspect(kube, [OPERATOR], "ai-gpu-operator", "nvidia")
    assert not outcome["ours"] and len(outcome["foreign"]) == 1
    text = install_guard.message("NVIDIA GPU Operator", "gpu_operator", outcome["foreign"], "ai-gpu-operator", "nvidia")
    assert text.startswith("NVIDIA GPU Operator is already installed, not as this role's release ai-gpu-operator in namespace "
                           "nvidia: Deployment gpu-operator/gpu-operator (Helm release gpu-operator in namespace gpu-operator).")
    assert "set gpu_operator_release_name: gpu-operator and gpu_operator_namespace: gpu-operator" in text
    assert "gpu_operator_enabled: false (in a conform run: ai_conformance_skip_components: [gpu_operator])" in text


def test_an_install_outside_helm_can_only_be_left_alone(fake_cluster, kube_for, tmp_path):
    kube = kube_for(fake_cluster("rke2-gpu"), tmp_path)
    outcome = install_guard.inspect(kube, [TRAINING], "training-operator", "kubeflow")  # kustomize-applied in the fixture
    foreign = outcome["foreign"]
    assert [(e["name"], e["release"]) for e in foreign] == [("training-operator", "")]
    text = install_guard.message("Kubeflow Training Operator", "training_operator", foreign, "training-operator", "kubeflow")
    assert "Deployment kubeflow/training-operator (not installed by Helm)" in text and "_release_name" not in text


def test_nothing_installed_is_neither_ours_nor_foreign(fake_cluster, kube_for, tmp_path):
    kube = kube_for(fake_cluster("kubeadm-plain"), tmp_path)
    assert install_guard.inspect(kube, [OPERATOR, TRAINING], "gpu-operator", "gpu-operator") == {
        "found": [], "foreign": [], "ours": False}
    with pytest.raises(install_guard.GuardError, match=r"markers\[0\] needs kind, resource$"):
        install_guard.inspect(kube, [{"api_version": "apps/v1", "name": "x"}], "r", "n")


def test_a_label_selector_finds_a_release_of_another_name_once(fake_cluster, kube_for, tmp_path):
    """kube-prometheus-stack installed as release prometheus-stack: found by its operator's label, not its name."""
    kube = kube_for(fake_cluster("kueue-only"), tmp_path)
    by_label = {"api_version": "apps/v1", "kind": "Deployment", "resource": "deployments",
                "label_selector": "app.kubernetes.io/name=kube-prometheus-stack-prometheus-operator"}
    by_name = {"api_version": "apps/v1", "kind": "Deployment", "resource": "deployments",
               "name": "prometheus-stack-kube-prom-operator", "namespace": "monitoring"}
    outcome = install_guard.inspect(kube, [by_label, by_name], "kube-prometheus-stack", "monitoring")
    assert [(e["name"], e["release"]) for e in outcome["foreign"]] == [("prometheus-stack-kube-prom-operator", "prometheus-stack")]
    assert len(outcome["found"]) == 1


def test_the_monitoring_role_stops_before_installing_a_second_prometheus_operator(fake_cluster, tmp_path):
    """kueue-only runs kube-prometheus-stack as release prometheus-stack: the role must not install its own beside it."""
    import json
    from tests.integration.conftest import ROOT, run_playbook

    server = fake_cluster("kueue-only")
    kubeconfig = tmp_path / "kubeconfig"
    server.write_kubeconfig(str(kubeconfig))
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{"name": "Install", "hosts": "k8s_api", "gather_facts": False,
                                 "roles": [{"role": "k8s_ai.conformance.monitoring"}]}]))
    proc = run_playbook(str(play), tmp_path, {
        "ai_conformance_kubeconfig": str(kubeconfig),
        "monitoring_chart_archive": str(ROOT / "tests" / "fixtures" / "charts" / "kube-prometheus-stack"),
        "monitoring_adapter_chart_archive": str(ROOT / "tests" / "fixtures" / "charts" / "prometheus-adapter")})
    assert proc.returncode != 0
    assert ("kube-prometheus-stack (Prometheus Operator) is already installed, not as this role's release kube-prometheus-stack "
            "in namespace monitoring") in proc.stdout, proc.stdout[-3000:]
    assert "set monitoring_release_name: prometheus-stack and monitoring_namespace: monitoring" in proc.stdout
    assert [r for r in server.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")] == [], "the role wrote before the guard"
