# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the scheduling section.

gang_scheduling, with Kueue, the official test's semantics (TestGangScheduling): a plain ``batch/v1`` Job carrying
the queue label, parallelism 2, reaches Complete; a Job whose parallelism (1000) needs more CPU than its
ClusterQueue's quota has no pod Running or bound for the whole negative window. The probe brings its own
LocalQueue on the ClusterQueue the check found Active, so it needs no namespace of the site's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import condition_is, job_complete
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import name_of
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import image
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, PASS, SKIPPED, UNKNOWN, Finding

KUEUE = "kueue.x-k8s.io"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
POSITIVE_PARALLELISM = 2
NEGATIVE_PARALLELISM = 1000  # the official test's
POD_CPU_MILLIS = 10
POSITIVE_TIMEOUT = 120.0  # the official test's


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
    return [name_of(p) for p in pods if (p.get("status") or {}).get("phase") == "Running" or (p.get("spec") or {}).get("nodeName")]


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


@probe("gang_scheduling")
def gang_scheduling(ctx) -> Finding:
    """Kueue, the official semantics; Volcano has no probe yet."""
    discovery = ctx.kube.discovery()
    if discovery.serving_version(KUEUE, "localqueues") and discovery.serving_version(KUEUE, "clusterqueues"):
        return _kueue_gang(ctx)
    return Finding(SKIPPED, "no probe for this gang scheduler yet (the probe drives Kueue, as the official test does)")
