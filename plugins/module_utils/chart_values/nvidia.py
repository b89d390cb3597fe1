# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm values of NVIDIA's charts: the GPU operator (``gpu_operator``) and the DRA driver for GPUs (``dra_driver``).

Keys are those of ``deployments/gpu-operator/values.yaml`` in NVIDIA/gpu-operator at tag v26.7.0 and of
``deployments/helm/dra-driver-nvidia-gpu/values.yaml`` in kubernetes-sigs/dra-driver-nvidia-gpu at tag v0.4.1
(the same keys on main as of 0.5.0-dev). Settings arrive without the role prefix; errors name the role variable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict

from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, renderer

# RKE2 and k3s run their own containerd; the toolkit must talk to that socket (and nothing else is set:
# the distribution's own config.toml.tmpl stays untouched).
K3S_CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock"
OPERATOR_DRIVER_ROOT = "/run/nvidia/driver"

# Toolkit and device-plugin environment of the "volume-mounts" mode (see sections/security.py).
ENVVAR_UNPRIVILEGED = "ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED"
AS_VOLUME_MOUNTS = "ACCEPT_NVIDIA_VISIBLE_DEVICES_AS_VOLUME_MOUNTS"
LIST_STRATEGY = "DEVICE_LIST_STRATEGY"

# The ConfigMap the device plugin reads its sharing configuration from (the same names the verify role's fix uses).
TIME_SLICING_CONFIG = "time-slicing-config"
TIME_SLICING_KEY = "any"

# gpu-operator v26.7.0 values.yaml: every key path holding an image repository, with its default.
# An image registry override keeps the path after the registry host (nvcr.io/nvidia/k8s -> <registry>/nvidia/k8s).
GPU_OPERATOR_REPOSITORIES = (
    (("operator",), "nvcr.io/nvidia"),
    (("validator",), "nvcr.io/nvidia"),
    (("driver",), "nvcr.io/nvidia"),
    (("driver", "manager"), "nvcr.io/nvidia/cloud-native"),
    (("toolkit",), "nvcr.io/nvidia/k8s"),
    (("devicePlugin",), "nvcr.io/nvidia"),
    (("dcgm",), "nvcr.io/nvidia/cloud-native"),
    (("dcgmExporter",), "nvcr.io/nvidia/k8s"),
    (("gfd",), "nvcr.io/nvidia"),
    (("migManager",), "nvcr.io/nvidia/cloud-native"),
    (("nodeStatusExporter",), "nvcr.io/nvidia"),
    (("gds",), "nvcr.io/nvidia/cloud-native"),
    (("gdrcopy",), "nvcr.io/nvidia/cloud-native"),
    (("vgpuManager", "driverManager"), "nvcr.io/nvidia/cloud-native"),
    (("vgpuDeviceManager",), "nvcr.io/nvidia/cloud-native"),
    (("vfioManager",), "nvcr.io/nvidia/cloud-native"),
    (("vfioManager", "driverManager"), "nvcr.io/nvidia/cloud-native"),
    (("sandboxDevicePlugin",), "nvcr.io/nvidia"),
    (("kataSandboxDevicePlugin",), "nvcr.io/nvidia/cloud-native"),
    (("ccManager",), "nvcr.io/nvidia/cloud-native"),
    (("draDriver",), "nvcr.io/nvidia"),
    # the node-feature-discovery subchart (0.19.0): image.repository holds the full image name
    (("node-feature-discovery", "image"), "registry.k8s.io/nfd/node-feature-discovery"),
)
# dra-driver-nvidia-gpu values.yaml: image.repository (full image name).
DRA_DRIVER_REPOSITORY = "registry.k8s.io/dra-driver-nvidia/dra-driver-nvidia-gpu"

MODES = ("clusterpolicy", "gpucluster")
SECURE_ACCESS = ("cdi", "volume-mounts")
SHARING = ("none", "time-slicing", "mig")
MIG_STRATEGIES = ("single", "mixed")
DRA_MODES = ("standalone", "gpu_operator")
SERVICE_MONITOR = ("auto", "enabled", "disabled")


def rehost(repository: str, registry: str) -> str:
    """``repository`` with its registry host replaced by ``registry`` (which may carry a path prefix)."""
    path = repository.split("/", 1)[1] if "/" in repository else repository
    return "%s/%s" % (registry.rstrip("/"), path)


def _registry(settings: Dict[str, Any], variable: str) -> str:
    registry = settings.get("image_registry") or ""
    if not isinstance(registry, str):
        raise ChartValuesError("%s must be a string (a registry host, optionally with a path), not %s"
                               % (variable, type(registry).__name__))
    registry = registry.strip()
    if registry and ("://" in registry or " " in registry):
        raise ChartValuesError("%s must be a registry host such as registry.example.com[/prefix], without a scheme: %r"
                               % (variable, registry))
    return registry.rstrip("/")


def _choice(settings: Dict[str, Any], key: str, choices, default: str, prefix: str) -> str:
    value = settings.get(key, default)
    if value is None:
        value = default
    if value not in choices:
        raise ChartValuesError("%s_%s must be one of %s, not %r" % (prefix, key, ", ".join(choices), value))
    return value


def _bool(settings: Dict[str, Any], key: str, default: bool, prefix: str) -> bool:
    value = settings.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ChartValuesError("%s_%s must be true or false, not %r" % (prefix, key, value))
    return value


def _int(settings: Dict[str, Any], key: str, default: int, minimum: int, prefix: str) -> int:
    value = settings.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ChartValuesError("%s_%s must be an integer >= %d, not %r" % (prefix, key, minimum, value))
    return value


def _set(values: Dict[str, Any], path, key: str, value: Any) -> None:
    node = values
    for part in path:
        node = node.setdefault(part, {})
    node[key] = value


def _yaml(data: Dict[str, Any]) -> str:
    """A small mapping as block YAML (the device plugin's config file format); JSON-compatible scalars only."""
    try:
        import yaml  # PyYAML comes with ansible-core
        return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)
    except ImportError:  # pragma: no cover - ansible-core always has it
        import json
        return json.dumps(data, indent=2) + "\n"


def sharing_config(settings: Dict[str, Any]) -> Dict[str, Any]:
    """The device plugin's configuration file for time-slicing (``sharing.timeSlicing``)."""
    # plain int/bool: Ansible hands over tagged subclasses that yaml.safe_dump cannot represent
    replicas = int(_int(settings, "time_slicing_replicas", 4, 2, "gpu_operator"))
    rename = bool(_bool(settings, "time_slicing_rename_by_default", False, "gpu_operator"))
    return {
        "version": "v1",
        "flags": {"migStrategy": "none"},
        "sharing": {"timeSlicing": {"renameByDefault": rename,
                                    "resources": [{"name": "nvidia.com/gpu", "replicas": replicas}]}},
    }


@renderer("gpu_operator")
def gpu_operator_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """Values of chart gpu-operator v26.7.0 (NVIDIA's helm repository)."""
    p = "gpu_operator"
    mode = _choice(settings, "mode", MODES, "clusterpolicy", p)
    secure = _choice(settings, "secure_access", SECURE_ACCESS, "cdi", p)
    sharing = _choice(settings, "sharing", SHARING, "none", p)
    nri = _bool(settings, "nri", False, p)
    driver_enabled = _bool(settings, "driver_enabled", True, p)
    plugin_enabled = _bool(settings, "device_plugin_enabled", True, p)
    monitor = _choice(settings, "dcgm_exporter_service_monitor", SERVICE_MONITOR, "auto", p)
    # auto: a ServiceMonitor only where the Prometheus Operator's CRD exists (the role reads it and passes the fact)
    service_monitor = monitor == "enabled" or (monitor == "auto" and _bool(settings, "service_monitor_crd", False, p))
    monitor_labels = settings.get("dcgm_exporter_service_monitor_labels") or {}
    if not isinstance(monitor_labels, dict):
        raise ChartValuesError("gpu_operator_dcgm_exporter_service_monitor_labels must be a mapping, not %s"
                               % type(monitor_labels).__name__)
    registry = _registry(settings, "gpu_operator_image_registry")

    if nri and secure != "cdi":
        raise ChartValuesError("gpu_operator_nri: true needs CDI (the chart refuses cdi.nriPluginEnabled without "
                               "cdi.enabled); set gpu_operator_secure_access: cdi or gpu_operator_nri: false")

    values: Dict[str, Any] = {
        "driver": {"enabled": driver_enabled},
        "dcgmExporter": {"enabled": True,
                         "serviceMonitor": {"enabled": service_monitor, "additionalLabels": dict(monitor_labels)}},
    }

    if mode == "gpucluster":
        # GPUCluster (the operator's DRA stack, experimental in v26.7.0) excludes a ClusterPolicy; the chart fails
        # unless the NVIDIADriver CRD manages the driver when the operator installs it.
        if sharing != "none":
            raise ChartValuesError("gpu_operator_sharing: %s needs the device plugin of a ClusterPolicy; with "
                                   "gpu_operator_mode: gpucluster set gpu_operator_sharing: none (share GPUs through DRA "
                                   "claims instead)" % sharing)
        if secure != "cdi" or nri:
            raise ChartValuesError("gpu_operator_mode: gpucluster deploys no container toolkit or device plugin: "
                                   "gpu_operator_secure_access must be cdi and gpu_operator_nri false")
        values["clusterPolicy"] = {"deployCR": False}
        values["gpuCluster"] = {"deployCR": True}
        if driver_enabled:
            values["driver"]["nvidiaDriverCRD"] = {"enabled": True, "deployDefaultCR": True}
    else:
        values["clusterPolicy"] = {"deployCR": True}
        values["gpuCluster"] = {"deployCR": False}
        toolkit_env = []
        if distribution in ("rke2", "k3s"):
            toolkit_env.append({"name": "CONTAINERD_SOCKET", "value": K3S_CONTAINERD_SOCKET})
        # Unprivileged containers never get GPUs by setting NVIDIA_VISIBLE_DEVICES themselves.
        toolkit_env.append({"name": ENVVAR_UNPRIVILEGED, "value": "false"})
        values["devicePlugin"] = {"enabled": plugin_enabled}
        if secure == "cdi":
            values["cdi"] = {"enabled": True, "nriPluginEnabled": nri}
        else:
            values["cdi"] = {"enabled": False, "nriPluginEnabled": False}
            toolkit_env.append({"name": AS_VOLUME_MOUNTS, "value": "true"})
            values["devicePlugin"]["env"] = [{"name": LIST_STRATEGY, "value": "volume-mounts"}]
        values["toolkit"] = {"enabled": True, "env": toolkit_env}

        if sharing != "none" and not plugin_enabled:
            raise ChartValuesError("gpu_operator_sharing: %s configures the device plugin; it needs "
                                   "gpu_operator_device_plugin_enabled: true" % sharing)
        if sharing == "time-slicing":
            values["devicePlugin"]["config"] = {
                "create": True, "name": TIME_SLICING_CONFIG, "default": TIME_SLICING_KEY,
                "data": {TIME_SLICING_KEY: _yaml(sharing_config(settings))}}
        elif sharing == "mig":
            strategy = _choice(settings, "mig_strategy", MIG_STRATEGIES, "single", p)
            profile = settings.get("mig_profile") or "all-disabled"
            if not isinstance(profile, str) or not profile.strip() or " " in profile:
                raise ChartValuesError("gpu_operator_mig_profile must be a MIG configuration name such as all-1g.10gb "
                                       "or all-balanced, not %r" % (profile,))
            # the profile itself is the nvidia.com/mig.config node label the role sets (the operator applies a
            # default label only for all-disabled); the chart's migManager.config.default stays all-disabled
            values["mig"] = {"strategy": strategy}
            values["migManager"] = {"enabled": True}

    if registry:
        for path, default in GPU_OPERATOR_REPOSITORIES:
            _set(values, path, "repository", rehost(default, registry))
    return values


@renderer("dra_driver")
def dra_driver_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """Values of chart dra-driver-nvidia-gpu (oci://registry.k8s.io/dra-driver-nvidia/charts)."""
    p = "dra_driver"
    mode = _choice(settings, "mode", DRA_MODES, "standalone", p)
    if mode != "standalone":
        raise ChartValuesError("dra_driver_mode: %s installs no chart (the GPU operator's GPUCluster runs the DRA "
                               "driver); chart values exist only for dra_driver_mode: standalone" % mode)
    gpus = _bool(settings, "gpu_resources_enabled", True, p)
    domains = _bool(settings, "compute_domains_enabled", True, p)
    if not gpus and not domains:
        raise ChartValuesError("dra_driver_gpu_resources_enabled and dra_driver_compute_domains_enabled are both false: "
                               "the driver would run nothing")
    root = settings.get("nvidia_driver_root") or "auto"
    if root == "auto":
        # the role passes whether a GPU operator ClusterPolicy installs the driver (its driver root is /run/nvidia/driver)
        root = OPERATOR_DRIVER_ROOT if _bool(settings, "operator_manages_driver", False, p) else "/"
    if not isinstance(root, str) or not root.startswith("/"):
        raise ChartValuesError("dra_driver_nvidia_driver_root must be an absolute path (/ for drivers on the host, %s "
                               "when the GPU operator installs them) or auto, not %r" % (OPERATOR_DRIVER_ROOT, root))
    values: Dict[str, Any] = {
        "nvidiaDriverRoot": root,
        "resources": {"gpus": {"enabled": gpus}, "computeDomains": {"enabled": domains}},
        # the chart refuses resources.gpus.enabled unless told the device plugin is not serving the same GPUs;
        # the role checks that before it installs
        "gpuResourcesEnabledOverride": gpus,
    }
    registry = _registry(settings, "dra_driver_image_registry")
    if registry:
        values["image"] = {"repository": rehost(DRA_DRIVER_REPOSITORY, registry)}
    return values
