# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist section `schedulingOrchestration`: gang scheduling, cluster autoscaling, pod autoscaling.

Every lookup is a discovery answer, a single GET, or a list narrowed by namespace or label selector,
so the request count does not grow with the number of nodes or pods.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

from ansible_collections.k8s_ai.conformance.plugins.module_utils import components, lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.components import install_hint
from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import (
    condition, condition_true, conditions_line, deployment_ready, deployment_summary, image_tag, name_of, yaml_doc,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import (
    FAIL, NOT_APPLICABLE, PASS, UNKNOWN, Finding,
)


def _served_resources(discovery, group: str) -> Tuple[Optional[str], List[str]]:
    """(preferred version, resources served in it) of an API group, from discovery."""
    for version in discovery.versions(group):
        table = discovery.resources(group, version)
        if table:
            return version, sorted(table)
    return None, []


def _deployments_text(deployments: List[Dict[str, Any]]) -> str:
    return "\n".join(deployment_summary(d) for d in deployments) or "No resources found"


def _deployments(ctx, selector: Optional[str] = None, namespace: Optional[str] = None) -> List[Dict[str, Any]]:
    """Deployments by label (and namespace), recorded."""
    return ctx.list("apps", "v1", "deployments", namespace=namespace, label_selector=selector, show=_deployments_text)


def _find_deployments(ctx, namespace: str, selector: str) -> List[Dict[str, Any]]:
    """Deployments by label in their well-known namespace, then cluster-wide by the same label."""
    return _deployments(ctx, selector, namespace) or _deployments(ctx, selector)


def _deployment_fix(dep: Dict[str, Any]) -> str:
    """How to read why a Deployment is not ready."""
    namespace, name = (dep.get("metadata") or {}).get("namespace", ""), (dep.get("metadata") or {}).get("name", "")
    return ("read why %s/%s is not ready: kubectl describe deployment -n %s %s; kubectl logs -n %s deployment/%s"
            % (namespace, name, namespace, name, namespace, name))


def _registered_webhooks(ctx, groups: Tuple[str, ...]) -> List[str]:
    """'<config>/<webhook>' of admission webhooks with rules for any of ``groups`` (shared lists, once per run)."""
    names = []
    for kind, config, hook in lookups.webhooks_for(ctx.kube, groups):
        names.append("%s %s webhook %s" % (kind, name_of(config), hook.get("name")))
    lookups.record_webhooks(ctx, "\n".join(names) or "none registered", note="webhooks with a rule for %s" % ", ".join(groups))
    return names


# ---------------------------------------------------------------------------------------------------------------
# gang_scheduling
# ---------------------------------------------------------------------------------------------------------------

# Volcano (volcano-sh/volcano helm chart): Deployments volcano-scheduler / volcano-controllers / volcano-admission
# in volcano-system, labelled app=volcano-scheduler|volcano-controller|volcano-admission; the scheduler creates
# Queue "default" (state Open).
VOLCANO_NAMESPACE = "volcano-system"
VOLCANO_SELECTOR = "app in (volcano-scheduler,volcano-controller,volcano-admission)"
VOLCANO_COMPONENTS = (("scheduler", "volcano-scheduler"), ("controllers", "volcano-controller"),
                      ("admission", "volcano-admission"))
# Kueue (kubernetes-sigs/kueue chart and manifests): Deployment kueue-controller-manager in kueue-system,
# labels control-plane=controller-manager (+ app.kubernetes.io/name=kueue from the chart); ConfigMap kueue-manager-config.
KUEUE_NAMESPACE = "kueue-system"
KUEUE_DEPLOYMENT = "kueue-controller-manager"
KUEUE_SELECTOR = "app.kubernetes.io/name=kueue,control-plane=controller-manager"
KUEUE_CONFIG = "kueue-manager-config"
# scheduler-plugins as a second scheduler (kubernetes-sigs/scheduler-plugins chart as-a-second-scheduler):
# Deployment labelled component=scheduler (scheduler-plugins-scheduler) and app=scheduler-plugins-controller.
# KAI scheduler (kai-scheduler/KAI-Scheduler chart): Deployment kai-operator (app=kai-operator) which deploys the
# scheduler and its controllers in the release namespace, conventionally kai-scheduler.
KAI_NAMESPACE = "kai-scheduler"


def gang_install() -> str:
    return "Install a gang scheduler: %s" % components.requirement_hint("gang_scheduling")


GANG_PROBE_CAVEAT = ("functional part not demonstrated: an N-pod gang all Running and a gang larger than capacity with no "
                     "pod Running need the functional probe (probes: true)")
AUTOSCALING_PROBE_CAVEAT = ("functional part not demonstrated: N+1 accelerator pods -> one Pending -> a node added -> Running, "
                            "then scaled back, needs the functional probe (probes: true with autoscaler_node_pool_label)")
HPA_PROBE_CAVEAT = ("functional part not demonstrated: an HPA scaling up when an accelerator metric is above its target and "
                    "back down when it is below needs the functional probe (probes: true)")


def _volcano(ctx) -> Optional[Dict[str, Any]]:
    discovery = ctx.kube.discovery()
    sched_version, sched_res = _served_resources(discovery, "scheduling.volcano.sh")
    batch_version, batch_res = _served_resources(discovery, "batch.volcano.sh")
    if not sched_version and not batch_version:
        return None
    problems: List[str] = []
    fixes: List[str] = []
    if "podgroups" not in sched_res or "queues" not in sched_res:
        problems.append("scheduling.volcano.sh podgroups/queues are not served")
    if "jobs" not in batch_res:
        problems.append("batch.volcano.sh jobs are not served")
    deployments = _find_deployments(ctx, VOLCANO_NAMESPACE, VOLCANO_SELECTOR)
    components = {}
    for component, app in VOLCANO_COMPONENTS:
        deps = [d for d in deployments if ((d.get("metadata") or {}).get("labels") or {}).get("app") == app]
        dep = ([d for d in deps if deployment_ready(d)] or deps or [None])[0]
        components[component] = {"deployment": name_of(dep) if dep else None, "ready": bool(dep and deployment_ready(dep)),
                                 "summary": deployment_summary(dep) if dep else "not found"}
        if dep is None:
            problems.append("no volcano %s Deployment (label app=%s)" % (component, app))
        elif not deployment_ready(dep):
            problems.append("%s is not ready" % deployment_summary(dep))
            fixes.append(_deployment_fix(dep))
    if any(c["deployment"] is None for c in components.values()) or "jobs" not in batch_res:
        fixes.append("reinstall Volcano: %s" % install_hint("volcano"))
    webhooks = _registered_webhooks(ctx, ("batch.volcano.sh", "scheduling.volcano.sh"))
    if not webhooks:
        problems.append("no Volcano admission webhooks registered (volcano-admission registers them at start-up)")
        fixes.append("read volcano-admission's log: kubectl logs -n %s deployment/volcano-admission" % VOLCANO_NAMESPACE)
    queue = None
    if "queues" in sched_res:
        queue = ctx.get("scheduling.volcano.sh", sched_version, "queues", "default", args="-o jsonpath='{.status.state}'",
                        show=lambda q: (q.get("status") or {}).get("state") or "(no state)")
    else:
        ctx.record_discovery("queues not served", group="scheduling.volcano.sh", note="where the default Queue would be")
    state = ((queue or {}).get("status") or {}).get("state", "")
    if queue is None:
        problems.append("the default Queue does not exist (volcano-scheduler creates it)")
        fixes.append("read volcano-scheduler's log: kubectl logs -n %s deployment/volcano-scheduler" % VOLCANO_NAMESPACE)
    elif state != "Open":
        problems.append("the default Queue is %s, not Open" % (state or "without a state"))
        fixes.append("open the default Queue: kubectl describe queues.scheduling.volcano.sh default shows why it is %s"
                     % (state or "without a state"))
    scheduler = next((d for d in deployments if d.get("metadata", {}).get("labels", {}).get("app") == "volcano-scheduler"), None)
    return {"name": "Volcano", "version": image_tag(scheduler) or image_tag(deployments[0] if deployments else None),
            "api": ["scheduling.volcano.sh/%s" % sched_version if sched_version else "",
                    "batch.volcano.sh/%s" % batch_version if batch_version else ""],
            "components": components, "webhooks": len(webhooks), "default_queue": state or None,
            "problems": problems, "fixes": fixes,
            "proof": "CRDs scheduling.volcano.sh/%s and batch.volcano.sh/%s served, volcano-scheduler, volcano-controllers and "
                     "volcano-admission ready, %d admission webhook(s) registered, Queue default Open"
                     % (sched_version, batch_version, len(webhooks))}


def _manager_config(cm: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The Configuration document of Kueue's manager ConfigMap ({} when unset or unreadable)."""
    text = ((cm or {}).get("data") or {}).get("controller_manager_config.yaml", "")
    doc = yaml_doc(text) if text else None
    return doc if isinstance(doc, dict) else {}


def _wait_enabled(config: Dict[str, Any]) -> bool:
    """Whether waitForPodsReady is on: config.kueue.x-k8s.io/v1beta2 (Kueue 0.15+) has no `enable` field, the
    block being set turns it on; v1beta1 needs `enable: true` in it."""
    wait = config.get("waitForPodsReady")
    if not isinstance(wait, dict):
        return False
    if str(config.get("apiVersion", "")).endswith("/v1beta1"):
        return bool(wait.get("enable"))
    return True


def _wait_text(cm: Dict[str, Any]) -> str:
    config = _manager_config(cm)
    wait = config.get("waitForPodsReady")
    if not isinstance(wait, dict):
        return "waitForPodsReady not set (disabled)"
    return "%s waitForPodsReady: %s (%s)" % (config.get("apiVersion", "(no apiVersion)"), ", ".join(
        "%s=%s" % (k, v) for k, v in sorted(wait.items()) if not isinstance(v, dict)), "on" if _wait_enabled(config) else "off")


def _kueue_config(ctx, namespace: str) -> Dict[str, Any]:
    """waitForPodsReady from the kueue-manager-config ConfigMap, when it is readable."""
    try:
        cm = ctx.get("", "v1", "configmaps", KUEUE_CONFIG, namespace, show=_wait_text,
                     args="-o jsonpath='{.data.controller_manager_config\\.yaml}'",
                     on_error=lambda exc: "Forbidden: %s" % exc.message if exc.status == 403 else None)
    except KubeError as exc:
        if exc.status != 403:
            raise
        return {"visible": False}
    config = _manager_config(cm)
    wait = config.get("waitForPodsReady")
    return {"visible": bool(cm), "wait_for_pods_ready": _wait_enabled(config),
            "block_admission": bool(_wait_enabled(config) and wait.get("blockAdmission"))}


def _kueue(ctx) -> Optional[Dict[str, Any]]:
    discovery = ctx.kube.discovery()
    version, resources = _served_resources(discovery, "kueue.x-k8s.io")
    if not version:
        return None
    problems: List[str] = []
    fixes: List[str] = []
    missing = [r for r in ("clusterqueues", "localqueues", "workloads", "resourceflavors") if r not in resources]
    if missing:
        problems.append("kueue.x-k8s.io/%s does not serve %s" % (version, ", ".join(missing)))
    dep = ctx.get("apps", "v1", "deployments", KUEUE_DEPLOYMENT, KUEUE_NAMESPACE, show=deployment_summary)
    if dep is None:
        found = _deployments(ctx, KUEUE_SELECTOR)
        dep = ([d for d in found if deployment_ready(d)] or found or [None])[0]
    if dep is None:
        problems.append("no kueue-controller-manager Deployment (looked in %s and for label %s)" % (KUEUE_NAMESPACE, KUEUE_SELECTOR))
    elif not deployment_ready(dep):
        problems.append("%s is not ready" % deployment_summary(dep))
        fixes.append(_deployment_fix(dep))
    if dep is None or missing:
        fixes.append("reinstall Kueue: %s" % install_hint("kueue"))
    cluster_queues, local_queues = [], []
    if "clusterqueues" in resources:
        cluster_queues = ctx.list("kueue.x-k8s.io", version, "clusterqueues", show=lambda items: "\n".join(
            "%s Active=%s" % (name_of(q), (condition(q, "Active") or {}).get("status", "Unknown")) for q in items)
            or "No resources found")
    if "localqueues" in resources:
        local_queues = ctx.list("kueue.x-k8s.io", version, "localqueues", show=lambda items: "\n".join(
            "%s -> %s" % (name_of(q), (q.get("spec") or {}).get("clusterQueue", "?")) for q in items) or "No resources found")
    active = [name_of(q) for q in cluster_queues if condition_true(q, "Active")]
    if not cluster_queues:
        problems.append("no ClusterQueue exists, so no workload can be admitted")
        fixes.append("create a ResourceFlavor and a ClusterQueue with quota for the accelerators (kueue.x-k8s.io/%s)" % version)
    elif not active:
        problems.append("no ClusterQueue is Active (%s)" % ", ".join(name_of(q) for q in cluster_queues))
        fixes.append("read why ClusterQueue %s is not Active (usually a missing ResourceFlavor): kubectl describe "
                     "clusterqueues.kueue.x-k8s.io %s" % (name_of(cluster_queues[0]), name_of(cluster_queues[0])))
    if not local_queues:
        problems.append("no LocalQueue exists, so no namespace can submit workloads")
        fixes.append("create a LocalQueue pointing at the ClusterQueue in each namespace that submits workloads")
    config = _kueue_config(ctx, (dep or {}).get("metadata", {}).get("namespace") or KUEUE_NAMESPACE)
    webhooks = _registered_webhooks(ctx, ("kueue.x-k8s.io",))
    if not webhooks:
        problems.append("no Kueue admission webhooks registered")
        if dep is not None:
            fixes.append("read kueue-controller-manager's log: kubectl logs -n %s deployment/%s"
                         % (dep["metadata"].get("namespace", KUEUE_NAMESPACE), dep["metadata"]["name"]))
    if config.get("wait_for_pods_ready"):
        mode = "waitForPodsReady enabled%s (all-or-nothing: a workload's pods must all become ready or it is evicted)" % (
            " with blockAdmission" if config.get("block_admission") else "")
    elif config.get("visible"):
        mode = ("waitForPodsReady disabled: Kueue admits each workload as a whole against quota, but physical "
                "all-or-nothing placement needs a waitForPodsReady block (with a timeout) in the Configuration of %s "
                "(config.kueue.x-k8s.io/v1beta1 also needs enable: true in it)" % KUEUE_CONFIG)
    else:
        mode = "waitForPodsReady not visible (ConfigMap %s not readable)" % KUEUE_CONFIG
    return {"name": "Kueue", "version": image_tag(dep), "api": ["kueue.x-k8s.io/%s" % version],
            "controller": name_of(dep) if dep else None, "controller_ready": bool(dep and deployment_ready(dep)),
            "cluster_queues": [name_of(q) for q in cluster_queues], "active_cluster_queues": active,
            "local_queues": [name_of(q) for q in local_queues], "webhooks": len(webhooks), "config": config,
            "problems": problems, "fixes": fixes,
            "proof": "CRDs kueue.x-k8s.io/%s served, %s ready, ClusterQueue(s) %s Active, LocalQueue(s) %s, %d admission "
                     "webhook(s) registered; %s" % (
                         version, name_of(dep) if dep else "-", ", ".join(active) or "-",
                         ", ".join(name_of(q) for q in local_queues) or "-", len(webhooks), mode)}


def _coscheduling(ctx) -> Optional[Dict[str, Any]]:
    discovery = ctx.kube.discovery()
    version, resources = _served_resources(discovery, "scheduling.x-k8s.io")
    if not version or "podgroups" not in resources:
        return None
    problems: List[str] = []
    fixes: List[str] = []
    scheduler = _deployments(ctx, "component=scheduler")
    controller = _deployments(ctx, "app=scheduler-plugins-controller")
    for what, deps in (("second scheduler (label component=scheduler)", scheduler),
                       ("scheduler-plugins controller (label app=scheduler-plugins-controller)", controller)):
        if not deps:
            problems.append("no %s Deployment" % what)
        elif not any(deployment_ready(d) for d in deps):
            problems.append("%s is not ready" % ", ".join(deployment_summary(d) for d in deps))
            fixes.append(_deployment_fix(deps[0]))
    return {"name": "scheduler-plugins coscheduling", "version": image_tag((scheduler or [None])[0]),
            "api": ["scheduling.x-k8s.io/%s" % version], "scheduler": [name_of(d) for d in scheduler],
            "controller": [name_of(d) for d in controller], "problems": problems, "fixes": fixes,
            "proof": "PodGroup CRD scheduling.x-k8s.io/%s served, second scheduler %s and controller %s ready" % (
                version, ", ".join(name_of(d) for d in scheduler), ", ".join(name_of(d) for d in controller))}


def _kai(ctx) -> Optional[Dict[str, Any]]:
    discovery = ctx.kube.discovery()
    version, resources = _served_resources(discovery, "scheduling.run.ai")
    if not version:
        return None
    problems: List[str] = []
    fixes: List[str] = []
    deps = _deployments(ctx, namespace=KAI_NAMESPACE)
    operator = next((d for d in deps if d["metadata"]["name"] == "kai-operator"), None)
    schedulers = [d for d in deps if "scheduler" in d["metadata"]["name"]]
    if not deps:
        problems.append("no KAI Deployments in namespace %s" % KAI_NAMESPACE)
    for dep in deps:
        if not deployment_ready(dep):
            problems.append("%s is not ready" % deployment_summary(dep))
            fixes.append(_deployment_fix(dep))
    if deps and not schedulers:
        problems.append("no KAI scheduler Deployment in %s" % KAI_NAMESPACE)
    return {"name": "KAI scheduler", "version": image_tag(operator or (deps or [None])[0]),
            "api": ["scheduling.run.ai/%s" % version], "deployments": [name_of(d) for d in deps], "problems": problems,
            "fixes": fixes,
            "proof": "scheduling.run.ai/%s served (%s), Deployments %s ready" % (
                version, ", ".join(resources), ", ".join(name_of(d) for d in deps))}


@requirement("gang_scheduling")
def gang_scheduling(ctx):
    """Volcano, Kueue, scheduler-plugins coscheduling or KAI: installed AND operational."""
    discovery = ctx.kube.discovery()
    groups = ("scheduling.volcano.sh", "batch.volcano.sh", "kueue.x-k8s.io", "scheduling.x-k8s.io", "scheduling.run.ai")
    lines = []
    for group in groups:
        version, resources = _served_resources(discovery, group)
        if version:
            lines.append("%s/%s: %s" % (group, version, ", ".join(resources)))
    ctx.record_discovery("\n".join(lines) or "none of these API groups is served",
                         note="the API groups of the gang schedulers: %s" % ", ".join(groups))
    found = [impl for impl in (_volcano(ctx), _kueue(ctx), _coscheduling(ctx), _kai(ctx)) if impl]
    details = {"implementations": [{k: v for k, v in impl.items() if k not in ("proof", "fixes")} for impl in found]}
    if not found:
        return Finding(FAIL, "No gang scheduler found: none of Volcano (scheduling.volcano.sh, batch.volcano.sh), Kueue "
                             "(kueue.x-k8s.io), scheduler-plugins coscheduling (scheduling.x-k8s.io PodGroup) or KAI "
                             "(scheduling.run.ai) is served.",
                       remediation=gang_install() + ".", details=details)
    working = [impl for impl in found if not impl["problems"]]
    if working:
        impl = working[0]
        others = ", ".join("%s%s" % (i["name"], "" if not i["problems"] else " (not operational)") for i in found if i is not impl)
        return Finding(PASS, "%s%s is installed and operational: %s.%s" % (
            impl["name"], " %s" % impl["version"] if impl["version"] else "", impl["proof"],
            " Also found: %s." % others if others else ""), details=details, caveats=[GANG_PROBE_CAVEAT])
    summary = "; ".join("%s%s: %s" % (i["name"], " %s" % i["version"] if i["version"] else "", "; ".join(i["problems"]))
                        for i in found)
    return Finding(FAIL, "A gang scheduler is installed but not operational: %s." % summary,
                   remediation=components.join_fixes([f for i in found for f in i["fixes"]] or [gang_install()]),
                   details=details)


# ---------------------------------------------------------------------------------------------------------------
# cluster_autoscaling
# ---------------------------------------------------------------------------------------------------------------

CA_STATUS_NAMESPACE = "kube-system"
CA_STATUS_CONFIGMAP = "cluster-autoscaler-status"
# The cluster-autoscaler chart names itself "<cloudProvider>-cluster-autoscaler" (kubernetes/autoscaler
# charts/cluster-autoscaler _helpers.tpl) unless nameOverride is set.
CA_PROVIDERS = ("aws", "azure", "gce", "clusterapi", "magnum", "kwok", "oci", "hetzner", "civo", "exoscale")
CA_SELECTOR = "app.kubernetes.io/name in (cluster-autoscaler,%s)" % ",".join("%s-cluster-autoscaler" % p for p in CA_PROVIDERS)
CA_OTHER_SELECTORS = ("app=cluster-autoscaler", "k8s-app=cluster-autoscaler")
CAPI_MIN = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
CAPI_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
CAPI_GPU_TYPE = "capacity.cluster-autoscaler.kubernetes.io/gpu-type"
CAPI_GPU_COUNT = "capacity.cluster-autoscaler.kubernetes.io/gpu-count"
CAPI_LABELS = "capacity.cluster-autoscaler.kubernetes.io/labels"
# Node labels naming the node group a node belongs to (managed node pools, Karpenter).
NODE_GROUP_LABELS = ("eks.amazonaws.com/nodegroup", "alpha.eksctl.io/nodegroup-name", "cloud.google.com/gke-nodepool",
                     "kubernetes.azure.com/agentpool", "agentpool", "karpenter.sh/nodepool",
                     "cluster.x-k8s.io/deployment-name", "node.cluster.x-k8s.io/nodegroup")
CAPI_NODE_ANNOTATIONS = ("cluster.x-k8s.io/owner-name",)
# Karpenter NodePool requirement keys that select accelerator instance types (AWS and Azure providers).
KARPENTER_GPU_KEYS = ("karpenter.k8s.aws/instance-gpu-count", "karpenter.k8s.aws/instance-gpu-name",
                      "karpenter.k8s.aws/instance-gpu-manufacturer", "karpenter.k8s.aws/instance-accelerator-count",
                      "karpenter.k8s.aws/instance-accelerator-name", "karpenter.k8s.aws/instance-accelerator-manufacturer",
                      "karpenter.azure.com/sku-gpu-count", "karpenter.azure.com/sku-gpu-name",
                      "karpenter.azure.com/sku-gpu-manufacturer", "cloud.google.com/gke-accelerator",
                      "nvidia.com/gpu.present", "nvidia.com/gpu.product")
GPU_INSTANCE_FAMILIES = re.compile(r"^(g3|g4dn|g4ad|g5|g5g|g6|g6e|g7e|gr6|p2|p3|p3dn|p4d|p4de|p5|p5e|p5en|p6-b200|inf1|inf2|trn1|trn1n|trn2)$")
GPU_INSTANCE_TYPE = re.compile(r"^((g3|g4dn|g4ad|g5|g5g|g6|g6e|g7e|gr6|p2|p3|p3dn|p4d|p4de|p5|p5e|p5en|inf1|inf2|trn1|trn1n|trn2)\.|"
                               r"standard_n[cdv]|a2-|a3-|a4-|g2-)", re.I)
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "aws.amazon.com/neuron", "google.com/tpu")
ACCEL_NAME = re.compile(r"gpu|nvidia|accel|cuda|a100|h100|h200|b200|l40|l4\b|t4\b|a10g|tpu|neuron|mi300|amd", re.I)

AUTOSCALER_REMEDIATION = (
    "Give the autoscaler a node group with accelerators: cluster-autoscaler with Cluster API: a GPU MachineDeployment "
    "with annotations %s/%s (plus %s=nvidia.com/gpu and %s for scale from zero); cloud providers: a GPU node group/ASG/VMSS "
    "tagged for autoscaler discovery or listed in --nodes; Karpenter: a NodePool whose requirements select GPU instance "
    "types (e.g. karpenter.k8s.aws/instance-gpu-count Gt 0) with a nvidia.com/gpu taint and limits"
    % (CAPI_MIN, CAPI_MAX, CAPI_GPU_TYPE, CAPI_GPU_COUNT))


def autoscaler_fix(kube) -> str:
    """AUTOSCALER_REMEDIATION, plus where the GPU stack of new nodes comes from when no GPU operator runs."""
    if lookups.cluster_policies(kube):
        return AUTOSCALER_REMEDIATION + "; the GPU operator's DaemonSets then prepare each new node"
    return AUTOSCALER_REMEDIATION + "; new nodes get their GPU stack from the NVIDIA GPU operator: " + install_hint("gpu_operator")


def _ca_status(ctx) -> Optional[Dict[str, Any]]:
    cm = ctx.get("", "v1", "configmaps", CA_STATUS_CONFIGMAP, CA_STATUS_NAMESPACE, args="-o jsonpath='{.data.status}'",
                 show=_ca_status_text)
    return None if cm is None else _ca_status_of(cm)


def _ca_status_text(cm: Dict[str, Any]) -> str:
    status = _ca_status_of(cm)
    if not ((cm.get("data") or {}).get("status") or ""):
        return "(no status key)"
    shown = ["autoscalerStatus: %s" % (status["autoscaler_status"] or "?"), "clusterWide.health: %s" % (status["health"] or "?")]
    shown += ["nodeGroup %s health=%s min=%s max=%s target=%s" % (g["name"], g["health"] or "?", g["min"], g["max"], g["target"])
              for g in status["node_groups"]]
    return "\n".join(shown)


def _ca_status_of(cm: Dict[str, Any]) -> Dict[str, Any]:
    """What the cluster-autoscaler-status ConfigMap says (its YAML status, or the pre-1.30 free text)."""
    text = ((cm.get("data") or {}).get("status") or "")
    loaded = yaml_doc(text) if text else None
    parsed: Dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    groups = []
    for group in parsed.get("nodeGroups") or []:
        health = group.get("health") or {}
        groups.append({"name": str(group.get("name", "")), "health": health.get("status", ""),
                       "min": health.get("minSize"), "max": health.get("maxSize"),
                       "target": health.get("cloudProviderTarget")})
    if not parsed and text:  # the pre-1.30 free-text format: "Name: <group>" lines under "NodeGroups:"
        for match in re.finditer(r"^\s*Name:\s*(\S+)", text, re.M):
            groups.append({"name": match.group(1), "health": "", "min": None, "max": None, "target": None})
        running = "Running" if "Cluster-wide:" in text else ""
    else:
        running = str(parsed.get("autoscalerStatus", ""))
    health = ((parsed.get("clusterWide") or {}).get("health") or {}).get("status", "")
    return {"autoscaler_status": running, "health": health, "node_groups": groups}


def _ca_deployments(ctx) -> List[Dict[str, Any]]:
    found = _deployments(ctx, CA_SELECTOR)
    return found


def _ca_deployments_fallback(ctx) -> List[Dict[str, Any]]:
    for selector in CA_OTHER_SELECTORS:
        found = _deployments(ctx, selector, CA_STATUS_NAMESPACE)
        if found:
            return found
    return []


def _ca_args(dep: Dict[str, Any]) -> List[str]:
    args = []
    for container in ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        args.extend(container.get("command") or [])
        args.extend(container.get("args") or [])
    return args


def _karpenter_gpu(pool: Dict[str, Any]) -> List[str]:
    """Why a Karpenter NodePool provisions accelerator nodes (empty when it does not)."""
    spec = ((pool.get("spec") or {}).get("template") or {}).get("spec") or {}
    reasons = []
    for req in spec.get("requirements") or []:
        key, op, values = req.get("key", ""), req.get("operator", ""), [str(v) for v in req.get("values") or []]
        if op in ("DoesNotExist", "NotIn", "Lt"):
            continue
        if key in KARPENTER_GPU_KEYS and not (op == "In" and values and all(v == "0" for v in values)):
            reasons.append("requirement %s %s %s" % (key, op, values))
        elif key == "karpenter.k8s.aws/instance-family" and any(GPU_INSTANCE_FAMILIES.match(v) for v in values):
            reasons.append("requirement %s In %s" % (key, values))
        elif key == "node.kubernetes.io/instance-type" and any(GPU_INSTANCE_TYPE.match(v) for v in values):
            reasons.append("requirement %s In %s" % (key, values))
    for taint in spec.get("taints") or []:
        if taint.get("key") in GPU_RESOURCES:
            reasons.append("taint %s:%s" % (taint.get("key"), taint.get("effect")))
    limits = (pool.get("spec") or {}).get("limits") or {}
    for resource in GPU_RESOURCES:
        if resource in limits:
            reasons.append("limit %s=%s" % (resource, limits[resource]))
    return reasons


def _karpenter(ctx, accel_groups: Dict[str, List[str]]) -> Optional[Dict[str, Any]]:
    discovery = ctx.kube.discovery()
    version, resources = _served_resources(discovery, "karpenter.sh")
    if not version or "nodepools" not in resources:
        return None

    def reasons_of(pool):
        reasons = _karpenter_gpu(pool)
        if pool["metadata"]["name"] in accel_groups.get("karpenter.sh/nodepool", []):
            reasons.append("accelerator node(s) carry karpenter.sh/nodepool=%s" % pool["metadata"]["name"])
        return reasons

    pools = ctx.list("karpenter.sh", version, "nodepools", args="-o yaml", show=lambda items: "\n".join(
        "%s %s%s" % (p["metadata"]["name"], conditions_line(p), "; accelerators: " + "; ".join(reasons_of(p)) if reasons_of(p) else "")
        for p in items) or "No resources found",
        note="each NodePool's conditions, and the requirements, taints and limits that select accelerators")
    gpu_pools, problems = [], []
    for pool in pools:
        reasons = reasons_of(pool)
        if reasons:
            gpu_pools.append({"name": pool["metadata"]["name"], "ready": condition_true(pool, "Ready"), "why": reasons})
    deps = _deployments(ctx, "app.kubernetes.io/name=karpenter")
    managed = not deps
    fixes: List[str] = []
    if deps and not any(deployment_ready(d) for d in deps):
        problems.append("%s is not ready" % ", ".join(deployment_summary(d) for d in deps))
        fixes.append(_deployment_fix(deps[0]))
    if not pools:
        problems.append("Karpenter is installed but has no NodePool")
        fixes.append("create a NodePool for accelerator instance types (with its EC2NodeClass/AKSNodeClass)")
    ready_gpu = [p for p in gpu_pools if p["ready"]]
    if gpu_pools and not ready_gpu:
        problems.append("accelerator NodePool(s) %s are not Ready" % ", ".join(p["name"] for p in gpu_pools))
        fixes.append("read why NodePool %s is not Ready: kubectl describe nodepools.karpenter.sh %s"
                     % (gpu_pools[0]["name"], gpu_pools[0]["name"]))
    return {"name": "Karpenter", "version": image_tag((deps or [None])[0]),
            "controller": ("%s (managed by the provider: no in-cluster controller, NodePools report their own conditions)"
                           % "control plane" if managed else ", ".join(deployment_summary(d) for d in deps)),
            "node_groups": [p["metadata"]["name"] for p in pools], "accelerator_groups": ready_gpu or gpu_pools,
            "problems": problems, "fixes": fixes}


def _capi_group(md: Dict[str, Any], accel_groups: Dict[str, List[str]]) -> Tuple[str, Optional[Dict[str, Any]]]:
    """(evidence line, autoscaled node group or None) of one MachineDeployment."""
    ann = (md.get("metadata") or {}).get("annotations") or {}
    if CAPI_MIN not in ann or CAPI_MAX not in ann:
        return "%s (no autoscaler min/max annotations)" % name_of(md), None
    reasons = []
    if ann.get(CAPI_GPU_TYPE):
        reasons.append("%s=%s" % (CAPI_GPU_TYPE, ann[CAPI_GPU_TYPE]))
    if ann.get(CAPI_GPU_COUNT, "0") not in ("", "0"):
        reasons.append("%s=%s" % (CAPI_GPU_COUNT, ann[CAPI_GPU_COUNT]))
    if ACCEL_NAME.search(ann.get(CAPI_LABELS, "")):
        reasons.append("%s=%s" % (CAPI_LABELS, ann[CAPI_LABELS]))
    template_labels = (((md.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    for key, value in sorted(template_labels.items()):
        if key in ("cluster-api/accelerator", "nvidia.com/gpu.present") or key.startswith("nvidia.com/gpu"):
            reasons.append("template label %s=%s" % (key, value))
    name = md["metadata"]["name"]
    owners = accel_groups.get("cluster.x-k8s.io/owner-name", []) + accel_groups.get("cluster.x-k8s.io/deployment-name", [])
    if any(owner == name or owner.startswith(name + "-") for owner in owners):
        reasons.append("accelerator node(s) belong to it")
    replicas = (md.get("spec") or {}).get("replicas")
    line = "%s min=%s max=%s replicas=%s%s" % (name_of(md), ann[CAPI_MIN], ann[CAPI_MAX], replicas,
                                               "; accelerators: " + "; ".join(reasons) if reasons else "")
    return line, {"name": name_of(md), "min": ann[CAPI_MIN], "max": ann[CAPI_MAX], "why": reasons, "replicas": replicas}


def _capi(ctx, accel_groups: Dict[str, List[str]]) -> Optional[Dict[str, Any]]:
    discovery = ctx.kube.discovery()
    version, resources = _served_resources(discovery, "cluster.x-k8s.io")
    if not version or "machinedeployments" not in resources:
        return None
    mds = ctx.list("cluster.x-k8s.io", version, "machinedeployments", args="-o yaml",
                   show=lambda items: "\n".join(_capi_group(md, accel_groups)[0] for md in items) or "No resources found",
                   note="the cluster-autoscaler min/max size and GPU capacity annotations, and the template labels")
    autoscaled = [group for group in (_capi_group(md, accel_groups)[1] for md in mds) if group]
    if not autoscaled:
        return None
    return {"name": "Cluster API node groups", "node_groups": [g["name"] for g in autoscaled],
            "accelerator_groups": [g for g in autoscaled if g["why"]], "problems": [], "fixes": []}


def _accelerator_node_groups(ctx) -> Tuple[List[Any], Dict[str, List[str]]]:
    """Accelerator nodes (shared lookup) and the node-group labels of the first one (one GET)."""
    nodes = lookups.accelerator_nodes(ctx.kube)
    lookups.record_accelerator_nodes(ctx, nodes, lambda found: "\n".join(
        "%s %s %s x%s" % (n.name, n.vendor, n.product or "-", n.count) for n in found))
    if not nodes:
        return nodes, {}
    none = "no node-group label or annotation"
    node = ctx.get("", "v1", "nodes", nodes[0].name, args="-o jsonpath='{.metadata.labels}{.metadata.annotations}'",
                   show=lambda found: ", ".join("%s=%s" % (k, ",".join(v)) for k, v in sorted(_node_groups(found).items())) or none,
                   missing=none, note="the labels and annotations naming a node group: %s" % ", ".join(NODE_GROUP_LABELS + CAPI_NODE_ANNOTATIONS))
    return nodes, _node_groups(node or {})


def _node_groups(node: Dict[str, Any]) -> Dict[str, List[str]]:
    """label/annotation -> [node group] of the node-group labels and annotations a node carries."""
    groups: Dict[str, List[str]] = {}
    meta = node.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    for key in NODE_GROUP_LABELS:
        if labels.get(key):
            groups.setdefault(key, []).append(labels[key])
    for key in CAPI_NODE_ANNOTATIONS:
        if annotations.get(key):
            groups.setdefault(key, []).append(annotations[key])
    return groups


def _cluster_autoscaler(ctx, status, deployments, accel_nodes, accel_groups, capi) -> Dict[str, Any]:
    problems: List[str] = []
    fixes: List[str] = []
    if deployments and not any(deployment_ready(d) for d in deployments):
        problems.append("%s is not ready" % ", ".join(deployment_summary(d) for d in deployments))
        fixes.append(_deployment_fix(deployments[0]))
    unhealthy = bool(status and status.get("autoscaler_status") and status["autoscaler_status"] != "Running")
    if unhealthy:
        problems.append("cluster-autoscaler-status says autoscalerStatus=%s" % status["autoscaler_status"])
    if status and status.get("health") == "Unhealthy":
        problems.append("cluster-autoscaler-status says the cluster is Unhealthy")
        unhealthy = True
    if unhealthy:
        dep = (deployments or [None])[0]
        fixes.append("read the autoscaler's status and log: kubectl get configmap -n %s %s -o yaml%s" % (
            CA_STATUS_NAMESPACE, CA_STATUS_CONFIGMAP, "; kubectl logs -n %s deployment/%s" % (
                dep["metadata"].get("namespace", ""), dep["metadata"]["name"]) if dep else " (the provider runs it)"))
    node_groups = (status or {}).get("node_groups") or []
    args = [a for d in deployments for a in _ca_args(d)]
    static = [a.split("=", 1)[1] if "=" in a else "" for a in args if a.startswith("--nodes")]
    names = [g["name"] for g in node_groups] + [s.split(":")[-1] for s in static if s]
    labels_of_accel = [v for values in accel_groups.values() for v in values]
    capi_gpu = [g["name"] for g in (capi or {}).get("accelerator_groups", [])]
    accel = []
    for name in dict.fromkeys(names):
        why = []
        short = name.rsplit("/", 1)[-1]
        if any(v and (v == short or v in name or v.startswith(short + "-")) for v in labels_of_accel):
            why.append("accelerator nodes belong to it")
        if any(name == g or name.endswith("/" + g) for g in capi_gpu):
            why.append("its MachineDeployment declares GPUs")
        products = [n.product for n in accel_nodes if n.product]
        if not why and (ACCEL_NAME.search(short) or any(p and p.lower() in short.lower() for p in products)):
            why.append("named for accelerators")
        if why:
            accel.append({"name": name, "why": why})
    provider = next((a.split("=", 1)[1] for a in args if a.startswith("--cloud-provider=")), "")
    where = (", ".join(deployment_summary(d) for d in deployments) if deployments
             else "no in-cluster Deployment: managed by the provider (status ConfigMap %s/%s)" % (CA_STATUS_NAMESPACE, CA_STATUS_CONFIGMAP))
    return {"name": "cluster-autoscaler", "version": image_tag((deployments or [None])[0]), "cloud_provider": provider,
            "controller": where, "node_groups": list(dict.fromkeys(names)), "accelerator_groups": accel,
            "problems": problems, "fixes": fixes}


@requirement("cluster_autoscaling")
def cluster_autoscaling(ctx):
    """A node-group autoscaler (cluster-autoscaler, Karpenter, Cluster API) with accelerator node groups, else N/A."""
    status = _ca_status(ctx)
    deployments = _ca_deployments(ctx)
    if status is not None and not deployments:
        deployments = _ca_deployments_fallback(ctx)
    discovery = ctx.kube.discovery()
    candidates = status is not None or deployments or any(
        discovery.served(group, version, plural) for group, plural in (("karpenter.sh", "nodepools"),
                                                                       ("cluster.x-k8s.io", "machinedeployments"))
        for version in discovery.versions(group))
    accel_nodes, accel_groups = _accelerator_node_groups(ctx) if candidates else ([], {})
    capi = _capi(ctx, accel_groups)
    karpenter = _karpenter(ctx, accel_groups)
    found = []
    if status is not None or deployments:
        found.append(_cluster_autoscaler(ctx, status, deployments, accel_nodes, accel_groups, capi))
    if karpenter:
        found.append(karpenter)
    if capi and not any(f["name"] == "cluster-autoscaler" for f in found):
        capi["problems"].append("MachineDeployments carry autoscaler annotations but no cluster-autoscaler runs "
                                "(no %s/%s, no Deployment labelled %s)" % (CA_STATUS_NAMESPACE, CA_STATUS_CONFIGMAP, CA_SELECTOR))
        capi["fixes"].append("run cluster-autoscaler with --cloud-provider=clusterapi against the management cluster "
                             "that owns these MachineDeployments")
        found.append(capi)
    fixes = [f for a in found for f in a.pop("fixes", [])]
    details = {"autoscalers": found, "accelerator_nodes": [n.name for n in accel_nodes],
               "accelerator_node_groups": accel_groups}
    if not found:
        return Finding(NOT_APPLICABLE,
                       "The platform does not provide a cluster autoscaler or an equivalent mechanism: no "
                       "cluster-autoscaler (no %s/%s status ConfigMap, no Deployment labelled "
                       "app.kubernetes.io/name=[<provider>-]cluster-autoscaler), no Karpenter (karpenter.sh NodePools "
                       "not served), no Cluster API MachineDeployments with autoscaler annotations and no managed "
                       "autoscaler status. Nodes are provisioned outside Kubernetes (e.g. bare metal), so scaling "
                       "accelerator node groups on pending pods does not apply." % (
                           CA_STATUS_NAMESPACE, CA_STATUS_CONFIGMAP),
                       details=details)
    broken = [f for f in found if f["problems"]]
    if broken:
        return Finding(FAIL, "A node autoscaler is present but not working: %s." % "; ".join(
            "%s: %s" % (f["name"], "; ".join(f["problems"])) for f in broken),
            remediation=components.join_fixes(fixes) + (
                "" if any(f["accelerator_groups"] for f in found) else
                " Then make sure it manages an accelerator node group. " + autoscaler_fix(ctx.kube) + "."),
            details=details)
    with_accel = [f for f in found if f["accelerator_groups"]]
    if with_accel:
        text = "; ".join("%s%s (%s) scales accelerator node group(s) %s" % (
            f["name"], " %s" % f["version"] if f.get("version") else "", f.get("controller", "ready"),
            ", ".join("%s [%s]" % (g["name"], "; ".join(g["why"])) for g in f["accelerator_groups"])) for f in with_accel)
        return Finding(PASS, "%s." % text, details=details, caveats=[AUTOSCALING_PROBE_CAVEAT])
    groups = "; ".join("%s: %s" % (f["name"], ", ".join(f["node_groups"]) or "no node groups reported") for f in found)
    if accel_nodes and not any(accel_groups.values()):
        return Finding(UNKNOWN, "A node autoscaler runs (%s), but nothing links its node groups to the accelerator nodes "
                                "(%s carry no node-group label, and no group declares accelerators). Check by hand "
                                "that a node group containing %s is autoscaled (kubectl -n %s get configmap %s -o yaml), "
                                "or run the upstream TestAcceleratorClusterAutoscaling with -autoscaler-node-pool-label." % (
                                    groups, ", ".join(n.name for n in accel_nodes[:3]), accel_nodes[0].product or "GPUs",
                                    CA_STATUS_NAMESPACE, CA_STATUS_CONFIGMAP),
                       details=details)
    return Finding(FAIL, "A node autoscaler runs but none of its node groups carries accelerators, so it cannot scale "
                         "accelerator node groups on pending accelerator pods (%s)." % groups,
                   remediation=autoscaler_fix(ctx.kube) + ".", details=details)


# ---------------------------------------------------------------------------------------------------------------
# pod_autoscaling
# ---------------------------------------------------------------------------------------------------------------

APISERVICES = (("metrics", "v1beta1.metrics.k8s.io"), ("custom", "v1beta1.custom.metrics.k8s.io"),
               ("external", "v1beta1.external.metrics.k8s.io"))
CUSTOM_METRICS = "/apis/custom.metrics.k8s.io/v1beta1"
# Accelerator metrics an HPA can use: DCGM exporter names (NVIDIA), renamed adapter series, AMD/Intel/Neuron exporters.
ACCEL_METRIC = re.compile(r"^DCGM_FI_|gpu|accelerator|neuron|habana|tpu_|amd_", re.I)
PREFERRED_METRICS = ("DCGM_FI_DEV_GPU_UTIL", "gpu_utilization", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_FB_USED")
ADAPTER_RULE = (
    "give prometheus-adapter a rule (in its values' rules.custom) that exposes an accelerator metric, such as seriesQuery "
    "'DCGM_FI_DEV_GPU_UTIL{exported_namespace!=\"\",exported_pod!=\"\"}' with resources.overrides "
    "exported_namespace->namespace, exported_pod->pod and metricsQuery "
    "'avg(max_over_time(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)'; dcgm-exporter must be scraped by "
    "Prometheus (ServiceMonitor, GPU operator dcgmExporter.serviceMonitor.enabled=true)")


def adapter_install() -> str:
    """Install Prometheus and prometheus-adapter, then the accelerator-metric rule."""
    return ("Serve the custom metrics API with Prometheus and prometheus-adapter: %s; and %s; then %s"
            % (install_hint("kube_prometheus_stack"), install_hint("prometheus_adapter"), ADAPTER_RULE))


def _metric_rank(name: str) -> Tuple[int, str]:
    metric = name.split("/", 1)[-1]
    return (PREFERRED_METRICS.index(metric) if metric in PREFERRED_METRICS else len(PREFERRED_METRICS), name)


def _hpa_metrics(hpa: Dict[str, Any]) -> List[Tuple[str, str, Optional[Dict[str, Any]]]]:
    """(type, metric name, described object) of each Pods/Object metric of an autoscaling/v2 HPA."""
    found = []
    for metric in (hpa.get("spec") or {}).get("metrics") or []:
        kind = metric.get("type")
        if kind == "Pods":
            found.append(("Pods", ((metric.get("pods") or {}).get("metric") or {}).get("name", ""), None))
        elif kind == "Object":
            obj = metric.get("object") or {}
            found.append(("Object", (obj.get("metric") or {}).get("name", ""), obj.get("describedObject") or {}))
    return found


def _metric_path(namespace: str, kind: str, metric: str, described: Optional[Dict[str, Any]]) -> str:
    ns = quote(namespace, safe="")
    if kind == "Object" and described:
        if described.get("kind") == "Namespace":
            return "%s/namespaces/%s/metrics/%s" % (CUSTOM_METRICS, quote(described.get("name") or namespace, safe=""), metric)
        plural = (described.get("kind") or "").lower() + "s"
        return "%s/namespaces/%s/%s/%s/%s" % (CUSTOM_METRICS, ns, plural, quote(described.get("name", "*"), safe="*"), metric)
    return "%s/namespaces/%s/pods/*/%s" % (CUSTOM_METRICS, ns, metric)


def _metrics_apiservices(apiservices: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """name -> APIService, of the metrics APIs' APIServices."""
    return {svc["metadata"]["name"]: svc for svc in apiservices if svc["metadata"]["name"] in dict(APISERVICES).values()}


def _apiservice_line(name: str, svc: Optional[Dict[str, Any]]) -> str:
    if not svc:
        return "%s NotFound" % name
    backend = (svc.get("spec") or {}).get("service") or {}
    return "%s %s %s" % (name, "%s/%s" % (backend.get("namespace"), backend.get("name")) if backend else "Local",
                         conditions_line(svc))


def _metric_names(resource_list: Dict[str, Any]) -> List[str]:
    return sorted({r.get("name", "") for r in resource_list.get("resources") or [] if r.get("name")})


def _accelerator_metrics(names: List[str]) -> List[str]:
    return sorted((n for n in names if ACCEL_METRIC.search(n.split("/", 1)[-1])), key=_metric_rank)


def _metric_values(values: Dict[str, Any]) -> List[str]:
    """The first values of a MetricValueList, one line each."""
    shown = []
    for item in (values.get("items") or [])[:5]:
        described = item.get("describedObject") or {}
        shown.append("%s %s=%s at %s" % (name_of({"metadata": {"namespace": described.get("namespace"), "name": described.get("name")}}),
                                         item.get("metricName"), item.get("value"), item.get("timestamp")))
    return shown


def _metric_values_text(values: Dict[str, Any]) -> str:
    return "\n".join(_metric_values(values)) or "empty MetricValueList"


@requirement("pod_autoscaling")
def pod_autoscaling(ctx):
    """HPA v2 served, metrics APIs Available, an accelerator metric served through custom.metrics.k8s.io."""
    kube = ctx.kube
    discovery = kube.discovery()
    hpa_versions = [v for v in discovery.versions("autoscaling") if discovery.served("autoscaling", v, "horizontalpodautoscalers")]
    ctx.record_discovery("horizontalpodautoscalers served in %s" % (
        ", ".join("autoscaling/%s" % v for v in hpa_versions) or "no version"), group="autoscaling")
    details: Dict[str, Any] = {"hpa_versions": hpa_versions}
    if "v2" not in hpa_versions:
        return Finding(FAIL, "autoscaling/v2 HorizontalPodAutoscaler is not served, so no HPA can scale on custom metrics. "
                             "HPA is core Kubernetes (autoscaling/v2 GA since 1.23); a conformant cluster serves it, so this "
                             "is not a not-applicable case.",
                       remediation="Serve autoscaling/v2 (check --runtime-config of kube-apiserver; upgrade to a supported "
                                   "Kubernetes version).", details=details)
    services = _metrics_apiservices(ctx.list("apiregistration.k8s.io", "v1", "apiservices", show=lambda items: "\n".join(
        _apiservice_line(name, _metrics_apiservices(items).get(name)) for _k, name in APISERVICES),
        note="the APIServices of the metrics APIs: %s" % ", ".join(name for _k, name in APISERVICES)))
    available = {key: bool(services.get(name) and condition_true(services[name], "Available")) for key, name in APISERVICES}
    details["apiservices"] = available
    metrics_note = ("metrics.k8s.io is Available (resource metrics for CPU/memory HPAs)" if available["metrics"] else
                    "metrics.k8s.io is not Available, so CPU/memory HPAs do not work (install metrics-server; RKE2 ships "
                    "rke2-metrics-server)")
    if not available["custom"]:
        svc = services.get("v1beta1.custom.metrics.k8s.io")
        backend = ((svc or {}).get("spec") or {}).get("service") or {}
        if svc and backend:
            fix = ("Read why APIService v1beta1.custom.metrics.k8s.io is not Available: kubectl describe apiservice "
                   "v1beta1.custom.metrics.k8s.io; its Service %s/%s needs ready pods: kubectl get endpointslices -n %s -l "
                   "kubernetes.io/service-name=%s" % (backend.get("namespace"), backend.get("name"), backend.get("namespace"),
                                                      backend.get("name")))
        else:
            fix = adapter_install()
        return Finding(FAIL, "The custom metrics API is not available (APIService v1beta1.custom.metrics.k8s.io %s), so an HPA "
                             "cannot scale accelerator pods on AI metrics; %s." % (
                                 conditions_line(svc) if svc else "does not exist", metrics_note),
                       remediation=fix + ".", details=details)
    resource_list = ctx.raw(CUSTOM_METRICS, show=lambda body: "%d metric resources; accelerator metrics: %s" % (
        len(_metric_names(body)), ", ".join(_accelerator_metrics(_metric_names(body))) or "none"))
    names = _metric_names(resource_list)
    accel = _accelerator_metrics(names)
    details["accelerator_metrics"] = accel
    if not accel:
        return Finding(FAIL, "The custom metrics API is available but serves no accelerator metric (%d metrics, none like "
                             "DCGM_FI_DEV_GPU_UTIL or gpu_utilization), so an HPA cannot scale accelerator pods on GPU "
                             "utilization; %s." % (len(names), metrics_note),
                       remediation=ADAPTER_RULE[0].upper() + ADAPTER_RULE[1:] + ".", details=details)
    accel_metric_names = {n.split("/", 1)[-1] for n in accel}

    def users_of(hpas):
        return [(hpa, kind, metric, described) for hpa in hpas for kind, metric, described in _hpa_metrics(hpa)
                if metric in accel_metric_names]

    hpas = ctx.list("autoscaling", "v2", "horizontalpodautoscalers", args="-o yaml", show=lambda items: "%d HPA(s); on accelerator metrics: %s" % (
        len(items), "; ".join("%s %s metric %s ScalingActive=%s" % (
            name_of(h), k, m, (condition(h, "ScalingActive") or {}).get("status", "Unknown")) for h, k, m, _d in users_of(items))
        or "none"), note="HPAs whose Pods or Object metrics are the accelerator metrics above, and their ScalingActive condition")
    users = users_of(hpas)
    details["hpas"] = [{"hpa": name_of(h), "type": k, "metric": m, "scaling_active": condition_true(h, "ScalingActive")}
                       for h, k, m, _d in users]
    namespace = ctx.options.custom_metrics_namespace
    if users:
        hpa, kind, metric, described = users[0]
        target = (hpa["metadata"]["namespace"], kind, metric, described)
    elif namespace:
        target = (namespace, "Pods", accel[0].split("/", 1)[-1], None)
    else:
        return Finding(PASS, "Accelerator metric(s) %s are served through the custom metrics API (APIService "
                             "v1beta1.custom.metrics.k8s.io Available; the adapter lists a metric only when its series "
                             "exist); %s. No HPA uses them yet, so their values were not read (set "
                             "custom_metrics_namespace (play variable ai_conformance_custom_metrics_namespace) to read one)." % (
                                 ", ".join(accel[:4]), metrics_note), details=details, caveats=[HPA_PROBE_CAVEAT])
    path = _metric_path(*target)
    try:
        values = ctx.raw(path, show=_metric_values_text, on_error=lambda exc: "%s %s" % (exc.status, exc.message or exc.reason)
                         if exc.status in (404, 503) else None)
    except KubeError as exc:
        if exc.status not in (404, 503):
            raise
        return Finding(FAIL, "The custom metrics API lists %s but returns no value for it in namespace %s (%s %s), so the "
                             "HPA there cannot compute replicas; %s." % (
                                 target[2], target[0], exc.status, exc.message or exc.reason, metrics_note),
                       remediation="Check that the adapter rule maps the series' namespace/pod labels (for DCGM through "
                                   "Prometheus: exported_namespace/exported_pod) and that the workload's pods hold GPUs. "
                                   + ADAPTER_RULE[0].upper() + ADAPTER_RULE[1:] + ".", details=details)
    items = values.get("items") or []
    shown = _metric_values(values)
    details["metric_read"] = {"path": path, "values": len(items)}
    if not items:
        return Finding(FAIL, "The custom metrics API lists %s but returns an empty value list in namespace %s; %s." % (
            target[2], target[0], metrics_note), remediation=ADAPTER_RULE[0].upper() + ADAPTER_RULE[1:] + ".", details=details)
    hpa_text = ""
    if users:
        hpa = users[0][0]
        hpa_text = " HPA %s scales on it (%s metric, ScalingActive=%s, %s/%s replicas)." % (
            name_of(hpa), users[0][1], (condition(hpa, "ScalingActive") or {}).get("status", "Unknown"),
            (hpa.get("status") or {}).get("currentReplicas", "?"), (hpa.get("spec") or {}).get("maxReplicas", "?"))
    return Finding(PASS, "autoscaling/v2 served; custom metrics API Available and serving accelerator metric %s with %d "
                         "value(s) in namespace %s (%s).%s %s." % (
                             target[2], len(items), target[0], shown[0], hpa_text, metrics_note[0].upper() + metrics_note[1:]),
                   details=details, caveats=[HPA_PROBE_CAVEAT])
