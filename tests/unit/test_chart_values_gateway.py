"""Helm values of Envoy Gateway and of RKE2's Traefik Gateway provider, as data, per distribution and per option."""

import pathlib

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import chart_values, components
from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, gateway  # noqa: F401 pylint: disable=unused-import

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENVOY = chart_values.RENDERERS["envoy_gateway"]
TRAEFIK = chart_values.RENDERERS["traefik_gateway"]
DEFAULTS = yaml.safe_load((ROOT / "roles/gateway/defaults/main.yml").read_text())


def render(component, settings, distribution):
    """render() as the filter calls it, with only this module's renderers loaded (user overrides merged last)."""
    settings = dict(settings)
    overrides = settings.pop("values", {})
    return chart_values.merge(chart_values.RENDERERS[component](settings, chart_values.normalize_distribution(distribution)),
                              overrides)


# ------------------------------------------------------------------------------------------------ envoy_gateway
@pytest.mark.parametrize("distribution", ["rke2", "k3s", "kubeadm", "generic"])
def test_envoy_keeps_its_own_crds_and_the_chart_registries_everywhere(distribution):
    assert ENVOY({}, distribution) == {"crds": {"enabled": False}, "deployment": {"replicas": 1}}


def test_envoy_image_registry_is_the_global_override():
    values = ENVOY({"image_registry": "registry.example:5000/mirror"}, "rke2")
    assert values["global"] == {"imageRegistry": "registry.example:5000/mirror"}


@pytest.mark.parametrize("registry", ["https://registry.example", "registry.example/", "reg istry"])
def test_envoy_bad_registry_names_the_variable(registry):
    with pytest.raises(ChartValuesError, match="gateway_image_registry"):
        ENVOY({"image_registry": registry}, "kubeadm")


@pytest.mark.parametrize("replicas", [0, -1, "2", True])
def test_envoy_bad_replicas_names_the_variable(replicas):
    with pytest.raises(ChartValuesError, match="gateway_replicas"):
        ENVOY({"replicas": replicas}, "kubeadm")


def test_envoy_user_values_win():
    values = render("envoy_gateway", {"values": {"crds": {"enabled": True}, "deployment": {"replicas": 3}}}, "kubeadm")
    assert values["crds"] == {"enabled": True} and values["deployment"]["replicas"] == 3


# ------------------------------------------------------------------------------------------------ traefik_gateway
def test_traefik_enables_the_gateway_provider_and_class_without_a_default_gateway():
    assert TRAEFIK({}, "rke2") == {
        "providers": {"kubernetesGateway": {"enabled": True}},
        "gatewayClass": {"enabled": True, "name": "traefik"},
        "gateway": {"enabled": False},
    }


def test_traefik_class_name_and_default_gateway_follow_the_settings():
    values = TRAEFIK({"class_name": "rke2-gw", "traefik_default_gateway": True}, "rke2")
    assert values["gatewayClass"]["name"] == "rke2-gw" and values["gateway"] == {"enabled": True}


@pytest.mark.parametrize("distribution", ["k3s", "kubeadm", "generic"])
def test_traefik_is_refused_off_rke2_with_the_variable_named(distribution):
    with pytest.raises(ChartValuesError, match="gateway_implementation traefik.*%s" % distribution):
        TRAEFIK({}, distribution)


@pytest.mark.parametrize("name", ["Traefik", "-x", "a_b"])
def test_bad_class_name_names_the_variable(name):
    with pytest.raises(ChartValuesError, match="gateway_class_name"):
        TRAEFIK({"class_name": name}, "rke2")


# ------------------------------------------------------------------------------------------------ role pins
def test_role_pins_equal_the_components_table():
    assert DEFAULTS["gateway_chart_version"] == components.COMPONENTS["envoy_gateway"].version
    assert DEFAULTS["gateway_api_crds_version"] == components.COMPONENTS["gateway_api_crds"].version
    assert DEFAULTS["gateway_inference_extension_version"] == components.COMPONENTS["inference_extension"].version
    assert DEFAULTS["gateway_namespace"] == components.COMPONENTS["envoy_gateway"].namespace
    assert components.COMPONENTS["envoy_gateway"].role == "k8s_ai.conformance.gateway"


def test_stand_in_chart_has_upstreams_name_and_the_pinned_version():
    chart = yaml.safe_load((ROOT / "tests/fixtures/charts/gateway-helm/Chart.yaml").read_text())
    assert (chart["name"], chart["version"]) == ("gateway-helm", DEFAULTS["gateway_chart_version"])


def test_argument_spec_declares_every_default_with_the_same_value():
    spec = yaml.safe_load((ROOT / "roles/gateway/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    for name, value in DEFAULTS.items():
        assert spec[name]["default"] == value, name
