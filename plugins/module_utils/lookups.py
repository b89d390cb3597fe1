# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared lookups of the cluster, each computed once per run and shared by the checks (sections never import
each other: what two of them read lives here).

Nodes are found through the labels that GPU feature discovery and node feature discovery put on
accelerator nodes (one selected list call per label), never by listing every node, unless no
node carries any such label: then the nodes are read page by page and picked by the extended
resources they advertise (a device plugin without feature discovery).

Also shared here (one request each, memoised with ``kube.once``): the DRA ResourceSlices (key
``resourceslices``, a list of objects) and their digest ``dra_inventory`` (drivers -> pools ->
nodes/devices with attributes), the DeviceClasses, the GPU operator's ClusterPolicies (key
``nvidia.clusterpolicies``), the RuntimeClasses, the DaemonSets of one namespace, the admission webhooks
(key ``admission_webhooks``) and the ready endpoints of a Service (its EndpointSlices).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import dataclass, field
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import condition_true, table

# (label selector, vendor) answering "which nodes carry accelerators".
NVIDIA_SELECTOR = "nvidia.com/gpu.present"  # GPU feature discovery
SHARED_NODES = "the shared accelerator-node lookup"  # how evidence of a view of accelerator_nodes names its calls
AMD_SELECTOR = "feature.node.kubernetes.io/pci-1002.present=true"  # node feature discovery, PCI vendor 1002
ACCELERATOR_SELECTORS = (
    (NVIDIA_SELECTOR, "nvidia"),
    ("feature.node.kubernetes.io/pci-10de.present=true", "nvidia"),
    (AMD_SELECTOR, "amd"),
    ("intel.feature.node.kubernetes.io/gpu=true", "intel"),
)
# Extended resources that are accelerators, by prefix, and their vendor.
ACCELERATOR_RESOURCE_PREFIXES = (
    ("nvidia.com/gpu", "nvidia"), ("nvidia.com/mig-", "nvidia"), ("amd.com/gpu", "amd"),
    ("gpu.intel.com/", "intel"), ("habana.ai/", "intel"), ("google.com/tpu", "google"),
    ("aws.amazon.com/neuron", "aws"),
)
NVIDIA_LABEL_PREFIXES = ("nvidia.com/", "feature.node.kubernetes.io/pci-10de")
# Vendor extended resources that are not plain accelerators but may be virtual ones (e.g. the KubeVirt
# sandbox device plugin's nvidia.com/GRID_A100-4C vGPU types), kept apart in AcceleratorNode.other_resources.
VENDOR_RESOURCE_PREFIXES = ("nvidia.com/", "amd.com/")


@dataclass
class AcceleratorNode:
    """One node with accelerators, as its labels and status describe it."""

    name: str
    vendor: str
    ready: bool
    schedulable: bool
    product: str = ""
    count: int = 0
    resources: Dict[str, str] = field(default_factory=dict)  # accelerator resources in allocatable
    labels: Dict[str, str] = field(default_factory=dict)  # the vendor's labels only
    taints: List[str] = field(default_factory=list)
    kubelet_version: str = ""
    container_runtime: str = ""
    os_image: str = ""
    kernel_version: str = ""
    runtime_handlers: List[str] = field(default_factory=list)  # status.runtimeHandlers names (Kubernetes 1.30+)
    other_resources: Dict[str, str] = field(default_factory=dict)  # other vendor extended resources (vGPU/VFIO types)

    @property
    def driver_version(self) -> str:
        """NVIDIA driver version from GFD labels, e.g. 580.95.05."""
        full = self.labels.get("nvidia.com/cuda.driver-version.full")
        if full:
            return full
        parts = [self.labels.get("nvidia.com/cuda.driver.%s" % p) for p in ("major", "minor", "rev")]
        return ".".join(p for p in parts if p) if parts[0] else ""

    @property
    def cuda_version(self) -> str:
        """Highest CUDA version the driver supports, from GFD labels, e.g. 13.0."""
        full = self.labels.get("nvidia.com/cuda.runtime-version.full")
        if full:
            return full
        major, minor = self.labels.get("nvidia.com/cuda.runtime.major"), self.labels.get("nvidia.com/cuda.runtime.minor")
        return "%s.%s" % (major, minor) if major else ""

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name, "vendor": self.vendor, "ready": self.ready, "schedulable": self.schedulable,
            "product": self.product, "count": self.count, "resources": dict(self.resources),
            "driver_version": self.driver_version, "cuda_version": self.cuda_version,
            "mig_strategy": self.labels.get("nvidia.com/mig.strategy", ""),
            "sharing_strategy": self.labels.get("nvidia.com/gpu.sharing-strategy", ""),
            "kubelet_version": self.kubelet_version, "container_runtime": self.container_runtime,
            "os_image": self.os_image,
            "vgpu": self.labels.get("nvidia.com/vgpu.present", "") == "true",
        }


def _accelerator_resources(node: Dict[str, Any]) -> Dict[str, str]:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return {k: str(v) for k, v in sorted(allocatable.items())
            if any(k.startswith(prefix) for prefix, _vendor in ACCELERATOR_RESOURCE_PREFIXES) and str(v) not in ("0", "")}


def _vendor_of_resources(resources: Dict[str, str]) -> str:
    for key in resources:
        for prefix, vendor in ACCELERATOR_RESOURCE_PREFIXES:
            if key.startswith(prefix):
                return vendor
    return ""


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def to_accelerator_node(node: Dict[str, Any], vendor: str = "") -> AcceleratorNode:
    """Read one Node object into an AcceleratorNode."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    labels = meta.get("labels") or {}
    resources = _accelerator_resources(node)
    vendor = vendor or _vendor_of_resources(resources) or "unknown"
    vendor_labels = {k: v for k, v in labels.items()
                     if k.startswith(NVIDIA_LABEL_PREFIXES + ("amd.com/", "beta.amd.com/", "gpu.intel.com/",
                                                              "intel.feature.node.kubernetes.io/",
                                                              "feature.node.kubernetes.io/pci-"))}
    info = status.get("nodeInfo") or {}
    other = {k: str(v) for k, v in sorted((status.get("allocatable") or {}).items())
             if k.startswith(VENDOR_RESOURCE_PREFIXES) and k not in resources and str(v) not in ("0", "")}
    count = _int(labels.get("nvidia.com/gpu.count")) or _int((status.get("capacity") or {}).get("nvidia.com/gpu")) \
        or _int((status.get("capacity") or {}).get("amd.com/gpu"))
    return AcceleratorNode(
        name=meta.get("name", ""), vendor=vendor, ready=condition_true(node, "Ready"),
        schedulable=not spec.get("unschedulable", False),
        product=labels.get("nvidia.com/gpu.product") or labels.get("amd.com/gpu.product-name") or "",
        count=count, resources=resources, labels=vendor_labels,
        taints=["%s=%s:%s" % (t.get("key"), t.get("value", ""), t.get("effect")) for t in spec.get("taints") or []],
        kubelet_version=info.get("kubeletVersion", ""), container_runtime=info.get("containerRuntimeVersion", ""),
        os_image=info.get("osImage", ""), kernel_version=info.get("kernelVersion", ""),
        runtime_handlers=sorted(h.get("name", "") for h in status.get("runtimeHandlers") or [] if h.get("name")),
        other_resources=other,
    )


def _find_accelerator_nodes(kube) -> List[AcceleratorNode]:
    found: Dict[str, AcceleratorNode] = {}
    for selector, vendor in ACCELERATOR_SELECTORS:
        for node in kube.list("", "v1", "nodes", label_selector=selector):
            name = node["metadata"]["name"]
            if name not in found:
                found[name] = to_accelerator_node(node, vendor)
    if not found:  # no accelerator labels: read every node's allocatable resources
        for node in kube.list("", "v1", "nodes"):
            if _accelerator_resources(node):
                acc = to_accelerator_node(node)
                found[acc.name] = acc
    return [found[name] for name in sorted(found)]


def accelerator_nodes(kube) -> List[AcceleratorNode]:
    """The cluster's accelerator nodes, sorted by name (one lookup per run, shared by every check)."""
    return kube.once("accelerator_nodes", lambda: _find_accelerator_nodes(kube))


# ---------------------------------------------------------------------------------------------- shared lookups
DRA_GROUP = "resource.k8s.io"
# The GPU operator's ClusterPolicy (NVIDIA/gpu-operator api/nvidia/v1, cluster-scoped).
CP_GROUP, CP_VERSION, CP_PLURAL = "nvidia.com", "v1", "clusterpolicies"
# DRA drivers whose devices are accelerators (ResourceSlice spec.driver), by vendor.
ACCELERATOR_DRA_DRIVERS = {"gpu.nvidia.com": "nvidia", "gpu.amd.com": "amd", "gpu.intel.com": "intel",
                           "tpu.google.com": "google"}
# The same, by vendor: vendor -> its accelerator DRA drivers.
DRA_DRIVERS_BY_VENDOR: Dict[str, Tuple[str, ...]] = {
    vendor: tuple(d for d, v in ACCELERATOR_DRA_DRIVERS.items() if v == vendor) for vendor in dict.fromkeys(ACCELERATOR_DRA_DRIVERS.values())}
ADMISSION_GROUP = "admissionregistration.k8s.io"


def dra_version(kube) -> Optional[str]:
    """The resource.k8s.io version the ResourceSlices are read at (the preferred served one), or None."""
    return kube.discovery().serving_version(DRA_GROUP, "resourceslices")


def resource_slices(kube) -> List[Dict[str, Any]]:
    """Every ResourceSlice, listed once per run page by page (key 'resourceslices': a list of objects); [] without DRA."""
    def lookup():
        version = dra_version(kube)
        return kube.list_all(DRA_GROUP, version, "resourceslices") if version else []
    return kube.once("resourceslices", lookup)


def device_classes(kube) -> List[Dict[str, Any]]:
    """Every DeviceClass, once per run (key 'deviceclasses'); [] when not served."""
    def lookup():
        version = kube.discovery().serving_version(DRA_GROUP, "deviceclasses")
        return kube.list_all(DRA_GROUP, version, "deviceclasses") if version else []
    return kube.once("deviceclasses", lookup)


def cluster_policies(kube) -> List[Dict[str, Any]]:
    """The GPU operator's ClusterPolicies (normally one, cluster-policy); [] when the CRD is not served
    (key 'nvidia.clusterpolicies', the same value sections.security computes)."""
    def lookup():
        if not kube.discovery().served(CP_GROUP, CP_VERSION, CP_PLURAL):
            return []
        return kube.list_all(CP_GROUP, CP_VERSION, CP_PLURAL)
    return kube.once("nvidia.clusterpolicies", lookup)


def runtime_classes(kube) -> Dict[str, str]:
    """RuntimeClass name -> handler, once per run (key 'runtimeclasses'); {} when not served."""
    def lookup():
        if not kube.discovery().served("node.k8s.io", "v1", "runtimeclasses"):
            return {}
        return {rc["metadata"]["name"]: rc.get("handler", "") for rc in kube.list_all("node.k8s.io", "v1", "runtimeclasses")}
    return kube.once("runtimeclasses", lookup)


def all_daemonsets(kube) -> List[Dict[str, Any]]:
    """Every DaemonSet of the cluster (one paginated list; their number does not grow with nodes or pods).
    Shared per run under the key 'apps.daemonsets'."""
    return kube.once("apps.daemonsets", lambda: kube.list_all("apps", "v1", "daemonsets"))


def services_in(kube, namespace: str) -> List[Dict[str, Any]]:
    """The Services of one namespace, once per run (key 'services.<namespace>')."""
    return kube.once("services." + namespace, lambda: kube.list_all("", "v1", "services", namespace=namespace))


def namespace_daemonsets(kube, namespace: str) -> Dict[str, Dict[str, Any]]:
    """name -> DaemonSet of one namespace, one list call per namespace and run (key 'daemonsets:<namespace>')."""
    return kube.once("daemonsets:%s" % namespace,
                     lambda: {ds["metadata"]["name"]: ds for ds in kube.list_all("apps", "v1", "daemonsets", namespace=namespace)})


# Gateway API Inference Extension: InferencePool inference.networking.k8s.io/v1, before v1.0 the x-k8s.io v1alpha2 one.
GAIE_GROUP, GAIE_VERSION = "inference.networking.k8s.io", "v1"
GAIE_X_GROUP, GAIE_X_VERSION = "inference.networking.x-k8s.io", "v1alpha2"


def inference_pools(kube) -> Tuple[str, List[Dict[str, Any]]]:
    """(group/version, InferencePools) — v1 when served, else the older v1alpha2; ("", []) without GAIE
    (key 'gaie.inferencepools')."""
    def lookup():
        discovery = kube.discovery()
        for group, version in ((GAIE_GROUP, GAIE_VERSION), (GAIE_X_GROUP, GAIE_X_VERSION)):
            if discovery.served(group, version, "inferencepools"):
                return "%s/%s" % (group, version), kube.list_all(group, version, "inferencepools")
        return "", []
    return kube.once("gaie.inferencepools", lookup)


# ---------------------------------------------------------------------------------------------- DRA inventory
def attribute_value(attr: Any) -> Any:
    """The value of a DeviceAttribute ({string|int|bool|version: v})."""
    if isinstance(attr, dict):
        for key in ("string", "version", "int", "bool"):
            if key in attr:
                return attr[key]
    return attr


def device_attributes(device: Dict[str, Any], driver: str) -> Dict[str, Any]:
    """A device's attributes by name; names qualified with the driver's own domain are shortened
    ('gpu.nvidia.com/productName' -> 'productName'), others ('resource.kubernetes.io/pciBusID') kept."""
    basic = device.get("basic") or device  # resource.k8s.io/v1beta1 nests them under 'basic'
    out = {}
    for name, attr in (basic.get("attributes") or {}).items():
        if name.startswith(driver + "/"):
            name = name[len(driver) + 1:]
        out[name] = attribute_value(attr)
    return out


def _capacity(device: Dict[str, Any]) -> Dict[str, str]:
    basic = device.get("basic") or device
    return {name: str((cap or {}).get("value", cap)) if isinstance(cap, dict) else str(cap)
            for name, cap in (basic.get("capacity") or {}).items()}


def _where(spec: Dict[str, Any], device: Dict[str, Any]) -> str:
    """The node a device is on: a node name, '*' (all nodes) or '(node selector)'."""
    basic = device.get("basic") or device
    for source in (basic, spec):
        if source.get("nodeName"):
            return source["nodeName"]
        if source.get("allNodes"):
            return "*"
        if source.get("nodeSelector"):
            return "(node selector)"
    return ""


def _blocking_taints(device: Dict[str, Any]) -> List[str]:
    basic = device.get("basic") or device
    return ["%s=%s:%s" % (t.get("key"), t.get("value", ""), t.get("effect")) for t in basic.get("taints") or []
            if t.get("effect") in ("NoSchedule", "NoExecute")]


def _build_inventory(kube) -> Dict[str, Any]:
    slices = resource_slices(kube)
    version = dra_version(kube)
    grouped: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
    for obj in slices:
        spec = obj.get("spec") or {}
        pool = spec.get("pool") or {}
        grouped.setdefault(spec.get("driver", ""), {}).setdefault(pool.get("name", ""), []).append(obj)
    drivers: Dict[str, Any] = {}
    for driver in sorted(grouped):
        pools: Dict[str, Any] = {}
        for pool_name in sorted(grouped[driver]):
            members = grouped[driver][pool_name]
            generation = max(int((m["spec"].get("pool") or {}).get("generation", 0) or 0) for m in members)
            current = [m for m in members if int((m["spec"].get("pool") or {}).get("generation", 0) or 0) == generation]
            expected = max(int((m["spec"].get("pool") or {}).get("resourceSliceCount", 1) or 1) for m in current)
            devices, shared_counters = [], []
            for member in current:
                spec = member["spec"]
                shared_counters += [c.get("name", "") for c in spec.get("sharedCounters") or []]
                for device in spec.get("devices") or []:
                    basic = device.get("basic") or device
                    devices.append({
                        "name": device.get("name", ""), "slice": member["metadata"]["name"],
                        "node": _where(spec, device), "attributes": device_attributes(device, driver),
                        "capacity": _capacity(device), "taints": _blocking_taints(device),
                        "partition": bool(basic.get("consumesCounters")),
                    })
            pools[pool_name] = {
                "generation": generation, "resource_slice_count": expected, "slices": len(current),
                "stale_slices": len(members) - len(current), "complete": len(current) == expected,
                "slice_names": sorted(m["metadata"]["name"] for m in current),
                "nodes": sorted({d["node"] for d in devices if d["node"]} |
                                {m["spec"].get("nodeName") for m in current if m["spec"].get("nodeName")}),
                "devices": devices, "shared_counters": sorted(set(shared_counters)),
            }
        drivers[driver] = {
            "vendor": ACCELERATOR_DRA_DRIVERS.get(driver, ""),
            "pools": pools,
            "nodes": sorted({n for p in pools.values() for n in p["nodes"]}),
            "device_count": sum(len(p["devices"]) for p in pools.values()),
        }
    return {"api_version": "%s/%s" % (DRA_GROUP, version) if version else "", "slice_count": len(slices),
            "drivers": drivers}


def dra_inventory(kube) -> Dict[str, Any]:
    """The DRA devices the cluster publishes, from one paginated ResourceSlice list per run.

    Returns {"api_version": "resource.k8s.io/v1" ("" without DRA), "slice_count": n,
             "drivers": {driver: {"vendor": "nvidia"|..."" , "nodes": [...], "device_count": n,
                                  "pools": {pool: {"generation", "resource_slice_count", "slices", "stale_slices",
                                                   "complete", "slice_names", "nodes", "shared_counters",
                                                   "devices": [{"name", "slice", "node", "attributes" (e.g. driverVersion,
                                                               productName, type), "capacity", "taints", "partition"}]}}}}}.
    A pool is complete when the slices at its highest generation number resourceSliceCount (what the
    scheduler requires before it allocates from the pool)."""
    return kube.once("dra_inventory", lambda: _build_inventory(kube))


def device_class_drivers(device_class: Dict[str, Any]) -> List[str]:
    """The drivers a DeviceClass's CEL selectors name (device.driver == '...')."""
    found = []
    for selector in (device_class.get("spec") or {}).get("selectors") or []:
        expression = ((selector or {}).get("cel") or {}).get("expression", "")
        found += re.findall(r"""device\.driver\s*==\s*['"]([^'"]+)['"]""", expression)
    return sorted(set(found))


# ---------------------------------------------------------------------------------------------- accelerator-node evidence
def _selector_matches(selector: str, labels: Dict[str, str]) -> bool:
    key, sep, value = selector.partition("=")
    return labels.get(key) == value if sep else key in labels


def accelerator_rows(nodes) -> str:
    rows = [["NAME", "VENDOR", "READY", "PRODUCT", "RESOURCES"]]
    rows += [[n.name, n.vendor, "Ready" if n.ready else "NotReady", n.product or "-",
              ",".join("%s=%s" % kv for kv in n.resources.items()) or "-"] for n in nodes]
    return table(rows)


def record_accelerator_nodes(ctx, nodes, show: Optional[Callable[[list], str]] = None) -> None:
    """Evidence for the shared accelerator-node lookup: one entry per label-selected node list it made, and the
    full node list when no node carried an accelerator label (then nodes are picked by their resources)."""
    show = show or accelerator_rows
    labelled = []
    for selector, vendor in ACCELERATOR_SELECTORS:
        found = [n for n in nodes if _selector_matches(selector, n.labels)]
        labelled += [n for n in found if n not in labelled]
        ctx.record_list("", "v1", "nodes", show(found) if found else "No resources found", label_selector=selector,
                        note="nodes labelled as %s accelerator nodes" % vendor)
    if not labelled:
        ctx.record_list("", "v1", "nodes", show(nodes) if nodes else "No accelerator nodes found", args="-o wide",
                        note="no node carries an accelerator label, so every node's status.allocatable was read for "
                        "accelerator resources (%s)" % ", ".join(p for p, _v in ACCELERATOR_RESOURCE_PREFIXES))


# ---------------------------------------------------------------------------------------------- admission webhooks
WEBHOOK_CONFIGURATIONS = (("ValidatingWebhookConfiguration", "validatingwebhookconfigurations"),
                          ("MutatingWebhookConfiguration", "mutatingwebhookconfigurations"))


def admission_webhooks(kube) -> List[Tuple[str, Dict[str, Any], Dict[str, Any]]]:
    """(kind, configuration, webhook) for every validating and mutating webhook (two lists, once per run)."""
    def lookup():
        found = []
        for kind, plural in WEBHOOK_CONFIGURATIONS:
            for config in kube.list(ADMISSION_GROUP, "v1", plural):
                for hook in config.get("webhooks") or []:
                    found.append((kind, config, hook))
        return found
    return kube.once("admission_webhooks", lookup)


def webhooks_for(kube, groups: Tuple[str, ...]) -> List[Tuple[str, Dict[str, Any], Dict[str, Any]]]:
    """The admission webhooks with a rule for any of the API ``groups``."""
    return [(kind, config, hook) for kind, config, hook in admission_webhooks(kube)
            if any(set(groups) & set(rule.get("apiGroups") or []) for rule in hook.get("rules") or [])]


def record_webhooks(ctx, observed: str, note: str = "", args: str = "") -> None:
    """Evidence for the shared admission-webhook lookup: its two lists, as one kubectl command."""
    ctx.record("kubectl get %s%s" % (",".join(ctx.resource(ADMISSION_GROUP, p) for _k, p in WEBHOOK_CONFIGURATIONS),
                                     " " + args if args else ""), observed,
               api="; ".join(ctx.api_for(ADMISSION_GROUP, "v1", p) for _k, p in WEBHOOK_CONFIGURATIONS), note=note)


# ---------------------------------------------------------------------------------------------- Service endpoints
def service_selector(service: str) -> str:
    """The label selector of a Service's EndpointSlices."""
    return "kubernetes.io/service-name=%s" % service


def endpoint_slices_ready(kube, namespace: str, service: str) -> Tuple[int, int, List[str], int]:
    """(ready, total, one line per endpoint, slices read) of a Service, from its EndpointSlices; an endpoint
    whose conditions.ready is unset counts as ready (as its consumers treat it)."""
    slices = kube.list_all("discovery.k8s.io", "v1", "endpointslices", namespace=namespace,
                           label_selector=service_selector(service))
    ready = total = 0
    lines = []
    for eps in slices:
        for ep in eps.get("endpoints") or []:
            total += 1
            is_ready = (ep.get("conditions") or {}).get("ready") is not False
            ready += is_ready
            lines.append("%s %s" % (",".join(ep.get("addresses") or []), "ready" if is_ready else "not ready"))
    return ready, total, lines, len(slices)
