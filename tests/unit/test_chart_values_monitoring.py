"""Helm values of kube-prometheus-stack and prometheus-adapter, as data, per distribution and per option."""

import pathlib
import re

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import chart_values, components
from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, monitoring
from ansible_collections.k8s_ai.conformance.plugins.module_utils.sections import scheduling

ROOT = pathlib.Path(__file__).resolve().parents[2]
STACK = chart_values.RENDERERS["kube_prometheus_stack"]
ADAPTER = chart_values.RENDERERS["prometheus_adapter"]
DEFAULTS = yaml.safe_load((ROOT / "roles/monitoring/defaults/main.yml").read_text())
CONTROL_PLANE = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")


def render(component, settings, distribution):
    settings = dict(settings)
    overrides = settings.pop("values", {})
    return chart_values.merge(chart_values.RENDERERS[component](settings, chart_values.normalize_distribution(distribution)),
                              overrides)


# ------------------------------------------------------------------------------------------------ kube_prometheus_stack
@pytest.mark.parametrize("distribution", ["rke2", "k3s", "kubeadm", "generic"])
def test_prometheus_selects_every_monitor_everywhere(distribution):
    spec = STACK({}, distribution)["prometheus"]["prometheusSpec"]
    assert spec == {"serviceMonitorSelectorNilUsesHelmValues": False, "podMonitorSelectorNilUsesHelmValues": False}


def test_select_all_off_keeps_the_release_selector():
    spec = STACK({"select_all_monitors": False}, "kubeadm")["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is True and spec["podMonitorSelectorNilUsesHelmValues"] is True


def test_kubeadm_keeps_the_charts_scrapers_and_node_exporter_port():
    values = STACK({}, "kubeadm")
    assert values == {"prometheus": values["prometheus"], "grafana": {"enabled": False}, "alertmanager": {"enabled": False}}


def test_rke2_moves_node_exporter_to_9110_and_turns_unreachable_scrapers_off():
    values = STACK({}, "rke2")
    assert values["prometheus-node-exporter"] == {"service": {"port": 9110, "targetPort": 9110}}
    for key in CONTROL_PLANE:
        assert values[key] == {"enabled": False}


def test_k3s_turns_control_plane_scrapers_off_and_keeps_9100():
    values = STACK({}, "k3s")
    assert "prometheus-node-exporter" not in values
    assert all(values[k] == {"enabled": False} for k in CONTROL_PLANE)


@pytest.mark.parametrize("distribution,expected", [("kubeadm", 9200), ("rke2", 9200)])
def test_node_exporter_port_setting_wins(distribution, expected):
    assert STACK({"node_exporter_port": expected}, distribution)["prometheus-node-exporter"]["service"]["port"] == expected


def test_rke2_control_plane_metrics_scrape_the_secure_ports():
    values = STACK({"control_plane_metrics": True}, "rke2")
    assert values["kubeControllerManager"] == {"enabled": True, "service": {"enabled": True, "port": 10257, "targetPort": 10257},
                                               "serviceMonitor": {"https": True, "insecureSkipVerify": True}}
    assert values["kubeScheduler"]["service"]["port"] == 10259 and values["kubeScheduler"]["serviceMonitor"]["https"]
    assert values["kubeEtcd"] == {"enabled": True, "service": {"enabled": True, "port": 2381, "targetPort": 2381}}
    assert values["kubeProxy"]["service"]["port"] == 10249


def test_k3s_control_plane_metrics_need_endpoints():
    with pytest.raises(ChartValuesError, match="monitoring_control_plane_endpoints"):
        STACK({"control_plane_metrics": True}, "k3s")
    values = STACK({"control_plane_metrics": True, "control_plane_endpoints": ["10.0.0.1"]}, "k3s")
    for key in CONTROL_PLANE:
        assert values[key]["endpoints"] == ["10.0.0.1"]
    assert values["kubeControllerManager"]["jobNameOverride"] == "k3s-server"
    assert "jobNameOverride" not in values["kubeEtcd"]


def test_stack_image_registry_is_global():
    assert STACK({"image_registry": "mirror.example/k8s"}, "kubeadm")["global"] == {"imageRegistry": "mirror.example/k8s"}


@pytest.mark.parametrize("settings,variable", [
    ({"image_registry": "http://x"}, "monitoring_image_registry"),
    ({"select_all_monitors": "yes"}, "monitoring_select_all_monitors"),
    ({"node_exporter_port": 70000}, "monitoring_node_exporter_port"),
    ({"control_plane_metrics": 1}, "monitoring_control_plane_metrics"),
    ({"control_plane_metrics": True, "control_plane_endpoints": "10.0.0.1"}, "monitoring_control_plane_endpoints"),
])
def test_stack_bad_settings_name_the_variable(settings, variable):
    with pytest.raises(ChartValuesError, match=variable):
        STACK(settings, "k3s")


def test_stack_user_values_win():
    values = render("kube_prometheus_stack", {"values": {"kubeEtcd": {"enabled": True}, "grafana": {"enabled": True}}}, "rke2")
    assert values["kubeEtcd"] == {"enabled": True} and values["grafana"] == {"enabled": True}


# ------------------------------------------------------------------------------------------------ prometheus_adapter
def test_adapter_points_at_the_operated_service_of_the_namespace():
    values = ADAPTER({"namespace": "obs"}, "rke2")
    assert values["prometheus"] == {"url": "http://prometheus-operated.obs.svc", "port": 9090}
    assert ADAPTER({}, "kubeadm")["prometheus"]["url"] == "http://prometheus-operated.monitoring.svc"


def test_adapter_rules_serve_each_accelerator_metric_as_a_pods_metric():
    rules = ADAPTER({}, "kubeadm")["rules"]
    assert rules["default"] is True
    names = [r["name"]["as"] for r in rules["custom"]]
    assert names == list(monitoring.ACCELERATOR_METRICS)
    gpu = rules["custom"][0]
    assert gpu == {
        "seriesQuery": 'DCGM_FI_DEV_GPU_UTIL{exported_namespace!="",exported_pod!=""}',
        "resources": {"overrides": {"exported_namespace": {"resource": "namespace"}, "exported_pod": {"resource": "pod"}}},
        "name": {"matches": "^DCGM_FI_DEV_GPU_UTIL$", "as": "DCGM_FI_DEV_GPU_UTIL"},
        "metricsQuery": "avg(max_over_time(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)",
    }


def test_every_served_name_is_one_the_pod_autoscaling_check_counts_as_an_accelerator_metric():
    for rule in ADAPTER({}, "kubeadm")["rules"]["custom"]:
        assert scheduling.ACCEL_METRIC.search(rule["name"]["as"])
    assert scheduling.PREFERRED_METRICS[0] in monitoring.ACCELERATOR_METRICS


def test_adapter_labels_metrics_and_url_follow_the_settings():
    values = ADAPTER({"accelerator_metrics": ["gpu_util", "gpu_util"], "namespace_label": "namespace", "pod_label": "pod",
                      "prometheus_url": "https://prom.example/", "prometheus_port": 443, "default_rules": False}, "k3s")
    assert values["prometheus"] == {"url": "https://prom.example", "port": 443}
    assert values["rules"]["default"] is False
    assert [r["seriesQuery"] for r in values["rules"]["custom"]] == ['gpu_util{namespace!="",pod!=""}']


def test_adapter_image_registry_keeps_the_path():
    assert ADAPTER({"image_registry": "mirror.example"}, "rke2")["image"] == {
        "repository": "mirror.example/prometheus-adapter/prometheus-adapter"}


@pytest.mark.parametrize("settings,variable", [
    ({"accelerator_metrics": []}, "monitoring_adapter_accelerator_metrics"),
    ({"accelerator_metrics": ["bad-name"]}, "monitoring_adapter_accelerator_metrics"),
    ({"namespace_label": "bad-label"}, "monitoring_adapter_namespace_label"),
    ({"pod_label": "1pod"}, "monitoring_adapter_pod_label"),
    ({"prometheus_url": "prom:9090"}, "monitoring_adapter_prometheus_url"),
    ({"prometheus_url": "http://prom:9090"}, "monitoring_adapter_prometheus_url"),
    ({"prometheus_port": "9090"}, "monitoring_adapter_prometheus_port"),
    ({"namespace": "Bad_NS"}, "monitoring_namespace"),
    ({"default_rules": "true"}, "monitoring_adapter_default_rules"),
])
def test_adapter_bad_settings_name_the_variable(settings, variable):
    with pytest.raises(ChartValuesError, match=variable):
        ADAPTER(settings, "kubeadm")


# ------------------------------------------------------------------------------------------------ role pins
def test_role_pins_equal_the_components_table():
    assert DEFAULTS["monitoring_chart_version"] == components.COMPONENTS["kube_prometheus_stack"].version
    assert DEFAULTS["monitoring_adapter_chart_version"] == components.COMPONENTS["prometheus_adapter"].version
    assert DEFAULTS["monitoring_namespace"] == components.COMPONENTS["kube_prometheus_stack"].namespace
    assert DEFAULTS["monitoring_adapter_accelerator_metrics"] == list(monitoring.ACCELERATOR_METRICS)
    assert re.match(r"^https://prometheus-community\.github\.io/helm-charts$", DEFAULTS["monitoring_chart_repo_url"])


@pytest.mark.parametrize("chart,variable", [("kube-prometheus-stack", "monitoring_chart_version"),
                                            ("prometheus-adapter", "monitoring_adapter_chart_version")])
def test_stand_in_charts_have_upstreams_name_and_the_pinned_version(chart, variable):
    meta = yaml.safe_load((ROOT / "tests/fixtures/charts" / chart / "Chart.yaml").read_text())
    assert (meta["name"], meta["version"]) == (chart, DEFAULTS[variable])


def test_argument_spec_declares_every_default_with_the_same_value():
    spec = yaml.safe_load((ROOT / "roles/monitoring/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    for name, value in DEFAULTS.items():
        assert spec[name]["default"] == value, name
