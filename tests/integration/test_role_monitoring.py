"""The monitoring role run by ansible-playbook against the fake API server: what it refuses, and a real install."""

import json

import pytest

from tests.integration.conftest import kubeconfig_vars, playbook_output, role_playbook, ROOT, run_playbook

STACK = ROOT / "tests" / "fixtures" / "charts" / "kube-prometheus-stack"
ADAPTER = ROOT / "tests" / "fixtures" / "charts" / "prometheus-adapter"


def play(tmp_path, role="k8s_ai.conformance.monitoring"):
    return role_playbook(tmp_path, role)


def variables(server, tmp_path, **extra):
    return dict(dict(kubeconfig_vars(server, tmp_path), monitoring_chart_archive=str(STACK),
                     monitoring_adapter_chart_archive=str(ADAPTER)), **extra)


def output(proc):
    return playbook_output(proc)


@pytest.mark.parametrize("name,value", [("monitoring_select_all_monitors", "perhaps"),
                                        ("monitoring_node_exporter_port", "high"),
                                        ("monitoring_adapter_accelerator_metrics", {"a": 1}),
                                        ("monitoring_wait_timeout", "soon")])
def test_argument_spec_rejects_a_mistyped_variable(fake_cluster, tmp_path, name, value):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, **{name: value}))
    assert proc.returncode != 0
    assert name in output(proc), output(proc)


def test_disabled_does_nothing(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, monitoring_enabled=False))
    assert proc.returncode == 0, output(proc)
    assert "monitoring_enabled is false" in proc.stdout and "changed=0" in proc.stdout


@pytest.mark.parametrize("extra,named", [
    ({"monitoring_adapter_accelerator_metrics": ["bad-name"]}, "monitoring_adapter_accelerator_metrics"),
    ({"monitoring_control_plane_metrics": True, "ai_conformance_distribution": "k3s"}, "monitoring_control_plane_endpoints"),
    ({"monitoring_chart_archive": "/nonexistent.tgz"}, "monitoring_chart_archive /nonexistent.tgz does not exist"),
])
def test_bad_settings_fail_before_any_install_naming_the_variable(fake_cluster, tmp_path, extra, named):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, **extra))
    assert proc.returncode != 0
    assert named in proc.stdout, output(proc)
    assert "Install or upgrade" not in proc.stdout


# ---------------------------------------------------------------------------- a real install (helm v4, fake API)
def test_installs_both_charts_waits_and_a_second_run_changes_nothing(tmp_path):
    from tests.integration.conftest import get_body as _get, helm_binary, helm_env, simulated_cluster

    # The simulated Prometheus operator reports the Prometheus Available; the aggregator the APIService, once the
    # simulated endpoint-slice controller gives prometheus-adapter's Service a ready endpoint.
    server = simulated_cluster("kubeadm-plain")
    paths = ["/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheuses/kube-prometheus-stack-prometheus",
             "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.custom.metrics.k8s.io"]
    try:
        extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary(), monitoring_wait_timeout=60,
                          ai_conformance_distribution="rke2")
        first = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert first.returncode == 0, output(first)
        prom = json.loads(_get(server, paths[0]))
        apiservice = json.loads(_get(server, paths[1]))
        assert [(c["type"], c["status"]) for c in apiservice["status"]["conditions"]] == [("Available", "True")]
        assert prom["spec"]["serviceMonitorSelector"] == {} and prom["spec"]["podMonitorSelector"] == {}
        exporter = json.loads(_get(server, "/apis/apps/v1/namespaces/monitoring/daemonsets/"
                                           "kube-prometheus-stack-prometheus-node-exporter"))
        assert exporter["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 9110  # rke2
        adapter = json.loads(_get(server, "/apis/apps/v1/namespaces/monitoring/deployments/prometheus-adapter"))
        assert "--prometheus-url=http://prometheus-operated.monitoring.svc:9090" in \
            adapter["spec"]["template"]["spec"]["containers"][0]["args"]
        config = json.loads(_get(server, "/api/v1/namespaces/monitoring/configmaps/prometheus-adapter"))
        assert 'DCGM_FI_DEV_GPU_UTIL{exported_namespace!="",exported_pod!=""}' in config["data"]["config.yaml"]
        second = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert second.returncode == 0, output(second)
        assert "changed=0" in second.stdout, output(second)
    finally:
        server.stop()


def test_check_mode_writes_nothing(tmp_path):
    from tests.fakeapi import FakeKubeServer, load_cluster
    from tests.integration.conftest import helm_binary, helm_env

    server = FakeKubeServer(load_cluster("kubeadm-plain")).start()
    try:
        extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary())
        server.reset_requests()
        proc = run_playbook(play(tmp_path), tmp_path, extra, check=True, env=helm_env(tmp_path))
        assert proc.returncode == 0, output(proc)
        real = [r for r in server.requests if r.method not in ("GET", "HEAD") and "dryRun=All" not in r.query]
        assert real == [], [(r.method, r.path, r.query) for r in real]
    finally:
        server.stop()
