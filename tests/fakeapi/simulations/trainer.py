"""Kubeflow Trainer's TrainJob webhook and controller, and the Kubeflow training operator v1's job webhook.

- TrainJob webhook: while a ValidatingWebhookConfiguration has a webhook with a CREATE rule for ``trainjobs`` of
  ``trainer.kubeflow.org``, creating a TrainJob (dry runs included) whose ``spec.runtimeRef`` names no existing
  runtime (a ClusterTrainingRuntime, the default kind, or a TrainingRuntime of its namespace) is denied, in the API
  server's words for a webhook's denial.
- TrainJob controller: once a Deployment ``kubeflow-trainer-controller-manager`` is ready, an API-created TrainJob on
  an existing runtime gets, after the delay, one Running pod ``<name>-node-0-0-<suffix>`` (owned by it) and
  ``status.jobsStatus`` with one active Job ``node``; after one more delay the pod is Succeeded and the TrainJob has
  ``Complete=True``. A runtime annotated NEVER_COMPLETE "true" leaves its TrainJobs running for ever; one annotated
  FAILS "true" makes the pod Failed and the TrainJob ``Failed=True`` instead.
- Training operator v1 webhook: while a ValidatingWebhookConfiguration has a webhook with a CREATE rule for ``tfjobs``
  (``pytorchjobs``) of ``kubeflow.org``, creating a TFJob (PyTorchJob) without replica specs or with a container
  without an image is denied.

A webhook configuration annotated ADMITS_EVERYTHING "true" admits every object (a webhook that validates nothing).
"""

import functools
import random
import string

from ..controllers import PODS, RETRY, metadata_of

TRAINER = "trainer.kubeflow.org"
TRAINJOBS = (TRAINER, "trainjobs")
CLUSTER_RUNTIMES = (TRAINER, "clustertrainingruntimes")
RUNTIMES = (TRAINER, "trainingruntimes")
TFJOBS = ("kubeflow.org", "tfjobs")
PYTORCHJOBS = ("kubeflow.org", "pytorchjobs")
VALIDATING = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
TRAINER_CONTROLLER = "kubeflow-trainer-controller-manager"
ADMITS_EVERYTHING = "fakeapi.k8s-ai.io/webhook-admits-everything"
NEVER_COMPLETE = "fakeapi.k8s-ai.io/never-complete"
FAILS = "fakeapi.k8s-ai.io/trainjob-fails"


def _flag(obj, annotation):
    return str((metadata_of(obj).get("annotations") or {}).get(annotation, "")).lower() == "true"


def _covers(rule, group, plural):
    return (group in (rule.get("apiGroups") or ()) or "*" in (rule.get("apiGroups") or ())) and \
        (plural in (rule.get("resources") or ()) or "*" in (rule.get("resources") or ())) and \
        bool({"CREATE", "*"} & set(rule.get("operations") or ()))


def _webhook(store, resource_key):
    """The name of a validating webhook with a CREATE rule for ``resource_key``, None when there is none (or its
    configuration admits everything)."""
    group, plural = resource_key
    for config in store.sim_objects(VALIDATING):
        if _flag(config, ADMITS_EVERYTHING):
            continue
        for hook in config.get("webhooks") or ():
            if any(_covers(rule, group, plural) for rule in hook.get("rules") or ()):
                return hook.get("name", "")
    return None


def _denied(hook, message):
    return 'admission webhook "%s" denied the request: %s' % (hook, message)


def _runtime_of(store, job):
    ref = (job.get("spec") or {}).get("runtimeRef") or {}
    if ref.get("kind", "ClusterTrainingRuntime") == "TrainingRuntime":
        return store.sim_get(RUNTIMES, metadata_of(job).get("namespace"), ref.get("name"))
    return store.sim_get(CLUSTER_RUNTIMES, "", ref.get("name"))


def trainjob_admission(store, obj):
    """Trainer's webhook: the runtimeRef must name an existing runtime."""
    hook = _webhook(store, TRAINJOBS)
    if hook is None or _runtime_of(store, obj) is not None:
        return None
    ref = (obj.get("spec") or {}).get("runtimeRef") or {}
    return _denied(hook, 'spec.runtimeRef: Invalid value: "%s": %s %s not found; create the runtime before the TrainJob'
                   % (ref.get("name", ""), ref.get("kind", "ClusterTrainingRuntime"), ref.get("name", "")))


def v1_job_admission(resource_key, specs_field, store, obj):
    """The v1 operator's webhook: replica specs present, every container with an image."""
    hook = _webhook(store, resource_key)
    if hook is None:
        return None
    specs = (obj.get("spec") or {}).get(specs_field)
    if not specs:
        return _denied(hook, "spec.%s: Required value" % specs_field)
    for role, replica in sorted(specs.items()):
        containers = (((replica or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        for index, container in enumerate(containers):
            if not container.get("image"):
                return _denied(hook, "spec.%s[%s].template.spec.containers[%d].image: Required value" % (
                    specs_field, role, index))
    return None


def _pods_of(store, job):
    return [p for p in store.sim_objects(PODS, metadata_of(job).get("namespace"))
            if any(o.get("uid") == metadata_of(job).get("uid") for o in metadata_of(p).get("ownerReferences") or [])]


def _jobs_status(active, succeeded=0, failed=0):
    return [{"name": "node", "active": active, "ready": active, "succeeded": succeeded, "failed": failed, "suspended": 0}]


def _start(ops, job):
    meta = metadata_of(job)
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
    ops.store.sim_create(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "%s-node-0-0-%s" % (meta["name"], suffix), "namespace": meta["namespace"],
                     "labels": {"jobset.sigs.k8s.io/jobset-name": meta["name"]},
                     "ownerReferences": [{"apiVersion": "%s/v1alpha1" % TRAINER, "kind": "TrainJob", "name": meta["name"],
                                          "uid": meta["uid"], "controller": True}]},
        "spec": {"containers": [{"name": "node", "image": ((job.get("spec") or {}).get("trainer") or {}).get("image", "")}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    ops._set_status(TRAINJOBS, job, {"jobsStatus": _jobs_status(1)})


def _finish(ops, job, pods, failed):
    phase, condition, reason = ("Failed", "Failed", "JobsFailed") if failed else ("Succeeded", "Complete", "JobsCompleted")
    for pod in pods:
        ops.store.sim_write(PODS, {**pod, "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "False"}]}})
    ops._set_status(TRAINJOBS, job, {"jobsStatus": _jobs_status(0, int(not failed), int(failed)), "conditions": [
        {"type": condition, "status": "True", "reason": reason, "message": "TrainJob %s (fakeapi)" % phase.lower()}]})


def trainjob(ops, _resource_key, obj):
    """One step of a TrainJob: its pod started, then done."""
    if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
           for c in (obj.get("status") or {}).get("conditions") or []):
        return None
    runtime = _runtime_of(ops.store, obj)
    if not ops._ready_deployment(TRAINER_CONTROLLER) or runtime is None:
        return RETRY
    pods = _pods_of(ops.store, obj)
    if not pods:
        _start(ops, obj)
        return RETRY
    if not _flag(runtime, NEVER_COMPLETE):
        _finish(ops, obj, pods, _flag(runtime, FAILS))
    return None


RECONCILERS = {TRAINJOBS: trainjob}
ADMISSION = {
    TRAINJOBS: trainjob_admission,
    TFJOBS: functools.partial(v1_job_admission, TFJOBS, "tfReplicaSpecs"),
    PYTORCHJOBS: functools.partial(v1_job_admission, PYTORCHJOBS, "pytorchReplicaSpecs"),
}
