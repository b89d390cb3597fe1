"""The gang_scheduler role run by ansible-playbook against the fake API server: what it refuses, a real install of
the stand-in charts through helm, and a second run that changes nothing."""

import pytest

from tests.integration.conftest import get_json as _get, kubeconfig_vars, playbook_output, role_playbook, ROOT, run_playbook, simulated_cluster

CHARTS = ROOT / "tests" / "fixtures" / "charts"


def play(tmp_path):
    return role_playbook(tmp_path, "k8s_ai.conformance.gang_scheduler")


def variables(server, tmp_path, **extra):
    return dict(dict(kubeconfig_vars(server, tmp_path), gang_scheduler_kueue_chart_archive=str(CHARTS / "kueue"),
                     gang_scheduler_volcano_chart_archive=str(CHARTS / "volcano")), **extra)


def output(proc):
    return playbook_output(proc, 5000)


@pytest.mark.parametrize("name,value", [("gang_scheduler_implementation", "yunikorn"),
                                        ("gang_scheduler_wait_timeout", "soon"),
                                        ("gang_scheduler_block_admission", "maybe"),
                                        ("gang_scheduler_quota", "lots")])
def test_argument_spec_rejects_a_mistyped_variable(fake_cluster, tmp_path, name, value):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, **{name: value}))
    assert proc.returncode != 0
    assert name in output(proc), output(proc)


def test_disabled_does_nothing(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, gang_scheduler_enabled=False))
    assert proc.returncode == 0, output(proc)
    assert "gang_scheduler_enabled is false" in proc.stdout and "changed=0" in proc.stdout


@pytest.mark.parametrize("extra,variable", [
    ({"gang_scheduler_wait_for_pods_ready_timeout": "soon"}, "gang_scheduler_wait_for_pods_ready_timeout"),
    ({"gang_scheduler_local_queue": "User Queue"}, "gang_scheduler_local_queue"),
    ({"gang_scheduler_kueue_chart_archive": "/nonexistent/kueue.tgz"}, "gang_scheduler_kueue_chart_archive"),
    ({"gang_scheduler_implementation": "volcano", "gang_scheduler_volcano_chart_archive": "",
      "gang_scheduler_volcano_chart_repo_url": "volcano.example"}, "gang_scheduler_volcano_chart_repo_url"),
])
def test_bad_inputs_fail_before_installing_and_name_the_variable(fake_cluster, tmp_path, extra, variable):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, **extra))
    assert proc.returncode != 0
    assert variable in proc.stdout, output(proc)
    assert "TASK [k8s_ai.conformance.gang_scheduler : Install the chart" not in proc.stdout, output(proc)


# ---------------------------------------------------------------------------- a real install (helm v4, fake API)
def run_twice(tmp_path, server, extra):
    """Install, then install again: the second run changes nothing. The fake's simulated operators play Kueue
    (webhook endpoints, queues Active) and Volcano (Queue default created and Open)."""
    from tests.integration.conftest import helm_binary, helm_env
    extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary(), gang_scheduler_wait_timeout=60, **extra)
    first = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
    assert first.returncode == 0, output(first)
    assert "changed=0" not in first.stdout
    second = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
    assert second.returncode == 0, output(second)
    assert "changed=0" in second.stdout, output(second)
    return first


def test_kueue_installs_with_wait_for_pods_ready_and_queues_sized_to_the_nodes(tmp_path):
    server = simulated_cluster("kubeadm-plain")
    try:
        run_twice(tmp_path, server, {"gang_scheduler_quota": {"memory": "64Gi"},
                                     "gang_scheduler_image_registry": "mirror.example.com"})
        config = _get(server, "/api/v1/namespaces/kueue-system/configmaps/kueue-manager-config")
        text = config["data"]["controller_manager_config.yaml"]
        assert "waitForPodsReady:" in text and "timeout: 5m" in text and "enable" not in text
        deployment = _get(server, "/apis/apps/v1/namespaces/kueue-system/deployments/kueue-controller-manager")
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.example.com/kueue/kueue:v0.19.2"
        queue = _get(server, "/apis/kueue.x-k8s.io/v1beta2/clusterqueues/cluster-queue")
        group = queue["spec"]["resourceGroups"][0]
        assert group["coveredResources"][:2] == ["cpu", "memory"]
        resources = {r["name"]: r["nominalQuota"] for r in group["flavors"][0]["resources"]}
        assert resources["memory"] == "64Gi" and group["flavors"][0]["name"] == "default-flavor"
        nodes = _get(server, "/api/v1/nodes")["items"]
        expected = {r["name"]: r["nominalQuota"] for r in
                    __import__("ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values.scheduling",
                               fromlist=["kueue_quota"]).kueue_quota(nodes, {"memory": "64Gi"})}
        assert resources == expected
        assert [(c["type"], c["status"]) for c in queue["status"]["conditions"]] == [("Active", "True")]
        slices = _get(server, "/apis/discovery.k8s.io/v1/namespaces/kueue-system/endpointslices"
                              "?labelSelector=kubernetes.io/service-name%3Dkueue-webhook-service")["items"]
        assert [e["conditions"]["ready"] for s in slices for e in s["endpoints"]] == [True]
        local = _get(server, "/apis/kueue.x-k8s.io/v1beta2/namespaces/default/localqueues/user-queue")
        assert local["spec"] == {"clusterQueue": "cluster-queue"}
        assert _get(server, "/apis/kueue.x-k8s.io/v1beta2/resourceflavors/default-flavor")["metadata"]["name"]
    finally:
        server.stop()


def test_volcano_installs_and_waits_for_the_default_queue_open(tmp_path):
    server = simulated_cluster("kubeadm-plain")
    try:
        first = run_twice(tmp_path, server, {"gang_scheduler_implementation": "volcano"})
        assert "Queue default to be Open" in first.stdout
        assert _get(server, "/apis/scheduling.volcano.sh/v1beta1/queues/default")["status"]["state"] == "Open"
        for name in ("volcano-scheduler", "volcano-controllers", "volcano-admission"):
            deployment = _get(server, "/apis/apps/v1/namespaces/volcano-system/deployments/" + name)
            assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith("docker.io/volcanosh/")
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
