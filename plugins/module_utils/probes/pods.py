# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe pods that print what they saw: their bodies, their start, and reading what their containers printed.

A probe container prints its findings as lines ``k8s-ai-conformance: <key>=<value>`` (or ``<key>: <value>``) and
ends with ``k8s-ai-conformance: end``; ``output`` reads them from the container's log. A log that cannot be read
(404, RBAC, errors until the window ends) or holds no end line once the container ended (a kubelet whose output
cannot be read) is None with the reason: the probe is then UNKNOWN, never a pass without the observation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
from decimal import Decimal
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError, Predicate, WaitTimeout
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import condition, parse_quantity

START_TIMEOUT = 120.0  # seconds a probe pod may take to start (image pull included)
LOG_INTERVAL = 0.5  # the probe containers print and exit: their pods are short-lived
RESERVE = 2.0  # seconds a bounded wait leaves to read what was seen and report it before probe_timeout
MARK = "k8s-ai-conformance:"  # the prefix of every line the probe containers print for the probe to read
OUTPUT_END = "end"
END_LINE = 'echo "%s %s"' % (MARK, OUTPUT_END)  # the shell line a probe script ends with
RUNTIME_ERRORS = ("CreateContainerError", "RunContainerError", "StartError", "ContainerCannotRun")
IMAGE_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
LIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"  # pods that hold what they request
IMAGE_FIX = "mirror the probe images (k8s_ai.conformance.probe_images) and set probe_image_registry"


def bounded(ctx, limit: float) -> float:
    """``limit`` seconds, or less so that RESERVE seconds of the probe's time are left to report."""
    return max(1.0, min(limit, ctx.remaining() - RESERVE))


def node_of(pod: Optional[Dict[str, Any]]) -> str:
    return ((pod or {}).get("spec") or {}).get("nodeName") or ""


def waiting(pod: Dict[str, Any]) -> List[Tuple[str, str, str]]:
    """(container, reason, message) of every container waiting or terminated with an error."""
    found = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = status.get("state") or {}
        detail = state.get("waiting") or (state.get("terminated") if (state.get("terminated") or {}).get("exitCode") else None)
        if detail:
            found.append((status.get("name", ""), detail.get("reason", ""), (detail.get("message") or "")[:300]))
    return found


def pod_state(pod: Optional[Dict[str, Any]]) -> str:
    if not pod:
        return "it does not exist"
    parts = ["phase=%s" % ((pod.get("status") or {}).get("phase") or "none"), "node=%s" % (node_of(pod) or "-")]
    scheduled = condition(pod, "PodScheduled")
    if scheduled:
        why = ": ".join(str(scheduled[k])[:300] for k in ("reason", "message") if scheduled.get(k))
        parts.append("PodScheduled=%s%s" % (scheduled.get("status"), " (%s)" % why if why else ""))
    parts += ["container %s %s%s" % (name, reason, ": %s" % message if message else "") for name, reason, message in waiting(pod)]
    return ", ".join(parts)


def unschedulable(pod: Dict[str, Any]) -> Optional[str]:
    """The scheduler's message (possibly "") when it marked the pod PodScheduled=False (Unschedulable) and the pod is
    not bound, else None."""
    scheduled = condition(pod, "PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable" and not node_of(pod):
        return str(scheduled.get("message") or "")
    return None


def started(pod: Dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")


STARTED = Predicate("started (phase Running, Succeeded or Failed)", started, show=pod_state,
                    hint="see why the pod did not start in kubectl describe pod (scheduling, image pull, device preparation)")


def tolerate(keys: Iterable[str]) -> List[Dict[str, str]]:
    """Tolerations of the taint ``keys``, but not of the node lifecycle ones (node.kubernetes.io/*)."""
    return [{"key": k, "operator": "Exists"} for k in sorted(set(keys)) if not k.startswith("node.kubernetes.io/")]


def container(name: str, ref: str, script: Optional[str] = None, resources: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A container running ``script`` with sh (None: the image's own entrypoint, e.g. pause)."""
    body: Dict[str, Any] = {"name": name, "image": ref}
    if script is not None:
        body["command"] = ["sh", "-c", script]
    if resources:
        body["resources"] = resources
    return body


def pod(name: str, containers: List[Dict[str, Any]], tolerations, claims=None, node: str = "", restart: str = "Never",
        runtime_class: str = "") -> Dict[str, Any]:
    """A pod; ``node`` pins it there through the scheduler (node affinity on metadata.name, as a DaemonSet's)."""
    spec: Dict[str, Any] = {"restartPolicy": restart, "terminationGracePeriodSeconds": 0, "tolerations": tolerations,
                            "containers": containers}
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    if claims:
        spec["resourceClaims"] = claims
    if node:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def start(ctx, name: str) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]], str]:
    """(the pod once started, None, "") or (None, the pod last seen, what was seen)."""
    try:
        return ctx.wait_for("", "v1", "pods", name, STARTED, timeout=bounded(ctx, START_TIMEOUT), interval=0.5), None, ""
    except WaitTimeout as exc:
        return None, exc.last, "pod %s did not start within %.0fs: %s" % (name, exc.timeout, pod_state(exc.last))


# ================================================================================================ container output
def _marked(text: str) -> Dict[str, List[str]]:
    """The probe's lines of a log: key -> values ('devices=1' -> devices: ['1']; 'smi: ...' -> smi: [...])."""
    out: Dict[str, List[str]] = {}
    for line in text.splitlines():
        if not line.startswith(MARK):
            continue
        rest = line[len(MARK):].strip()
        match = re.match(r"([\w-]+)(?:=|: ?)(.*)$", rest)
        key, value = (match.group(1), match.group(2)) if match else (rest, "")
        out.setdefault(key, []).append(value)
    return out


def _finished(seen: Optional[Dict[str, Any]], name: str) -> bool:
    if not seen or (seen.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return True
    return any(s.get("name") == name and (s.get("state") or {}).get("terminated")
               for s in (seen.get("status") or {}).get("containerStatuses") or [])


def output(ctx, name: str, container_name: str, window: float) -> Tuple[Optional[Dict[str, List[str]]], str]:
    """The probe lines container ``container_name`` of pod ``name`` printed, once its end line is there; or None and
    why its output could not be observed (the log cannot be read, or it stayed without them until the container ended
    or ``window`` passed)."""
    path = "/api/v1/namespaces/%s/pods/%s/log" % (ctx.namespace, name)
    command = "kubectl logs -n %s %s -c %s" % (ctx.namespace, name, container_name)
    api = "GET %s?container=%s" % (path, container_name)
    window = min(window, ctx.remaining())
    deadline = time.monotonic() + window
    while True:
        ctx.check_cancelled()
        ended = _finished(ctx.kube.get("", "v1", "pods", name, ctx.namespace), container_name)  # then this read is the last word
        try:
            text = ctx.kube.request("GET", path, query={"container": container_name}, raw=True, accept="*/*")
        except KubeError as exc:
            why = "reading its log failed: %s" % exc
            if exc.status in (401, 403, 404):  # no log endpoint (a simulated kubelet), or no right to read it
                break
        else:
            lines = _marked(text)
            if OUTPUT_END in lines:
                ctx.record(command, text.strip()[-3000:], api=api, note="what container %s printed" % container_name)
                return lines, ""
            why = "its log was empty" if not text.strip() else "its log lacked the probe's lines: %r" % text.strip()[-300:]
        if ended or time.monotonic() >= deadline:
            why += " after the container ended" if ended else " for %.0fs" % window
            break
        time.sleep(max(0.0, min(LOG_INTERVAL, deadline - time.monotonic())))
    ctx.record(command, "not observed: %s" % why, api=api, note="what container %s printed" % container_name)
    return None, "container %s of pod %s: %s" % (container_name, name, why)


def requests(pod: Dict[str, Any]) -> Dict[str, Decimal]:
    """What the scheduler counts for a pod, per resource: the larger of its containers' sum and its largest init
    container, plus the pod's overhead; a container's limit stands for a request it does not set."""
    spec = pod.get("spec") or {}

    def of(container):
        resources = container.get("resources") or {}
        return dict(resources.get("limits") or {}, **(resources.get("requests") or {}))
    totals: Dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        for resource, quantity in of(container).items():
            totals[resource] = totals.get(resource, Decimal(0)) + parse_quantity(quantity)
    for container in spec.get("initContainers") or []:
        for resource, quantity in of(container).items():
            totals[resource] = max(totals.get(resource, Decimal(0)), parse_quantity(quantity))
    for resource, quantity in (spec.get("overhead") or {}).items():
        totals[resource] = totals.get(resource, Decimal(0)) + parse_quantity(quantity)
    return totals


def requested_by_node(pods: List[Dict[str, Any]]) -> Dict[str, Dict[str, Decimal]]:
    """node -> resource -> what the pods bound there request."""
    requested: Dict[str, Dict[str, Decimal]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            totals = requested.setdefault(node, {})
            for resource, amount in requests(pod).items():
                totals[resource] = totals.get(resource, Decimal(0)) + amount
    return requested
