"""The dra_driver role run by ansible-playbook against the fake API server: what it refuses, and why."""

import json

import pytest

from tests.integration.conftest import get_body as _get, helm_binary, helm_env, kubeconfig_vars, playbook_output, role_playbook, ROOT, run_playbook

CHART = ROOT / "tests" / "fixtures" / "charts" / "dra-driver-nvidia-gpu"


def play(tmp_path):
    return role_playbook(tmp_path, "k8s_ai.conformance.dra_driver")


def variables(server, tmp_path, **extra):
    return dict(kubeconfig_vars(server, tmp_path), dra_driver_chart_archive=str(CHART), **extra)


def output(proc):
    return playbook_output(proc)


@pytest.mark.parametrize("name,value", [("dra_driver_mode", "operator"), ("dra_driver_wait_timeout", "soon"),
                                        ("dra_driver_gpu_resources_enabled", "maybe")])
def test_argument_spec_rejects_a_mistyped_variable(fake_cluster, tmp_path, name, value):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, **{name: value}))
    assert proc.returncode != 0
    assert name in output(proc), output(proc)


def test_refuses_a_cluster_without_resource_k8s_io_v1(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain", version="v1.33.5")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path))
    assert proc.returncode != 0
    assert "resource.k8s.io/v1" in proc.stdout and "dra_driver_enabled" in proc.stdout, output(proc)


def test_refuses_to_serve_gpus_beside_the_device_plugin(fake_cluster, tmp_path):
    """rke2-gpu runs a ClusterPolicy with its device plugin on: the standalone driver must not serve the same GPUs."""
    server = fake_cluster("rke2-gpu")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path))
    assert proc.returncode != 0
    assert "gpu_operator_device_plugin_enabled: false" in proc.stdout, output(proc)
    assert "dra_driver_gpu_resources_enabled" in proc.stdout


def test_gpu_operator_mode_needs_a_gpucluster(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, dra_driver_mode="gpu_operator"))
    assert proc.returncode != 0
    assert "gpu_operator_mode: gpucluster" in proc.stdout, output(proc)


# ---------------------------------------------------------------------------- a real install (helm v4, fake API)
def test_installs_the_stand_in_chart_and_a_second_run_changes_nothing(tmp_path):
    from tests.fakeapi import FakeKubeServer, load_cluster
    from tests.fakeapi.server import DEFAULT_CONTROLLER_DELAY

    server = FakeKubeServer(load_cluster("kubeadm-plain"), controller_delay=DEFAULT_CONTROLLER_DELAY).start()
    try:
        extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary(), dra_driver_wait_timeout=60,
                          dra_driver_image_registry="mirror.example.com")
        first = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert first.returncode == 0, output(first)
        assert "changed=0" not in first.stdout
        ds = json.loads(_get(server, "/apis/apps/v1/namespaces/dra-driver-nvidia-gpu/daemonsets/"
                                     "dra-driver-nvidia-gpu-kubelet-plugin"))
        container = ds["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "mirror.example.com/dra-driver-nvidia/dra-driver-nvidia-gpu:v0.4.1"
        assert container["env"] == [{"name": "NVIDIA_DRIVER_ROOT", "value": "/"}]  # no GPU operator driver here
        assert json.loads(_get(server, "/apis/resource.k8s.io/v1/deviceclasses/gpu.nvidia.com"))["metadata"]["name"]
        second = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert second.returncode == 0, output(second)
        assert "changed=0" in second.stdout, output(second)
    finally:
        server.stop()
