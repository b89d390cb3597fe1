"""The gpu_operator role run by ansible-playbook against the fake API server: what it refuses, and why."""

import json

import pytest

from tests.integration.conftest import kubeconfig_vars, playbook_output, role_playbook, ROOT, run_playbook

CHART = ROOT / "tests" / "fixtures" / "charts" / "gpu-operator"


def play(tmp_path, role="k8s_ai.conformance.gpu_operator"):
    return role_playbook(tmp_path, role)


def variables(server, tmp_path, **extra):
    return dict(kubeconfig_vars(server, tmp_path), gpu_operator_chart_archive=str(CHART), **extra)


def output(proc):
    return playbook_output(proc)


@pytest.mark.parametrize("name,value", [("gpu_operator_sharing", "mps"), ("gpu_operator_time_slicing_replicas", "many"),
                                        ("gpu_operator_mode", "policy"), ("gpu_operator_nri", "perhaps")])
def test_argument_spec_rejects_a_mistyped_variable(fake_cluster, tmp_path, name, value):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, **{name: value}))
    assert proc.returncode != 0
    assert name in output(proc), output(proc)


def test_disabled_does_nothing(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, gpu_operator_enabled=False))
    assert proc.returncode == 0, output(proc)
    assert "gpu_operator_enabled is false" in proc.stdout
    assert "changed=0" in proc.stdout


def test_refuses_a_cluster_without_gpu_nodes(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path))
    assert proc.returncode != 0
    assert "gpu_operator_require_gpu_nodes" in proc.stdout, output(proc)
    assert "nvidia.com/gpu.present" in proc.stdout


def test_refuses_the_gpucluster_mode_without_dra(fake_cluster, tmp_path):
    server = fake_cluster("mig", version="v1.33.5+rke2r1")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, gpu_operator_mode="gpucluster"))
    assert proc.returncode != 0
    assert "gpu_operator_mode: gpucluster" in proc.stdout and "resource.k8s.io/v1" in proc.stdout, output(proc)


def test_nri_on_new_containerd_passes_validation_and_bad_sharing_is_named(fake_cluster, tmp_path):
    """rke2-gpu's nodes run containerd 2.2.6: NRI validation passes; the renderer then names the bad combination."""
    server = fake_cluster("rke2-gpu")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, gpu_operator_nri=True,
                                                            gpu_operator_secure_access="volume-mounts"))
    assert proc.returncode != 0
    assert "containerd >=" not in proc.stdout, output(proc)
    assert "gpu_operator_nri" in proc.stdout, output(proc)


# ---------------------------------------------------------------------------- a real install (helm v4, fake API)
def test_installs_the_stand_in_chart_waits_for_ready_and_a_second_run_changes_nothing(tmp_path):
    from tests.integration.conftest import get_body as _get, helm_binary, helm_env, simulated_cluster

    server = simulated_cluster("kubeadm-plain")  # the simulated GPU operator reports the ClusterPolicy ready
    try:
        extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary(), gpu_operator_wait_timeout=60,
                          gpu_operator_require_gpu_nodes=False, gpu_operator_sharing="time-slicing")
        first = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert first.returncode == 0, output(first)
        policy = json.loads(_get(server, "/apis/nvidia.com/v1/clusterpolicies/cluster-policy"))
        assert policy["status"]["state"] == "ready" and policy["status"]["namespace"] == "gpu-operator"
        assert policy["spec"]["cdi"] == {"enabled": True, "nriPluginEnabled": False}
        assert policy["spec"]["devicePlugin"]["config"] == {"name": "time-slicing-config", "default": "any"}
        assert "CONTAINERD_SOCKET" not in str(policy["spec"]["toolkit"]["env"])  # kubeadm: containerd's own socket
        assert policy["spec"]["dcgmExporter"]["serviceMonitor"]["enabled"] is False  # no Prometheus Operator CRD
        config = json.loads(_get(server, "/api/v1/namespaces/gpu-operator/configmaps/time-slicing-config"))
        assert "replicas: 4" in config["data"]["any"]
        namespace = json.loads(_get(server, "/api/v1/namespaces/gpu-operator"))
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
        second = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert second.returncode == 0, output(second)
        assert "changed=0" in second.stdout, output(second)
    finally:
        server.stop()


def test_without_the_simulated_operator_the_wait_for_the_clusterpolicy_times_out(tmp_path):
    """The wait is real: nothing reports the ClusterPolicy ready (the operator Deployment still becomes Available)."""
    from tests.integration.conftest import get_body as _get, helm_binary, helm_env, simulated_cluster

    server = simulated_cluster("kubeadm-plain", operators=False)
    try:
        extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary(), gpu_operator_wait_timeout=1,
                          gpu_operator_require_gpu_nodes=False)
        proc = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert proc.returncode != 0
        before, wait = proc.stdout.split("TASK [k8s_ai.conformance.gpu_operator : Wait for the operator's ClusterPolicy", 1)
        assert "fatal:" not in before and "fatal:" in wait.split("TASK [", 1)[0], output(proc)
        policy = json.loads(_get(server, "/apis/nvidia.com/v1/clusterpolicies/cluster-policy"))
        assert (policy.get("status") or {}).get("state") != "ready"
    finally:
        server.stop()


def test_check_mode_writes_nothing(tmp_path):
    from tests.fakeapi import FakeKubeServer, load_cluster
    from tests.integration.conftest import helm_binary, helm_env

    server = FakeKubeServer(load_cluster("kubeadm-plain")).start()
    try:
        extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary(),
                          gpu_operator_require_gpu_nodes=False, gpu_operator_dcgm_exporter_service_monitor="enabled")
        server.reset_requests()
        proc = run_playbook(play(tmp_path), tmp_path, extra, check=True, env=helm_env(tmp_path))
        assert proc.returncode == 0, output(proc)
        # kubernetes.core.k8s checks the Namespace with a server-side dry run; nothing else is sent
        real = [r for r in server.requests if r.method not in ("GET", "HEAD") and "dryRun=All" not in r.query]
        assert real == [], [(r.method, r.path, r.query) for r in real]
    finally:
        server.stop()
