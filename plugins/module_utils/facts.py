# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Accelerator nodes of the cluster, found by label selectors, computed once per run.

Nodes are found through the labels that GPU feature discovery and node feature discovery put on
accelerator nodes (one selected list call per label), never by listing every node, unless no
node carries any such label: then the nodes are read page by page and picked by the extended
resources they advertise (a device plugin without feature discovery).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import dataclass, field
from typing import Any, Dict, List

from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import condition_true

# (label selector, vendor) answering "which nodes carry accelerators".
ACCELERATOR_SELECTORS = (
    ("nvidia.com/gpu.present", "nvidia"),
    ("feature.node.kubernetes.io/pci-10de.present=true", "nvidia"),
    ("feature.node.kubernetes.io/pci-1002.present=true", "amd"),
    ("intel.feature.node.kubernetes.io/gpu=true", "intel"),
)
# Extended resources that are accelerators, by prefix, and their vendor.
ACCELERATOR_RESOURCE_PREFIXES = (
    ("nvidia.com/gpu", "nvidia"), ("nvidia.com/mig-", "nvidia"), ("amd.com/gpu", "amd"),
    ("gpu.intel.com/", "intel"), ("habana.ai/", "intel"), ("google.com/tpu", "google"),
    ("aws.amazon.com/neuron", "aws"),
)
NVIDIA_LABEL_PREFIXES = ("nvidia.com/", "feature.node.kubernetes.io/pci-10de")


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
    )


def _find_accelerator_nodes(kube) -> Dict[str, Any]:
    found: Dict[str, AcceleratorNode] = {}
    how = []
    for selector, vendor in ACCELERATOR_SELECTORS:
        for node in kube.list("", "v1", "nodes", label_selector=selector):
            name = node["metadata"]["name"]
            if name not in found:
                found[name] = to_accelerator_node(node, vendor)
        how.append("kubectl get nodes -l %s" % selector)
    if not found:
        how.append("kubectl get nodes (no accelerator labels found: read every node's allocatable resources)")
        for node in kube.list("", "v1", "nodes"):
            if _accelerator_resources(node):
                acc = to_accelerator_node(node)
                found[acc.name] = acc
    return {"nodes": [found[name] for name in sorted(found)], "commands": how}


def accelerator_nodes(kube) -> List[AcceleratorNode]:
    """The cluster's accelerator nodes, sorted by name (one lookup per run, shared by every check)."""
    return kube.once("accelerator_nodes", lambda: _find_accelerator_nodes(kube))["nodes"]


def accelerator_lookup_commands(kube) -> List[str]:
    """The kubectl-equivalent commands the node lookup ran, for evidence."""
    return kube.once("accelerator_nodes", lambda: _find_accelerator_nodes(kube))["commands"]
