"""Volcano's job controller and scheduler, for ``batch.volcano.sh`` Jobs created through the API.

- After the delay: PodGroup ``<job>-<uid>`` (scheduling.volcano.sh/v1beta1, owned by the Job, minMember = the Job's
  minAvailable, its queue) with phase Pending, and one Pending pod per task replica, ``<job>-<task>-<index>``
  (labels ``volcano.sh/job-name``, ``volcano.sh/job-namespace``, ``volcano.sh/task-spec``, annotation
  ``scheduling.k8s.io/group-name``, owned by the Job); the Job gets ``status.state.phase: Pending``.
- After each further delay the scheduler places the pending pods, first fit, on the nodes whose free capacity
  (allocatable minus the requests of the unfinished pods bound there) holds their requests, that are not cordoned
  and whose NoSchedule/NoExecute taints they tolerate. When at least minMember pods fit, every pod that fits is
  bound (``spec.nodeName``, Running, PodScheduled and Ready True), the PodGroup and the Job are Running; otherwise
  no pod is bound: each gets ``PodScheduled=False`` reason Unschedulable, the PodGroup stays Pending with condition
  ``Unschedulable=True`` (NotEnoughResources), and the scheduler tries again after the delay.
- One delay after Running the pods are Succeeded and the Job and its PodGroup Completed.
- Admission (volcano-admission's validating webhook): a Job without tasks, with minAvailable above its replicas,
  or naming a Queue that does not exist or is not Open is denied.

``SCHEDULER`` scripts the scheduler for tests: ``"gang"`` (the default, above), ``"per-pod"`` (no gang semantics:
every pod that fits is bound even when fewer than minMember do; the PodGroup is then Unknown) or ``"stopped"`` (the
scheduler is down: pods stay Pending with no PodScheduled condition, the Job Pending).
"""

from decimal import Decimal

from ..controllers import NODES, PODS, RETRY, metadata_of, quantity, tolerates

JOBS = ("batch.volcano.sh", "jobs")
PODGROUPS = ("scheduling.volcano.sh", "podgroups")
QUEUES = ("scheduling.volcano.sh", "queues")
SCHEDULER = "gang"


def _phase(job):
    return ((job.get("status") or {}).get("state") or {}).get("phase", "")


def _tasks(job):
    return (job.get("spec") or {}).get("tasks") or []


def _replicas(job):
    return sum(int(task.get("replicas", 1)) for task in _tasks(job))


def _min_available(job):
    return int((job.get("spec") or {}).get("minAvailable", _replicas(job)))


def _owned(store, resource_key, job):
    return [o for o in store.sim_objects(resource_key, metadata_of(job).get("namespace"))
            if any(ref.get("uid") == metadata_of(job).get("uid") for ref in metadata_of(o).get("ownerReferences") or [])]


def _owner_reference(job):
    return {"apiVersion": job.get("apiVersion", "batch.volcano.sh/v1alpha1"), "kind": "Job", "name": metadata_of(job)["name"],
            "uid": metadata_of(job)["uid"], "controller": True, "blockOwnerDeletion": True}


def _requests(pod):
    totals = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        for name, value in dict(resources.get("limits") or {}, **(resources.get("requests") or {})).items():
            totals[name] = totals.get(name, Decimal(0)) + quantity(value)
    return totals


def _free_capacity(store):
    """node name -> (node, {resource: free amount}) over every node."""
    free = {metadata_of(n)["name"]: (n, {r: quantity(v) for r, v in ((n.get("status") or {}).get("allocatable") or {}).items()})
            for n in store.sim_objects(NODES)}
    for pod in store.sim_objects(PODS):
        node = (pod.get("spec") or {}).get("nodeName")
        if node in free and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            for name, amount in _requests(pod).items():
                free[node][1][name] = free[node][1].get(name, Decimal(0)) - amount
    return free


def _fits(pod, node, amounts):
    spec = pod.get("spec") or {}
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    if not all(tolerates(spec.get("tolerations"), taint) for taint in (node.get("spec") or {}).get("taints") or []):
        return False
    return all(amounts.get(name, Decimal(0)) >= amount for name, amount in _requests(pod).items())


def _place(pods, free):
    """{pod name: node name} for the pods that fit, first fit, each taking its requests from ``free``."""
    placed = {}
    for pod in pods:
        for name, (node, amounts) in sorted(free.items()):
            if _fits(pod, node, amounts):
                for resource, amount in _requests(pod).items():
                    amounts[resource] = amounts.get(resource, Decimal(0)) - amount
                placed[metadata_of(pod)["name"]] = name
                break
    return placed


def _job_status(job, phase, **counts):
    status = {"state": {"phase": phase}, "minAvailable": _min_available(job)}
    status.update(counts)
    return status


def _create_gang(ops, job):
    """The job controller: the PodGroup and the pods."""
    store, meta = ops.store, metadata_of(job)
    spec = job.get("spec") or {}
    group = "%s-%s" % (meta["name"], meta["uid"])
    store.sim_create(PODGROUPS, {
        "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
        "metadata": {"name": group, "namespace": meta["namespace"], "ownerReferences": [_owner_reference(job)]},
        "spec": {"minMember": _min_available(job), "queue": spec.get("queue", "default")},
        "status": {"phase": "Pending"}})
    for task in _tasks(job):
        template = task.get("template") or {}
        for index in range(int(task.get("replicas", 1))):
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels.update({"volcano.sh/job-name": meta["name"], "volcano.sh/job-namespace": meta["namespace"],
                           "volcano.sh/task-spec": task.get("name", "")})
            pod_spec = dict(template.get("spec") or {})
            pod_spec.setdefault("schedulerName", spec.get("schedulerName", "volcano"))
            store.sim_create(PODS, {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "%s-%s-%d" % (meta["name"], task.get("name", ""), index), "namespace": meta["namespace"],
                             "labels": labels, "annotations": {"scheduling.k8s.io/group-name": group},
                             "ownerReferences": [_owner_reference(job)]},
                "spec": pod_spec, "status": {"phase": "Pending"}})
    ops._set_status(JOBS, job, _job_status(job, "Pending", pending=_replicas(job)))


def _schedule(ops, job, group, pods):
    """The scheduler's session for one gang."""
    store = ops.store
    pending = [p for p in pods if not (p.get("spec") or {}).get("nodeName")]
    placed = _place(pending, _free_capacity(store))
    bound = len(pods) - len(pending)
    if SCHEDULER == "gang" and bound + len(placed) < _min_available(job):
        placed = {}
    for pod in pending:
        node = placed.get(metadata_of(pod)["name"])
        if node:
            conditions = [{"type": t, "status": "True"} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
            store.sim_write(PODS, {**pod, "spec": {**pod["spec"], "nodeName": node},
                                   "status": {"phase": "Running", "conditions": conditions}})
        else:
            unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                             "message": "%d/%d pods of the gang fit the free capacity, minAvailable %d"
                                        % (bound + len(placed), len(pods), _min_available(job))}
            ops._set_status(PODS, pod, {"phase": "Pending", "conditions": [unschedulable]})
    running = bound + len(placed)
    if running >= _min_available(job):
        ops._set_status(PODGROUPS, group, {"phase": "Running", "running": running})
        ops._set_status(JOBS, job, _job_status(job, "Running", running=running, pending=len(pods) - running))
    elif running:
        ops._set_status(PODGROUPS, group, {"phase": "Unknown", "running": running})
        ops._set_status(JOBS, job, _job_status(job, "Pending", running=running, pending=len(pods) - running))
    else:
        ops._set_status(PODGROUPS, group, {"phase": "Pending", "conditions": [{
            "type": "Unschedulable", "status": "True", "reason": "NotEnoughResources",
            "message": "%d pods of minMember %d fit the free capacity" % (len(placed), _min_available(job))}]})


def _complete(ops, job, group, pods):
    for pod in pods:
        ops.store.sim_write(PODS, {**pod, "status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False"}]}})
    ops._set_status(PODGROUPS, group, {"phase": "Completed", "succeeded": len(pods)})
    ops._set_status(JOBS, job, _job_status(job, "Completed", succeeded=len(pods)))


def job(ops, _resource_key, obj):
    """One step of a Volcano Job: PodGroup and pods created, the gang scheduled, the pods done."""
    if _phase(obj) == "Completed":
        return None
    groups = _owned(ops.store, PODGROUPS, obj)
    if not groups:
        _create_gang(ops, obj)
        return RETRY
    pods = _owned(ops.store, PODS, obj)
    if _phase(obj) == "Running":
        _complete(ops, obj, groups[0], pods)
        return None
    if SCHEDULER != "stopped":
        _schedule(ops, obj, groups[0], pods)
    return RETRY


def validate_job(store, obj):
    """volcano-admission's checks of a new Job: the denial, or None."""
    name = (obj.get("spec") or {}).get("queue", "default")
    queue = store.sim_get(QUEUES, "", name)
    if not _tasks(obj):
        problem = "the Job has no tasks"
    elif _min_available(obj) > _replicas(obj):
        problem = "minAvailable %d is more than the %d replicas of its tasks" % (_min_available(obj), _replicas(obj))
    elif queue is None or (queue.get("status") or {}).get("state") != "Open":
        problem = "Queue %s is %s, not Open" % (name, "missing" if queue is None else (queue.get("status") or {}).get("state"))
    else:
        return None
    return 'admission webhook "validatejob.volcano.sh" denied the request: %s' % problem


RECONCILERS = {JOBS: job}
ADMISSION = {JOBS: validate_job}
