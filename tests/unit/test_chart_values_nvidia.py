"""Helm values of the GPU operator and the DRA driver, as data, per distribution and per option."""

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import chart_values
from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, nvidia

GPU = chart_values.RENDERERS["gpu_operator"]
DRA = chart_values.RENDERERS["dra_driver"]


def render(component, settings, distribution):
    """render() as the filter calls it, with only this module's renderers loaded (user overrides merged last)."""
    settings = dict(settings)
    overrides = settings.pop("values", {})
    return chart_values.merge(chart_values.RENDERERS[component](settings, chart_values.normalize_distribution(distribution)),
                              overrides)


def env(values, section):
    return {e["name"]: e["value"] for e in values[section].get("env", [])}


# ------------------------------------------------------------------------------------------------ gpu_operator
@pytest.mark.parametrize("distribution", ["rke2", "k3s"])
def test_rke2_and_k3s_get_their_containerd_socket_and_nothing_else(distribution):
    values = GPU({}, distribution)
    toolkit = env(values, "toolkit")
    assert toolkit["CONTAINERD_SOCKET"] == "/run/k3s/containerd/containerd.sock"
    assert "CONTAINERD_CONFIG" not in toolkit  # the distribution's config.toml.tmpl is never templated
    assert not any("config.toml" in str(v) for v in toolkit.values())


@pytest.mark.parametrize("distribution", ["kubeadm", "generic"])
def test_other_distributions_keep_the_default_socket(distribution):
    assert "CONTAINERD_SOCKET" not in env(GPU({}, distribution), "toolkit")


def test_defaults_are_cdi_with_clusterpolicy_and_no_servicemonitor_without_the_crd():
    values = GPU({}, "kubeadm")
    assert values["cdi"] == {"enabled": True, "nriPluginEnabled": False}
    assert values["clusterPolicy"] == {"deployCR": True} and values["gpuCluster"] == {"deployCR": False}
    assert values["driver"] == {"enabled": True}
    assert values["devicePlugin"] == {"enabled": True}
    assert env(values, "toolkit") == {nvidia.ENVVAR_UNPRIVILEGED: "false"}
    assert values["dcgmExporter"]["enabled"] is True
    assert values["dcgmExporter"]["serviceMonitor"]["enabled"] is False
    assert "mig" not in values and "repository" not in values["toolkit"]


@pytest.mark.parametrize("mode,crd,expected", [("auto", True, True), ("auto", False, False), ("enabled", False, True),
                                               ("disabled", True, False)])
def test_service_monitor_follows_the_crd_in_auto(mode, crd, expected):
    values = GPU({"dcgm_exporter_service_monitor": mode, "service_monitor_crd": crd,
                  "dcgm_exporter_service_monitor_labels": {"release": "kube-prometheus-stack"}}, "rke2")
    assert values["dcgmExporter"]["serviceMonitor"] == {"enabled": expected,
                                                        "additionalLabels": {"release": "kube-prometheus-stack"}}


def test_volume_mounts_mode_is_what_the_security_check_accepts():
    values = GPU({"secure_access": "volume-mounts"}, "rke2")
    assert values["cdi"]["enabled"] is False
    assert env(values, "devicePlugin") == {"DEVICE_LIST_STRATEGY": "volume-mounts"}
    toolkit = env(values, "toolkit")
    assert toolkit[nvidia.ENVVAR_UNPRIVILEGED] == "false" and toolkit[nvidia.AS_VOLUME_MOUNTS] == "true"
    assert toolkit["CONTAINERD_SOCKET"] == nvidia.K3S_CONTAINERD_SOCKET


def test_nri_sets_the_cdi_nri_plugin():
    assert GPU({"nri": True}, "rke2")["cdi"] == {"enabled": True, "nriPluginEnabled": True}


def test_nri_needs_cdi():
    with pytest.raises(ChartValuesError, match="gpu_operator_nri"):
        GPU({"nri": True, "secure_access": "volume-mounts"}, "rke2")


def test_preinstalled_drivers():
    assert GPU({"driver_enabled": False}, "kubeadm")["driver"] == {"enabled": False}


def test_time_slicing_creates_the_config_map_the_device_plugin_reads():
    values = GPU({"sharing": "time-slicing", "time_slicing_replicas": 8}, "kubeadm")
    config = values["devicePlugin"]["config"]
    assert config["create"] is True and config["name"] == "time-slicing-config" and config["default"] == "any"
    data = yaml.safe_load(config["data"]["any"])
    assert data == {"version": "v1", "flags": {"migStrategy": "none"},
                    "sharing": {"timeSlicing": {"renameByDefault": False,
                                                "resources": [{"name": "nvidia.com/gpu", "replicas": 8}]}}}


def test_time_slicing_takes_int_subclasses_as_ansible_passes_them():
    class Tagged(int):
        pass
    data = yaml.safe_load(GPU({"sharing": "time-slicing", "time_slicing_replicas": Tagged(3)},
                              "rke2")["devicePlugin"]["config"]["data"]["any"])
    assert data["sharing"]["timeSlicing"]["resources"][0]["replicas"] == 3


def test_mig_sets_strategy_and_profile():
    values = GPU({"sharing": "mig", "mig_strategy": "mixed", "mig_profile": "all-balanced"}, "k3s")
    assert values["mig"] == {"strategy": "mixed"}
    assert values["migManager"] == {"enabled": True}  # the profile is the node label configure.yml sets
    assert "config" not in values["devicePlugin"]


def test_gpucluster_mode_replaces_the_clusterpolicy():
    values = GPU({"mode": "gpucluster"}, "rke2")
    assert values["clusterPolicy"] == {"deployCR": False} and values["gpuCluster"] == {"deployCR": True}
    assert values["driver"] == {"enabled": True, "nvidiaDriverCRD": {"enabled": True, "deployDefaultCR": True}}
    assert "toolkit" not in values and "devicePlugin" not in values
    assert GPU({"mode": "gpucluster", "driver_enabled": False}, "rke2")["driver"] == {"enabled": False}


@pytest.mark.parametrize("settings,variable", [
    ({"mode": "gpucluster", "sharing": "time-slicing"}, "gpu_operator_sharing"),
    ({"mode": "gpucluster", "nri": True}, "gpu_operator_secure_access"),
    ({"sharing": "time-slicing", "device_plugin_enabled": False}, "gpu_operator_device_plugin_enabled"),
    ({"sharing": "mps"}, "gpu_operator_sharing"),
    ({"mode": "policy"}, "gpu_operator_mode"),
    ({"secure_access": "envvar"}, "gpu_operator_secure_access"),
    ({"sharing": "time-slicing", "time_slicing_replicas": 1}, "gpu_operator_time_slicing_replicas"),
    ({"sharing": "time-slicing", "time_slicing_replicas": "4"}, "gpu_operator_time_slicing_replicas"),
    ({"sharing": "mig", "mig_strategy": "none"}, "gpu_operator_mig_strategy"),
    ({"sharing": "mig", "mig_profile": "all 1g"}, "gpu_operator_mig_profile"),
    ({"driver_enabled": "no"}, "gpu_operator_driver_enabled"),
    ({"dcgm_exporter_service_monitor": "yes"}, "gpu_operator_dcgm_exporter_service_monitor"),
    ({"dcgm_exporter_service_monitor_labels": ["a"]}, "gpu_operator_dcgm_exporter_service_monitor_labels"),
    ({"image_registry": "https://registry.example.com"}, "gpu_operator_image_registry"),
])
def test_bad_gpu_operator_settings_name_the_variable(settings, variable):
    with pytest.raises(ChartValuesError, match=variable):
        GPU(settings, "kubeadm")


def test_image_registry_rehosts_every_repository_key():
    values = GPU({"image_registry": "registry.example.com/mirror/"}, "rke2")
    assert values["operator"]["repository"] == "registry.example.com/mirror/nvidia"
    assert values["toolkit"]["repository"] == "registry.example.com/mirror/nvidia/k8s"
    assert values["driver"]["manager"]["repository"] == "registry.example.com/mirror/nvidia/cloud-native"
    assert values["node-feature-discovery"]["image"]["repository"] == \
        "registry.example.com/mirror/nfd/node-feature-discovery"
    for path, _default in nvidia.GPU_OPERATOR_REPOSITORIES:
        node = values
        for part in path:
            node = node[part]
        assert node["repository"].startswith("registry.example.com/mirror/")
    for key in ("devicePlugin", "dcgmExporter", "gfd", "migManager", "validator", "draDriver"):
        assert values[key]["repository"].startswith("registry.example.com/mirror/nvidia")


def test_user_values_win():
    values = render("gpu_operator", {"values": {"cdi": {"enabled": False}, "toolkit": {"env": []}}}, "rke2")
    assert values["cdi"] == {"enabled": False, "nriPluginEnabled": False}
    assert values["toolkit"]["env"] == []


# ------------------------------------------------------------------------------------------------ dra_driver
@pytest.mark.parametrize("distribution", ["rke2", "k3s", "kubeadm"])
def test_dra_driver_defaults(distribution):
    values = DRA({}, distribution)
    assert values == {"nvidiaDriverRoot": "/", "gpuResourcesEnabledOverride": True,
                      "resources": {"gpus": {"enabled": True}, "computeDomains": {"enabled": True}}}


def test_dra_driver_root_follows_the_operator_managed_driver():
    assert DRA({"nvidia_driver_root": "auto", "operator_manages_driver": True}, "rke2")["nvidiaDriverRoot"] == \
        "/run/nvidia/driver"
    assert DRA({"nvidia_driver_root": "/home/kubernetes/bin/nvidia", "operator_manages_driver": True},
               "generic")["nvidiaDriverRoot"] == "/home/kubernetes/bin/nvidia"


def test_dra_driver_without_gpus_needs_no_override():
    values = DRA({"gpu_resources_enabled": False}, "kubeadm")
    assert values["gpuResourcesEnabledOverride"] is False and values["resources"]["gpus"] == {"enabled": False}


def test_dra_driver_image_registry():
    assert DRA({"image_registry": "mirror.example.com:5000"}, "rke2")["image"] == {
        "repository": "mirror.example.com:5000/dra-driver-nvidia/dra-driver-nvidia-gpu"}


@pytest.mark.parametrize("settings,variable", [
    ({"mode": "gpu_operator"}, "dra_driver_mode"),
    ({"mode": "operator"}, "dra_driver_mode"),
    ({"gpu_resources_enabled": False, "compute_domains_enabled": False}, "dra_driver_gpu_resources_enabled"),
    ({"nvidia_driver_root": "run/nvidia/driver"}, "dra_driver_nvidia_driver_root"),
    ({"compute_domains_enabled": "yes"}, "dra_driver_compute_domains_enabled"),
    ({"image_registry": 5}, "dra_driver_image_registry"),
])
def test_bad_dra_driver_settings_name_the_variable(settings, variable):
    with pytest.raises(ChartValuesError, match=variable):
        DRA(settings, "kubeadm")


def test_dra_user_values_win():
    assert render("dra_driver", {"values": {"nvidiaDriverRoot": "/opt/nvidia"}}, "k3s")["nvidiaDriverRoot"] == "/opt/nvidia"
