# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the operator section.

robust_controller drives the operator the read-only check accepted:

* Kubeflow Trainer, the official test's semantics (TestRobustCRDControllerOperation): a TrainJob whose runtimeRef
  names a ClusterTrainingRuntime that does not exist is denied by an admission webhook, and a valid TrainJob on
  ClusterTrainingRuntime ``torch-distributed`` (else another torch runtime the cluster has) reaches Complete within
  the official reconcile timeout; Failed ends the wait at once. The valid TrainJob runs the pinned busybox as its
  trainer instead of the runtime's multi-gigabyte PyTorch image, so ``probe_image_registry`` applies to it.
* The Kubeflow training operator v1, as the RKE2 demonstration shows it: a TFJob (a PyTorchJob when TFJobs are not
  served) whose container has no image is denied by the webhook (server-side dry run).
* Any other operator: a server-side dry run of its primary resource with an empty spec, conclusive only when an
  admission webhook denies it; otherwise SKIPPED, saying why.

A denial counts only when the API server says an admission webhook made it; any other refusal is ERROR.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Optional

from ansible_collections.k8s_ai.conformance.plugins.module_utils import lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError, Predicate, WaitTimeout, condition_is
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import conditions_line, name_of
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import image
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import ERROR, FAIL, PASS, SKIPPED, Finding
from ansible_collections.k8s_ai.conformance.plugins.module_utils.sections.operator import OPERATORS

TRAINER = "trainer.kubeflow.org"
RUNTIME_KIND = "ClusterTrainingRuntime"
DEFAULT_RUNTIME = "torch-distributed"  # the official test's
MISSING_RUNTIME = "does-not-exist-runtime"  # the official test's invalid runtimeRef
RECONCILE_TIMEOUT = 180.0  # the official test's -operator-reconcile-timeout
INVALID, VALID = "invalid-cr", "valid-cr"  # the official test's object names
TRAINER_LOGS = "kubectl logs -n kubeflow-system deployment/kubeflow-trainer-controller-manager"
# v1 resource -> (kind, replica specs field, replica type, the container name its webhook requires)
V1_JOBS = (("tfjobs", "TFJob", "tfReplicaSpecs", "Chief", "tensorflow"),
           ("pytorchjobs", "PyTorchJob", "pytorchReplicaSpecs", "Master", "pytorch"))
RECONCILE_CAVEAT = ("a valid custom resource reconciled is not demonstrated for %s: the probe shows only its admission "
                    "webhook denying an invalid one")


def by_webhook(refusal: str) -> bool:
    """Whether an admission webhook denied the request (the API server's words for it; not, say, a webhook that
    cannot take a dry run)."""
    return "denied the request" in refusal


def _not_by_webhook(what: str, refusal: str) -> Finding:
    return Finding(ERROR, "the API server refused %s, but not through an admission webhook, so the webhook was not shown "
                          "working: %s" % (what, refusal),
                   remediation="read the refusal: an RBAC denial needs create on the resource for the probe's user, a "
                               "schema error means the CRD differs from the one the probe knows")


def _accepted_operator(ctx) -> Optional[Dict[str, Any]]:
    """The operator the read-only check accepted (the first of its evaluation without a problem)."""
    evaluated = (ctx.checked.details if ctx.checked else {}).get("operators") or []
    accepted = next((r for r in evaluated if not r.get("problems")), None)
    if accepted is None:
        return None
    op = next(o for o in OPERATORS if o["name"] == accepted["operator"])
    return dict(op, version=accepted["api_version"].split("/", 1)[1], served=accepted["resources"])


# -- Kubeflow Trainer --------------------------------------------------------------------------------------------
def _train_job(version: str, name: str, runtime: str, trainer: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    spec: Dict[str, Any] = {"runtimeRef": {"name": runtime, "apiGroup": TRAINER, "kind": RUNTIME_KIND}}
    if trainer:
        spec["trainer"] = trainer
    return {"apiVersion": "%s/%s" % (TRAINER, version), "kind": "TrainJob", "metadata": {"name": name}, "spec": spec}


def _trainjob_state(job: Dict[str, Any]) -> str:
    jobs = ["%s active=%s succeeded=%s failed=%s" % (j.get("name"), j.get("active", 0), j.get("succeeded", 0), j.get("failed", 0))
            for j in (job.get("status") or {}).get("jobsStatus") or []]
    return "jobsStatus: %s; %s" % (", ".join(jobs) or "none", conditions_line(job))


COMPLETE = condition_is("Complete")
FINISHED = Predicate("condition=Complete", lambda job: COMPLETE(job) or condition_is("Failed")(job), show=_trainjob_state,
                     hint="the TrainJob's JobSet and pods show why it did not finish (image pulls, scheduling, crashes)")


def _torch(runtime: Dict[str, Any]) -> bool:
    return "torch" in ((runtime.get("spec") or {}).get("mlPolicy") or {})


def _runtime(ctx, version: str) -> Optional[str]:
    """torch-distributed, else the first other ClusterTrainingRuntime with a torch mlPolicy; None without one."""
    runtimes = ctx.list(TRAINER, version, "clustertrainingruntimes",
                        show=lambda items: "\n".join("%s%s" % (name_of(r), " (torch)" if _torch(r) else "") for r in items)
                        or "No resources found",
                        note="the runtime of the valid TrainJob: %s, else another torch runtime" % DEFAULT_RUNTIME)
    names = [name_of(r) for r in runtimes]
    if DEFAULT_RUNTIME in names:
        return DEFAULT_RUNTIME
    return next((name_of(r) for r in sorted(runtimes, key=name_of) if _torch(r)), None)


def _pod_lines(pods: List[Dict[str, Any]]) -> List[str]:
    return ["%s %s" % ((p.get("metadata") or {}).get("name"), (p.get("status") or {}).get("phase", "?")) for p in pods]


def _pods_seen(ctx) -> str:
    pods = ctx.list("", "v1", "pods", namespace=ctx.namespace, note="what the TrainJob's JobSet started",
                    show=lambda items: "\n".join(_pod_lines(items)) or "No resources found")
    return ", ".join(_pod_lines(pods)) or "no pod"


def _trainer(ctx, op) -> Finding:
    version = op["version"]
    refusal = ctx.denied(TRAINER, version, "trainjobs", _train_job(version, INVALID, MISSING_RUNTIME),
                         note="a TrainJob on %s %s, which does not exist: an admission webhook must deny it" % (
                             RUNTIME_KIND, MISSING_RUNTIME))
    if refusal is None:
        return Finding(FAIL, "Kubeflow Trainer's admission webhook accepted a TrainJob whose runtimeRef names %s %s, which "
                             "does not exist (server-side dry run): invalid TrainJobs are not validated" % (
                                 RUNTIME_KIND, MISSING_RUNTIME),
                       remediation="check that ValidatingWebhookConfiguration validator.trainer.kubeflow.org has a rule for "
                                   "trainjobs (CREATE) whose namespaceSelector and objectSelector match, and read "
                                   "%s" % TRAINER_LOGS)
    if not by_webhook(refusal):
        return _not_by_webhook("the invalid TrainJob", refusal)
    runtime = _runtime(ctx, version)
    if runtime is None:
        return Finding(FAIL, "Kubeflow Trainer has no %s %s (nor another torch runtime) for a valid TrainJob to run on; "
                             "its webhook did deny the invalid one: %s" % (RUNTIME_KIND, DEFAULT_RUNTIME, refusal),
                       remediation="install Trainer's default runtimes: helm upgrade kubeflow-trainer "
                                   "oci://ghcr.io/kubeflow/charts/kubeflow-trainer -n kubeflow-system --reuse-values --set "
                                   "runtimes.defaultEnabled=true (role k8s_ai.conformance.training_operator does so with "
                                   "training_operator_trainer_runtimes: true)")
    busybox = image("busybox", ctx.options.probe_image_registry)
    trainer = {"image": busybox, "command": ["sh", "-c", "echo PET_NNODES=$PET_NNODES PET_NODE_RANK=$PET_NODE_RANK"]}
    try:
        ctx.create(TRAINER, version, "trainjobs", _train_job(version, VALID, runtime, trainer),
                   note="a valid TrainJob on %s %s (trainer image busybox): it must reach Complete" % (RUNTIME_KIND, runtime))
    except KubeError as exc:
        if exc.status in (400, 403, 422) and by_webhook(exc.message or ""):
            return Finding(FAIL, "Kubeflow Trainer's admission webhook denied a valid TrainJob on %s %s: %s" % (
                RUNTIME_KIND, runtime, exc.message), remediation="read %s" % TRAINER_LOGS)
        raise
    timeout = min(RECONCILE_TIMEOUT, ctx.remaining())
    try:
        job = ctx.wait_for(TRAINER, version, "trainjobs", VALID, FINISHED, timeout=timeout,
                           note="the controller reconciles it to Complete (Failed ends the wait)")
    except WaitTimeout as exc:
        return Finding(FAIL, "TrainJob %s on %s %s did not reach Complete within %.0fs: last observed %s; pods: %s" % (
            VALID, RUNTIME_KIND, runtime, timeout, exc.observed, _pods_seen(ctx)),
            remediation="run again with keep_probe_resources: true and read kubectl describe trainjob -n %s %s, its JobSet "
                        "and pods (image pulls, scheduling), and %s" % (ctx.namespace, VALID, TRAINER_LOGS))
    if not COMPLETE(job):
        return Finding(FAIL, "TrainJob %s on %s %s failed: %s; pods: %s" % (
            VALID, RUNTIME_KIND, runtime, conditions_line(job), _pods_seen(ctx)),
            remediation="run again with keep_probe_resources: true and read the logs of its pods (kubectl logs -n %s "
                        "-l jobset.sigs.k8s.io/jobset-name=%s) and %s" % (ctx.namespace, VALID, TRAINER_LOGS))
    return Finding(PASS, "Kubeflow Trainer's admission webhook denied a TrainJob on the missing %s %s (%s), and TrainJob "
                         "%s on %s %s (trainer image busybox) reached Complete." % (
                             RUNTIME_KIND, MISSING_RUNTIME, refusal, VALID, RUNTIME_KIND, runtime))


# -- Kubeflow training operator v1 -------------------------------------------------------------------------------
def _v1_job(op, kind: str, specs: str, role: str, container: str) -> Dict[str, Any]:
    return {"apiVersion": "%s/%s" % (op["group"], op["version"]), "kind": kind, "metadata": {"name": INVALID},
            "spec": {specs: {role: {"replicas": 1, "restartPolicy": "Never",
                                    "template": {"spec": {"containers": [{"name": container}]}}}}}}


def _training_operator_v1(ctx, op) -> Finding:
    resource, kind, specs, role, container = next(j for j in V1_JOBS if j[0] in op["served"])  # pytorchjobs always is
    refusal = ctx.denied(op["group"], op["version"], resource, _v1_job(op, kind, specs, role, container),
                         note="a %s whose container %r has no image: the operator's webhook must deny it" % (kind, container))
    if refusal is None:
        return Finding(FAIL, "the training operator's admission webhook accepted a %s whose container has no image "
                             "(server-side dry run): invalid %ss are not validated" % (kind, kind),
                       remediation="check that ValidatingWebhookConfiguration validator.training-operator.kubeflow.org has a "
                                   "rule for %s (CREATE) and read kubectl logs -n kubeflow deployment/training-operator"
                                   % resource)
    if not by_webhook(refusal):
        return _not_by_webhook("the invalid %s" % kind, refusal)
    return Finding(PASS, "the training operator's admission webhook denied a %s whose container has no image: %s" % (
        kind, refusal), caveats=[RECONCILE_CAVEAT % op["name"]])


# -- any other operator ------------------------------------------------------------------------------------------
def _has_validating_hook(ctx, op) -> bool:
    hooks = [(config, hook) for kind, config, hook in lookups.webhooks_for(ctx.kube, (op["group"],))
             if kind == "ValidatingWebhookConfiguration" and any(
                 set(rule.get("resources") or []) & {op["primary"], "*"} for rule in hook.get("rules") or [])]
    lookups.record_webhooks(ctx, "\n".join("%s webhook %s" % (name_of(c), h.get("name")) for c, h in hooks) or "none",
                            note="validating webhooks with a rule for %s.%s" % (op["primary"], op["group"]))
    return bool(hooks)


def _generic(ctx, op) -> Finding:
    if not _has_validating_hook(ctx, op):
        return Finding(SKIPPED, "%s registers no validating webhook for %s, so no invalid object can be shown denied" % (
            op["name"], op["primary"]))
    kind = ctx.kube.discovery().resources(op["group"], op["version"])[op["primary"]]["kind"]
    refusal = ctx.denied(op["group"], op["version"], op["primary"], {
        "apiVersion": "%s/%s" % (op["group"], op["version"]), "kind": kind, "metadata": {"name": INVALID}, "spec": {}},
        note="a %s with an empty spec: conclusive only if an admission webhook denies it" % kind)
    if refusal is None or not by_webhook(refusal):
        return Finding(SKIPPED, "no probe knows an invalid %s for %s: one with an empty spec was %s" % (
            kind, op["name"], "accepted (dry run)" if refusal is None else "refused before any webhook: %s" % refusal))
    return Finding(PASS, "%s's admission webhook denied a %s with an empty spec: %s" % (op["name"], kind, refusal),
                   caveats=[RECONCILE_CAVEAT % op["name"]])


@probe("robust_controller")
def robust_controller_probe(ctx) -> Finding:
    """The accepted operator's webhook denies an invalid custom resource; Trainer also reconciles a valid one."""
    op = _accepted_operator(ctx)
    if op is None:
        return Finding(SKIPPED, "the read-only check no longer accepts any operator, so there is none to drive")
    if op["group"] == TRAINER:
        return _trainer(ctx, op)
    if op.get("component") == "training_operator_v1":
        return _training_operator_v1(ctx, op)
    return _generic(ctx, op)
