"""The Job controller, and Kueue admitting queued Jobs by the quota of their ClusterQueue.

- A ``batch/v1`` Job created through the API, not suspended: after the delay its ``parallelism`` pods are created
  (owned by it, bound to the first node, Running and Ready) and ``status.active``/``ready`` count them; after one
  more delay the pods are Succeeded and the Job has ``SuccessCriteriaMet`` and ``Complete`` True.
- A suspended Job with the label ``kueue.x-k8s.io/queue-name``: once its LocalQueue is Active (operators.py) Kueue
  admits it, unsuspending it, when its CPU requests (``parallelism`` x the pod's) fit in the ``cpu`` nominalQuota
  of the LocalQueue's ClusterQueue (every flavor summed) beside the Jobs admitted already; otherwise it stays
  suspended (``Suspended=True``, no pod) and is looked at again after each delay, as Kueue requeues.
- A ClusterQueue annotated ``fakeapi.k8s-ai.io/admit-over-quota: "true"`` admits every Job whatever its quota: a
  queue without gang semantics, for the tests of the gang probe's negative case.
"""

import random
import string

from ..controllers import NODES, PODS, RETRY, metadata_of, millicores

JOBS = ("batch", "jobs")
LOCALQUEUES = ("kueue.x-k8s.io", "localqueues")
CLUSTERQUEUES = ("kueue.x-k8s.io", "clusterqueues")
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
OVER_QUOTA = "fakeapi.k8s-ai.io/admit-over-quota"


def _conditions(obj):
    return (obj.get("status") or {}).get("conditions") or []


def _true(obj, kind):
    return any(c.get("type") == kind and c.get("status") == "True" for c in _conditions(obj))


def _pod_cpu(job):
    containers = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return sum(millicores(((c.get("resources") or {}).get("requests") or {}).get("cpu")) for c in containers)


def _demand(job):
    return int((job.get("spec") or {}).get("parallelism", 1)) * _pod_cpu(job)


def _finished(job):
    return _true(job, "Complete") or _true(job, "Failed")


def _quota(cluster_queue):
    return sum(millicores(r.get("nominalQuota")) for group in (cluster_queue.get("spec") or {}).get("resourceGroups") or []
               for flavor in group.get("flavors") or [] for r in flavor.get("resources") or [] if r.get("name") == "cpu")


def _cluster_queue_of(store, job):
    local = store.sim_get(LOCALQUEUES, metadata_of(job).get("namespace"), (metadata_of(job).get("labels") or {}).get(QUEUE_LABEL))
    if local is None or not _true(local, "Active"):
        return None
    return store.sim_get(CLUSTERQUEUES, "", (local.get("spec") or {}).get("clusterQueue"))


def _admitted_usage(store, cluster_queue):
    usage = 0
    for job in store.sim_objects(JOBS):
        labels = metadata_of(job).get("labels") or {}
        if QUEUE_LABEL in labels and not (job.get("spec") or {}).get("suspend") and not _finished(job):
            queue = _cluster_queue_of(store, job)
            if queue is not None and metadata_of(queue).get("name") == metadata_of(cluster_queue).get("name"):
                usage += _demand(job)
    return usage


def _kueue(ops, job):
    store = ops.store
    cluster_queue = _cluster_queue_of(store, job)
    over_quota = cluster_queue is not None and (metadata_of(cluster_queue).get("annotations") or {}).get(OVER_QUOTA) == "true"
    if cluster_queue is not None and (over_quota or _admitted_usage(store, cluster_queue) + _demand(job) <= _quota(cluster_queue)):
        spec = dict(job.get("spec") or {}, suspend=False)
        store.sim_write(JOBS, {**job, "spec": spec, "status": {"conditions": []}}, spec_changed=True)
        return RETRY  # the Job controller's turn
    if not _true(job, "Suspended"):
        suspended = {"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended"}
        ops._set_status(JOBS, job, {"conditions": [suspended]})
    return RETRY


def _pods_of(store, job):
    return [p for p in store.sim_objects(PODS, metadata_of(job).get("namespace"))
            if any(o.get("uid") == metadata_of(job).get("uid") for o in metadata_of(p).get("ownerReferences") or [])]


def _start(ops, job):
    store = ops.store
    nodes = store.sim_objects(NODES)
    template = (job.get("spec") or {}).get("template") or {}
    count = int((job.get("spec") or {}).get("parallelism", 1))
    for index in range(count):
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update({"job-name": metadata_of(job)["name"], "batch.kubernetes.io/job-name": metadata_of(job)["name"]})
        spec = dict(template.get("spec") or {}, nodeName=metadata_of(nodes[index % len(nodes)])["name"] if nodes else "")
        store.sim_create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "%s-%d-%s" % (metadata_of(job)["name"], index, suffix), "namespace": metadata_of(job)["namespace"],
                         "labels": labels, "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": metadata_of(job)["name"],
                                                                "uid": metadata_of(job)["uid"], "controller": True}]},
            "spec": spec,
            "status": {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"},
                                                          {"type": "Ready", "status": "True"}]}})
    ops._set_status(JOBS, job, {"active": count, "ready": count, "startTime": metadata_of(job).get("creationTimestamp")})
    return RETRY


def _complete(ops, job, pods):
    store = ops.store
    for pod in pods:
        store.sim_write(PODS, {**pod, "status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False"}]}})
    completions = int((job.get("spec") or {}).get("completions", len(pods)))
    ops._set_status(JOBS, job, {"succeeded": completions, "active": 0, "ready": 0,
                                "startTime": (job.get("status") or {}).get("startTime"),
                                "conditions": [{"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
                                               {"type": "Complete", "status": "True", "reason": "CompletionsReached"}]})


def job(ops, _resource_key, obj):
    """One step of a Job: admission by Kueue, pods started, pods done."""
    if _finished(obj):
        return None
    if (obj.get("spec") or {}).get("suspend"):
        return _kueue(ops, obj) if QUEUE_LABEL in (metadata_of(obj).get("labels") or {}) else None
    pods = _pods_of(ops.store, obj)
    if not pods:
        return _start(ops, obj)
    _complete(ops, obj, pods)
    return None


RECONCILERS = {JOBS: job}
