# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the scheduling section.

gang_scheduling drives Kueue when its queues are served, else Volcano.

With Kueue, the official test's semantics (TestGangScheduling): a plain ``batch/v1`` Job carrying the queue label,
parallelism 2, reaches Complete; a Job whose parallelism (1000) needs more CPU than its ClusterQueue's quota has no
pod Running or bound for the whole negative window. The probe brings its own LocalQueue on the ClusterQueue the
check found Active, so it needs no namespace of the site's.

With Volcano, the RKE2 demonstration's semantics: a ``batch.volcano.sh`` Job (schedulerName volcano, queue
``default``) whose minAvailable fits reaches Running or Completed; a Job whose minAvailable pods together need more
than the nodes' whole allocatable, though each would fit the freest node alone, has no pod scheduled (PodScheduled,
spec.nodeName) and its PodGroup stays Pending or Inqueue for the whole negative window. Each oversized pod asks for
what the freest node has free of nvidia.com/gpu (allocatable minus the requests of the pods bound there) when any
is free, else of CPU, so it shows gang semantics on any cluster: without them, some of its pods would run. Sized
against allocatable, not free, the gang cannot come to fit while it waits, whatever other pods (other probes') end.

pod_autoscaling: an ``autoscaling/v2`` HPA scales a Deployment of pause pods, each holding one nvidia.com/gpu, on an
accelerator metric of those pods read through the custom metrics API (an HPA reads custom metrics of its own namespace
only): ScalingActive with a value, up when its target is below the value, back down when it is above.

cluster_autoscaling (TestAcceleratorClusterAutoscaling), only with ``autoscaler_node_pool_label`` (key=value naming the
accelerator node pool; without it SKIPPED): the pool's Ready nodes stay the same for a while (its baseline); pause pods
selecting the pool, each holding one of the accelerator resource its nodes advertise (else CPU, sized to the freest
node), fill its free capacity (allocatable minus the requests of the pods bound there) plus one; that one is
Unschedulable (Insufficient <resource>), a new Ready node joins the pool and runs it; once the pods are deleted the pool
is back at its baseline nodes and stays there. Each wait is bounded by the official test's and by probe_timeout: a step
that does not happen in the official time FAILs naming it, one that probe_timeout cut short is an ERROR (undecided).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from decimal import Decimal
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils import lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import (
    DEPLOYMENT_COUNTS, Predicate, WaitTimeout, condition_is, deployment_available, describe_state, job_complete, pod_phase,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import condition, condition_true, name_of, parse_quantity, table
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import ALL_DEVICES, PLUGIN_POOL, pods, probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import image
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import ERROR, FAIL, PASS, SKIPPED, UNKNOWN, Finding

KUEUE = "kueue.x-k8s.io"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
POSITIVE_PARALLELISM = 2
NEGATIVE_PARALLELISM = 1000  # the official test's
POD_CPU_MILLIS = 10
POSITIVE_TIMEOUT = 120.0  # the official test's

VOLCANO_BATCH = "batch.volcano.sh"
VOLCANO_SCHEDULING = "scheduling.volcano.sh"
VOLCANO_QUEUE = "default"
VOLCANO_JOB_LABEL = "volcano.sh/job-name"
GPU = "nvidia.com/gpu"
GPU_TOLERATIONS = [{"key": GPU, "operator": "Exists"}]  # the taint GPU nodes usually carry: the probe's pods may go there
STARTED_PHASES = ("Running", "Completing", "Completed")
WAITING_GROUP_PHASES = ("", "Pending", "Inqueue")  # "": no status written yet


def _millicores(quantity: Any) -> int:
    text = str(quantity or "0")
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def _cpu_quota(cluster_queue: Dict[str, Any]) -> int:
    """The ClusterQueue's nominal CPU quota (millicores, every flavor summed)."""
    return sum(_millicores(r.get("nominalQuota")) for group in (cluster_queue.get("spec") or {}).get("resourceGroups") or []
               for flavor in group.get("flavors") or [] for r in flavor.get("resources") or [] if r.get("name") == "cpu")


def _admits_every_namespace(cluster_queue: Dict[str, Any]) -> bool:
    selector = (cluster_queue.get("spec") or {}).get("namespaceSelector")
    return selector == {}


def _job(name: str, parallelism: int, cpu_millis: int, queue: str, busybox: str) -> Dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {QUEUE_LABEL: queue}},
            "spec": {"parallelism": parallelism, "completions": parallelism, "suspend": True, "backoffLimit": 0,
                     "template": {"spec": {
                         "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "gang", "image": busybox, "command": ["sh", "-c", "sleep 2"],
                                         "resources": {"requests": {"cpu": "%dm" % cpu_millis, "memory": "16Mi"},
                                                       "limits": {"cpu": "%dm" % cpu_millis, "memory": "16Mi"}}}]}}}}


def _name(obj: Dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _running_or_bound(pods: List[Dict[str, Any]]) -> List[str]:
    return [name_of(p) for p in pods if (p.get("status") or {}).get("phase") == "Running" or (p.get("spec") or {}).get("nodeName")
            or condition_true(p, "PodScheduled")]


def _kueue_queue(ctx) -> Tuple[Optional[Dict[str, Any]], str]:
    """An Active ClusterQueue admitting every namespace with CPU quota, or why there is none."""
    version = ctx.kube.discovery().serving_version(KUEUE, "clusterqueues")

    def show(items):
        return "\n".join("%s namespaceSelector=%s cpu=%dm Active=%s" % (
            name_of(q), (q.get("spec") or {}).get("namespaceSelector"), _cpu_quota(q), condition_is("Active")(q))
            for q in items) or "No resources found"
    queues = ctx.list(KUEUE, version, "clusterqueues", show=show, note="a ClusterQueue for the probe's own LocalQueue")
    usable = [q for q in queues if condition_is("Active")(q) and _admits_every_namespace(q) and _cpu_quota(q) > 0]
    if not usable:
        return None, ("no Active ClusterQueue with namespaceSelector {} and a cpu quota: the probe's Jobs would have no "
                      "queue to be admitted through")
    return max(usable, key=_cpu_quota), ""


def _kueue_gang(ctx) -> Finding:
    cluster_queue, why = _kueue_queue(ctx)
    if cluster_queue is None:
        return Finding(UNKNOWN, why)
    version = ctx.kube.discovery().serving_version(KUEUE, "localqueues")
    quota = _cpu_quota(cluster_queue)
    local = ctx.create(KUEUE, version, "localqueues", {
        "apiVersion": "%s/%s" % (KUEUE, version), "kind": "LocalQueue", "metadata": {"name": "gang-probe"},
        "spec": {"clusterQueue": _name(cluster_queue)}}, note="the probe's own queue on ClusterQueue %s" % _name(cluster_queue))
    ctx.wait_for(KUEUE, version, "localqueues", _name(local), condition_is("Active"), timeout=60)
    busybox = image("busybox", ctx.options.probe_image_registry)

    positive = ctx.create("batch", "v1", "jobs", _job("gang-fits", POSITIVE_PARALLELISM, POD_CPU_MILLIS, _name(local), busybox),
                          note="a gang that fits: %d pods of %dm CPU" % (POSITIVE_PARALLELISM, POD_CPU_MILLIS))
    ctx.wait_for("batch", "v1", "jobs", _name(positive), job_complete, timeout=min(POSITIVE_TIMEOUT, ctx.remaining()), interval=0.5)

    per_pod = quota // NEGATIVE_PARALLELISM + 1  # 1000 of them need more than the whole quota
    negative = ctx.create("batch", "v1", "jobs", _job("gang-too-big", NEGATIVE_PARALLELISM, per_pod, _name(local), busybox),
                          note="a gang larger than the quota: %d pods of %dm CPU = %dm > %dm" % (
                              NEGATIVE_PARALLELISM, per_pod, NEGATIVE_PARALLELISM * per_pod, quota))
    selector = "job-name=%s" % _name(negative)
    window = ctx.options.gang_negative_window

    def look():
        return ctx.kube.list_all("", "v1", "pods", namespace=ctx.namespace, label_selector=selector)

    def broken(pods):
        running = _running_or_bound(pods)
        return "pods Running or bound: %s" % ", ".join(running[:5]) if running else None
    problem = ctx.hold(look, broken, window, ctx.list_command("", "v1", "pods", ctx.namespace, selector, args="-w"),
                       ctx.api_for("", "v1", "pods", ctx.namespace, query={"labelSelector": selector}), interval=1.0,
                       note="no pod of the oversized gang may run or be bound for %ss" % window)
    if problem:
        return Finding(FAIL, "Kueue let part of a gang larger than its quota start: %s (a gang must be admitted whole or not "
                             "at all)" % problem,
                       remediation="turn on waitForPodsReady in kueue-manager-config and check ClusterQueue %s's quota"
                                   % _name(cluster_queue))
    return Finding(PASS, "Kueue ran a %d-pod Job through LocalQueue %s (ClusterQueue %s) to Complete, and kept a %d-pod Job "
                         "needing %dm CPU over the %dm quota without any pod Running or bound for %ss."
                   % (POSITIVE_PARALLELISM, _name(local), _name(cluster_queue), NEGATIVE_PARALLELISM,
                      NEGATIVE_PARALLELISM * per_pod, quota, window))


# -- Volcano ----------------------------------------------------------------------------------------------------

def _unusable(node: Dict[str, Any]) -> str:
    """Why the probe's pods (tolerating only the GPU taint) cannot go to ``node``; "" when they can."""
    if (node.get("spec") or {}).get("unschedulable"):
        return "cordoned"
    if not condition_true(node, "Ready"):
        return "not Ready"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and taint.get("key") != GPU:
            return "taint %s:%s" % (taint.get("key"), taint.get("effect"))
    return ""


def _units(resource: str, amount: Decimal) -> int:
    """cpu in millicores, anything else (GPUs) in whole units, rounded down."""
    return int(amount * 1000) if resource == "cpu" else int(amount)


def _quantity(resource: str, units: int) -> str:
    return "%dm" % units if resource == "cpu" else str(units)


def _show_nodes(nodes: List[Dict[str, Any]]) -> str:
    rows = [["NAME", "CPU", "GPU", "TAINTS", "USABLE"]]
    for node in nodes:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        taints = ",".join("%s:%s" % (t.get("key"), t.get("effect")) for t in (node.get("spec") or {}).get("taints") or [])
        rows.append([name_of(node), str(allocatable.get("cpu", "0")), str(allocatable.get(GPU, "0")), taints or "<none>",
                     "no: %s" % _unusable(node) if _unusable(node) else "yes"])
    return table(rows, max_rows=50)


def _show_requests(items: List[Dict[str, Any]]) -> str:
    requested = pods.requested_by_node(items)
    rows = [["NODE", "CPU REQUESTED", "GPU REQUESTED"]]
    for node, totals in sorted(requested.items()):
        rows.append([node] + [_quantity(r, _units(r, totals.get(r, Decimal(0)))) for r in ("cpu", GPU)])
    return "%d pods not finished\n%s" % (len(items), table(rows, max_rows=50))


def _capacity(ctx) -> Tuple[Dict[str, Dict[str, int]], Dict[str, Dict[str, int]]]:
    """(node -> {cpu (millicores), nvidia.com/gpu} free: allocatable minus the requests of the pods bound there; node ->
    the same allocatable), for every node the probe's pods may use."""
    nodes = ctx.list("", "v1", "nodes", show=_show_nodes, note="the nodes' allocatable, and which the probe's pods may use")
    live = ctx.list("", "v1", "pods", field_selector=pods.LIVE_PODS, show=_show_requests,
                    note="what the pods bound to each node request")
    requested = pods.requested_by_node(live)
    free, whole = {}, {}
    for node in nodes:
        if not _unusable(node):
            allocatable = (node.get("status") or {}).get("allocatable") or {}
            used = requested.get(_name(node), {})
            free[_name(node)] = {r: max(0, _units(r, parse_quantity(allocatable.get(r, 0)) - used.get(r, Decimal(0))))
                                 for r in ("cpu", GPU)}
            whole[_name(node)] = {r: _units(r, parse_quantity(allocatable.get(r, 0))) for r in ("cpu", GPU)}
    return free, whole


def _oversized_gang(free: Dict[str, Dict[str, int]], allocatable: Dict[str, Dict[str, int]]) -> Optional[Tuple[str, int, int, int]]:
    """(resource, per pod, pods, allocatable in all) of a gang each of whose pods fits the freest node alone while all
    of them together need more than the nodes' whole allocatable, so that no pod another workload (or probe) frees
    can make it fit: GPUs when any is free, else CPU; None when nothing is free."""
    for resource in (GPU, "cpu"):
        per_pod = max((amounts[resource] for amounts in free.values()), default=0)
        if per_pod > 0:
            total = sum(amounts[resource] for amounts in allocatable.values())
            return resource, per_pod, total // per_pod + 1, total
    return None


def _volcano_job(version: str, name: str, members: int, requests: Dict[str, str], busybox: str) -> Dict[str, Any]:
    return {"apiVersion": "%s/%s" % (VOLCANO_BATCH, version), "kind": "Job", "metadata": {"name": name},
            "spec": {"schedulerName": "volcano", "queue": VOLCANO_QUEUE, "minAvailable": members,
                     "tasks": [{"name": "member", "replicas": members, "template": {"spec": {
                         "restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "tolerations": GPU_TOLERATIONS,
                         "containers": [{"name": "gang", "image": busybox, "command": ["sh", "-c", "sleep 5"],
                                         "resources": {"requests": requests, "limits": dict(requests)}}]}}}]}}


def _job_phase(job: Dict[str, Any]) -> str:
    return ((job.get("status") or {}).get("state") or {}).get("phase", "")


def _show_job(job: Dict[str, Any]) -> str:
    status = job.get("status") or {}
    counts = " ".join("%s=%s" % (k, status.get(k, 0)) for k in ("minAvailable", "pending", "running", "succeeded", "failed"))
    return "state.phase=%s %s" % (_job_phase(job) or "(none)", counts)


volcano_job_taken = Predicate("state.phase set", lambda job: bool(_job_phase(job)), show=_show_job,
                              hint="volcano-controllers has not taken the Job: kubectl logs -n volcano-system "
                                   "deployment/volcano-controllers")
volcano_job_started = Predicate("state.phase in (%s)" % ", ".join(STARTED_PHASES), lambda job: _job_phase(job) in STARTED_PHASES,
                                show=_show_job,
                                hint="the gang was not scheduled although it fits: kubectl describe podgroups and the Job's "
                                     "pods show why; kubectl logs -n volcano-system deployment/volcano-scheduler")


def _owned_by(obj: Dict[str, Any], owner: Dict[str, Any]) -> bool:
    uid = (owner.get("metadata") or {}).get("uid")
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _group_phase(group: Dict[str, Any]) -> str:
    return (group.get("status") or {}).get("phase", "")


def _show_pods(pods: List[Dict[str, Any]]) -> str:
    rows = [["NAME", "STATUS", "NODE", "PODSCHEDULED"]]
    for pod in pods:
        scheduled = condition(pod, "PodScheduled") or {}
        rows.append([_name(pod), (pod.get("status") or {}).get("phase", ""), (pod.get("spec") or {}).get("nodeName") or "<none>",
                     ("%s (%s)" % (scheduled.get("status"), scheduled.get("reason"))) if scheduled.get("reason")
                     else str(scheduled.get("status", "<none>"))])
    return table(rows, max_rows=50)


def _show_groups(groups: List[Dict[str, Any]]) -> str:
    rows = [["NAME", "MINMEMBER", "PHASE", "CONDITIONS"]]
    for group in groups:
        conditions = ", ".join("%s=%s (%s)" % (c.get("type"), c.get("status"), c.get("reason"))
                               for c in (group.get("status") or {}).get("conditions") or [])
        rows.append([_name(group), str((group.get("spec") or {}).get("minMember", "")), _group_phase(group) or "<none>",
                     conditions or "<none>"])
    return table(rows)


def _volcano_gang(ctx) -> Finding:
    discovery = ctx.kube.discovery()
    version = discovery.serving_version(VOLCANO_BATCH, "jobs")
    group_version = discovery.serving_version(VOLCANO_SCHEDULING, "podgroups")
    busybox = image("busybox", ctx.options.probe_image_registry)
    small = {"cpu": "%dm" % POD_CPU_MILLIS, "memory": "16Mi"}

    positive = ctx.create(VOLCANO_BATCH, version, "jobs", _volcano_job(version, "gang-fits", POSITIVE_PARALLELISM, small, busybox),
                          note="a gang that fits: minAvailable %d, pods of %dm CPU, queue %s"
                               % (POSITIVE_PARALLELISM, POD_CPU_MILLIS, VOLCANO_QUEUE))
    started = ctx.wait_for(VOLCANO_BATCH, version, "jobs", _name(positive), volcano_job_started,
                           timeout=min(POSITIVE_TIMEOUT, ctx.remaining()), interval=0.5)
    ctx.list("", "v1", "pods", ctx.namespace, label_selector="%s=%s" % (VOLCANO_JOB_LABEL, _name(positive)), show=_show_pods,
             args="-o wide", note="every pod of the gang that fits was scheduled")

    sizing = _oversized_gang(*_capacity(ctx))
    if sizing is None:
        return Finding(UNKNOWN, "Volcano ran a %d-pod gang, but no node the probe's pods may use has free CPU or nvidia.com/gpu "
                                "to size a gang that does not fit" % POSITIVE_PARALLELISM)
    resource, per_pod, members, whole = sizing
    demand = "%d pods of %s %s = %s > %s allocatable" % (
        members, _quantity(resource, per_pod), resource, _quantity(resource, members * per_pod), _quantity(resource, whole))
    requests = dict(small, **{resource: _quantity(resource, per_pod)})
    negative = ctx.create(VOLCANO_BATCH, version, "jobs", _volcano_job(version, "gang-too-big", members, requests, busybox),
                          note="a gang larger than the nodes' allocatable, each pod fitting the freest node alone: %s" % demand)
    ctx.wait_for(VOLCANO_BATCH, version, "jobs", _name(negative), volcano_job_taken, timeout=min(60.0, ctx.remaining()),
                 interval=0.5, note="Volcano's job controller took the oversized Job")
    selector = "%s=%s" % (VOLCANO_JOB_LABEL, _name(negative))
    window = ctx.options.gang_negative_window

    def look():
        pods = ctx.kube.list_all("", "v1", "pods", namespace=ctx.namespace, label_selector=selector)
        groups = ctx.kube.list_all(VOLCANO_SCHEDULING, group_version, "podgroups", namespace=ctx.namespace)
        return pods, [g for g in groups if _owned_by(g, negative)]

    def broken(seen):
        pods, groups = seen
        scheduled = _running_or_bound(pods)
        if scheduled:
            return "pods scheduled or Running: %s" % ", ".join(scheduled[:5])
        started = ["%s is %s" % (_name(g), _group_phase(g)) for g in groups if _group_phase(g) not in WAITING_GROUP_PHASES]
        return "PodGroup %s" % ", ".join(started) if started else None
    problem = ctx.hold(look, broken, window, ctx.list_command("", "v1", "pods", ctx.namespace, selector, args="-w"),
                       ctx.api_for("", "v1", "pods", ctx.namespace, query={"labelSelector": selector}), interval=1.0,
                       note="no pod of the oversized gang may be scheduled, and its PodGroup must stay Pending or Inqueue, "
                            "for %ss" % window)
    ctx.list("", "v1", "pods", ctx.namespace, label_selector=selector, show=_show_pods, args="-o wide",
             note="the oversized gang's pods after the window")
    groups = ctx.list(VOLCANO_SCHEDULING, group_version, "podgroups", ctx.namespace, show=_show_groups,
                      note="the PodGroups Volcano made for the probe's Jobs")
    if problem:
        return Finding(FAIL, "Volcano let part of a gang larger than the nodes' allocatable (%s) start: %s (a gang must be scheduled "
                             "whole or not at all)" % (demand, problem),
                       remediation="enable the gang plugin in volcano-scheduler's configuration (kubectl get configmap -n "
                                   "volcano-system volcano-scheduler-configmap -o yaml lists it in its tiers), and make sure no "
                                   "other scheduler binds pods with schedulerName volcano")
    phases = ", ".join(sorted({_group_phase(g) or "Pending" for g in groups if _owned_by(g, negative)})) or "not created"
    return Finding(PASS, "Volcano ran a %d-pod Job (minAvailable %d, queue %s) to %s, and kept a Job of %s, each pod fitting a "
                         "node alone, without any pod scheduled for %ss (its PodGroup %s)."
                   % (POSITIVE_PARALLELISM, POSITIVE_PARALLELISM, VOLCANO_QUEUE, _job_phase(started), demand, window, phases))


@probe("gang_scheduling")
def gang_scheduling(ctx) -> Finding:
    """The gang scheduler the check found operational: Kueue (the official semantics) or Volcano (the RKE2
    demonstration's); the check's order decides when both are."""
    working = [i.get("name") for i in (ctx.checked.details if ctx.checked else {}).get("implementations") or []
               if not i.get("problems")]
    chosen = next((name for name in working if name in ("Kueue", "Volcano")), None)
    if chosen == "Kueue":
        return _kueue_gang(ctx)
    if chosen == "Volcano":
        return _volcano_gang(ctx)
    return Finding(SKIPPED, "no probe for %s yet (the probe drives Kueue or Volcano)" % (" or ".join(working) or "this gang scheduler"))


# -- pod_autoscaling --------------------------------------------------------------------------------------------

HPA_NAME = "hpa-probe"
HPA_TARGET = "hpa-target"
HPA_MAX_REPLICAS = 2
# The probe's pods are idle (pause): a utilisation reads 0 on an idle accelerator and no target lies below 0, so a
# metric an idle accelerator reports above 0 goes first when the adapter serves one.
IDLE_NONZERO_METRICS = ("DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_SM_CLOCK",
                        "DCGM_FI_DEV_MEM_CLOCK")
OBSERVE_TARGET = "1T"  # above any accelerator metric's value: the HPA only reports the metric
MARGIN = 4  # the scale-up target is the value / MARGIN, the scale-down one the value x MARGIN
POD_TIMEOUT = 120.0
METRIC_TIMEOUT = 180.0  # a new pod's series reaches the adapter after the exporter's and Prometheus' scrape intervals
# The HPA controller syncs every 15 s; before the scale-down the second pod's series must reach the adapter too (the HPA
# counts a running pod without a value at the target).
SCALE_TIMEOUT = 120.0
HPA_REMEDIATION = (
    "Read the HPA controller's events (kubectl describe hpa) on an HPA of a GPU pod. The metric must be attributed to the "
    "pod holding the GPU: dcgm-exporter maps GPUs to pods through the kubelet's pod-resources socket (its Kubernetes "
    "mode, on in the GPU operator), and the adapter rule must map exported_namespace/exported_pod to namespace/pod; "
    "kube-controller-manager must reach the custom metrics API (kubectl get apiservice v1beta1.custom.metrics.k8s.io).")


def _autoscaling_metric(served: List[str]) -> Optional[Tuple[str, str]]:
    """(Pods or Object, metric) for the probe's HPA from the accelerator metrics the check found served (``pods/<m>``,
    ``namespaces/<m>``): per pod when served so, else per Namespace; one an idle accelerator reports above 0 first."""
    names = sorted(dict.fromkeys(s.split("/", 1)[-1] for s in served), key=lambda name: name not in IDLE_NONZERO_METRICS)
    for name in names:
        if "pods/" + name in served:
            return "Pods", name
        if "namespaces/" + name in served:
            return "Object", name
    return None


def _hpa_metric(kind: str, metric: str, namespace: str, target: str) -> Dict[str, Any]:
    """A Pods metric of the target's pods (AverageValue target), or an Object metric of the namespace (Value target)."""
    if kind == "Pods":
        return {"type": "Pods", "pods": {"metric": {"name": metric}, "target": {"type": "AverageValue", "averageValue": target}}}
    return {"type": "Object", "object": {"describedObject": {"apiVersion": "v1", "kind": "Namespace", "name": namespace},
                                         "metric": {"name": metric}, "target": {"type": "Value", "value": target}}}


def _hpa_deployment(pause: str) -> Dict[str, Any]:
    labels = {"app.kubernetes.io/name": HPA_TARGET}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": HPA_TARGET},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False, "tolerations": GPU_TOLERATIONS,
                         "containers": [{"name": "pause", "image": pause,
                                         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                                       "limits": {"memory": "16Mi", GPU: "1"}}}]}}}}


def _hpa(kind: str, metric: str, namespace: str) -> Dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": HPA_NAME},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": HPA_TARGET},
                     "minReplicas": 1, "maxReplicas": HPA_MAX_REPLICAS,
                     "metrics": [_hpa_metric(kind, metric, namespace, OBSERVE_TARGET)],
                     # The default scale-down stabilization window (300 s) would keep the replicas up for five minutes
                     # after the target rises above the value: 0 lets the probe see the scale-down at the next sync.
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}}


def _current_values(hpa: Dict[str, Any]) -> Dict[str, str]:
    """metric -> its value in the HPA's status.currentMetrics."""
    values = {}
    for entry in (hpa.get("status") or {}).get("currentMetrics") or []:
        source = entry.get(str(entry.get("type")).lower()) or {}
        current = source.get("current") or {}
        values[(source.get("metric") or {}).get("name", "")] = current.get("averageValue") or current.get("value")
    return values


def _show_hpa(hpa: Dict[str, Any]) -> str:
    status = hpa.get("status") or {}
    return "currentReplicas=%s desiredReplicas=%s currentMetrics: %s; %s" % (
        status.get("currentReplicas", "?"), status.get("desiredReplicas", "?"),
        ", ".join("%s=%s" % item for item in _current_values(hpa).items()) or "none", describe_state(hpa))


def _scaling_active(metric: str) -> Predicate:
    return Predicate("ScalingActive=True with a current value of %s" % metric,
                     lambda hpa: condition_true(hpa, "ScalingActive") and _current_values(hpa).get(metric) is not None,
                     show=_show_hpa)


def _replicas(count: int) -> Predicate:
    return Predicate("spec.replicas=%d" % count, lambda dep: (dep.get("spec") or {}).get("replicas") == count,
                     show=lambda dep: describe_state(dep, DEPLOYMENT_COUNTS))


def _milli_text(milli: int) -> str:
    return str(milli // 1000) if milli % 1000 == 0 else "%dm" % milli


def _set_target(ctx, kind: str, metric: str, target: str, note: str) -> None:
    """Merge-patch the HPA's metric target; recorded as the kubectl patch applied."""
    body = {"spec": {"metrics": [_hpa_metric(kind, metric, ctx.namespace, target)]}}
    ctx.patch("autoscaling", "v2", "horizontalpodautoscalers", HPA_NAME, body,
              "horizontalpodautoscaler.autoscaling/%s patched: %s target %s" % (HPA_NAME, metric, target), note=note)


def _rescaled(ctx, replicas: int, note: str) -> Tuple[str, Dict[str, Any]]:
    """('' once the HPA set the Deployment's replicas to ``replicas``, else what the Deployment showed; the HPA then)."""
    try:
        ctx.wait_for("apps", "v1", "deployments", HPA_TARGET, _replicas(replicas), timeout=min(SCALE_TIMEOUT, ctx.remaining()),
                     interval=0.5, note=note)
        seen = ""
    except WaitTimeout as exc:
        seen = exc.observed
    hpa = ctx.get("autoscaling", "v2", "horizontalpodautoscalers", HPA_NAME, ctx.namespace, show=_show_hpa, note="the HPA then")
    return seen, hpa or {}


@probe("pod_autoscaling", devices=HPA_MAX_REPLICAS, pool=PLUGIN_POOL)
def pod_autoscaling(ctx) -> Finding:
    """An HPA on an accelerator metric served through custom.metrics.k8s.io: ScalingActive with a current value, a scale-up
    once its target is below the value, a scale-down once it is above. An HPA reads custom metrics of its own namespace
    only (an Object metric's describedObject cannot leave it), and an accelerator metric exists per pod holding the
    accelerator: so the metric is the probe's own pods', each holding one nvidia.com/gpu."""
    served = (ctx.checked.details if ctx.checked else {}).get("accelerator_metrics") or []
    chosen = _autoscaling_metric(served)
    if chosen is None:
        return Finding(UNKNOWN, "no accelerator metric is served per pod or per namespace (%s), and an HPA reads custom metrics "
                                "of its own namespace only: none can drive the probe's HPA" % (", ".join(served) or "none served"))
    kind, metric = chosen
    if not any(amounts[GPU] for amounts in _capacity(ctx)[0].values()):
        return Finding(UNKNOWN, "no node the probe's pods may use has a free %s: the probe's pod must hold one for %s to be "
                                "attributed to it" % (GPU, metric))
    ctx.create("apps", "v1", "deployments", _hpa_deployment(image("pause", ctx.options.probe_image_registry)),
               note="the HPA's target: a pause pod holding one %s, which the exporter attributes %s of to it" % (GPU, metric))
    try:
        ctx.wait_for("apps", "v1", "deployments", HPA_TARGET, deployment_available, timeout=min(POD_TIMEOUT, ctx.remaining()),
                     interval=0.5)
    except WaitTimeout as exc:
        return Finding(UNKNOWN, "the probe's pod holding one %s did not become available (%s), so no metric of it could be read"
                       % (GPU, exc.observed))
    source = "the %s metric %s of %s" % (kind, metric, "its pod" if kind == "Pods" else "its namespace")
    ctx.create("autoscaling", "v2", "horizontalpodautoscalers", _hpa(kind, metric, ctx.namespace),
               note="an HPA on %s, its target %s above any value: it only reports the metric" % (source, OBSERVE_TARGET))
    try:
        active = ctx.wait_for("autoscaling", "v2", "horizontalpodautoscalers", HPA_NAME, _scaling_active(metric),
                              timeout=min(METRIC_TIMEOUT, ctx.remaining()), interval=0.5)
    except WaitTimeout as exc:
        return Finding(FAIL, "HPA %s never computed replicas from %s (holding one %s): %s" % (HPA_NAME, source, GPU, exc.observed),
                       remediation=HPA_REMEDIATION)
    value = _current_values(active)[metric]
    milli = int(parse_quantity(value) * 1000)
    if milli < MARGIN:
        return Finding(UNKNOWN, "HPA %s reads %s at %s for the probe's idle pod: no target lies below it, so a scale-up cannot be "
                                "shown (a metric an idle accelerator reports above 0, such as %s, can)"
                       % (HPA_NAME, metric, value, IDLE_NONZERO_METRICS[0]))
    up = _milli_text(milli // MARGIN)
    _set_target(ctx, kind, metric, up, "a target below the current value %s: the HPA must scale up" % value)
    seen, hpa = _rescaled(ctx, HPA_MAX_REPLICAS, "the HPA scales its target up to maxReplicas")
    if seen:
        return Finding(FAIL, "HPA %s did not scale up with %s at %s above its target %s: Deployment %s %s; HPA %s"
                       % (HPA_NAME, metric, value, up, HPA_TARGET, seen, _show_hpa(hpa)), remediation=HPA_REMEDIATION)
    highest = max(milli, int(parse_quantity(_current_values(hpa).get(metric) or value) * 1000))
    down = _milli_text(highest * MARGIN)
    _set_target(ctx, kind, metric, down, "a target above the current value: the HPA must scale down")
    seen, hpa = _rescaled(ctx, 1, "the HPA scales its target back down (scale-down stabilization window 0 s)")
    if seen:
        return Finding(FAIL, "HPA %s scaled up but not back down with %s below its target %s: Deployment %s %s; HPA %s"
                       % (HPA_NAME, metric, down, HPA_TARGET, seen, _show_hpa(hpa)), remediation=HPA_REMEDIATION)
    return Finding(PASS, "HPA %s (autoscaling/v2) on %s, which holds one %s, read through custom.metrics.k8s.io: ScalingActive=True "
                         "at %s; a target of %s below it scaled Deployment %s from 1 to %d replicas (maxReplicas), a target of %s "
                         "above it back to 1 (scale-down stabilization window set to 0 s for the probe)."
                   % (HPA_NAME, source, GPU, value, up, HPA_TARGET, HPA_MAX_REPLICAS, down))


# -- cluster_autoscaling ----------------------------------------------------------------------------------------

AUTOSCALE_APP = "autoscale-probe"
AUTOSCALE_SELECTOR = "app.kubernetes.io/name=%s" % AUTOSCALE_APP
# Each wait is bounded by the official test's own (its flags' defaults), and never runs past the probe's time
# (probe_timeout): a wait that time cuts short leaves the requirement undecided, not failed.
BASELINE_WINDOW = 30.0  # the pool's Ready nodes must stay the same this long before the probe fills it
PENDING_TIMEOUT = 120.0  # -autoscaler-pending-timeout: a pod Unschedulable
SCALE_UP_TIMEOUT = 1200.0  # -autoscaler-scale-up-timeout: a new node Ready in the pool and the pending pod Running there
SCALE_DOWN_TIMEOUT = 1800.0  # -autoscaler-scale-down-timeout: the pool back at its baseline nodes...
SCALE_DOWN_STABLE = 30.0  # -autoscaler-stability-window: ...and staying there this long
DELETE_TIMEOUT = 120.0  # the probe's pods gone once deleted
POLL_INTERVAL = 2.0  # seconds between two looks at the pool's nodes or the probe's pods
MAX_POOL_PODS = 100  # a pool with more free room than this many pods is too big to fill
CPU_FALLBACK_MILLIS = 100  # each pod's CPU when the pool has no accelerator resource and no free CPU either
AUTOSCALER_REMEDIATION = (
    "Read why the autoscaler did not act: kubectl get configmap -n kube-system cluster-autoscaler-status -o yaml (managed "
    "autoscalers write it too), the pending pod's events (kubectl describe pod: TriggeredScaleUp, NotTriggerScaleUp and "
    "the reason, such as the node group's max size reached or no group fitting the pod) and the autoscaler's log; "
    "Karpenter: kubectl get nodeclaims and its controller's log.")
SCALE_DOWN_REMEDIATION = (
    "The autoscaler must remove an idle accelerator node: scale-down enabled (cluster-autoscaler --scale-down-enabled, "
    "--scale-down-unneeded-time, --scale-down-utilization-threshold; Karpenter disruption.consolidationPolicy), and "
    "nothing on the new node keeping it (pods without a controller or with local storage, PodDisruptionBudgets, the "
    "annotation cluster-autoscaler.kubernetes.io/scale-down-disabled, the node group's min size).")
POD_RUNNING = Predicate("Running", pod_phase("Running"), show=pods.pod_state, hint=pod_phase("Running").hint)
PROBE_TIME_REMEDIATION = ("raise probe_timeout for this probe (for example to 3600): adding and removing a real node "
                          "takes minutes")


def _pool_usable(node: Dict[str, Any]) -> bool:
    return condition_true(node, "Ready") and not (node.get("spec") or {}).get("unschedulable")


def _uid(obj: Dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("uid", "")


def _accelerator_amounts(node: Dict[str, Any]) -> Dict[str, str]:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return {r: str(q) for r, q in sorted(allocatable.items())
            if any(r.startswith(prefix) for prefix, _vendor in lookups.ACCELERATOR_RESOURCE_PREFIXES)}


def _show_pool(nodes: List[Dict[str, Any]]) -> str:
    rows = [["NAME", "READY", "SCHEDULABLE", "ACCELERATORS", "CPU", "TAINTS"]]
    for node in nodes:
        taints = ",".join("%s:%s" % (t.get("key"), t.get("effect")) for t in (node.get("spec") or {}).get("taints") or [])
        rows.append([_name(node), str(condition_true(node, "Ready")), str(not (node.get("spec") or {}).get("unschedulable")),
                     ",".join("%s=%s" % item for item in _accelerator_amounts(node).items()) or "<none>",
                     str(((node.get("status") or {}).get("allocatable") or {}).get("cpu", "0")), taints or "<none>"])
    return "%d nodes\n%s" % (len(nodes), table(rows, max_rows=50))


def _pool_resource(nodes: List[Dict[str, Any]]) -> str:
    """The accelerator extended resource most of the pool's nodes advertise (the first prefix of
    lookups.ACCELERATOR_RESOURCE_PREFIXES on a tie), else cpu."""
    counts: Dict[str, int] = {}
    for node in nodes:
        for resource, quantity in _accelerator_amounts(node).items():
            if parse_quantity(quantity) > 0:
                counts[resource] = counts.get(resource, 0) + 1
    order = [prefix for prefix, _vendor in lookups.ACCELERATOR_RESOURCE_PREFIXES]

    def rank(resource):
        return (-counts[resource], next(i for i, p in enumerate(order) if resource.startswith(p)), resource)
    return min(counts, key=rank) if counts else "cpu"


def _pool_free(ctx, nodes: List[Dict[str, Any]], resource: str) -> Dict[str, int]:
    """Pool node -> free ``resource`` (whole units; cpu in millicores): allocatable minus what the unfinished pods bound
    there request."""
    names = {_name(n) for n in nodes}

    def show(items):
        requested = pods.requested_by_node(items)
        rows = [["NODE", "%s REQUESTED" % resource.upper()]]
        rows += [[name, _quantity(resource, _units(resource, requested.get(name, {}).get(resource, Decimal(0))))]
                 for name in sorted(names)]
        return "%d pods not finished\n%s" % (len(items), table(rows, max_rows=50))
    live = ctx.list("", "v1", "pods", field_selector=pods.LIVE_PODS, show=show,
                    note="what the pods bound to the pool's nodes request of %s" % resource)
    requested = pods.requested_by_node(live)
    free = {}
    for node in nodes:
        allocatable = parse_quantity(((node.get("status") or {}).get("allocatable") or {}).get(resource, 0))
        free[_name(node)] = max(0, _units(resource, allocatable - requested.get(_name(node), {}).get(resource, Decimal(0))))
    return free


def _autoscale_pod(index: int, label: Tuple[str, str], resource: str, per_pod: int, tolerations, pause: str) -> Dict[str, Any]:
    """A pause pod of the pool (nodeSelector the pool's label) holding ``per_pod`` of ``resource``."""
    requests = {"cpu": "10m", "memory": "16Mi"}
    limits = {"memory": "16Mi"}
    if resource == "cpu":
        requests["cpu"] = _quantity("cpu", per_pod)
    else:
        limits[resource] = str(per_pod)
    body = pods.pod("autoscale-%d" % index, [pods.container("pause", pause, resources={"requests": requests, "limits": limits})],
                    tolerations, restart="Always")
    body["metadata"]["labels"] = {"app.kubernetes.io/name": AUTOSCALE_APP}
    body["spec"].update(nodeSelector={label[0]: label[1]}, automountServiceAccountToken=False)
    return body


def _show_probe_pods(items: List[Dict[str, Any]]) -> str:
    running = sum(1 for p in items if (p.get("status") or {}).get("phase") == "Running")
    return "%d pods, %d Running\n%s" % (len(items), running, _show_pods(items))


def _budget(ctx, official: float) -> Tuple[float, bool]:
    """(seconds a wait may take, whether the probe's own time cut it below ``official``)."""
    available = ctx.remaining() - pods.RESERVE
    return (official, False) if official <= available else (max(0.0, available), True)


def _timed_out(ctx, cut: bool, what: str, official: float, remediation: str) -> Finding:
    """FAIL for a step that did not happen within the official time; ERROR when the probe's own time cut its wait."""
    if cut:
        return Finding(ERROR, "probe_timeout=%ss ran out in a wait the official test allows %ds for: %s" % (ctx.timeout, official, what),
                       remediation=PROBE_TIME_REMEDIATION)
    return Finding(FAIL, what, remediation=remediation)


@probe("cluster_autoscaling", devices=lambda options: ALL_DEVICES if options.autoscaler_node_pool_label else 0, pool=PLUGIN_POOL)
def cluster_autoscaling(ctx) -> Finding:
    """TestAcceleratorClusterAutoscaling's semantics on the pool ``autoscaler_node_pool_label`` names: its Ready nodes
    stable, then pause pods (each one accelerator, else CPU) filling its free capacity plus one; that one Unschedulable,
    a new Ready node of the pool running it, and once the pods are deleted the pool back at its baseline nodes."""
    if not ctx.options.autoscaler_node_pool_label:
        return Finding(SKIPPED, "the probe needs autoscaler_node_pool_label, the node label key=value naming the accelerator "
                                "node pool the autoscaler scales (the official -autoscaler-node-pool-label), and a probe_timeout "
                                "long enough for a node to be added and removed")
    key, value = ctx.options.node_pool_label()
    label = "%s=%s" % (key, value)
    watch = ctx.list_command("", "v1", "nodes", label_selector=label, args="-w")
    polled = ctx.api_for("", "v1", "nodes", query={"labelSelector": label}, api_note="polled")

    def pool():
        return ctx.kube.list_all("", "v1", "nodes", label_selector=label)
    nodes = ctx.list("", "v1", "nodes", label_selector=label, show=_show_pool,
                     note="the node pool autoscaler_node_pool_label=%s names: its Ready, schedulable nodes are the baseline" % label)
    baseline = [n for n in nodes if _pool_usable(n)]
    if not baseline:
        return Finding(UNKNOWN, "no Ready, schedulable node carries %s: the probe needs a pool of at least one node (check "
                                "autoscaler_node_pool_label)" % label)
    uids = {_uid(n) for n in baseline}
    count = len(baseline)

    def changed(seen):
        now = {_uid(n) for n in seen if _pool_usable(n)}
        return "its Ready, schedulable nodes changed to %s" % (", ".join(sorted(_name(n) for n in seen if _pool_usable(n))) or "none") \
            if now != uids else None
    unstable = ctx.hold(pool, changed, BASELINE_WINDOW, watch, polled, interval=POLL_INTERVAL,
                        note="the pool's %d Ready nodes stay the same for %ss: its baseline" % (count, BASELINE_WINDOW))
    if unstable:
        return Finding(UNKNOWN, "pool %s was not stable before the probe (%s): something else is scaling it; run the probe "
                                "when the pool is idle" % (label, unstable))

    resource = _pool_resource(baseline)
    free = _pool_free(ctx, baseline, resource)
    per_pod = 1 if resource != "cpu" else (max(free.values()) or CPU_FALLBACK_MILLIS)
    total = sum(free.values())
    wanted = sum(amount // per_pod for amount in free.values()) + 1
    holding = "one %s" % resource if resource != "cpu" else "%s CPU (the pool's nodes advertise no accelerator)" % _quantity("cpu", per_pod)
    if wanted > MAX_POOL_PODS:
        return Finding(UNKNOWN, "pool %s has room for %d pods holding %s (%s free): more than the %d the probe creates; name "
                                "a smaller, idle pool" % (label, wanted - 1, holding, _quantity(resource, total), MAX_POOL_PODS))
    tolerations = pods.tolerate({GPU} | {t["key"] for n in baseline for t in (n.get("spec") or {}).get("taints") or [] if t.get("key")})
    pause = image("pause", ctx.options.probe_image_registry)
    for index in range(wanted):
        ctx.create("", "v1", "pods", _autoscale_pod(index, (key, value), resource, per_pod, tolerations, pause),
                   note="pod %d of %d, each holding %s: %s free on the pool's %d nodes, so one cannot fit"
                        % (index + 1, wanted, holding, _quantity(resource, total), count))

    def probe_pods():
        return ctx.kube.list_all("", "v1", "pods", namespace=ctx.namespace, label_selector=AUTOSCALE_SELECTOR)
    pods_watch = ctx.list_command("", "v1", "pods", ctx.namespace, AUTOSCALE_SELECTOR, args="-w")
    pods_polled = ctx.api_for("", "v1", "pods", ctx.namespace, query={"labelSelector": AUTOSCALE_SELECTOR}, api_note="polled")

    baseline_names = {_name(n) for n in baseline}

    def on_new_node(seen) -> List[Dict[str, Any]]:
        """Probe pods bound to a node that is not one of the pool's baseline nodes: a scale-up the probe did not see
        happen (the autoscaler acted between two looks), whose pod was Unschedulable until then."""
        return [p for p in seen if pods.node_of(p) and pods.node_of(p) not in baseline_names]

    def pending(seen):
        stuck = [(_name(p), pods.unschedulable(p)) for p in seen if pods.unschedulable(p) is not None]
        if stuck:
            return "pod %s PodScheduled=False (Unschedulable: %s)" % stuck[0]
        early = on_new_node(seen)
        return "pod %s was bound to node %s, which joined the pool after its baseline" % (
            _name(early[0]), pods.node_of(early[0])) if early else None
    limit, cut = _budget(ctx, PENDING_TIMEOUT)
    text, seen = ctx.until(probe_pods, pending, limit, _show_probe_pods, pods_watch, pods_polled, interval=POLL_INTERVAL,
                           note="one of the %d pods must be Unschedulable (the pool is full), or already on a node that "
                                "joined for it" % wanted)
    if not text:
        if len(seen) == wanted and all(pods.node_of(p) for p in seen):
            return Finding(UNKNOWN, "pool %s took all %d pods holding %s: it had more room than its allocatable minus the "
                                    "requests of its pods showed (%s free), so no pod waited for a new node"
                           % (label, wanted, holding, _quantity(resource, total)))
        return _timed_out(ctx, cut, "none of the %d pods holding %s on pool %s was marked Unschedulable within %.0fs: %s"
                          % (wanted, holding, label, limit, _show_probe_pods(seen)), PENDING_TIMEOUT,
                          "the scheduler must mark a pod it cannot place PodScheduled=False (Unschedulable): kubectl describe pod")
    waiting_pod = next((p for p in seen if pods.unschedulable(p) is not None), None)
    unseen = waiting_pod is None  # the scale-up happened between two looks: the pod is already on the new node
    waiting_pod = waiting_pod or on_new_node(seen)[0]
    message = pods.unschedulable(waiting_pod) or ""
    if not unseen and "Insufficient %s" % resource not in message:
        return Finding(UNKNOWN, "pod %s of pool %s was Unschedulable for another reason than the pool's %s: %s"
                       % (_name(waiting_pod), label, resource, message or "no message"))

    up_started = time.monotonic()
    limit, cut = _budget(ctx, SCALE_UP_TIMEOUT)

    def joined(seen):
        new = [_name(n) for n in seen if _pool_usable(n) and _uid(n) not in uids]
        return "node %s joined: %d Ready, schedulable nodes (baseline %d)" % (", ".join(new), sum(map(_pool_usable, seen)), count) \
            if new else None
    text, seen = ctx.until(pool, joined, limit, _show_pool, watch, polled, interval=POLL_INTERVAL,
                           note="a new Ready node must join pool %s for pod %s" % (label, _name(waiting_pod)))
    if not text:
        return _timed_out(ctx, cut, "no new node joined pool %s within %.0fs of pod %s waiting for one (%s): %s"
                          % (label, limit, _name(waiting_pod), message, _show_pool(seen).splitlines()[0]),
                          SCALE_UP_TIMEOUT, AUTOSCALER_REMEDIATION)
    new_nodes = {_name(n) for n in seen if _pool_usable(n) and _uid(n) not in uids}
    limit, cut = _budget(ctx, max(1.0, SCALE_UP_TIMEOUT - (time.monotonic() - up_started)))
    try:
        running = ctx.wait_for("", "v1", "pods", _name(waiting_pod), POD_RUNNING, timeout=max(limit, 0.1), interval=POLL_INTERVAL,
                               note="the pod that waited runs on the node that joined the pool")
    except WaitTimeout as exc:
        return _timed_out(ctx, cut, "node %s joined pool %s but pod %s was not Running within %.0fs: %s"
                          % (", ".join(sorted(new_nodes)), label, _name(waiting_pod), limit, exc.observed),
                          SCALE_UP_TIMEOUT, "kubectl describe pod -n %s %s: its events say why it did not start there"
                          % (ctx.namespace, _name(waiting_pod)))
    host = pods.node_of(running)
    if host in {_name(n) for n in baseline}:
        return Finding(UNKNOWN, "pod %s ran on baseline node %s of pool %s (room freed there meanwhile), not on the node that "
                                "joined (%s): the scale-up is not shown to serve it"
                       % (_name(waiting_pod), host, label, ", ".join(sorted(new_nodes))))
    up_took = time.monotonic() - up_started
    ctx.list("", "v1", "nodes", label_selector=label, show=_show_pool, note="the pool after the scale-up")

    ctx.check_cancelled()
    names = [_name(p) for p in probe_pods()]
    for name in names:
        ctx.kube.delete("", "v1", "pods", name, namespace=ctx.namespace, grace_period_seconds=0)
    ctx.record("kubectl delete pods -n %s -l %s --grace-period=0" % (ctx.namespace, AUTOSCALE_SELECTOR),
               "%d pods deleted: %s" % (len(names), ", ".join(names)),
               api="DELETE %s/<name> (each of the %d)" % (ctx.kube.path("", "v1", "pods", ctx.namespace), len(names)),
               note="the pool's workload goes: the new node is idle")
    limit, cut = _budget(ctx, DELETE_TIMEOUT)
    text, seen = ctx.until(probe_pods, lambda items: "no pod left" if not items else None, limit, _show_probe_pods,
                           pods_watch, pods_polled, interval=POLL_INTERVAL, note="the probe's pods are gone")
    if not text:
        return Finding(UNKNOWN if not cut else ERROR, "pool %s scaled up (node %s ran pod %s), but the probe's pods were not gone "
                                                      "%.0fs after their deletion, so its scale-down cannot be shown: %s"
                       % (label, host, _name(waiting_pod), limit, _show_probe_pods(seen)),
                       remediation=PROBE_TIME_REMEDIATION if cut else "")

    down_started = time.monotonic()
    limit, cut = _budget(ctx, SCALE_DOWN_TIMEOUT)
    back_since: List[float] = []

    def back(seen):
        if {_uid(n) for n in seen if _pool_usable(n)} != uids:
            del back_since[:]
            return None
        back_since[:] = back_since or [time.monotonic()]
        held = time.monotonic() - back_since[0]
        return "the pool's Ready nodes are its %d baseline nodes again, for %.0fs" % (count, held) if held >= SCALE_DOWN_STABLE else None
    text, seen = ctx.until(pool, back, limit, _show_pool, watch, polled, interval=POLL_INTERVAL,
                           note="the pool returns to its %d baseline nodes and stays there for %ss" % (count, SCALE_DOWN_STABLE))
    if not text:
        last = "%s, Ready and schedulable: %s" % (_show_pool(seen).splitlines()[0],
                                                  ", ".join(sorted(_name(n) for n in seen if _pool_usable(n))) or "none")
        if back_since:
            last += " (back at the baseline only for the last %.0fs of the %ss it must stay there)" % (
                time.monotonic() - back_since[0], SCALE_DOWN_STABLE)
        return _timed_out(ctx, cut, "pool %s scaled up (node %s ran pod %s) but did not return to its %d baseline nodes within "
                                    "%.0fs of the probe's pods being deleted: %s" % (label, host, _name(waiting_pod), count, limit, last),
                          SCALE_DOWN_TIMEOUT, SCALE_DOWN_REMEDIATION)
    returned_after = back_since[0] - down_started
    waited = ("pod %s did not fit and was bound to node %s, which joined the pool after its baseline, before the probe's "
              "next look (%.0fs)" % (_name(waiting_pod), host, POLL_INTERVAL) if unseen else
              "pod %s was Unschedulable (%s); node %s joined the pool and ran it %.0fs later" % (_name(waiting_pod), message, host, up_took))
    return Finding(PASS, "Node pool %s scaled up and back down: %d pause pods holding %s each filled its %d Ready nodes (%s "
                         "free) and one more; %s; once the pods were deleted the pool was back at its %d baseline nodes %.0fs "
                         "later, and stayed %ss." % (label, wanted, holding, count, _quantity(resource, total), waited, count,
                                                     returned_after, SCALE_DOWN_STABLE))
