# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist section `observability`: accelerator metrics and AI workload metrics.

Object shapes and names are the upstream ones:
- NVIDIA dcgm-exporter (NVIDIA/dcgm-exporter, etc/dcp-metrics-included.csv): DaemonSet nvidia-dcgm-exporter
  (GPU operator, Service nvidia-dcgm-exporter port 9400 "gpu-metrics") or dcgm-exporter (standalone chart,
  app.kubernetes.io/name=dcgm-exporter); image nvcr.io/nvidia/k8s/dcgm-exporter; series labelled gpu, UUID,
  Hostname; DCGM_FI_DEV_GPU_UTIL / DCGM_FI_PROF_GR_ENGINE_ACTIVE, DCGM_FI_DEV_FB_USED / FB_FREE, DCGM_FI_DEV_GPU_TEMP,
  DCGM_FI_DEV_POWER_USAGE, DCGM_FI_PROF_NVLINK_{RX,TX}_BYTES / DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL, DCGM_FI_PROF_PCIE_*.
- AMD Device Metrics Exporter (ROCm/device-metrics-exporter): image rocm/device-metrics-exporter, port 5000,
  series gpu_gfx_activity, gpu_used_vram, gpu_*_temperature, gpu_package_power, gpu_xgmi_link_*, labelled gpu_id
  (an optional MetricsFieldPrefix may precede the names).
- Intel XPU Manager (intel/xpumanager, deployment/kubernetes/daemonset): DaemonSet intel-xpumanager, port 29999,
  series xpum_gpu_ratio / xpum_engine_group_compute_all_ratio, xpum_memory_used_bytes, xpum_power_watts, ... labelled
  uuid, pci_bdf, node (2.x: hw_gpu_utilization_ratio, hw_memory_usage_bytes, hw_temperature_celsius).
- Prometheus Operator (monitoring.coreos.com/v1): Prometheus spec.{serviceMonitor,podMonitor}{,Namespace}Selector
  (nil selects nothing / own namespace only, {} selects all), spec.replicas, spec.shards, spec.routePrefix,
  spec.web.tlsConfig; status.availableReplicas and condition Available; governing Service prometheus-operated:9090
  (port "web"); StatefulSet prometheus-<name>. Targets API /api/v1/targets?state=active: data.activeTargets[]
  {scrapePool ("serviceMonitor/<ns>/<name>/<i>", "podMonitor/..."), health, discoveredLabels (__meta_kubernetes_*)}.
- Other collectors: prometheus-community/prometheus chart (app.kubernetes.io/name=prometheus, component server),
  Grafana Alloy chart (app.kubernetes.io/name=alloy, config in a ConfigMap: discovery.kubernetes,
  prometheus.operator.servicemonitors/podmonitors), OpenTelemetry operator opentelemetry.io OpenTelemetryCollector
  (spec.config receivers.prometheus, spec.targetAllocator.prometheusCR.enabled, status.scale.statusReplicas "n/m").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import shlex
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils import components, lookups, promtext
from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import ApiUnreachable, KubeError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import (
    condition, daemonset_summary, meta_of, name_of, pod_ready,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, NOT_APPLICABLE, PASS, UNKNOWN, Finding

# -- accelerator metrics exporters, per vendor --------------------------------------------------------
EXPORTERS: Dict[str, Dict[str, Any]] = {
    "nvidia": {
        "title": "NVIDIA DCGM exporter",
        "images": ("dcgm-exporter",),
        "names": ("dcgm-exporter",),
        "device_labels": ("gpu", "UUID"),
        "host_labels": ("Hostname",),
        "utilization": ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"),
        "memory": ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"),
        "temperature": ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP"),
        "power": ("DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"),
        "interconnect": ("DCGM_FI_PROF_NVLINK_RX_BYTES", "DCGM_FI_PROF_NVLINK_TX_BYTES",
                         "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "DCGM_FI_DEV_NVLINK_BANDWIDTH_L*"),
        "pcie": ("DCGM_FI_PROF_PCIE_RX_BYTES", "DCGM_FI_PROF_PCIE_TX_BYTES", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER"),
        "remediation": None,  # nvidia_exporter_fix(): it depends on whether the GPU operator runs
    },
    "amd": {
        "title": "AMD Device Metrics Exporter",
        "images": ("device-metrics-exporter",),
        "names": ("amdgpu-metrics-exporter", "device-metrics-exporter"),
        "device_labels": ("gpu_id", "serial_number"),
        "host_labels": ("hostname",),
        "utilization": ("gpu_gfx_activity", "gpu_gfx_busy_instantaneous"),
        "memory": ("gpu_used_vram", "gpu_free_vram", "gpu_used_visible_vram"),
        "temperature": ("gpu_edge_temperature", "gpu_junction_temperature", "gpu_memory_temperature"),
        "power": ("gpu_package_power", "gpu_average_package_power", "gpu_power_usage"),
        "interconnect": ("gpu_xgmi_link_rx", "gpu_xgmi_link_tx", "gpu_xgmi_nbr_*"),
        "pcie": ("pcie_bandwidth", "pcie_replay_count"),
        "remediation": (
            "Run the AMD Device Metrics Exporter on every AMD GPU node: the AMD GPU operator's DeviceConfig "
            "spec.metricsExporter.enable: true, or helm install exporter device-metrics-exporter-charts from "
            "https://rocm.github.io/device-metrics-exporter (Service port 5000)"),
    },
    "intel": {
        "title": "Intel XPU Manager",
        "images": ("xpumanager",),
        "names": ("xpumanager", "xpu-manager"),
        "device_labels": ("uuid", "pci_bdf", "dev_file"),
        "host_labels": ("node",),
        "utilization": ("xpum_gpu_ratio", "xpum_engine_group_compute_all_ratio", "xpum_engine_ratio",
                        "hw_gpu_utilization_ratio"),
        "memory": ("xpum_memory_used_bytes", "xpum_memory_ratio", "hw_memory_usage_bytes"),
        "temperature": ("xpum_temperature_celsius", "xpum_gpu_temeperature_celsius", "hw_temperature_celsius"),
        "power": ("xpum_power_watts", "xpum_energy_joules", "hw_power_watts"),
        "interconnect": ("xpum_fabric_*", "xpum_xelink_*"),
        "pcie": ("xpum_pcie_*",),
        "remediation": (
            "Run Intel XPU Manager on every Intel GPU node: kubectl apply -k "
            "https://github.com/intel/xpumanager/deployment/kubernetes/daemonset/base (plus its Service and "
            "ServiceMonitor)"),
    },
}
OPTIONAL_KINDS = ("temperature", "power", "interconnect", "pcie")
POD_PAGE = 500

# -- workload metrics ------------------------------------------------------------------------------------
MON_GROUP, MON_VERSION = "monitoring.coreos.com", "v1"
OPERATED_SERVICE, OPERATED_PORT = "prometheus-operated", 9090
MAX_PROMETHEUSES = 2  # targets read through the proxy for at most this many ready Prometheus instances
COLLECTOR_NAMES = ("prometheus", "alloy", "opentelemetry-collector")
COLLECTOR_SELECTOR = "app.kubernetes.io/name in (%s)" % ",".join(COLLECTOR_NAMES)
OTEL_GROUP, OTEL_PLURAL = "opentelemetry.io", "opentelemetrycollectors"
ALLOY_DISCOVERY = ("discovery.kubernetes", "prometheus.operator.servicemonitors", "prometheus.operator.podmonitors")


def monitoring_fix() -> str:
    return ("Install a monitoring system that discovers workload metrics endpoints: %s; then expose each AI service "
            "with a ServiceMonitor or PodMonitor" % components.install_hint("kube_prometheus_stack"))


def nvidia_exporter_fix(kube) -> str:
    """Turn the DCGM exporter on: through the GPU operator's ClusterPolicy when it runs, else install the operator."""
    policies = lookups.cluster_policies(kube)
    if policies:
        name = policies[0]["metadata"]["name"]
        return ("Turn the GPU operator's DCGM exporter on (dcgmExporter.enabled=true in ClusterPolicy %s): kubectl patch "
                "clusterpolicies.nvidia.com/%s --type merge -p '{\"spec\":{\"dcgmExporter\":{\"enabled\":true}}}'"
                % (name, name))
    return ("Run the DCGM exporter on every GPU node with the NVIDIA GPU operator, which deploys it by default "
            "(dcgmExporter.enabled=true): %s" % components.install_hint("gpu_operator"))


# ================================================================================================
# helpers
# ================================================================================================
def _template(obj: Dict[str, Any]) -> Dict[str, Any]:
    return ((obj.get("spec") or {}).get("template") or {})


def _containers(obj: Dict[str, Any]) -> List[Dict[str, Any]]:
    return list((_template(obj).get("spec") or {}).get("containers") or [])


def _selector_string(selector: Optional[Dict[str, Any]]) -> str:
    """A LabelSelector as the labelSelector query parameter."""
    selector = selector or {}
    parts = ["%s=%s" % (k, v) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), ",".join(expr.get("values") or [])
        parts.append({"In": "%s in (%s)" % (key, values), "NotIn": "%s notin (%s)" % (key, values),
                      "Exists": key, "DoesNotExist": "!%s" % key}.get(op, key))
    return ",".join(parts)


def _pod_problem(pod: Dict[str, Any]) -> str:
    """Why a pod is not ready, in kubectl's words (CrashLoopBackOff, Pending, ...)."""
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return waiting["reason"]
    return status.get("phase") or "not ready"


def _matches(name: str, patterns: Tuple[str, ...]) -> bool:
    """Exact (case-insensitive) suffix match of a metric name, or a prefix match for patterns ending in '*'
    (names may carry an exporter-configured prefix, e.g. amd_gpu_gfx_activity)."""
    lower = name.lower()
    for pattern in patterns:
        pat = pattern.lower()
        if pat.endswith("*"):
            if pat[:-1] in lower:
                return True
        elif lower == pat or lower.endswith("_" + pat):
            return True
    return False


def _labels_lower(labels: Dict[str, str]) -> Dict[str, str]:
    return {k.lower(): v for k, v in labels.items()}


def _device_key(labels: Dict[str, str], keys: Tuple[str, ...]) -> Optional[str]:
    lower = _labels_lower(labels)
    parts = ["%s=%s" % (k, lower[k.lower()]) for k in keys if lower.get(k.lower()) not in (None, "")]
    return ",".join(parts) or None


def _service_for(services: List[Dict[str, Any]], daemonset: Dict[str, Any]) -> Tuple[Optional[Dict[str, Any]], Any, Any]:
    """The Service selecting the DaemonSet's pods, the service port that reaches the exporter, and the container port
    behind it (a number: what the pods proxy needs)."""
    pod_labels = meta_of(_template(daemonset)).get("labels") or {}
    container_ports = [p for c in _containers(daemonset) for p in c.get("ports") or []]
    numbers = {p.get("containerPort") for p in container_ports}
    by_name = {p.get("name"): p.get("containerPort") for p in container_ports if p.get("name")}
    for svc in services:
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            continue
        ports = (svc.get("spec") or {}).get("ports") or []
        for port in ports:
            target = port.get("targetPort", port.get("port"))
            if target in numbers or target in by_name:
                return svc, port.get("port"), by_name.get(target, target)
        if ports:
            target = ports[0].get("targetPort", ports[0].get("port"))
            return svc, ports[0].get("port"), by_name.get(target, target)
    return None, None, None


def _exporter_daemonsets(daemonsets: List[Dict[str, Any]], vendor: str) -> List[Dict[str, Any]]:
    spec = EXPORTERS[vendor]
    found = []
    for ds in daemonsets:
        name = meta_of(ds).get("name", "").lower()
        images = " ".join(c.get("image", "") for c in _containers(ds)).lower()
        if any(n in name for n in spec["names"]) or any(i in images for i in spec["images"]):
            found.append(ds)
    return sorted(found, key=lambda d: -((d.get("status") or {}).get("numberReady") or 0))


def analyse_exposition(text: str, vendor: str) -> Dict[str, Any]:
    """Per device: which utilization/memory/optional metrics the exposition carries."""
    spec = EXPORTERS[vendor]
    devices: Dict[str, Dict[str, Any]] = {}
    hosts = set()
    families = promtext.families(text)
    for name, samples in families.items():
        kinds = [k for k in ("utilization", "memory") + OPTIONAL_KINDS if _matches(name, spec[k])]
        for labels, value in samples:
            key = _device_key(labels, spec["device_labels"])
            if key is None:
                continue
            lower = _labels_lower(labels)
            for host_label in spec["host_labels"]:
                if lower.get(host_label.lower()):
                    hosts.add(lower[host_label.lower()])
            entry = devices.setdefault(key, {"metrics": {}, "model": lower.get("modelname", "") or lower.get("dev_name", "")})
            for kind in kinds:
                entry["metrics"].setdefault(kind, {}).setdefault(name, value)
    optional = {kind: sorted({n for d in devices.values() for n in d["metrics"].get(kind, {})}) for kind in OPTIONAL_KINDS}
    return {"families": len(families), "samples": sum(len(s) for s in families.values()), "devices": devices,
            "hosts": sorted(hosts), "optional": optional}


def device_line(key: str, entry: Dict[str, Any], vendor: str) -> str:
    parts = []
    for kind in ("utilization", "memory", "temperature", "power"):
        metrics = entry["metrics"].get(kind) or {}
        if metrics:
            order = [n.lower() for n in EXPORTERS[vendor][kind]]
            name = min(metrics, key=lambda n: next((i for i, o in enumerate(order) if n.lower().endswith(o)), len(order)))
            parts.append("%s=%g" % (name, metrics[name]))
        elif kind in ("utilization", "memory"):
            parts.append("%s MISSING" % kind)
    return "%s: %s" % (key, ", ".join(parts))


def _proxy_why(exc: KubeError) -> str:
    return "%s %s%s" % (exc.status or "", exc.reason or "", (": " + exc.message) if exc.message else "")


def _proxy_recorded(ctx, namespace: str, service: str, port: Any, path: str, show, scheme: str = "") -> Tuple[Optional[str], str]:
    """_proxy through ctx.proxy_get: the answer recorded as ``show`` shows it, no answer as "no answer: <why>"."""
    def on_error(exc: KubeError) -> Optional[str]:
        if isinstance(exc, ApiUnreachable) or exc.status in (401, 403):
            return None
        return "no answer: %s" % _proxy_why(exc)
    try:
        return ctx.proxy_get(namespace, service, port, path, scheme=scheme, show=show, on_error=on_error), ""
    except ApiUnreachable:
        raise
    except KubeError as exc:
        if exc.status in (401, 403):
            raise
        return None, _proxy_why(exc)


# ================================================================================================
# accelerator_metrics
# ================================================================================================
def _nodes_line(nodes) -> str:
    return "\n".join("%s vendor=%s product=%s count=%s ready=%s" % (n.name, n.vendor, n.product or "-", n.count, n.ready)
                     for n in nodes)


def _pod_on_node(pods: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Each node's exporter pod (a Ready one when there are several)."""
    on_node: Dict[str, Dict[str, Any]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and (node not in on_node or pod_ready(pod)):
            on_node[node] = pod
    return on_node


def _check_vendor(ctx, vendor: str, nodes, daemonsets: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Decide one vendor's exporter: {"problems": [...], "details": {...}}."""
    kube = ctx.kube
    spec = EXPORTERS[vendor]
    names = [n.name for n in nodes]
    fixes: List[str] = []
    result: Dict[str, Any] = {"problems": [], "fixes": fixes, "details": {
        "vendor": vendor, "exporter": spec["title"], "accelerator_nodes": names}}
    details = result["details"]
    candidates = _exporter_daemonsets(daemonsets, vendor)
    ctx.record_list("apps", "v1", "daemonsets",
                    "\n".join(daemonset_summary(d) for d in candidates) or "no %s DaemonSet found" % spec["title"],
                    args="-o wide", limit=POD_PAGE, api_note="paginated",
                    note="DaemonSets whose name contains %s or whose image contains %s" % (
                        " or ".join(spec["names"]), " or ".join(spec["images"])))
    if not candidates:
        result["problems"].append("no %s DaemonSet runs in the cluster (%d %s accelerator node(s): %s)"
                                  % (spec["title"], len(names), vendor, ", ".join(names)))
        fixes.append(nvidia_exporter_fix(kube) if vendor == "nvidia" else spec["remediation"])
        return result
    ds = candidates[0]
    namespace, ds_name = meta_of(ds).get("namespace", ""), meta_of(ds).get("name", "")
    status = ds.get("status") or {}
    desired, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    details.update({"daemonset": name_of(ds), "desired": desired, "ready": ready,
                    "other_daemonsets": [name_of(d) for d in candidates[1:]]})

    # Ready on every accelerator node? Read the exporter's own pods (bounded by the DaemonSet) only when the
    # counts do not already say so.
    if desired < len(names) or ready < max(desired, len(names)):
        selector = _selector_string((ds.get("spec") or {}).get("selector"))
        pods = ctx.list("", "v1", "pods", namespace=namespace, label_selector=selector, page_size=POD_PAGE,
                        args="-o wide", show=lambda items: "\n".join(
                            "%s node=%s ready=%s%s" % (meta_of(p).get("name"), node, pod_ready(p),
                                                       "" if pod_ready(p) else " (%s)" % _pod_problem(p))
                            for node, p in sorted(_pod_on_node(items).items())) or "No resources found")
        on_node = _pod_on_node(pods)
        missing, unscheduled, failing = [], [], []
        for node in nodes:
            pod = on_node.get(node.name)
            if pod is None:
                missing.append("%s (no exporter pod scheduled%s)" % (node.name, "" if node.ready else "; node NotReady"))
                unscheduled.append(node.name)
            elif not pod_ready(pod):
                missing.append("%s (pod %s %s)" % (node.name, meta_of(pod).get("name"), _pod_problem(pod)))
                failing.append(pod)
        for pod in failing[:2]:
            pod_name, why = meta_of(pod).get("name"), _pod_problem(pod)
            fixes.append("read why exporter pod %s/%s is %s: kubectl describe pod -n %s %s; kubectl logs -n %s %s%s" % (
                namespace, pod_name, why, namespace, pod_name, namespace, pod_name,
                " --previous" if why == "CrashLoopBackOff" else ""))
        if unscheduled:
            fixes.append("find why DaemonSet %s/%s runs no pod on %s: compare its nodeSelector and tolerations (kubectl "
                         "describe daemonset -n %s %s) with the node's labels and taints (kubectl describe node %s)" % (
                             namespace, ds_name, ", ".join(unscheduled), namespace, ds_name, unscheduled[0]))
        details["nodes_without_ready_exporter"] = missing
        if missing:
            result["problems"].append("%s %s is %s/%s ready and not ready on accelerator node(s) %s"
                                      % (spec["title"], name_of(ds), ready, desired, ", ".join(missing)))
    if ready < 1:
        return result

    # Scrape it through the API server's service proxy.
    services = lookups.services_in(kube, namespace)
    svc, port, pod_port = _service_for(services, ds)
    ctx.record_list("", "v1", "services",
                    "%s port %s selects the %s pods" % (name_of(svc), port, ds_name) if svc
                    else "no Service selects the %s pods (%d services in %s)" % (ds_name, len(services), namespace),
                    namespace=namespace)
    if svc is None:
        result["problems"].append("no Service exposes %s, so its metrics endpoint cannot be scraped" % name_of(ds))
        fixes.append("Create a Service selecting the %s pods on the exporter's metrics port (the GPU operator and the "
                     "exporter charts create one), then re-run" % name_of(ds))
        return result
    svc_name = meta_of(svc)["name"]
    path = ctx.proxy_path(namespace, svc_name, port, "metrics")
    details.update(endpoint=path, namespace=namespace, pod_selector=_selector_string((ds.get("spec") or {}).get("selector")),
                   pod_port=pod_port)

    def scraped(text: str) -> str:
        found = analyse_exposition(text, vendor)
        devices = found["devices"]
        return "%d samples in %d metric families from host(s) %s; %d device(s):\n%s" % (
            found["samples"], found["families"], ", ".join(found["hosts"]) or "-", len(devices),
            "\n".join(device_line(k, v, vendor) for k, v in sorted(devices.items())) or "(no per-device series)")
    text, why = _proxy_recorded(ctx, namespace, svc_name, port, "metrics", show=scraped)
    if text is None:
        result["problems"].append("the exporter endpoint %s/%s port %s did not answer through the API server's "
                                  "service proxy (%s)" % (namespace, svc_name, port, why))
        fixes.append("Make %s/%s:%s reachable: check the exporter pods are Ready and listening on the Service's "
                     "targetPort (kubectl get endpointslices -n %s -l kubernetes.io/service-name=%s)"
                     % (namespace, svc_name, port, namespace, svc_name))
        return result
    found = analyse_exposition(text, vendor)
    devices = found["devices"]
    no_util = [k for k, v in devices.items() if not v["metrics"].get("utilization")]
    no_mem = [k for k, v in devices.items() if not v["metrics"].get("memory")]
    reported = {kind: names_ for kind, names_ in found["optional"].items() if names_}
    details.update({
        "scraped_hosts": found["hosts"], "devices": sorted(devices),
        "utilization_metrics": sorted({n for v in devices.values() for n in v["metrics"].get("utilization", {})}),
        "memory_metrics": sorted({n for v in devices.values() for n in v["metrics"].get("memory", {})}),
        "optional_metrics_reported": reported,
        "optional_metrics_not_reported": [k for k in OPTIONAL_KINDS if k not in reported],
    })
    if not devices:
        result["problems"].append("%s answered (%d samples) but reports no per-device series (labels %s)"
                                  % (svc_name, found["samples"], "/".join(spec["device_labels"])))
        fixes.append("read the exporter's log for devices it could not open: kubectl logs -n %s daemonset/%s"
                     % (namespace, ds_name))
    if no_util:
        result["problems"].append("device(s) %s report no utilization metric (%s)"
                                  % ("; ".join(sorted(no_util)), " or ".join(spec["utilization"])))
    if no_mem:
        result["problems"].append("device(s) %s report no memory metric (%s)"
                                  % ("; ".join(sorted(no_mem)), " or ".join(spec["memory"])))
    if no_util or no_mem:
        fixes.append("Enable the utilization and memory fields in the exporter's metrics list (dcgm-exporter: "
                     "DCGM_FI_DEV_GPU_UTIL and DCGM_FI_DEV_FB_USED/FB_FREE in the collectors CSV, e.g. the GPU operator's "
                     "dcgmExporter.config ConfigMap) and restart the exporter" if vendor == "nvidia" else
                     "Enable the utilization and memory fields in the exporter's configuration and restart it")
    node = {n.name: n for n in nodes}.get(found["hosts"][0]) if len(found["hosts"]) == 1 else None
    if node is not None and node.count and len(devices) < node.count:
        result["problems"].append("node %s has %d accelerators but the exporter reports %d"
                                  % (node.name, node.count, len(devices)))
        fixes.append("read the exporter's log on node %s for GPUs it could not open: kubectl logs -n %s daemonset/%s"
                     % (node.name, namespace, ds_name))
    return result


@requirement("accelerator_metrics")
def accelerator_metrics(ctx):
    """An accelerator metrics exporter ready on every accelerator node, scraped through the service proxy,
    with per-device utilization and memory."""
    kube = ctx.kube
    nodes = lookups.accelerator_nodes(kube)
    lookups.record_accelerator_nodes(ctx, nodes, _nodes_line)
    if not nodes:
        return Finding(NOT_APPLICABLE,
                       "No accelerators: the requirement applies to supported accelerator types, and no node carries "
                       "accelerator labels or advertises accelerator resources.",
                       details={"accelerator_nodes": []})
    by_vendor: Dict[str, list] = {}
    for node in nodes:
        by_vendor.setdefault(node.vendor, []).append(node)
    unknown = {v: [n.name for n in ns] for v, ns in by_vendor.items() if v not in EXPORTERS}
    known = [v for v in sorted(by_vendor) if v in EXPORTERS]
    hand_check = ("check by hand that an exporter for %s runs on every such node and serves per-device utilization and "
                  "memory in Prometheus format (kubectl get --raw /api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/metrics)"
                  % ", ".join(sorted(unknown)))
    if not known:
        return Finding(UNKNOWN, "Accelerators of vendor(s) %s only (%s): the checks do not recognise their metrics "
                       "exporter; %s." % (", ".join(sorted(unknown)), "; ".join(
                           "%s: %s" % (v, ", ".join(n)) for v, n in sorted(unknown.items())), hand_check),
                       details={"unrecognised": unknown})
    daemonsets = lookups.all_daemonsets(kube)
    outcomes = [_check_vendor(ctx, vendor, by_vendor[vendor], daemonsets) for vendor in known]
    details = {"exporters": [o["details"] for o in outcomes]}
    if unknown:
        details["unrecognised"] = unknown
    problems = [p for o in outcomes for p in o["problems"]]
    if problems:
        fixes = [fix for o in outcomes if o["problems"] for fix in o["fixes"]]
        return Finding(FAIL, "; ".join(problems) + ".", remediation=components.join_fixes(fixes), details=details)
    summary = []
    for o in outcomes:
        d = o["details"]
        reported = d.get("optional_metrics_reported") or {}
        summary.append(
            "%s %s is ready on all %d accelerator node(s) (%s/%s); scraped through the service proxy (%s), it reports "
            "utilization (%s) and memory (%s) for each of %d device(s) on %s; also reported: %s; not reported: %s"
            % (d["exporter"], d["daemonset"], len(d["accelerator_nodes"]), d["ready"], d["desired"],
               d.get("endpoint", ""), ", ".join(d["utilization_metrics"]), ", ".join(d["memory_metrics"]),
               len(d["devices"]), ", ".join(d["scraped_hosts"]) or "the answering node",
               ", ".join("%s (%s)" % (k, ", ".join(v)) for k, v in sorted(reported.items())) or "none",
               ", ".join(d["optional_metrics_not_reported"]) or "none"))
    if unknown:
        return Finding(UNKNOWN, "; ".join(summary) + ". But accelerators of vendor(s) %s are not recognised: %s."
                       % (", ".join(sorted(unknown)), hand_check), details=details)
    return Finding(PASS, "; ".join(summary) + ".", details=details)


# ================================================================================================
# ai_service_metrics
# ================================================================================================
def _selector_text(selector: Any, what: str, ns_selector: Any) -> str:
    if selector is None:
        chosen = "no %ss (nil selector)" % what
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        chosen = "every %s" % what
    else:
        chosen = "%ss labelled %s" % (what, _selector_string(selector))
    if selector is None:
        return chosen
    if ns_selector is None:
        return chosen + " in its own namespace"
    if not (ns_selector.get("matchLabels") or ns_selector.get("matchExpressions")):
        return chosen + " in all namespaces"
    return chosen + " in namespaces labelled %s" % _selector_string(ns_selector)


def _prometheus_ready(prom: Dict[str, Any]) -> Tuple[bool, str]:
    spec, status = prom.get("spec") or {}, prom.get("status") or {}
    desired = int(spec.get("replicas", 1) or 0) * int(spec.get("shards", 1) or 1)
    available = int(status.get("availableReplicas") or 0)
    cond = condition(prom, "Available")
    if cond is not None:
        ok = str(cond.get("status")) == "True" and available >= max(desired, 1)
    else:
        ok = desired > 0 and available >= desired
    return ok, "%s/%s available%s" % (available, desired, ", Available=%s" % cond.get("status") if cond else "")


def summarize_targets(body: str) -> Dict[str, Any]:
    """Active targets by scrape pool: totals, up, and how each pool was discovered."""
    try:
        data = json.loads(body).get("data") or {}
    except (ValueError, AttributeError):
        return {"error": "not a Prometheus targets answer"}
    pools: Dict[str, Dict[str, Any]] = {}
    for target in data.get("activeTargets") or []:
        pool = target.get("scrapePool") or (target.get("labels") or {}).get("job", "?")
        entry = pools.setdefault(pool, {"total": 0, "up": 0, "kubernetes_sd": False, "down": []})
        entry["total"] += 1
        if target.get("health") == "up":
            entry["up"] += 1
        else:
            entry["down"].append("%s (%s)" % ((target.get("labels") or {}).get("instance", "?"),
                                              target.get("lastError") or target.get("health")))
        if any(k.startswith("__meta_kubernetes_") for k in target.get("discoveredLabels") or {}):
            entry["kubernetes_sd"] = True
    operator_pools = sorted(p for p in pools if p.startswith(("serviceMonitor/", "podMonitor/")))
    return {
        "active": sum(p["total"] for p in pools.values()), "up": sum(p["up"] for p in pools.values()),
        "pools": pools, "monitor_pools": operator_pools,
        "monitor_pools_up": [p for p in operator_pools if pools[p]["up"]],
        "kubernetes_sd_pools_up": sorted(p for p, e in pools.items() if e["kubernetes_sd"] and e["up"]),
    }


def _targets_lines(summary: Dict[str, Any]) -> str:
    lines = ["%d active targets, %d up" % (summary["active"], summary["up"])]
    for pool, entry in sorted(summary["pools"].items()):
        line = "%s: %d/%d up" % (pool, entry["up"], entry["total"])
        if entry["down"]:
            line += "; down: %s" % ", ".join(entry["down"][:3])
        lines.append(line)
    return "\n".join(lines)


def under_prefix(prefix: str, path: str) -> str:
    """``path`` of a Prometheus HTTP API served under ``prefix`` (spec.routePrefix)."""
    return "%s%s" % (prefix.strip("/") + "/" if prefix.strip("/") else "", path)


def read_targets(ctx, namespace: str, service: str, port: Any, prefix: str = "", scheme: str = ""):
    """(summary, why-not) of GET <prefix>/api/v1/targets?state=active through the service proxy."""
    path = under_prefix(prefix, "api/v1/targets?state=active")
    full = ctx.proxy_path(namespace, service, port, path, scheme)

    def shown(text: str) -> str:
        found = summarize_targets(text)
        return found["error"] if "error" in found else _targets_lines(found)
    body, why = _proxy_recorded(ctx, namespace, service, port, path, show=shown, scheme=scheme)
    if body is None:
        return None, "%s/%s:%s did not answer through the API server's service proxy (%s)" % (namespace, service, port, why)
    summary = summarize_targets(body)
    if "error" in summary:
        return None, "%s/%s:%s: %s" % (namespace, service, port, summary["error"])
    summary["endpoint"] = full
    return summary, ""


def _prometheus_operator(ctx, problems: List[str], fixes: List[str], details: Dict[str, Any]) -> Optional[Finding]:
    """The Prometheus Operator path: CRDs, Prometheus instances, their discovered targets."""
    kube = ctx.kube
    discovery = kube.discovery()
    served = {p: discovery.served(MON_GROUP, MON_VERSION, p) for p in ("servicemonitors", "podmonitors", "prometheuses")}
    ctx.api_resources(MON_GROUP)
    details["prometheus_operator_crds"] = served
    if not (served["servicemonitors"] or served["podmonitors"]):
        problems.append("the Prometheus Operator API (%s/%s ServiceMonitor/PodMonitor) is not served" % (MON_GROUP, MON_VERSION))
        return None
    if not served["prometheuses"]:
        problems.append("%s/%s prometheuses is not served" % (MON_GROUP, MON_VERSION))
        return None

    def row(prom: Dict[str, Any]):
        spec = prom.get("spec") or {}
        ok, text = _prometheus_ready(prom)
        sm = _selector_text(spec.get("serviceMonitorSelector"), "ServiceMonitor", spec.get("serviceMonitorNamespaceSelector"))
        pm = _selector_text(spec.get("podMonitorSelector"), "PodMonitor", spec.get("podMonitorNamespaceSelector"))
        return ok, text, sm, pm, "%s %s; selects %s; %s" % (name_of(prom), text, sm, pm)
    proms = ctx.list(MON_GROUP, MON_VERSION, "prometheuses",
                     show=lambda items: "\n".join(row(p)[4] for p in items) or "No resources found")
    rows, ready = [], []
    for prom in proms:
        ok, text, sm, pm, line = row(prom)
        rows.append(line)
        details.setdefault("prometheuses", []).append({"name": name_of(prom), "ready": ok, "replicas": text,
                                                       "service_monitors": sm, "pod_monitors": pm})
        if ok:
            ready.append(prom)
    if not proms:
        problems.append("the Prometheus Operator CRDs are installed but no Prometheus instance exists")
        return None
    if not ready:
        problems.append("no Prometheus is ready (%s)" % "; ".join(r.split(";")[0] for r in rows))
        first = proms[0]
        namespace, name = meta_of(first).get("namespace", ""), meta_of(first).get("name", "")
        fixes.append("Read why Prometheus %s/%s is not available: kubectl describe prometheus -n %s %s; kubectl get pods -n %s "
                     "-l operator.prometheus.io/name=%s -o wide, then kubectl describe pod on the one not ready"
                     % (namespace, name, namespace, name, namespace, name))
        return None
    for prom in ready[:MAX_PROMETHEUSES]:
        spec = prom.get("spec") or {}
        scheme = "https" if (spec.get("web") or {}).get("tlsConfig") else ""
        summary, why = read_targets(ctx, meta_of(prom)["namespace"], OPERATED_SERVICE, OPERATED_PORT,
                                    spec.get("routePrefix") or "", scheme)
        if summary is None:
            problems.append("Prometheus %s is ready but its targets could not be read: %s" % (name_of(prom), why))
            fixes.append("Make %s/%s:%s answer (kubectl get endpointslices -n %s -l kubernetes.io/service-name=%s; "
                         "kubectl get pods -n %s -l operator.prometheus.io/name=%s)"
                         % (meta_of(prom)["namespace"], OPERATED_SERVICE, OPERATED_PORT, meta_of(prom)["namespace"],
                            OPERATED_SERVICE, meta_of(prom)["namespace"], meta_of(prom)["name"]))
            continue
        details["targets"] = {k: summary[k] for k in ("endpoint", "active", "up", "monitor_pools", "monitor_pools_up",
                                                      "kubernetes_sd_pools_up")}
        details["query_api"] = {"prometheus": meta_of(prom)["name"], "namespace": meta_of(prom)["namespace"],
                                "service": OPERATED_SERVICE, "port": OPERATED_PORT, "prefix": spec.get("routePrefix") or "",
                                "scheme": scheme, "service_monitor_selector": spec.get("serviceMonitorSelector"),
                                "service_monitor_namespace_selector": spec.get("serviceMonitorNamespaceSelector")}
        if summary["monitor_pools_up"]:
            return Finding(PASS, "Prometheus %s (Prometheus Operator) is ready and reports %d active targets (%d up) "
                           "discovered from ServiceMonitors/PodMonitors in %d scrape pools: %s."
                           % (name_of(prom), summary["active"], summary["up"], len(summary["monitor_pools_up"]),
                              ", ".join(summary["monitor_pools_up"])), details=details)
        if summary["kubernetes_sd_pools_up"]:
            return Finding(PASS, "Prometheus %s is ready and reports targets up that it discovered through Kubernetes "
                           "service discovery: %s (no ServiceMonitor/PodMonitor pool is up)."
                           % (name_of(prom), ", ".join(summary["kubernetes_sd_pools_up"])), details=details)
        selects = _selector_text(spec.get("serviceMonitorSelector"), "ServiceMonitor",
                                 spec.get("serviceMonitorNamespaceSelector"))
        problems.append("Prometheus %s is ready but no target discovered from a ServiceMonitor/PodMonitor is up "
                        "(%d active, %d up); it selects %s" % (name_of(prom), summary["active"], summary["up"], selects))
        fixes.append("Expose the AI services' metrics endpoints with a ServiceMonitor or PodMonitor that Prometheus %s "
                     "selects (%s), e.g. the GPU operator's dcgmExporter.serviceMonitor.enabled=true, and check the "
                     "targets come up" % (name_of(prom), selects))
    return None


def _ready_workload(obj: Dict[str, Any]) -> Tuple[bool, str]:
    status = obj.get("status") or {}
    if obj.get("kind") == "DaemonSet" or "desiredNumberScheduled" in status:
        desired, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    else:
        desired, ready = (obj.get("spec") or {}).get("replicas", 1), status.get("readyReplicas", 0)
    return desired > 0 and ready >= desired, "%s/%s ready" % (ready, desired)


def _other_collectors(ctx, problems: List[str], fixes: List[str], details: Dict[str, Any]) -> Optional[Finding]:
    """A plain Prometheus with Kubernetes service discovery, Grafana Alloy, or an OpenTelemetry Collector."""
    kube = ctx.kube
    workloads = []
    for plural, kind in (("deployments", "Deployment"), ("statefulsets", "StatefulSet")):
        for obj in kube.list_all("apps", "v1", plural, label_selector=COLLECTOR_SELECTOR):
            workloads.append(dict(obj, kind=kind))
    for ds in lookups.all_daemonsets(kube):
        if (meta_of(ds).get("labels") or {}).get("app.kubernetes.io/name") in COLLECTOR_NAMES:
            workloads.append(dict(ds, kind="DaemonSet"))
    # the Prometheus Operator's own StatefulSets were judged through their Prometheus resource
    workloads = [w for w in workloads if not any(o.get("kind") == "Prometheus" for o in meta_of(w).get("ownerReferences") or [])]
    ctx.record("kubectl get deployments,statefulsets,daemonsets -A -l %s" % shlex.quote(COLLECTOR_SELECTOR),
               "\n".join("%s/%s %s" % (w["kind"], name_of(w), _ready_workload(w)[1]) for w in workloads)
               or "No resources found",
               api="; ".join([ctx.api_for("apps", "v1", "deployments", query={"labelSelector": COLLECTOR_SELECTOR}),
                              ctx.api_for("apps", "v1", "statefulsets", query={"labelSelector": COLLECTOR_SELECTOR}),
                              ctx.api_for("apps", "v1", "daemonsets", query={"limit": POD_PAGE},
                                          api_note="the shared list of every DaemonSet, filtered by that label here")]),
               note="collectors other than the Prometheus Operator's own StatefulSets")
    for w in workloads:
        app = (meta_of(w).get("labels") or {}).get("app.kubernetes.io/name")
        ok, text = _ready_workload(w)
        if not ok:
            problems.append("%s %s is not ready (%s)" % (w["kind"], name_of(w), text))
            fixes.append("Read why %s %s is not ready: kubectl describe %s -n %s %s" % (
                w["kind"], name_of(w), w["kind"].lower(), meta_of(w).get("namespace", ""), meta_of(w).get("name", "")))
            continue
        namespace = meta_of(w)["namespace"]
        if app == "prometheus":
            svc, port, _pod_port = _service_for(lookups.services_in(kube, namespace), w)
            if svc is None:
                problems.append("Prometheus %s is ready but no Service exposes it" % name_of(w))
                continue
            summary, why = read_targets(ctx, namespace, meta_of(svc)["name"], port)
            if summary is None:
                problems.append(why)
                continue
            details["targets"] = {k: summary[k] for k in ("endpoint", "active", "up", "kubernetes_sd_pools_up")}
            if summary["kubernetes_sd_pools_up"]:
                return Finding(PASS, "Prometheus %s/%s (no Prometheus Operator) is ready and reports targets up that it "
                               "discovered through Kubernetes service discovery: %s."
                               % (w["kind"], name_of(w), ", ".join(summary["kubernetes_sd_pools_up"])), details=details)
            problems.append("Prometheus %s reports no target up from Kubernetes service discovery (%d active, %d up)"
                            % (name_of(w), summary["active"], summary["up"]))
        elif app == "alloy":
            volumes = (_template(w).get("spec") or {}).get("volumes") or []
            cm_name = next(((v.get("configMap") or {}).get("name") for v in volumes
                            if v.get("name") == "config" and v.get("configMap")), None)

            def alloy_text(cm_: Optional[Dict[str, Any]]) -> str:
                return "\n".join(str(v) for v in ((cm_ or {}).get("data") or {}).values())
            if cm_name:
                cm = ctx.get("", "v1", "configmaps", cm_name, namespace=namespace, args="-o yaml",
                             show=lambda cm_: "components: %s" % (", ".join(
                                 c for c in ALLOY_DISCOVERY if c in alloy_text(cm_)) or "no Kubernetes discovery component"),
                             note="the Alloy components that discover Kubernetes targets (%s)" % ", ".join(ALLOY_DISCOVERY))
            else:
                cm = None
                plural = w["kind"].lower() + "s"
                ctx.record(ctx.get_command("apps", plural, [meta_of(w).get("name", "")], namespace,
                                           args="-o jsonpath='{.spec.template.spec.volumes}'"),
                           "no volume named config from a ConfigMap",
                           api=ctx.api_for("apps", "v1", plural, query={"limit": POD_PAGE} if plural == "daemonsets"
                                           else {"labelSelector": COLLECTOR_SELECTOR},
                                           api_note="read from the workload list above"),
                           note="where Alloy's configuration comes from")
            text_ = alloy_text(cm)
            used = [c for c in ALLOY_DISCOVERY if c in text_]
            if (used and "prometheus.scrape" in text_) or any(c.startswith("prometheus.operator") for c in used):
                details["collector"] = {"alloy": name_of(w), "components": used}
                return Finding(PASS, "Grafana Alloy %s/%s is ready and its configuration discovers workloads (%s) and "
                               "scrapes them in Prometheus format." % (w["kind"], name_of(w), ", ".join(used)),
                               details=details)
            problems.append("Grafana Alloy %s is ready but its configuration has no Kubernetes discovery feeding a "
                            "Prometheus scrape" % name_of(w))
            fixes.append("Add discovery.kubernetes (or prometheus.operator.servicemonitors) feeding prometheus.scrape to "
                         "Alloy's configuration%s" % (" in ConfigMap %s/%s" % (namespace, cm_name) if cm_name else ""))
    discovery = kube.discovery()
    version = discovery.serving_version(OTEL_GROUP, OTEL_PLURAL)
    if version:
        collectors = kube.list_all(OTEL_GROUP, version, OTEL_PLURAL)
        rows = []
        for col in collectors:
            spec = col.get("spec") or {}
            config = spec.get("config")
            text_ = config if isinstance(config, str) else json.dumps(config or {})
            ta = spec.get("targetAllocator") or {}
            discovers = ("kubernetes_sd_configs" in text_ and "prometheus" in text_) or (
                ta.get("enabled") and (ta.get("prometheusCR") or {}).get("enabled"))
            replicas = str(((col.get("status") or {}).get("scale") or {}).get("statusReplicas") or "0/0")
            ready_n, _sep, total = replicas.partition("/")
            ok = ready_n.isdigit() and total.isdigit() and 0 < int(ready_n) == int(total)
            rows.append("%s statusReplicas=%s discovery=%s" % (name_of(col), replicas, bool(discovers)))
            if ok and discovers:
                ctx.record_list(OTEL_GROUP, version, OTEL_PLURAL, "\n".join(rows))
                details["collector"] = {"opentelemetry": name_of(col)}
                return Finding(PASS, "OpenTelemetry Collector %s is ready (%s) with a Prometheus receiver that discovers "
                               "workloads (kubernetes_sd_configs or the target allocator's ServiceMonitor/PodMonitor "
                               "discovery)." % (name_of(col), replicas), details=details)
        ctx.record_list(OTEL_GROUP, version, OTEL_PLURAL, "\n".join(rows) or "No resources found")
        if collectors:
            problems.append("no OpenTelemetry Collector is ready with a discovering Prometheus receiver")
            fixes.append("Give an OpenTelemetry Collector a prometheus receiver with kubernetes_sd_configs (or the target "
                         "allocator with prometheusCR.enabled) and get it ready: kubectl describe opentelemetrycollector "
                         "-n %s %s" % (meta_of(collectors[0]).get("namespace", ""), meta_of(collectors[0]).get("name", "")))
    return None


@requirement("ai_service_metrics")
def ai_service_metrics(ctx):
    """A monitoring system that discovers workloads and scrapes their Prometheus-format metrics."""
    problems: List[str] = []
    fixes: List[str] = []
    details: Dict[str, Any] = {}
    found = _prometheus_operator(ctx, problems, fixes, details) or _other_collectors(ctx, problems, fixes, details)
    if found is not None:
        return found
    if not problems:
        problems.append("no monitoring system was found")
    details["problems"] = problems
    return Finding(FAIL, "No monitoring system discovering workload metrics: %s." % "; ".join(problems),
                   remediation=components.join_fixes(fixes or [monitoring_fix()]), details=details)
