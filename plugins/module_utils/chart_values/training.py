# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm values of Kubeflow Trainer, which the training_operator role installs.

kubeflow/trainer ``charts/kubeflow-trainer`` (v2.3.0): ``runtimes.defaultEnabled`` makes a post-install hook Job
apply the built-in ClusterTrainingRuntimes (torch-distributed among them, which the program's
TestRobustCRDControllerOperation uses); ``jobset.install`` gates the JobSet sub-chart (0.12.0), which must be
false when a JobSet controller is already installed. The chart's images are ``<registry>/<repository>:<tag>`` with
the registry in its own key: ``image.registry`` (controller), ``runtimes.installer.image.registry`` (the hook
Job), ``dataCache.cacheImage.registry`` and the runtimes' ``runtimes.<runtime>.image.registry``; the JobSet
sub-chart (kubernetes-sigs/jobset v0.12.0) has the registry inside ``jobset.image.repository``
(``registry.k8s.io/jobset/jobset`` when released).

The legacy training operator v1 (``training_operator_implementation: v1``) is not a chart: the role applies a
rendered manifest with kubernetes.core.k8s, so nothing here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict

from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, renderer

# values paths of every image registry key the chart (and its JobSet sub-chart) has.
TRAINER_REGISTRY_KEYS = (
    ("image",),
    ("runtimes", "installer", "image"),
    ("dataCache", "cacheImage"),
    ("runtimes", "deepspeedDistributed", "image"),
    ("runtimes", "mlxDistributed", "image"),
    ("runtimes", "xgboostDistributed", "image"),
    ("runtimes", "torchtuneDistributed", "image"),
)
JOBSET_REPOSITORY = "jobset/jobset"


def _bool(settings: Dict[str, Any], key: str, variable: str, default: bool) -> bool:
    value = settings.get(key, default)
    if not isinstance(value, bool):
        raise ChartValuesError("%s must be true or false, not %r" % (variable, value))
    return value


@renderer("kubeflow_trainer")
def kubeflow_trainer_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """Kubeflow Trainer's values: the default runtimes, JobSet unless one is already there, the site's registry."""
    registry = settings.get("image_registry") or ""
    if not isinstance(registry, str) or "://" in registry or " " in registry.strip():
        raise ChartValuesError("training_operator_image_registry must be a registry host (and optional path) such as "
                               "registry.example.com/mirror, not %r" % (registry,))
    registry = registry.strip().rstrip("/")
    values: Dict[str, Any] = {
        "runtimes": {"defaultEnabled": _bool(settings, "runtimes_default_enabled",
                                             "training_operator_trainer_runtimes", True)},
        "jobset": {"install": _bool(settings, "jobset_install", "training_operator_trainer_jobset_install", True)},
    }
    if registry:
        for path in TRAINER_REGISTRY_KEYS:
            node = values
            for key in path:
                node = node.setdefault(key, {})
            node["registry"] = registry
        values["jobset"]["image"] = {"repository": "%s/%s" % (registry, JOBSET_REPOSITORY)}
    return values
