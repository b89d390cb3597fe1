"""The scheduler, DRA allocation and kubelet for API-created pods that need devices or a node of their own.

A pod is handled when it was created through the API (or by another simulation), is the default scheduler's
(``schedulerName`` unset or ``default-scheduler``: Volcano's pods are volcano.py's) and references ResourceClaims
(``spec.resourceClaims[].resourceClaimName``), requests an extended resource (``nvidia.com/gpu`` ...), or is pinned
by node affinity on ``metadata.name`` (``matchFields``, as a DaemonSet's pods are). One delay after its creation,
and after each delay while it stays unscheduled:

- Nodes, by name: not ``spec.unschedulable``; matching the pod's ``nodeSelector`` and ``metadata.name`` affinity;
  every NoSchedule/NoExecute taint tolerated.
- Extended resources: the node's allocatable minus the requests (or limits) of the pods bound to it that have not
  finished covers the pod's.
- Claims: each must exist in the pod's namespace. One allocated already keeps its devices and node (a shared
  claim); otherwise each request (``exactly`` in v1/v1beta2, inline in v1beta1; ``count``, default 1) gets that many
  free devices on the node: devices of ResourceSlices (``nodeName``, ``allNodes`` or per-device ``nodeName``) in
  complete pools (every slice at the pool's highest generation published) of the driver the DeviceClass's CEL names
  (``device.driver == '...'``), meeting its and the request's ``device.attributes['<domain>'].<name> == '...'``
  terms. A device is free unless a claim's allocation holds it while reserved for a pod that exists and has not
  finished.
- A fit: the claims get ``status.allocation`` (``devices.results`` request/driver/pool/device, ``nodeSelector`` on the
  node) and ``reservedFor`` the pod; the pod gets ``spec.nodeName`` and is Running and Ready.
- No fit: ``PodScheduled=False``, reason ``Unschedulable``, a message in the scheduler's form.
- A Running pod this simulation started whose containers all have a ``command`` and whose restartPolicy is Never
  is Succeeded one delay later (containers terminated, exit code 0); the others run on. What their containers
  print is kubelet.py's.
- Annotation ``fakeapi.k8s-ai.io/never-allocate: "true"`` on a DeviceClass or a ResourceClaim: that claim is
  never allocated (scripted failures; the pod stays Unschedulable).

Not simulated: ResourceClaimTemplates, allocationMode All, firstAvailable, device taints, other CEL, preemption.
"""

import re

from ..controllers import NODES, PODS, RETRY, metadata_of, now, quantity, tolerates

CLAIMS = ("resource.k8s.io", "resourceclaims")
SLICES = ("resource.k8s.io", "resourceslices")
CLASSES = ("resource.k8s.io", "deviceclasses")
NEVER_ALLOCATE = "fakeapi.k8s-ai.io/never-allocate"
DEFAULT_SCHEDULER = "default-scheduler"
DRIVER_TERM = re.compile(r"""device\.driver\s*==\s*['"]([^'"]+)['"]""")
ATTRIBUTE_TERM = re.compile(r"""device\.attributes\[['"]([^'"]+)['"]\]\.(\w+)\s*==\s*['"]([^'"]*)['"]""")
NOT_EXTENDED = ("kubernetes.io/", "requests.", "hugepages-")


def _spec(obj):
    return obj.get("spec") or {}


def _finished(pod):
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _extended(pod):
    """Extended resource -> amount the pod's containers request (requests, else limits)."""
    wanted = {}
    for container in _spec(pod).get("containers") or []:
        resources = container.get("resources") or {}
        amounts = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in amounts.items():
            if "/" in name and not name.startswith(NOT_EXTENDED):
                wanted[name] = wanted.get(name, 0) + float(quantity(value))
    return wanted


def _pinned(pod):
    """The node names a pod's affinity on metadata.name allows, or None."""
    terms = (((_spec(pod).get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    names = [v for term in terms for f in term.get("matchFields") or [] if f.get("key") == "metadata.name"
             and f.get("operator") == "In" for v in f.get("values") or []]
    return set(names) if names else None


def _claim_names(pod):
    return [c["resourceClaimName"] for c in _spec(pod).get("resourceClaims") or [] if c.get("resourceClaimName")]


def _handled(pod):
    if _spec(pod).get("schedulerName", DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:
        return False
    return bool(_spec(pod).get("resourceClaims") or _extended(pod) or _pinned(pod) is not None)


def _annotated(obj):
    return str((metadata_of(obj).get("annotations") or {}).get(NEVER_ALLOCATE, "")).lower() == "true"


# -- devices ------------------------------------------------------------------------------------------------------
def _devices(store):
    """(driver, pool, device name, node or "*", attributes) of every device in a complete pool."""
    pools = {}
    for slice_ in store.sim_objects(SLICES):
        spec = _spec(slice_)
        pool = spec.get("pool") or {}
        pools.setdefault((spec.get("driver"), pool.get("name")), []).append(slice_)
    found = []
    for (driver, pool), members in pools.items():
        generation = max(int((_spec(m).get("pool") or {}).get("generation", 0)) for m in members)
        current = [m for m in members if int((_spec(m).get("pool") or {}).get("generation", 0)) == generation]
        if len(current) != int((_spec(current[0]).get("pool") or {}).get("resourceSliceCount", 1)):
            continue
        for member in current:
            spec = _spec(member)
            for device in spec.get("devices") or []:
                basic = device.get("basic") or device
                node = basic.get("nodeName") or spec.get("nodeName") or ("*" if spec.get("allNodes") or basic.get("allNodes") else "")
                if node:
                    found.append((driver, pool, device.get("name"), node, basic.get("attributes") or {}))
    return found


def _attribute(attributes, driver, domain, name):
    attr = attributes.get("%s/%s" % (domain, name), attributes.get(name) if domain == driver else None)
    if isinstance(attr, dict):
        attr = next((attr[k] for k in ("string", "version", "int", "bool") if k in attr), None)
    return None if attr is None else str(attr)


def _selects(expressions, device):
    """Whether the CEL of a class and a request pick ``device``: its driver named, every attribute term met."""
    driver, _pool, _name, _node, attributes = device
    drivers = {d for e in expressions for d in DRIVER_TERM.findall(e)}
    terms = [t for e in expressions for t in ATTRIBUTE_TERM.findall(e)]
    return driver in drivers and all(_attribute(attributes, driver, *term[:2]) == term[2] for term in terms)


def _expressions(selectors):
    return [((s or {}).get("cel") or {}).get("expression", "") for s in selectors or []]


def _results(claim):
    return (((claim.get("status") or {}).get("allocation") or {}).get("devices") or {}).get("results") or []


def _in_use(store):
    """(driver, pool, device) held by claims reserved for a pod that exists and has not finished."""
    held = set()
    for claim in store.sim_objects(CLAIMS):
        consumers = [store.sim_get(PODS, metadata_of(claim).get("namespace"), r.get("name"))
                     for r in (claim.get("status") or {}).get("reservedFor") or [] if r.get("resource") == "pods"]
        if any(p is not None and not _finished(p) for p in consumers):
            held |= {(r.get("driver"), r.get("pool"), r.get("device")) for r in _results(claim)}
    return held


def _claim_node(claim):
    terms = (((claim.get("status") or {}).get("allocation") or {}).get("nodeSelector") or {}).get("nodeSelectorTerms") or []
    names = [v for t in terms for f in t.get("matchFields") or [] if f.get("key") == "metadata.name" for v in f.get("values") or []]
    return names[0] if names else None


def _allocate(store, claims, node, devices, held):
    """request results per claim allocated on ``node``, or None when a claim does not fit there."""
    taken, plan = set(held), {}
    for claim in claims:
        if _results(claim):
            if _claim_node(claim) not in (None, node):
                return None
            continue
        results = []
        for request in (_spec(claim).get("devices") or {}).get("requests") or []:
            exact = request.get("exactly") or request  # v1/v1beta2 nest it; v1beta1 has the fields inline
            device_class = store.sim_get(CLASSES, "", exact.get("deviceClassName"))
            if device_class is None or _annotated(device_class) or _annotated(claim) or exact.get("allocationMode") == "All":
                return None
            expressions = _expressions(_spec(device_class).get("selectors")) + _expressions(exact.get("selectors"))
            free = [d for d in devices if d[3] in (node, "*") and d[:3] not in taken and _selects(expressions, d)]
            count = int(exact.get("count") or 1)
            if len(free) < count:
                return None
            for driver, pool, name, _node, _attrs in free[:count]:
                taken.add((driver, pool, name))
                results.append({"request": request.get("name"), "driver": driver, "pool": pool, "device": name})
        plan[metadata_of(claim)["name"]] = results
    return plan


# -- scheduling ---------------------------------------------------------------------------------------------------
def _free(store, node, resource):
    allocatable = float(quantity(((node.get("status") or {}).get("allocatable") or {}).get(resource)))
    used = sum(_extended(p).get(resource, 0) for p in store.sim_objects(PODS)
               if _spec(p).get("nodeName") == metadata_of(node)["name"] and not _finished(p))
    return allocatable - used


def _why_not(store, pod, node, claims, devices, held):
    """Why ``node`` cannot take ``pod`` (the scheduler's words), or the claims' allocation there."""
    meta, spec = metadata_of(node), _spec(node)
    pinned = _pinned(pod)
    labels = meta.get("labels") or {}
    if spec.get("unschedulable"):
        return "node(s) were unschedulable", None
    if (pinned is not None and meta["name"] not in pinned) or \
            any(labels.get(k) != v for k, v in (_spec(pod).get("nodeSelector") or {}).items()):
        return "node(s) didn't match Pod's node affinity/selector", None
    untolerated = [t for t in spec.get("taints") or [] if not tolerates(_spec(pod).get("tolerations"), t)]
    if untolerated:
        return "node(s) had untolerated taint {%s: %s}" % (untolerated[0].get("key"), untolerated[0].get("value", "")), None
    short = [r for r, amount in sorted(_extended(pod).items()) if _free(store, node, r) < amount]
    if short:
        return "Insufficient %s" % short[0], None
    plan = _allocate(store, claims, meta["name"], devices, held)
    if plan is None:
        return "cannot allocate all claims", None
    return None, plan


def mark_unschedulable(store, pod, message):
    """The scheduler's verdict on a pod no node fits: PodScheduled=False (Unschedulable) with ``message``; RETRY."""
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    status = {"phase": "Pending", "conditions": [condition]}
    if pod.get("status") != status:
        store.sim_write(PODS, {**pod, "status": status})
    return RETRY


def _schedule(store, pod):
    namespace = metadata_of(pod).get("namespace")
    claims = []
    for name in _claim_names(pod):
        claim = store.sim_get(CLAIMS, namespace, name)
        if claim is None:
            return mark_unschedulable(store, pod, '0/%d nodes are available: resourceclaim "%s" not found.'
                                      % (len(store.sim_objects(NODES)), name))
        claims.append(claim)
    devices, held = _devices(store), _in_use(store)
    reasons = {}
    for node in store.sim_objects(NODES):
        why, plan = _why_not(store, pod, node, claims, devices, held)
        if why is None:
            bind(store, pod, metadata_of(node)["name"], claims, plan)
            return RETRY  # the kubelet's turn: a command may finish
        reasons[why] = reasons.get(why, 0) + 1
    return mark_unschedulable(store, pod, "0/%d nodes are available: %s." % (
        sum(reasons.values()), ", ".join("%d %s" % (n, why) for why, n in sorted(reasons.items()))))


def bind(store, pod, node, claims, plan):
    """Bind ``pod`` to ``node``, its ``claims`` allocated as ``plan`` says and reserved for it: Running and Ready."""
    for claim in claims:
        status = dict(claim.get("status") or {})
        if metadata_of(claim)["name"] in plan:
            status["allocation"] = {"devices": {"results": plan[metadata_of(claim)["name"]]}, "allocationTimestamp": now(),
                                    "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                                        {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}
        status["reservedFor"] = list(status.get("reservedFor") or []) + [
            {"resource": "pods", "name": metadata_of(pod)["name"], "uid": metadata_of(pod)["uid"]}]
        store.sim_write(CLAIMS, {**claim, "status": status})
    moment = now()
    ready = [{"type": t, "status": "True", "lastTransitionTime": moment}
             for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
    containers = [{"name": c.get("name"), "image": c.get("image"), "ready": True, "started": True, "restartCount": 0,
                   "state": {"running": {"startedAt": moment}}} for c in _spec(pod).get("containers") or []]
    store.sim_write(PODS, {**pod, "spec": {**_spec(pod), "nodeName": node},
                           "status": {"phase": "Running", "startTime": moment, "conditions": ready,
                                      "containerStatuses": containers}})


def _started_here(pod):
    return (pod.get("status") or {}).get("phase") == "Running" and all(
        "running" in (s.get("state") or {}) for s in (pod.get("status") or {}).get("containerStatuses") or [{}])


def _complete(store, pod):
    spec = _spec(pod)
    if spec.get("restartPolicy") != "Never" or not all(c.get("command") for c in spec.get("containers") or []):
        return None
    moment = now()
    containers = [{**s, "ready": False, "started": False, "state": {"terminated": {
        "exitCode": 0, "reason": "Completed", "startedAt": s["state"]["running"]["startedAt"], "finishedAt": moment}}}
        for s in pod["status"]["containerStatuses"]]
    conditions = [{**c, "status": "False", "reason": "PodCompleted"} if c["type"] in ("Ready", "ContainersReady") else c
                  for c in pod["status"]["conditions"]]
    store.sim_write(PODS, {**pod, "status": {**pod["status"], "phase": "Succeeded", "conditions": conditions,
                                             "containerStatuses": containers}})
    return None


def pod(ops, _resource_key, obj):
    """One step of a handled pod: scheduled (claims allocated, bound, Running), or Unschedulable; then done."""
    if not _handled(obj) or _finished(obj):
        return None
    if _spec(obj).get("nodeName"):
        return _complete(ops.store, obj) if _started_here(obj) else None
    return _schedule(ops.store, obj)


RECONCILERS = {PODS: pod}
