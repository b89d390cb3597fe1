# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about the cluster as a whole: version, distribution, nodes, accelerators, AI components.

A handful of requests whatever the cluster's size: the version, discovery (already cached for
the checks), one node list call of one item (its remainingItemCount gives the node count), the
accelerator-node lookup the checks share, and one ConfigMap GET when the distribution is not
evident from the version string.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict, List, Optional

from ansible_collections.k8s_ai.conformance.plugins.module_utils.lookups import DRA_GROUP, accelerator_nodes
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError

# API group -> the component that serves it (what "components found" reports).
COMPONENT_GROUPS = (
    (DRA_GROUP, "Dynamic Resource Allocation API"),
    ("nvidia.com", "NVIDIA GPU Operator"),
    ("gateway.networking.k8s.io", "Gateway API"),
    ("inference.networking.k8s.io", "Gateway API Inference Extension"),
    ("inference.networking.x-k8s.io", "Gateway API Inference Extension (alpha)"),
    ("scheduling.volcano.sh", "Volcano"),
    ("kueue.x-k8s.io", "Kueue"),
    ("scheduling.x-k8s.io", "scheduler-plugins coscheduling"),
    ("karpenter.sh", "Karpenter"),
    ("cluster.x-k8s.io", "Cluster API"),
    ("monitoring.coreos.com", "Prometheus Operator"),
    ("custom.metrics.k8s.io", "custom metrics API"),
    ("metrics.k8s.io", "resource metrics API"),
    ("kubeflow.org", "Kubeflow training operator"),
    ("trainer.kubeflow.org", "Kubeflow Trainer"),
    ("ray.io", "KubeRay"),
    ("jobset.x-k8s.io", "JobSet"),
    ("leaderworkerset.x-k8s.io", "LeaderWorkerSet"),
    ("k8s.cni.cncf.io", "Multus"),
    ("config.openshift.io", "OpenShift"),
)


def distribution_from_version(git_version: str) -> Optional[str]:
    """The distribution a server version string names, if it names one."""
    patterns = (
        (r"\+rke2", "rke2"), (r"\+k3s", "k3s"), (r"-eks-", "eks"), (r"-gke\.", "gke"),
        (r"\+vmware", "tanzu"), (r"-aks", "aks"), (r"\+k0s", "k0s"),
    )
    for pattern, name in patterns:
        if re.search(pattern, git_version or ""):
            return name
    return None


def distribution_from_node(node: Dict[str, Any]) -> Optional[str]:
    """The distribution one node's labels and provider id show, if they show one."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    provider = (node.get("spec") or {}).get("providerID", "")
    runtime = ((node.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")
    if any(k.startswith("kubernetes.azure.com/") for k in labels):
        return "aks"
    if any(k.startswith("eks.amazonaws.com/") for k in labels):
        return "eks"
    if any(k.startswith("cloud.google.com/gke-") for k in labels):
        return "gke"
    if "node.openshift.io/os_id" in labels:
        return "openshift"
    if provider.startswith("rke2://") or labels.get("node.kubernetes.io/instance-type") == "rke2":
        return "rke2"
    if provider.startswith("k3s://") or labels.get("node.kubernetes.io/instance-type") == "k3s":
        return "k3s"
    if runtime.endswith("-k3s1") or "-k3s" in runtime:
        return "rke2-or-k3s"
    return None


def node_count_and_sample(kube) -> Dict[str, Any]:
    """How many nodes there are, from one call that returns a single node."""
    page = kube.request("GET", "/api/v1/nodes", query={"limit": 1})
    items = page.get("items") or []
    remaining = (page.get("metadata") or {}).get("remainingItemCount")
    count = len(items) + int(remaining) if remaining is not None else None
    if count is None and not (page.get("metadata") or {}).get("continue"):
        count = len(items)
    return {"count": count, "sample": items[0] if items else None}


def components(discovery) -> List[Dict[str, Any]]:
    """AI-relevant components whose APIs the cluster serves, with the API versions served."""
    found = []
    for group, name in COMPONENT_GROUPS:
        versions = discovery.versions(group)
        if versions:
            found.append({"name": name, "api_group": group, "api_versions": versions})
    return found


def identity(kube) -> Dict[str, Any]:
    """Which cluster this is: the API server URL, context and kubeconfig path(s) the client used (never
    credentials), the server version and the kube-system namespace UID, stable for the cluster's life."""
    def compute():
        ident = dict(kube.identity)
        ident["server_version"] = kube.version().get("gitVersion", "")
        try:
            namespace = kube.get("", "v1", "namespaces", "kube-system") or {}
            ident["cluster_uid"] = (namespace.get("metadata") or {}).get("uid")
        except KubeError as exc:
            ident["cluster_uid"] = None
            ident["cluster_uid_error"] = str(exc)
        return ident
    return kube.once("cluster_identity", compute)


def gather(kube) -> Dict[str, Any]:
    """Every cluster fact, computed once per run."""
    return kube.once("cluster_facts", lambda: _gather(kube))


def _gather(kube) -> Dict[str, Any]:
    version = kube.version()
    git_version = version.get("gitVersion", "")
    discovery = kube.discovery()
    nodes = node_count_and_sample(kube)
    distribution = distribution_from_version(git_version)
    how = "server version %s" % git_version if distribution else ""
    if distribution is None and discovery.versions("config.openshift.io"):
        distribution, how = "openshift", "config.openshift.io API served"
    if distribution is None and nodes["sample"] is not None:
        distribution = distribution_from_node(nodes["sample"])
        how = "node labels/provider of %s" % nodes["sample"]["metadata"]["name"] if distribution else ""
    if distribution is None:
        try:
            if kube.get("", "v1", "configmaps", "kubeadm-config", namespace="kube-system"):
                distribution, how = "kubeadm", "ConfigMap kube-system/kubeadm-config"
        except KubeError as exc:  # a forbidden ConfigMap leaves the distribution unknown, not the facts
            if exc.status != 403:
                raise
            how = "unknown: reading ConfigMap kube-system/kubeadm-config was forbidden"
    accel = accelerator_nodes(kube)
    return {
        "kubernetes_version": git_version,
        "platform": version.get("platform", ""),
        "distribution": distribution or "unknown",
        "distribution_evidence": how or "nothing distinctive: server version, node labels and kubeadm-config did not say",
        "node_count": nodes["count"],
        "accelerator_node_count": len(accel),
        "accelerators": [n.to_dict() for n in accel],
        "accelerator_total": sum(n.count for n in accel),
        "components": components(discovery),
        "identity": identity(kube),
    }
