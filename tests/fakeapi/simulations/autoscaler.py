"""A cluster autoscaler for API-created pods that name their node pool (``spec.nodeSelector``) and cannot be scheduled,
for the cluster_autoscaling probe.

A pool is the nodes matching the pod's nodeSelector; the first of them (by name) the autoscaler did not add is its
template. The pool is autoscaled, and its maximum size known, when the template carries the annotation
``fakeapi.k8s-ai.io/autoscaler-max: "<nodes>"``, or else when it is a Cluster API Machine (annotation
``cluster.x-k8s.io/owner-name`` naming a MachineSet ``<MachineDeployment>-<hash>`` in the namespace
``cluster.x-k8s.io/cluster-namespace``) whose MachineDeployment carries
``cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size`` and a cluster-autoscaler runs (ConfigMap
``kube-system/cluster-autoscaler-status`` exists), as on ``kueue-only-autoscaled``. Without either nothing is scaled.

- Scheduling: pods with extended resources, claims or a node pinned are dra.py's. Any other pod (CPU only) that
  selects an autoscaled pool is scheduled here one delay after each write, first fit by CPU (allocatable minus the CPU requests of the unfinished
  pods bound there), nodeSelector and tolerated NoSchedule/NoExecute taints: bound and Running as dra.py binds, or
  ``PodScheduled=False`` Unschedulable with a message in the scheduler's form (``Insufficient cpu``).
- Scale-up: a pod ``PodScheduled=False`` reason Unschedulable whose requests (CPU and extended resources) and taints
  the template could take, in a pool below its maximum and without a node of ours still booting, makes the autoscaler
  add one node cloned from the template: name ``<template>-<5 characters>``, the same labels (``kubernetes.io/hostname``
  its own), annotations (``cluster.x-k8s.io/machine`` its own), taints, allocatable and capacity, a new boot id. It
  registers NotReady with the taint ``node.kubernetes.io/not-ready:NoSchedule`` and is Ready, untainted, two delays
  later; the scheduler (dra.py, or the CPU scheduling above) then binds the pod at its next retry. The
  MachineDeployment's replicas are not changed, and the clone publishes no ResourceSlices.
- Scale-down: a node the autoscaler added on which no unfinished API-created pod has been bound for three delays is
  deleted.

Scripted failures, an annotation ``fakeapi.k8s-ai.io/autoscaler`` on the template (clones copy it):
``"never-scale-up"`` (no node is ever added) or ``"never-scale-down"`` (the nodes it added are never removed).
"""

import random
import string
import time
import uuid

from ..controllers import NODES, PODS, RETRY, metadata_of, millicores, now, tolerates
from .dra import _extended, _handled, bind, mark_unschedulable

CONFIGMAPS = ("", "configmaps")
MACHINEDEPLOYMENTS = ("cluster.x-k8s.io", "machinedeployments")
MAX_SIZE = "fakeapi.k8s-ai.io/autoscaler-max"
SCRIPT = "fakeapi.k8s-ai.io/autoscaler"
NEVER_UP, NEVER_DOWN = "never-scale-up", "never-scale-down"
CAPI_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
CAPI_OWNER = "cluster.x-k8s.io/owner-name"
CAPI_NAMESPACE = "cluster.x-k8s.io/cluster-namespace"
CAPI_MACHINE = "cluster.x-k8s.io/machine"
STATUS_CONFIGMAP = ("kube-system", "cluster-autoscaler-status")
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
BOOT_DELAYS = 2  # delays from a node's creation to Ready
SCALE_DOWN_DELAYS = 3  # delays a node of ours stays unneeded before it is removed
DEFAULT_SCHEDULER = "default-scheduler"
_ADDED = {}  # uid of a node the autoscaler added -> time.monotonic() of its creation
_UNNEEDED = {}  # uid of a node of ours -> time.monotonic() since which no pod of the API runs there


def _spec(obj):
    return obj.get("spec") or {}


def _annotation(obj, key):
    return str((metadata_of(obj).get("annotations") or {}).get(key, ""))


def _finished(pod):
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _ready(node):
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (node.get("status") or {}).get("conditions") or [])


def _unschedulable_now(pod):
    return any(c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _cpu(pod):
    """The CPU millicores a pod's containers request (requests, else limits)."""
    total = 0
    for container in _spec(pod).get("containers") or []:
        resources = container.get("resources") or {}
        total += millicores({**(resources.get("limits") or {}), **(resources.get("requests") or {})}.get("cpu"))
    return total


def _selects(pod, node):
    labels = metadata_of(node).get("labels") or {}
    return all(labels.get(k) == v for k, v in (_spec(pod).get("nodeSelector") or {}).items())


def _max_size(store, node):
    """The maximum size of the autoscaled pool ``node`` is the template of, or None when it is not autoscaled."""
    if _annotation(node, MAX_SIZE):
        return int(_annotation(node, MAX_SIZE))
    owner = _annotation(node, CAPI_OWNER)
    if not owner or store.sim_get(CONFIGMAPS, *STATUS_CONFIGMAP) is None:
        return None
    for deployment in store.sim_objects(MACHINEDEPLOYMENTS, _annotation(node, CAPI_NAMESPACE) or "default"):
        annotations = metadata_of(deployment).get("annotations") or {}
        if owner.startswith(metadata_of(deployment)["name"] + "-") and annotations.get(CAPI_MAX):
            return int(annotations[CAPI_MAX])
    return None


def _pool(store, pod):
    """(the pool's nodes, its template, its maximum size) of a pod naming an autoscaled pool, else None."""
    if not _spec(pod).get("nodeSelector"):
        return None
    members = [n for n in store.sim_objects(NODES) if _selects(pod, n)]
    template = next((n for n in members if metadata_of(n).get("uid") not in _ADDED), None)
    maximum = _max_size(store, template) if template is not None else None
    return None if maximum is None else (members, template, maximum)


def _fits_template(pod, template):
    """Whether a new node like ``template`` could take ``pod`` (taints, CPU, extended resources), as the autoscaler
    simulates before it scales."""
    if not all(tolerates(_spec(pod).get("tolerations"), t) for t in _spec(template).get("taints") or []):
        return False
    allocatable = (template.get("status") or {}).get("allocatable") or {}
    if _cpu(pod) > millicores(allocatable.get("cpu")):
        return False
    return all(millicores(allocatable.get(name)) >= amount * 1000 for name, amount in _extended(pod).items())


def _clone(template):
    """A new node of the template's pool, NotReady and tainted as a node that just registered."""
    meta = metadata_of(template)
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
    name = "%s-%s" % (meta["name"], suffix)
    labels = dict(meta.get("labels") or {})
    if "kubernetes.io/hostname" in labels:
        labels["kubernetes.io/hostname"] = name
    annotations = dict(meta.get("annotations") or {})
    if CAPI_MACHINE in annotations:
        annotations[CAPI_MACHINE] = "%s-%s" % (annotations.get(CAPI_OWNER) or meta["name"], suffix)
    spec = {k: v for k, v in _spec(template).items() if k not in ("podCIDR", "podCIDRs", "providerID", "unschedulable")}
    spec["taints"] = list(spec.get("taints") or []) + [NOT_READY]
    status = template.get("status") or {}
    moment = now()
    not_ready = {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "container runtime network not ready",
                 "lastHeartbeatTime": moment, "lastTransitionTime": moment}
    info = dict(status.get("nodeInfo") or {}, bootID=str(uuid.uuid4()), machineID=uuid.uuid4().hex, systemUUID=str(uuid.uuid4()).upper())
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "spec": spec,
            "status": {**{k: v for k, v in status.items() if k not in ("addresses", "conditions", "nodeInfo")},
                       "addresses": [{"type": "Hostname", "address": name}], "conditions": [not_ready], "nodeInfo": info}}


def _scale_up(store, pod):
    pool = _pool(store, pod)
    if pool is None:
        return
    members, template, maximum = pool
    booting = any(metadata_of(n).get("uid") in _ADDED and not _ready(n) for n in members)
    if _annotation(template, SCRIPT) == NEVER_UP or booting or len(members) >= maximum or not _fits_template(pod, template):
        return
    node = store.sim_create(NODES, _clone(template))
    _ADDED[metadata_of(node)["uid"]] = time.monotonic()


def _free_cpu(store, node):
    used = sum(_cpu(p) for p in store.sim_objects(PODS) if _spec(p).get("nodeName") == metadata_of(node)["name"] and not _finished(p))
    return millicores(((node.get("status") or {}).get("allocatable") or {}).get("cpu")) - used


def _schedule_cpu(store, pod):
    """Bind a CPU-only pod of an autoscaled pool to the first node that takes it; whether it was bound."""
    reasons = {}
    nodes = store.sim_objects(NODES)
    for node in nodes:
        untolerated = [t for t in _spec(node).get("taints") or [] if not tolerates(_spec(pod).get("tolerations"), t)]
        if _spec(node).get("unschedulable"):
            why = "node(s) were unschedulable"
        elif not _selects(pod, node):
            why = "node(s) didn't match Pod's node affinity/selector"
        elif untolerated:
            why = "node(s) had untolerated taint {%s: %s}" % (untolerated[0].get("key"), untolerated[0].get("value", ""))
        elif _free_cpu(store, node) < _cpu(pod):
            why = "Insufficient cpu"
        else:
            bind(store, pod, metadata_of(node)["name"], [], {})
            return True
        reasons[why] = reasons.get(why, 0) + 1
    mark_unschedulable(store, pod, "0/%d nodes are available: %s." % (
        len(nodes), ", ".join("%d %s" % (n, why) for why, n in sorted(reasons.items()))))
    return False


def pod(ops, _resource_key, obj):
    """After the scheduler's turn on a pod: schedule it when it is CPU only; scale its pool up while it is Unschedulable."""
    store = ops.store
    current = store.sim_get(PODS, metadata_of(obj).get("namespace"), metadata_of(obj)["name"])
    if current is None or metadata_of(current).get("uid") != metadata_of(obj).get("uid") or _finished(current) \
            or _spec(current).get("nodeName") or _spec(current).get("schedulerName", DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:
        return None
    cpu_only = not _handled(current)  # dra.py schedules the others
    if cpu_only:
        if _pool(store, current) is None:
            return None
        if _schedule_cpu(store, current):
            return None
        current = store.sim_get(PODS, metadata_of(current).get("namespace"), metadata_of(current)["name"])
    if _unschedulable_now(current):
        _scale_up(store, current)
        return RETRY
    return RETRY if cpu_only else None


def node(ops, _resource_key, obj):
    """A node the autoscaler added: Ready once booted; removed once unneeded."""
    store = ops.store
    uid = metadata_of(obj).get("uid")
    current = store.sim_get(NODES, "", metadata_of(obj)["name"])
    if uid not in _ADDED or current is None or metadata_of(current).get("uid") != uid:
        return None
    moment, delay = time.monotonic(), store.controller_delay or 0.0
    if not _ready(current):
        if moment - _ADDED[uid] < BOOT_DELAYS * delay:
            return RETRY
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                 "lastHeartbeatTime": now(), "lastTransitionTime": now()}
        taints = [t for t in _spec(current).get("taints") or [] if t.get("key") != NOT_READY["key"]]
        store.sim_write(NODES, {**current, "spec": {**_spec(current), "taints": taints},
                                "status": {**current["status"], "conditions": [ready]}}, spec_changed=True)
        return RETRY
    if _annotation(current, SCRIPT) == NEVER_DOWN:
        return None
    name = metadata_of(current)["name"]
    if any(_spec(p).get("nodeName") == name and not _finished(p) and store.is_api_created(p) for p in store.sim_objects(PODS)):
        _UNNEEDED.pop(uid, None)
        return RETRY
    since = _UNNEEDED.setdefault(uid, moment)
    if moment - since < SCALE_DOWN_DELAYS * delay:
        return RETRY
    store._remove(NODES, ("", name), "Background")  # pylint: disable=protected-access  # the autoscaler deletes its node
    _ADDED.pop(uid, None)
    _UNNEEDED.pop(uid, None)
    return None


RECONCILERS = {PODS: pod, NODES: node}
