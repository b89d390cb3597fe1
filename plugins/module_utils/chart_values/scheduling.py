# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm values of the gang schedulers the gang_scheduler role installs (Kueue, Volcano), and Kueue's quota.

Kueue (kubernetes-sigs/kueue chart ``charts/kueue``, v0.19.2): the controller reads its configuration from the
ConfigMap ``<release>-manager-config``, which the chart renders from the *string*
``managerConfig.controllerManagerConfigYaml`` (a ``config.kueue.x-k8s.io/v1beta2`` Configuration, decoded
strictly). In v1beta2 ``waitForPodsReady`` has no ``enable`` field: the block being present turns
all-or-nothing admission on (``timeout`` required); so the renderer writes the whole Configuration, with
that block, as YAML text. The chart's image is ``controllerManager.manager.image.repository`` (registry
included) and ``.tag``; the published chart sets them to ``registry.k8s.io/kueue/kueue:v<version>``, the
repository's own values.yaml to a staging image, so the renderer pins the released image either way.

Volcano (volcano-sh/volcano ``installer/helm/chart/volcano``, v1.15.1): every image is
``<basic.image_registry>/<basic.*_image_name>:<tag>``; the scheduler creates Queue ``default`` at start-up.

``kueue_quota(nodes, overrides)`` sums the nodes' allocatable cpu, memory and nvidia.com/gpu into the
nominal quota of the role's ClusterQueue (the ``k8s_ai.conformance.kueue_quota`` filter calls it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Dict, Iterable, List, Optional

try:
    import yaml
except ImportError:  # the controller runs filters with PyYAML; JSON (which is YAML) otherwise
    yaml = None

from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, merge, renderer
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import parse_quantity

# The released Kueue image (hack/helm-chart-package.sh of kubernetes-sigs/kueue: IMAGE_REGISTRY registry.k8s.io/kueue).
KUEUE_REGISTRY = "registry.k8s.io"
KUEUE_IMAGES = {  # values path -> repository below the registry
    ("controllerManager", "manager", "image"): "kueue/kueue",
    ("kueueViz", "backend", "image"): "kueue/kueueviz-backend",
    ("kueueViz", "frontend", "image"): "kueue/kueueviz-frontend",
}
# The integrations the chart's own default configuration enables (charts/kueue/values.yaml, v0.19.2).
KUEUE_FRAMEWORKS = (
    "batch/job", "kubeflow.org/mpijob", "ray.io/rayjob", "ray.io/rayservice", "ray.io/raycluster",
    "jobset.x-k8s.io/jobset", "workload.codeflare.dev/appwrapper", "trainer.kubeflow.org/trainjob", "pod",
    "deployment", "statefulset", "leaderworkerset.x-k8s.io/leaderworkerset",
)
KUEUE_CONFIG_API = "config.kueue.x-k8s.io/v1beta2"
# The resources the role's ClusterQueue covers, in order; a resource no node offers is left out (except cpu and
# memory, which every ClusterQueue covers).
QUOTA_RESOURCES = ("cpu", "memory", "nvidia.com/gpu")
ALWAYS_COVERED = ("cpu", "memory")
# Nodes whose allocatable is not counted: cordoned ones, and control-plane nodes tainted against workloads.
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$")


def _flag(settings: Dict[str, Any], key: str, variable: str, default: bool) -> bool:
    value = settings.get(key, default)
    if not isinstance(value, bool):
        raise ChartValuesError("%s must be true or false, not %r" % (variable, value))
    return value


def _text(settings: Dict[str, Any], key: str, variable: str, default: str = "") -> str:
    value = settings.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ChartValuesError("%s must be a string, not %r" % (variable, value))
    return value.strip()


def _registry(settings: Dict[str, Any], variable: str) -> str:
    registry = _text(settings, "image_registry", variable).rstrip("/")
    if registry and ("://" in registry or " " in registry):
        raise ChartValuesError("%s must be a registry host (and optional path) such as registry.example.com/mirror, "
                               "not %r" % (variable, registry))
    return registry


def _chart_version(settings: Dict[str, Any], variable: str) -> str:
    version = _text(settings, "chart_version", variable)
    if not version:
        raise ChartValuesError("%s must be set (the pinned chart version)" % variable)
    return version


def _plain(value: Any) -> Any:
    """``value`` as plain Python types (Ansible hands over tagged str/dict/list subclasses yaml cannot dump)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------------------------
# Kueue
# ---------------------------------------------------------------------------------------------------------------

def kueue_manager_config(settings: Dict[str, Any]) -> Dict[str, Any]:
    """The Kueue Configuration (v1beta2) the controller runs with: all-or-nothing admission on."""
    timeout = _text(settings, "wait_for_pods_ready_timeout", "gang_scheduler_wait_for_pods_ready_timeout", "5m")
    if not DURATION.match(timeout) or not re.search(r"[1-9]", timeout):
        raise ChartValuesError("gang_scheduler_wait_for_pods_ready_timeout must be a positive Go duration such as 5m "
                               "or 90s, not %r" % timeout)
    frameworks = settings.get("frameworks")
    if frameworks is None:
        frameworks = list(KUEUE_FRAMEWORKS)
    if not isinstance(frameworks, list) or not frameworks or not all(isinstance(f, str) and f for f in frameworks):
        raise ChartValuesError("gang_scheduler_kueue_frameworks must be a non-empty list of integration names such as "
                               "batch/job, not %r" % (frameworks,))
    extra = settings.get("manager_config") or {}
    if not isinstance(extra, dict):
        raise ChartValuesError("gang_scheduler_kueue_manager_config must be a mapping, not %s" % type(extra).__name__)
    if isinstance(extra.get("waitForPodsReady"), dict) and "enable" in extra["waitForPodsReady"]:
        raise ChartValuesError("gang_scheduler_kueue_manager_config.waitForPodsReady.enable does not exist in %s "
                               "(the block's presence enables it); remove it" % KUEUE_CONFIG_API)
    config = {
        "apiVersion": KUEUE_CONFIG_API,
        "kind": "Configuration",
        # The chart's probes, Services and container ports expect these three.
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "integrations": {"frameworks": list(frameworks)},
        "waitForPodsReady": {
            "timeout": timeout,
            "blockAdmission": _flag(settings, "block_admission", "gang_scheduler_block_admission", False),
        },
    }
    return merge(config, extra)


@renderer("kueue")
def kueue_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """Kueue's values: the released images (from the site's registry when set) and waitForPodsReady on."""
    registry = _registry(settings, "gang_scheduler_image_registry") or KUEUE_REGISTRY
    tag = "v" + _chart_version(settings, "gang_scheduler_kueue_chart_version").lstrip("v")
    values: Dict[str, Any] = {}
    for path, repository in KUEUE_IMAGES.items():
        node = values
        for key in path:
            node = node.setdefault(key, {})
        node.update({"repository": "%s/%s" % (registry, repository), "tag": tag, "pullPolicy": "IfNotPresent"})
    config = kueue_manager_config(settings)
    text = (yaml.safe_dump(_plain(config), default_flow_style=False, sort_keys=False) if yaml is not None
            else json.dumps(_plain(config), indent=2))
    values["managerConfig"] = {"controllerManagerConfigYaml": text}
    return values


# ---------------------------------------------------------------------------------------------------------------
# Volcano
# ---------------------------------------------------------------------------------------------------------------

@renderer("volcano")
def volcano_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """Volcano's values: the chart's defaults run the scheduler, controllers and admission; the site's registry."""
    registry = _registry(settings, "gang_scheduler_image_registry")
    values: Dict[str, Any] = {"custom": {"scheduler_enable": True, "controller_enable": True, "admission_enable": True}}
    if registry:
        values["basic"] = {"image_registry": registry}
    return values


# ---------------------------------------------------------------------------------------------------------------
# Kueue quota from the nodes' allocatable
# ---------------------------------------------------------------------------------------------------------------

def format_quantity(resource: str, amount: Decimal) -> str:
    """``amount`` as the quantity a ClusterQueue carries: cpu in whole cores or millicores, memory in the largest
    binary unit it is a whole number of, anything else (GPUs) as a whole number."""
    if resource == "cpu":
        millis = int((amount * 1000).to_integral_value(rounding=ROUND_FLOOR))
        return str(millis // 1000) if millis % 1000 == 0 else "%dm" % millis
    if resource == "memory" or resource.startswith("hugepages-") or resource == "ephemeral-storage":
        count = int(amount.to_integral_value(rounding=ROUND_FLOOR))
        for suffix, size in (("Ti", 2 ** 40), ("Gi", 2 ** 30), ("Mi", 2 ** 20), ("Ki", 2 ** 10)):
            if count and count % size == 0:
                return "%d%s" % (count // size, suffix)
        return str(count)
    return str(int(amount.to_integral_value(rounding=ROUND_FLOOR)))


def _counted(node: Dict[str, Any]) -> bool:
    """Whether a node's allocatable is counted: not cordoned, not a control-plane node that refuses workloads."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return False
    for taint in spec.get("taints") or []:
        if taint.get("key") in CONTROL_PLANE_TAINTS and taint.get("effect") in ("NoSchedule", "NoExecute"):
            return False
    return True


def kueue_quota(nodes: Iterable[Dict[str, Any]], overrides: Optional[Dict[str, Any]] = None,
                resources: Iterable[str] = QUOTA_RESOURCES) -> List[Dict[str, str]]:
    """The nominal quota of the role's ClusterQueue: [{"name": resource, "nominalQuota": quantity}, ...].

    Sums ``status.allocatable`` of every counted node (see ``_counted``); ``overrides`` (the role's
    ``gang_scheduler_quota``) replaces the sum of a resource, and may add resources. A resource other than
    cpu and memory is left out when no node offers it and no override names it.
    """
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ChartValuesError("gang_scheduler_quota must be a mapping of resource name to quantity, not %s"
                               % type(overrides).__name__)
    totals: Dict[str, Decimal] = {}
    names = list(resources)
    for node in nodes or []:
        if not isinstance(node, dict) or not _counted(node):
            continue
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        for resource in names:
            if resource in allocatable:
                try:
                    amount = parse_quantity(allocatable[resource])
                except ValueError:
                    raise ChartValuesError("node %s reports allocatable %s %r, which is not a quantity" % (
                        (node.get("metadata") or {}).get("name", "?"), resource, allocatable[resource]))
                totals[resource] = totals.get(resource, Decimal(0)) + amount
    quota = []
    for resource in names + sorted(r for r in overrides if r not in names):
        if resource in overrides:
            try:
                amount = parse_quantity(overrides[resource])
            except ValueError:
                raise ChartValuesError("gang_scheduler_quota[%r] must be a quantity such as 8, 500m or 32Gi, not %r"
                                       % (resource, overrides[resource]))
            if amount < 0:
                raise ChartValuesError("gang_scheduler_quota[%r] must not be negative" % resource)
        elif resource in totals:
            amount = totals[resource]
        elif resource in ALWAYS_COVERED:
            amount = Decimal(0)
        else:
            continue
        if resource not in ("cpu", "memory") and amount != amount.to_integral_value(rounding=ROUND_CEILING):
            raise ChartValuesError("gang_scheduler_quota[%r] must be a whole number" % resource)
        quota.append({"name": resource, "nominalQuota": format_quantity(resource, amount)})
    return quota
