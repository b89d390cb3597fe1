"""Helm values of Kueue and Volcano, and Kueue's quota from the nodes, as data, per distribution and per option."""

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import chart_values, objects
from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, scheduling

DISTRIBUTIONS = ["rke2", "k3s", "kubeadm", "generic"]
KUEUE = {"image_registry": "", "chart_version": "0.19.2"}


def render(component, settings, distribution="kubeadm"):
    """render() as the filter calls it (user overrides merged last)."""
    return chart_values.render(component, dict(settings), distribution)


def manager_config(values):
    return yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])


# ------------------------------------------------------------------------------------------------------- kueue
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_kueue_runs_the_released_image_with_wait_for_pods_ready_on_every_distribution(distribution):
    values = render("kueue", KUEUE, distribution)
    image = values["controllerManager"]["manager"]["image"]
    assert image == {"repository": "registry.k8s.io/kueue/kueue", "tag": "v0.19.2", "pullPolicy": "IfNotPresent"}
    config = manager_config(values)
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2" and config["kind"] == "Configuration"
    # v1beta2 has no waitForPodsReady.enable (strict decoding would reject it): the block's presence enables it.
    assert config["waitForPodsReady"] == {"timeout": "5m", "blockAdmission": False}
    assert "enable" not in config["waitForPodsReady"]
    assert config["health"] == {"healthProbeBindAddress": ":8081"}
    assert config["webhook"] == {"port": 9443} and config["metrics"] == {"bindAddress": ":8443"}
    assert "batch/job" in config["integrations"]["frameworks"]
    assert "trainer.kubeflow.org/trainjob" in config["integrations"]["frameworks"]
    assert values == render("kueue", KUEUE, "kubeadm")  # nothing depends on the distribution


def test_kueue_options_reach_the_configuration():
    values = render("kueue", dict(KUEUE, wait_for_pods_ready_timeout="90s", block_admission=True,
                                  frameworks=["batch/job"], manager_config={"fairSharing": {"enable": True}}))
    config = manager_config(values)
    assert config["waitForPodsReady"] == {"timeout": "90s", "blockAdmission": True}
    assert config["integrations"]["frameworks"] == ["batch/job"]
    assert config["fairSharing"] == {"enable": True}


def test_kueue_image_registry_moves_every_image_and_keeps_the_path():
    values = render("kueue", dict(KUEUE, image_registry="mirror.example.com/k8s/"))
    assert values["controllerManager"]["manager"]["image"]["repository"] == "mirror.example.com/k8s/kueue/kueue"
    assert values["kueueViz"]["backend"]["image"]["repository"] == "mirror.example.com/k8s/kueue/kueueviz-backend"
    assert values["kueueViz"]["frontend"]["image"]["repository"] == "mirror.example.com/k8s/kueue/kueueviz-frontend"


def test_kueue_image_tag_follows_the_chart_version():
    values = render("kueue", dict(KUEUE, chart_version="0.19.3"))
    assert values["controllerManager"]["manager"]["image"]["tag"] == "v0.19.3"


def test_user_values_win():
    values = render("kueue", dict(KUEUE, values={"controllerManager": {"replicas": 2, "manager": {"image": {"tag": "v9"}}}}))
    assert values["controllerManager"]["replicas"] == 2
    assert values["controllerManager"]["manager"]["image"] == {
        "repository": "registry.k8s.io/kueue/kueue", "tag": "v9", "pullPolicy": "IfNotPresent"}


@pytest.mark.parametrize("settings,variable", [
    ({"wait_for_pods_ready_timeout": "soon"}, "gang_scheduler_wait_for_pods_ready_timeout"),
    ({"wait_for_pods_ready_timeout": "0s"}, "gang_scheduler_wait_for_pods_ready_timeout"),
    ({"block_admission": "yes"}, "gang_scheduler_block_admission"),
    ({"frameworks": []}, "gang_scheduler_kueue_frameworks"),
    ({"frameworks": "batch/job"}, "gang_scheduler_kueue_frameworks"),
    ({"manager_config": ["x"]}, "gang_scheduler_kueue_manager_config"),
    ({"manager_config": {"waitForPodsReady": {"enable": True}}}, "gang_scheduler_kueue_manager_config"),
    ({"image_registry": "https://mirror.example.com"}, "gang_scheduler_image_registry"),
    ({"chart_version": ""}, "gang_scheduler_kueue_chart_version"),
])
def test_kueue_bad_settings_name_the_variable(settings, variable):
    with pytest.raises(ChartValuesError, match=variable):
        render("kueue", dict(KUEUE, **settings))


# ----------------------------------------------------------------------------------------------------- volcano
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_volcano_keeps_the_charts_registry_and_runs_its_three_components(distribution):
    values = render("volcano", {"image_registry": "", "chart_version": "1.15.1"}, distribution)
    assert "basic" not in values
    assert values["custom"] == {"scheduler_enable": True, "controller_enable": True, "admission_enable": True}


def test_volcano_image_registry():
    values = render("volcano", {"image_registry": "mirror.example.com/hub"})
    assert values["basic"] == {"image_registry": "mirror.example.com/hub"}


def test_volcano_bad_registry_names_the_variable():
    with pytest.raises(ChartValuesError, match="gang_scheduler_image_registry"):
        render("volcano", {"image_registry": "http://x"})


# ------------------------------------------------------------------------------------------------------- quota
def node(name, cpu=None, memory=None, gpu=None, unschedulable=False, taints=()):
    allocatable = {k: v for k, v in (("cpu", cpu), ("memory", memory), ("nvidia.com/gpu", gpu)) if v is not None}
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable, "taints": list(taints)},
            "status": {"allocatable": dict(allocatable, pods="110")}}


def test_quota_sums_allocatable_of_the_worker_nodes():
    nodes = [node("w1", "3800m", "15Gi", "4"), node("w2", "4", "16374228Ki", "4"),
             node("cp", "2", "4Gi", taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
             node("cordoned", "8", "32Gi", "8", unschedulable=True),
             node("gpu-tainted", "1", "1Gi", "1", taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])]
    quota = scheduling.kueue_quota(nodes)
    # 3.8 + 4 + 1 cores; 15Gi + 16374228Ki + 1Gi; 4 + 4 + 1 GPUs (GPU nodes' own taints are tolerated by GPU pods)
    assert quota == [{"name": "cpu", "nominalQuota": "8800m"},
                     {"name": "memory", "nominalQuota": "%dKi" % (15 * 1024 * 1024 + 16374228 + 1024 * 1024)},
                     {"name": "nvidia.com/gpu", "nominalQuota": "9"}]


def test_quota_without_gpus_covers_cpu_and_memory_only():
    assert scheduling.kueue_quota([node("w", "16", "64Gi")]) == [
        {"name": "cpu", "nominalQuota": "16"}, {"name": "memory", "nominalQuota": "64Gi"}]


def test_quota_of_no_nodes_is_zero():
    assert scheduling.kueue_quota([]) == [{"name": "cpu", "nominalQuota": "0"}, {"name": "memory", "nominalQuota": "0"}]


def test_quota_overrides_win_and_may_add_a_resource():
    quota = scheduling.kueue_quota([node("w", "16", "64Gi", "8")],
                                   {"cpu": 8, "nvidia.com/gpu": "2", "example.com/fpga": "1"})
    assert quota == [{"name": "cpu", "nominalQuota": "8"}, {"name": "memory", "nominalQuota": "64Gi"},
                     {"name": "nvidia.com/gpu", "nominalQuota": "2"}, {"name": "example.com/fpga", "nominalQuota": "1"}]


@pytest.mark.parametrize("text,amount", [("3800m", "3.8"), ("4", "4"), ("1e3", "1000"), ("1k", "1000"),
                                         ("2Gi", str(2 ** 31)), ("0.5", "0.5"), (3, "3")])
def test_quantities_parse(text, amount):
    from decimal import Decimal
    assert objects.parse_quantity(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["lots", "4 cores", "1mi", "", True])
def test_bad_quantities_are_refused(text):
    with pytest.raises(ValueError):
        objects.parse_quantity(text)


@pytest.mark.parametrize("overrides", [{"cpu": "lots"}, {"memory": "-1Gi"}, {"nvidia.com/gpu": "1.5"}, ["cpu"]])
def test_bad_quota_overrides_name_the_variable(overrides):
    with pytest.raises(ChartValuesError, match="gang_scheduler_quota"):
        scheduling.kueue_quota([node("w", "4", "8Gi")], overrides)


def test_the_filter_wraps_errors():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.k8s_ai.conformance.plugins.filter.kueue_quota import FilterModule
    quota = FilterModule().filters()["kueue_quota"]
    assert quota([node("w", "2", "4Gi")]) == [{"name": "cpu", "nominalQuota": "2"}, {"name": "memory", "nominalQuota": "4Gi"}]
    with pytest.raises(AnsibleFilterError, match="gang_scheduler_quota"):
        quota([node("w", "2", "4Gi")], {"cpu": "x"})
    with pytest.raises(AnsibleFilterError, match="list of nodes"):
        quota({"items": []})


def test_kueue_config_of_subclassed_strings_still_dumps():
    """Ansible hands the renderer str/list subclasses (tagged values); the YAML text must still be written."""
    class Tagged(str):
        pass

    class TaggedList(list):
        pass

    values = render("kueue", dict(KUEUE, frameworks=TaggedList([Tagged("batch/job")]),
                                  wait_for_pods_ready_timeout=Tagged("2m")))
    assert manager_config(values)["integrations"]["frameworks"] == ["batch/job"]
    assert manager_config(values)["waitForPodsReady"]["timeout"] == "2m"
