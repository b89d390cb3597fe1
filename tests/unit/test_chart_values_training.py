"""Helm values of Kubeflow Trainer, as data, per distribution and per option."""

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import chart_values
from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError

DISTRIBUTIONS = ["rke2", "k3s", "kubeadm", "generic"]
BASE = {"image_registry": "", "chart_version": "2.3.0", "runtimes_default_enabled": True, "jobset_install": True}


def render(settings, distribution="kubeadm"):
    return chart_values.render("kubeflow_trainer", dict(settings), distribution)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_default_runtimes_and_jobset_on_every_distribution(distribution):
    assert render(BASE, distribution) == {"runtimes": {"defaultEnabled": True}, "jobset": {"install": True}}


def test_jobset_already_installed_and_no_runtimes():
    values = render(dict(BASE, jobset_install=False, runtimes_default_enabled=False))
    assert values == {"runtimes": {"defaultEnabled": False}, "jobset": {"install": False}}


def test_image_registry_moves_every_image_the_chart_has_a_key_for():
    values = render(dict(BASE, image_registry="mirror.example.com/kf/"))
    registry = "mirror.example.com/kf"
    assert values["image"] == {"registry": registry}
    assert values["runtimes"]["installer"]["image"] == {"registry": registry}
    for runtime in ("deepspeedDistributed", "mlxDistributed", "xgboostDistributed", "torchtuneDistributed"):
        assert values["runtimes"][runtime]["image"] == {"registry": registry}
    assert values["dataCache"]["cacheImage"] == {"registry": registry}
    assert values["jobset"] == {"install": True, "image": {"repository": registry + "/jobset/jobset"}}
    assert values["runtimes"]["defaultEnabled"] is True


def test_user_values_win():
    values = render(dict(BASE, values={"jobset": {"install": False}, "manager": {"replicas": 2}}))
    assert values["jobset"] == {"install": False} and values["manager"] == {"replicas": 2}


@pytest.mark.parametrize("settings,variable", [
    ({"runtimes_default_enabled": "yes"}, "training_operator_trainer_runtimes"),
    ({"jobset_install": "auto"}, "training_operator_trainer_jobset_install"),
    ({"image_registry": "https://mirror"}, "training_operator_image_registry"),
    ({"image_registry": 5}, "training_operator_image_registry"),
])
def test_bad_settings_name_the_variable(settings, variable):
    with pytest.raises(ChartValuesError, match=variable):
        render(dict(BASE, **settings))
