# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the security section.

* secure_accelerator_access (TestSecureAcceleratorAccess): a busybox container granted one device (as
  probes/accelerators.py grants it) counts exactly one ``/dev/nvidia<N>``; a pod without a request pinned to the
  same node counts none; in a two-container pod only the container granted the device sees it. Plus the RKE2
  demonstration's case: a pod asking for more accelerators than the cluster has stays Unschedulable for a short
  window. PASS needs every subtest observed.
* workload_sandboxing (TestWorkloadSandboxing's KernelAndMemoryIsolation): a busybox pod on the sandbox RuntimeClass
  the read-only check found runnable, and an unsandboxed control pod, both pinned to a node the check found able to
  run it, print their kernel identity (``uname -r``, ``/proc/version``, the boot id); PASS when the sandboxed one
  differs from the control's in a field both could read, FAIL when they are the same (the handler shares the host
  kernel).

What the containers printed is read from their logs (probes/pods.py): output that cannot be observed makes a
subtest, and so the probe, UNKNOWN.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils.components import install_hint
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError, Predicate, WaitTimeout
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import pods, probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.accelerators import (
    COUNT_LINE, Grant, accelerator_tolerations, device_count, nvidia_nodes, pick_grant,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import image
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, PASS, SKIPPED, UNKNOWN, Finding

COUNT_WINDOW = 30.0  # seconds to read a device count from a started container's log
UNSCHEDULABLE_TIMEOUT = 30.0  # seconds the scheduler may take to mark the oversized pod Unschedulable
UNSCHEDULABLE_WINDOW = 5.0  # seconds it must then stay unbound
COUNT_SCRIPT = "%s; %s" % (COUNT_LINE, pods.END_LINE)
KERNEL_WINDOW = 30.0  # seconds to read a started container's kernel identity from its log
# The kernel identity the official test compares, each "unknown" where the runtime does not expose it.
KERNEL_SCRIPT = "\n".join([
    'M="%s"' % pods.MARK,
    'echo "$M kernel-release=$(uname -r 2>/dev/null || echo unknown)"',
    'echo "$M kernel-version=$(cat /proc/version 2>/dev/null || echo unknown)"',
    'echo "$M boot-id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)"',
    pods.END_LINE,
])
KERNEL_FIELDS = (("release", "kernel-release"), ("version", "kernel-version"), ("boot_id", "boot-id"))
RUNNABLE_KEY = re.compile(r"^(\S+) \(handler (.*)\)$")  # the check's details["runnable"] keys, 'name (handler h)'


# ================================================================================================ secure_accelerator_access
UNSCHEDULABLE = Predicate("PodScheduled=False (Unschedulable)", lambda pod: pods.unschedulable(pod) is not None, show=pods.pod_state,
                          hint="the scheduler has not judged the pod, or placed it: kubectl describe pod")


def _counts(ctx, pod: str, expected: Dict[str, int], what: str, seen: List[str], missing: List[str],
            violations: List[str], node: str = "", started: Optional[Dict[str, Any]] = None) -> None:
    """Read each container's device count and sort the subtest into seen, missing or violations (``node``: where
    the pod must run for the subtest to mean anything; ``started``: the pod, already seen started)."""
    if started is None:
        started, _last, why = pods.start(ctx, pod)
        if started is None:
            missing.append("%s: %s" % (what, why))
            return
    if node and pods.node_of(started) != node:
        missing.append("%s: it ran on node %s, not %s" % (what, pods.node_of(started) or "-", node))
        return
    counts = {}
    for container, want in expected.items():
        lines, why = pods.output(ctx, pod, container, COUNT_WINDOW)
        counts[container] = device_count(lines) if lines else None
        if counts[container] is None:
            missing.append("%s: could not observe container output (%s)" % (what, why or "no device count in it"))
            return
    wrong = ["container %s saw %d device node(s), not %d" % (c, counts[c], w) for c, w in expected.items() if counts[c] != w]
    shown = ", ".join("%s %d" % (c, n) for c, n in counts.items())
    if wrong:
        violations.append("%s (%s): %s" % (what, pods.node_of(started) or "?", "; ".join(wrong)))
    else:
        seen.append("%s (%s, /dev/nvidia<N> counted: %s)" % (what, pods.node_of(started) or "?", shown))


def _isolation(ctx, grant: Grant, tolerations, seen: List[str], missing: List[str], violations: List[str]) -> None:
    """The official subtests: granted one device sees one; no request on the same node sees none; in one pod, only
    the container granted the device sees it."""
    busybox = image("busybox", ctx.options.probe_image_registry)
    claims, resources = grant.give(ctx, "access-granted")
    ctx.create("", "v1", "pods", pods.pod("access-granted", [pods.container("probe", busybox, COUNT_SCRIPT, resources)], tolerations, claims),
               note="granted one device through %s" % grant.describe())
    claims, resources = grant.give(ctx, "access-multi")
    both = [pods.container("granted", busybox, COUNT_SCRIPT, resources), pods.container("other", busybox, COUNT_SCRIPT)]
    ctx.create("", "v1", "pods", pods.pod("access-multi", both, tolerations, claims), note="two containers, only 'granted' given the device")
    granted, _last, why = pods.start(ctx, "access-granted")
    node = pods.node_of(granted)
    if granted is not None:
        ctx.create("", "v1", "pods", pods.pod("access-none", [pods.container("probe", busybox, COUNT_SCRIPT)], tolerations, node=node),
                   note="no request, pinned to node %s where access-granted runs" % node)
    if granted is None:
        missing += ["a pod granted one device: %s" % why, "a pod without a request on the same node: not run, %s" % why]
    else:
        _counts(ctx, "access-granted", {"probe": 1}, "a pod granted one device", seen, missing, violations, started=granted)
        _counts(ctx, "access-none", {"probe": 0}, "a pod without a request on the same node", seen, missing, violations, node)
    _counts(ctx, "access-multi", {"granted": 1, "other": 0}, "a two-container pod", seen, missing, violations)


def _oversized(ctx, grant: Grant, tolerations, seen: List[str], missing: List[str], violations: List[str]) -> None:
    """A pod asking for more accelerators than the cluster has must stay Unschedulable (no container output needed)."""
    count = grant.total + 1
    pause = image("pause", ctx.options.probe_image_registry)
    what = "a pod asking for %s (the cluster has %d)" % (grant.amount(count), grant.total)
    try:
        claims, resources = grant.give(ctx, "access-too-many", count)
    except KubeError as exc:
        if exc.status not in (400, 422):
            raise
        missing.append("%s: the request was refused: %s" % (what, exc.message or exc))
        return
    ctx.create("", "v1", "pods", pods.pod("access-too-many", [pods.container("pause", pause, resources=resources)], tolerations, claims),
               note=what)
    try:
        ctx.wait_for("", "v1", "pods", "access-too-many", UNSCHEDULABLE, timeout=pods.bounded(ctx, UNSCHEDULABLE_TIMEOUT), interval=0.5)
    except WaitTimeout as exc:
        if pods.node_of(exc.last) or pods.started(exc.last or {}):
            violations.append("%s was bound to node %s" % (what, pods.node_of(exc.last) or "?"))
        else:
            missing.append("%s: the scheduler did not mark it Unschedulable within %.0fs (%s)" % (what, exc.timeout, exc.observed))
        return

    def look():
        return ctx.kube.get("", "v1", "pods", "access-too-many", ctx.namespace)

    def broken(pod):
        if pod is None:
            return "the pod is gone"
        return "bound to node %s (%s)" % (pods.node_of(pod), pods.pod_state(pod)) if pods.node_of(pod) or pods.started(pod) else None
    window = min(UNSCHEDULABLE_WINDOW, max(0.0, ctx.remaining() - pods.RESERVE))
    problem = ctx.hold(look, broken, window, "kubectl get pod -n %s access-too-many -w" % ctx.namespace,
                       ctx.api_for("", "v1", "pods", ctx.namespace, "access-too-many"), interval=0.5,
                       note="the oversized pod must stay unbound for %.0fs" % window)
    if problem:
        violations.append("%s: %s" % (what, problem))
    else:
        seen.append("%s stayed Unschedulable for %.0fs" % (what, window))


@probe("secure_accelerator_access", devices=2)  # access-granted and access-multi
def secure_accelerator_access(ctx) -> Finding:
    """TestSecureAcceleratorAccess's subtests and the oversized request; PASS only when every one was observed."""
    nodes = nvidia_nodes(ctx)
    if not nodes:
        return Finding(SKIPPED, "no probe for this accelerator vendor yet (the probe counts NVIDIA device nodes "
                                "/dev/nvidia<N>, as the official test does)")
    grant, why = pick_grant(ctx, nodes)
    if grant is None:
        return Finding(UNKNOWN, "no way to grant a probe pod one GPU: %s" % why)
    tolerations = accelerator_tolerations(nodes)
    seen: List[str] = []
    missing: List[str] = []
    violations: List[str] = []
    _isolation(ctx, grant, tolerations, seen, missing, violations)
    _oversized(ctx, grant, tolerations, seen, missing, violations)
    details = {"allocation": grant.describe(), "observed": seen, "not_observed": missing, "violations": violations}
    if violations:
        return Finding(FAIL, "Accelerator access is not isolated (devices granted through %s): %s." % (grant.describe(), "; ".join(violations)),
                       remediation="only the device plugin or the DRA driver may give containers accelerator device nodes: "
                                   "set the NVIDIA container toolkit's accept-nvidia-visible-devices-envvar-when-unprivileged "
                                   "to false and use CDI or volume-mounts device lists; check no privileged pods or hostPath "
                                   "/dev mounts run on the accelerator nodes", details=details)
    if missing:
        return Finding(UNKNOWN, "Not every subtest was observed (devices granted through %s). Observed: %s. Not observed: %s."
                       % (grant.describe(), "; ".join(seen) or "none", "; ".join(missing)), details=details)
    return Finding(PASS, "Every subtest observed, devices granted through %s: %s." % (grant.describe(), "; ".join(seen)),
                   details=details)


# ================================================================================================ workload_sandboxing
def _sandbox(ctx) -> Optional[Tuple[str, str, str]]:
    """(RuntimeClass, handler, node) of the first sandbox RuntimeClass the read-only check found runnable, or None."""
    runnable = (ctx.checked.details if ctx.checked else {}).get("runnable") or {}
    for key, nodes in runnable.items():
        match = RUNNABLE_KEY.match(key)
        if match and nodes:
            return match.group(1), match.group(2), nodes[0]
    return None


def _node_row(node: Dict[str, Any]) -> str:
    status = node.get("status") or {}
    return "%s taints=%s kernel=%s runtimeHandlers=%s" % (
        node["metadata"]["name"],
        ",".join("%s=%s:%s" % (t.get("key"), t.get("value", ""), t.get("effect")) for t in (node.get("spec") or {}).get("taints") or []) or "-",
        (status.get("nodeInfo") or {}).get("kernelVersion") or "?",
        ",".join(h.get("name") or "(default)" for h in status.get("runtimeHandlers") or []) or "-")


def _identity(ctx, name: str, node: str) -> Tuple[Optional[Dict[str, str]], Optional[Dict[str, Any]], str]:
    """(the kernel identity pod ``name`` printed on ``node``, None, "") or (None, the pod last seen, why not)."""
    started, last, why = pods.start(ctx, name)
    if started is None:
        return None, last, why
    if pods.node_of(started) != node:
        return None, started, "pod %s ran on node %s, not %s" % (name, pods.node_of(started) or "-", node)
    lines, why = pods.output(ctx, name, "probe", KERNEL_WINDOW)
    if lines is None:
        return None, started, "could not observe container output (%s)" % why
    printed = {field: ((lines.get(key) or [""])[0]).strip() for field, key in KERNEL_FIELDS}
    return {field: "" if value == "unknown" else value for field, value in printed.items()}, started, ""


@probe("workload_sandboxing")
def workload_sandboxing(ctx) -> Finding:
    """A pod on the sandbox RuntimeClass sees another kernel than an unsandboxed pod on the same node."""
    sandbox = _sandbox(ctx)
    if sandbox is None:
        return Finding(UNKNOWN, "the read-only check named no sandbox RuntimeClass a node can run")
    runtime_class, handler, node = sandbox
    on_node = ctx.get("", "v1", "nodes", node, show=_node_row, note="the node both probe pods are pinned to (its taints are tolerated)")
    if on_node is None:
        return Finding(UNKNOWN, "node %s, where the check found RuntimeClass %s runnable, is gone" % (node, runtime_class))
    tolerations = pods.tolerate(t.get("key", "") for t in (on_node.get("spec") or {}).get("taints") or [])
    busybox = image("busybox", ctx.options.probe_image_registry)
    what = "RuntimeClass %s (handler %s)" % (runtime_class, handler)
    ctx.create("", "v1", "pods", pods.pod("sandboxed-probe", [pods.container("probe", busybox, KERNEL_SCRIPT)], tolerations,
                                          node=node, runtime_class=runtime_class),
               note="on %s, pinned to node %s" % (what, node))
    ctx.create("", "v1", "pods", pods.pod("control-probe", [pods.container("probe", busybox, KERNEL_SCRIPT)], tolerations, node=node),
               note="unsandboxed control, pinned to node %s too" % node)
    sandboxed, last, why = _identity(ctx, "sandboxed-probe", node)
    if sandboxed is None:
        reasons = [reason for _c, reason, _m in pods.waiting(last or {})]
        if any(reason in pods.RUNTIME_ERRORS for reason in reasons):
            return Finding(FAIL, "the container runtime could not run a pod on %s: %s" % (what, why),
                           remediation="install the sandbox runtime behind handler %s on node %s (for Kata: %s)"
                                       % (handler, node, install_hint("kata")))
        return Finding(UNKNOWN, "the pod on %s: %s" % (what, why),
                       remediation=pods.IMAGE_FIX if any(reason in pods.IMAGE_ERRORS for reason in reasons) else "")
    control, _last, why = _identity(ctx, "control-probe", node)
    if control is None:
        return Finding(UNKNOWN, "the unsandboxed control pod: %s" % why)
    compared = [field for field, _key in KERNEL_FIELDS if sandboxed[field] and control[field]]
    differing = [field for field in compared if sandboxed[field] != control[field]]
    details = {"runtime_class": runtime_class, "handler": handler, "node": node, "sandboxed": sandboxed, "control": control,
               "differing": differing}
    if not compared:
        return Finding(UNKNOWN, "no kernel identity field (%s) was printed by both pods on node %s"
                       % (", ".join(f for f, _k in KERNEL_FIELDS), node), details=details)
    if not differing:
        return Finding(FAIL, "A pod on %s sees the same kernel as an unsandboxed pod on node %s (%s): the handler does not "
                             "give workloads a kernel of their own." % (what, node, ", ".join("%s %s" % (f, sandboxed[f]) for f in compared)),
                       remediation="run a sandbox with its own kernel (gVisor, Kata Containers) behind %s; for Kata: %s"
                                   % (what, install_hint("kata")), details=details)
    return Finding(PASS, "A pod on %s sees kernel %s where an unsandboxed pod on the same node %s sees %s (differing: %s)."
                   % (what, sandboxed["release"] or "?", node, control["release"] or "?", ", ".join(differing)), details=details)
