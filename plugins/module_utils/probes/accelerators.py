# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the accelerators section, and secure_accelerator_access (security), which drives the same pods.

How a probe pod gets an accelerator, as the official tests choose (``-allocation-mode auto``): through DRA when a
DeviceClass selects devices a driver publishes, a ResourceClaim for one device referenced by the pod's
``spec.resourceClaims``; otherwise through the device plugin, a limit of one ``nvidia.com/gpu``.

* dra_support: a ResourceClaim (the served resource.k8s.io version) for one device of such a DeviceClass and a
  pause pod using it; the claim must be allocated a device of the class's driver and reserved for the pod, and the
  pod bound to that device's node and Running.
* secure_accelerator_access (TestSecureAcceleratorAccess): a busybox container granted one device counts exactly
  one ``/dev/nvidia<N>``; a pod without a request pinned to the same node counts none; in a two-container pod only
  the container granted the device sees it. Plus the RKE2 demonstration's case: a pod asking for more
  accelerators than the cluster has stays Unschedulable for a short window. PASS needs every subtest observed.
* driver_runtime_management (TestAcceleratorDriverRuntimeManagement): a vanilla ubuntu container granted one GPU
  runs nvidia-smi, which only the container runtime (CDI spec or NVIDIA runtime hook) can have put there; the
  driver version it prints must match what the node advertises (DRA ResourceSlice attributes, GFD labels), and
  so must the CUDA version where both are known.

The counts and nvidia-smi's answers are read from the container's log. A log that cannot be read (404, RBAC,
errors until the window ends) or holds no output once the container ended (simulated kubelets: kwok, the fake API
server) makes the probe UNKNOWN, "could not observe container output": never a pass without the observation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils import lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import program
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError, Predicate, WaitTimeout, pod_phase
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import condition
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import image
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, PASS, SKIPPED, UNKNOWN, Finding

DRA = lookups.DRA_GROUP
NVIDIA_DRIVERS = lookups.DRA_DRIVERS_BY_VENDOR["nvidia"]
NVIDIA_RESOURCES = ("nvidia.com/gpu", "nvidia.com/mig-")  # device-plugin resources granting one device, by prefix
START_TIMEOUT = 120.0  # seconds a probe pod may take to start (image pull included)
ALLOCATION_TIMEOUT = 120.0  # seconds the dra_support claim may take to be allocated and reserved
COUNT_WINDOW = 30.0  # seconds to read a device count from a started container's log
SMI_WINDOW = 90.0  # the same for nvidia-smi, slow on a cold GPU (the official test's 90 s)
LOG_INTERVAL = 0.5  # the probe containers print and exit: their pods are short-lived
UNSCHEDULABLE_TIMEOUT = 30.0  # seconds the scheduler may take to mark the oversized pod Unschedulable
UNSCHEDULABLE_WINDOW = 5.0  # seconds it must then stay unbound
RESERVE = 2.0  # seconds a bounded wait leaves to read what was seen and report it before probe_timeout
MARK = "k8s-ai-conformance:"  # the prefix of every line the probe containers print for the probe to read
OUTPUT_END = "end"
# /dev entries named nvidia<digit>...: one per granted GPU, as the official glob /dev/nvidia[0-9]* (nvidiactl,
# nvidia-uvm, nvidia-modeset and nvidia-caps are shared control nodes, not devices). busybox's ls prints one name
# per line into a pipe; grep -c prints 0 when there is none.
COUNT_SCRIPT = "echo \"%s devices=$(ls /dev | grep -c '^nvidia[0-9]')\"; echo \"%s %s\"" % (MARK, MARK, OUTPUT_END)
# nvidia-smi where the NVIDIA runtime/CDI put it (GKE: /usr/local/nvidia); the driver version from the query
# (stable across driver lines) and the banner, whose labels newer drivers renamed (KMD / CUDA UMD Version).
SMI_SCRIPT = "\n".join([
    'M="%s"' % MARK,
    '[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"',
    "echo \"$M devices=$(ls /dev | grep -c '^nvidia[0-9]')\"",
    'smi="$(command -v nvidia-smi)"',
    'for c in /usr/bin/nvidia-smi /usr/local/nvidia/bin/nvidia-smi; do [ -z "$smi" ] && [ -x "$c" ] && smi="$c"; done',
    'if [ -z "$smi" ]; then echo "$M nvidia-smi=missing"; else',
    '  echo "$M nvidia-smi=$smi"',
    '  out="$(timeout 60 "$smi" --query-gpu=driver_version --format=csv,noheader 2>&1)"; echo "$M query-rc=$?"',
    '  printf "%s\\n" "$out" | sed "s/^/$M query: /"',
    '  timeout 60 "$smi" 2>&1 | head -n 12 | sed "s/^/$M smi: /"',
    "fi",
    'echo "$M %s"' % OUTPUT_END,
])
DRIVER_BANNER = re.compile(r"(?:Driver|KMD) Version:\s*([0-9][0-9.]*)")
CUDA_BANNER = re.compile(r"CUDA(?: UMD)? Version:\s*([0-9][0-9.]*)")
DRIVER_NUMBER = re.compile(r"^[0-9]+(?:\.[0-9]+)+$")
# Equality terms of a DeviceClass's CEL the probe can judge: device.attributes['<domain>'].<name> == '<value>'.
ATTRIBUTE_TERM = re.compile(r"""device\.attributes\[['"]([^'"]+)['"]\]\.(\w+)\s*==\s*['"]([^'"]*)['"]""")
RUNTIME_ERRORS = ("CreateContainerError", "RunContainerError", "StartError", "ContainerCannotRun")
IMAGE_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
IMAGE_FIX = "mirror the probe images (k8s_ai.conformance.probe_images) and set probe_image_registry"


# ================================================================================================ objects
def _bounded(ctx, limit: float) -> float:
    """``limit`` seconds, or less so that RESERVE seconds of the probe's time are left to report."""
    return max(1.0, min(limit, ctx.remaining() - RESERVE))


def _node_of(pod: Optional[Dict[str, Any]]) -> str:
    return ((pod or {}).get("spec") or {}).get("nodeName") or ""


def _waiting(pod: Dict[str, Any]) -> List[Tuple[str, str, str]]:
    """(container, reason, message) of every container waiting or terminated with an error."""
    found = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = status.get("state") or {}
        detail = state.get("waiting") or (state.get("terminated") if (state.get("terminated") or {}).get("exitCode") else None)
        if detail:
            found.append((status.get("name", ""), detail.get("reason", ""), (detail.get("message") or "")[:300]))
    return found


def _pod_state(pod: Optional[Dict[str, Any]]) -> str:
    if not pod:
        return "it does not exist"
    parts = ["phase=%s" % ((pod.get("status") or {}).get("phase") or "none"), "node=%s" % (_node_of(pod) or "-")]
    scheduled = condition(pod, "PodScheduled")
    if scheduled:
        why = ": ".join(str(scheduled[k])[:300] for k in ("reason", "message") if scheduled.get(k))
        parts.append("PodScheduled=%s%s" % (scheduled.get("status"), " (%s)" % why if why else ""))
    parts += ["container %s %s%s" % (name, reason, ": %s" % message if message else "") for name, reason, message in _waiting(pod)]
    return ", ".join(parts)


def _started(pod: Dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")


STARTED = Predicate("started (phase Running, Succeeded or Failed)", _started, show=_pod_state,
                    hint="see why the pod did not start in kubectl describe pod (scheduling, image pull, device preparation)")
RUNNING = Predicate("Running", pod_phase("Running"), show=_pod_state, hint=pod_phase("Running").hint)


def _unschedulable(pod: Dict[str, Any]) -> bool:
    scheduled = condition(pod, "PodScheduled") or {}
    return scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable" and not _node_of(pod)


UNSCHEDULABLE = Predicate("PodScheduled=False (Unschedulable)", _unschedulable, show=_pod_state,
                          hint="the scheduler has not judged the pod, or placed it: kubectl describe pod")


def _tolerations(nodes) -> List[Dict[str, str]]:
    """Tolerations for the accelerator nodes' own taints (nvidia.com/gpu always, as the official test), not the
    node lifecycle ones (node.kubernetes.io/*)."""
    keys = {"nvidia.com/gpu"} | {t.split("=", 1)[0].split(":", 1)[0] for n in nodes for t in n.taints}
    return [{"key": k, "operator": "Exists"} for k in sorted(keys) if not k.startswith("node.kubernetes.io/")]


def _container(name: str, ref: str, script: Optional[str] = None, resources: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A container running ``script`` with sh (None: the image's own entrypoint, e.g. pause)."""
    body: Dict[str, Any] = {"name": name, "image": ref}
    if script is not None:
        body["command"] = ["sh", "-c", script]
    if resources:
        body["resources"] = resources
    return body


def _pod(name: str, containers: List[Dict[str, Any]], tolerations, claims=None, node: str = "",
         restart: str = "Never") -> Dict[str, Any]:
    """A pod; ``node`` pins it there through the scheduler (node affinity on metadata.name, as a DaemonSet's)."""
    spec: Dict[str, Any] = {"restartPolicy": restart, "terminationGracePeriodSeconds": 0, "tolerations": tolerations,
                            "containers": containers}
    if claims:
        spec["resourceClaims"] = claims
    if node:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


# ================================================================================================ granting devices
def _served_version(ctx) -> Optional[str]:
    """The resource.k8s.io version claims are written at: the checklist's first served one, else the preferred."""
    discovery = ctx.kube.discovery()
    for version in program.rules(ctx.checklist.version).dra_api_versions:
        if discovery.served(DRA, version, "resourceclaims"):
            return version
    return discovery.serving_version(DRA, "resourceclaims")


def _class_fits(device_class: Dict[str, Any], driver: str, devices: List[Dict[str, Any]]) -> bool:
    """Some device meets the class's equality terms on attributes (other CEL is left to the scheduler)."""
    terms = [term for selector in (device_class.get("spec") or {}).get("selectors") or []
             for term in ATTRIBUTE_TERM.findall(((selector or {}).get("cel") or {}).get("expression", ""))]

    def meets(device, domain, name, value):
        key = name if domain == driver else "%s/%s" % (domain, name)
        return str(device["attributes"].get(key)) == value
    return any(all(meets(d, *term) for term in terms) for d in devices)


def _device_class(ctx, drivers: Optional[Tuple[str, ...]] = None) -> Tuple[Optional[Dict[str, Any]], str]:
    """A DeviceClass selecting untainted devices of complete pools (accelerator drivers first, or one of
    ``drivers``): {"class", "driver", "devices"}, or None and what was found instead."""
    kube = ctx.kube
    inventory = lookups.dra_inventory(kube)
    classes = lookups.device_classes(kube)
    ctx.record_list(DRA, (inventory["api_version"] or "%s/v1" % DRA).split("/")[-1], "deviceclasses",
                    "\n".join("%s  (selects driver %s)" % (dc["metadata"]["name"], ", ".join(lookups.device_class_drivers(dc)) or "?")
                              for dc in classes) or "No resources found",
                    note="a DeviceClass whose driver publishes devices (from the shared DRA lookups)", api_note="shared")
    wanted = [d for d in inventory["drivers"] if drivers is None or d in drivers]
    wanted.sort(key=lambda d: (d not in lookups.ACCELERATOR_DRA_DRIVERS, d))
    for driver in wanted:
        devices = [dict(dev, pool=name) for name, pool in inventory["drivers"][driver]["pools"].items() if pool["complete"]
                   for dev in pool["devices"] if not dev["taints"]]
        matching = [dc for dc in classes if driver in lookups.device_class_drivers(dc) and _class_fits(dc, driver, devices)]
        matching.sort(key=lambda dc: (dc["metadata"]["name"] != driver, dc["metadata"]["name"]))
        if devices and matching:
            return {"class": matching[0]["metadata"]["name"], "driver": driver, "devices": devices}, ""
    published = ", ".join("%s (%d devices)" % (d, inventory["drivers"][d]["device_count"]) for d in wanted) or "no driver publishes devices"
    return None, "DeviceClasses: %s; ResourceSlices: %s" % (
        ", ".join(dc["metadata"]["name"] for dc in classes) or "none", published)


def _claim_body(version: str, name: str, device_class: str, count: int) -> Dict[str, Any]:
    exact = {"deviceClassName": device_class, "allocationMode": "ExactCount", "count": count}
    request = dict(exact, name="gpu") if version == "v1beta1" else {"name": "gpu", "exactly": exact}  # v1beta1: inline
    return {"apiVersion": "%s/%s" % (DRA, version), "kind": "ResourceClaim", "metadata": {"name": name},
            "spec": {"devices": {"requests": [request]}}}


class Grant:
    """How a probe pod gets accelerators: a ResourceClaim of a DeviceClass (DRA), or the device plugin's resource."""

    def __init__(self, mode: str, name: str, total: int, driver: str = "", version: str = ""):
        self.mode, self.name, self.total, self.driver, self.version = mode, name, total, driver, version

    @property
    def dra(self) -> bool:
        return self.mode == "DRA"

    def describe(self) -> str:
        if self.dra:
            return "DRA (ResourceClaim of DeviceClass %s, driver %s)" % (self.name, self.driver)
        return "the device plugin (%s)" % self.name

    def amount(self, count: int) -> str:
        return "%d device(s) of DeviceClass %s" % (count, self.name) if self.dra else "%d %s" % (count, self.name)

    def give(self, ctx, claim: str, count: int = 1) -> Tuple[List[Dict[str, str]], Dict[str, Any]]:
        """(pod spec.resourceClaims, container resources) for ``count`` devices; in DRA mode it creates claim ``claim``."""
        if not self.dra:
            return [], {"limits": {self.name: str(count)}}
        ctx.create(DRA, self.version, "resourceclaims", _claim_body(self.version, claim, self.name, count), note=self.amount(count))
        return [{"name": "gpu", "resourceClaimName": claim}], {"claims": [{"name": "gpu"}]}


def _grant(ctx, nodes) -> Tuple[Optional[Grant], str]:
    """DRA when an NVIDIA DeviceClass has devices, else the device plugin; None and why neither is usable."""
    choice, why = _device_class(ctx, NVIDIA_DRIVERS)
    version = _served_version(ctx)
    if choice and version:
        return Grant("DRA", choice["class"], len(choice["devices"]), choice["driver"], version), ""
    capacity: Dict[str, int] = {}
    for n in nodes:
        if n.ready and n.schedulable:
            for resource, amount in n.resources.items():
                if resource.startswith(NVIDIA_RESOURCES):
                    capacity[resource] = max(capacity.get(resource, 0), int(amount))
    if capacity:
        resource = "nvidia.com/gpu" if "nvidia.com/gpu" in capacity else sorted(capacity)[0]
        return Grant("device plugin", resource, capacity[resource]), ""
    return None, ("neither DRA (no DeviceClass with devices of %s: %s) nor the device plugin (no Ready, schedulable node "
                  "advertises nvidia.com/gpu)" % (", ".join(NVIDIA_DRIVERS), why))


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


def _finished(pod: Optional[Dict[str, Any]], container: str) -> bool:
    if not pod or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return True
    return any(s.get("name") == container and (s.get("state") or {}).get("terminated")
               for s in (pod.get("status") or {}).get("containerStatuses") or [])


def _output(ctx, pod: str, container: str, window: float) -> Tuple[Optional[Dict[str, List[str]]], str]:
    """The probe lines a container printed, once its end line is there; or None and why its output could not be
    observed (the log cannot be read, or it stayed without them until the container ended or ``window`` passed)."""
    path = "/api/v1/namespaces/%s/pods/%s/log" % (ctx.namespace, pod)
    command = "kubectl logs -n %s %s -c %s" % (ctx.namespace, pod, container)
    api = "GET %s?container=%s" % (path, container)
    window = min(window, ctx.remaining())
    deadline = time.monotonic() + window
    while True:
        ctx.check_cancelled()
        ended = _finished(ctx.kube.get("", "v1", "pods", pod, ctx.namespace), container)  # then this read is the last word
        try:
            text = ctx.kube.request("GET", path, query={"container": container}, raw=True, accept="*/*")
        except KubeError as exc:
            why = "reading its log failed: %s" % exc
            if exc.status in (401, 403, 404):  # no log endpoint (a simulated kubelet), or no right to read it
                break
        else:
            lines = _marked(text)
            if OUTPUT_END in lines:
                ctx.record(command, text.strip()[-3000:], api=api, note="what container %s printed" % container)
                return lines, ""
            why = "its log was empty" if not text.strip() else "its log lacked the probe's lines: %r" % text.strip()[-300:]
        if ended or time.monotonic() >= deadline:
            why += " after the container ended" if ended else " for %.0fs" % window
            break
        time.sleep(max(0.0, min(LOG_INTERVAL, deadline - time.monotonic())))
    ctx.record(command, "not observed: %s" % why, api=api, note="what container %s printed" % container)
    return None, "container %s of pod %s: %s" % (container, pod, why)


def _count(lines: Dict[str, List[str]]) -> Optional[int]:
    values = lines.get("devices") or []
    return int(values[0]) if values and values[0].isdigit() else None


# ================================================================================================ dra_support
def _claim_state(claim: Dict[str, Any]) -> str:
    status = claim.get("status") or {}
    results = ((status.get("allocation") or {}).get("devices") or {}).get("results") or []
    reserved = ["%s/%s" % (r.get("resource"), r.get("name")) for r in status.get("reservedFor") or []]
    return "allocation: %s; reservedFor: %s" % (
        ", ".join("%s/%s/%s" % (r.get("driver"), r.get("pool"), r.get("device")) for r in results) or "none",
        ", ".join(reserved) or "nobody")


def _allocated_for(pod: str, driver: str) -> Predicate:
    def test(claim):
        status = claim.get("status") or {}
        results = ((status.get("allocation") or {}).get("devices") or {}).get("results") or []
        reserved = [r.get("name") for r in status.get("reservedFor") or [] if r.get("resource") == "pods"]
        return any(r.get("driver") == driver for r in results) and pod in reserved
    return Predicate("allocated a device of %s and reserved for pod %s" % (driver, pod), test, show=_claim_state,
                     hint="read the pod's PodScheduled condition and the DRA driver's kubelet-plugin logs")


def _allocated_node(claim: Dict[str, Any], devices: List[Dict[str, Any]], driver: str) -> Tuple[str, str]:
    """(the device allocated, its node): from the ResourceSlice that publishes it, else the allocation's nodeSelector."""
    allocation = (claim.get("status") or {}).get("allocation") or {}
    result = next(r for r in (allocation.get("devices") or {}).get("results") or [] if r.get("driver") == driver)
    device = "%s/%s/%s" % (driver, result.get("pool"), result.get("device"))
    published = next((d["node"] for d in devices if (d["pool"], d["name"]) == (result.get("pool"), result.get("device"))
                      and d["node"] not in ("*", "(node selector)")), "")
    if published:
        return device, published
    for term in (allocation.get("nodeSelector") or {}).get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and len(field.get("values") or []) == 1:
                return device, field["values"][0]
    return device, ""


@probe("dra_support")
def dra_support(ctx) -> Finding:
    """A claim for one device of a DeviceClass with devices is allocated, reserved for its pod, and the pod runs
    on the device's node."""
    version = _served_version(ctx)
    choice, why = _device_class(ctx)
    if choice is None or not version:
        return Finding(UNKNOWN, "no DeviceClass selects devices that a DRA driver publishes in complete ResourceSlice pools "
                                "(%s), so there is nothing a ResourceClaim could be allocated" % why)
    device_class, driver = choice["class"], choice["driver"]
    claim, pod = "dra-probe", "dra-probe"
    tolerations = _tolerations(lookups.accelerator_nodes(ctx.kube))
    ctx.create(DRA, version, "resourceclaims", _claim_body(version, claim, device_class, 1),
               note="one device of DeviceClass %s (driver %s)" % (device_class, driver))
    ctx.create("", "v1", "pods", _pod(pod, [_container("pause", image("pause", ctx.options.probe_image_registry), resources={
        "claims": [{"name": "gpu"}]})], tolerations, [{"name": "gpu", "resourceClaimName": claim}], restart="Always"),
        note="a pod using ResourceClaim %s" % claim)
    try:
        allocated = ctx.wait_for(DRA, version, "resourceclaims", claim, _allocated_for(pod, driver),
                                 timeout=_bounded(ctx, ALLOCATION_TIMEOUT), interval=0.5)
    except WaitTimeout as exc:
        seen = ctx.get("", "v1", "pods", pod, ctx.namespace, show=_pod_state, note="why the claim's pod was not scheduled")
        return Finding(FAIL, "ResourceClaim %s for one device of DeviceClass %s (driver %s) was not allocated and reserved for "
                             "pod %s within %.0fs: claim %s; pod %s." % (claim, device_class, driver, pod, exc.timeout,
                                                                         exc.observed, _pod_state(seen)),
                       remediation="read kubectl describe pod %s -n %s (the scheduler's DRA message) and the %s kubelet "
                                   "plugin's logs; check the DeviceClass selectors match the published devices" % (
                                       pod, ctx.namespace, driver))
    device, node = _allocated_node(allocated, choice["devices"], driver)
    try:
        running = ctx.wait_for("", "v1", "pods", pod, RUNNING, timeout=_bounded(ctx, START_TIMEOUT), interval=0.5)
    except WaitTimeout as exc:
        seen = _pod_state(exc.last)
        if any(reason in IMAGE_ERRORS for _c, reason, _m in _waiting(exc.last or {})):
            return Finding(UNKNOWN, "claim %s got device %s, but pod %s could not pull its image: %s" % (claim, device, pod, seen),
                           remediation=IMAGE_FIX)
        return Finding(FAIL, "claim %s got device %s on node %s and was reserved for pod %s, but the pod never ran: %s"
                       % (claim, device, node or "?", pod, seen),
                       remediation="the DRA driver's kubelet plugin on %s must prepare the device: read its logs and "
                                   "kubectl describe pod %s -n %s" % (node or "the node", pod, ctx.namespace))
    bound = _node_of(running)
    if node and bound != node:
        return Finding(FAIL, "claim %s got device %s on node %s, but pod %s runs on node %s: a pod must run where its "
                             "allocated device is" % (claim, device, node, pod, bound))
    return Finding(PASS, "ResourceClaim %s (resource.k8s.io/%s, DeviceClass %s) was allocated device %s and reserved for pod "
                         "%s, which the scheduler bound to that device's node %s, where it runs."
                   % (claim, version, device_class, device, pod, bound or "?"))


# ================================================================================================ secure_accelerator_access
def _nvidia_nodes(ctx):
    return [n for n in lookups.accelerator_nodes(ctx.kube) if n.vendor == "nvidia"]


def _start(ctx, pod: str) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]], str]:
    """(the pod once started, None, "") or (None, the pod last seen, what was seen)."""
    try:
        return ctx.wait_for("", "v1", "pods", pod, STARTED, timeout=_bounded(ctx, START_TIMEOUT), interval=0.5), None, ""
    except WaitTimeout as exc:
        return None, exc.last, "pod %s did not start within %.0fs: %s" % (pod, exc.timeout, _pod_state(exc.last))


def _counts(ctx, pod: str, expected: Dict[str, int], what: str, seen: List[str], missing: List[str],
            violations: List[str], node: str = "", started: Optional[Dict[str, Any]] = None) -> None:
    """Read each container's device count and sort the subtest into seen, missing or violations (``node``: where
    the pod must run for the subtest to mean anything; ``started``: the pod, already seen started)."""
    if started is None:
        started, _last, why = _start(ctx, pod)
        if started is None:
            missing.append("%s: %s" % (what, why))
            return
    if node and _node_of(started) != node:
        missing.append("%s: it ran on node %s, not %s" % (what, _node_of(started) or "-", node))
        return
    counts = {}
    for container, want in expected.items():
        lines, why = _output(ctx, pod, container, COUNT_WINDOW)
        counts[container] = _count(lines) if lines else None
        if counts[container] is None:
            missing.append("%s: could not observe container output (%s)" % (what, why or "no device count in it"))
            return
    wrong = ["container %s saw %d device node(s), not %d" % (c, counts[c], w) for c, w in expected.items() if counts[c] != w]
    shown = ", ".join("%s %d" % (c, n) for c, n in counts.items())
    if wrong:
        violations.append("%s (%s): %s" % (what, _node_of(started) or "?", "; ".join(wrong)))
    else:
        seen.append("%s (%s, /dev/nvidia<N> counted: %s)" % (what, _node_of(started) or "?", shown))


def _isolation(ctx, grant: Grant, tolerations, seen: List[str], missing: List[str], violations: List[str]) -> None:
    """The official subtests: granted one device sees one; no request on the same node sees none; in one pod, only
    the container granted the device sees it."""
    busybox = image("busybox", ctx.options.probe_image_registry)
    claims, resources = grant.give(ctx, "access-granted")
    ctx.create("", "v1", "pods", _pod("access-granted", [_container("probe", busybox, COUNT_SCRIPT, resources)], tolerations, claims),
               note="granted one device through %s" % grant.describe())
    claims, resources = grant.give(ctx, "access-multi")
    ctx.create("", "v1", "pods", _pod("access-multi", [_container("granted", busybox, COUNT_SCRIPT, resources),
                                                       _container("other", busybox, COUNT_SCRIPT)], tolerations, claims),
               note="two containers, only 'granted' given the device")
    granted, _last, why = _start(ctx, "access-granted")
    node = _node_of(granted)
    if granted is not None:
        ctx.create("", "v1", "pods", _pod("access-none", [_container("probe", busybox, COUNT_SCRIPT)], tolerations, node=node),
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
    ctx.create("", "v1", "pods", _pod("access-too-many", [_container("pause", pause, resources=resources)], tolerations, claims),
               note=what)
    try:
        ctx.wait_for("", "v1", "pods", "access-too-many", UNSCHEDULABLE, timeout=_bounded(ctx, UNSCHEDULABLE_TIMEOUT), interval=0.5)
    except WaitTimeout as exc:
        if _node_of(exc.last) or _started(exc.last or {}):
            violations.append("%s was bound to node %s" % (what, _node_of(exc.last) or "?"))
        else:
            missing.append("%s: the scheduler did not mark it Unschedulable within %.0fs (%s)" % (what, exc.timeout, exc.observed))
        return

    def look():
        return ctx.kube.get("", "v1", "pods", "access-too-many", ctx.namespace)

    def broken(pod):
        if pod is None:
            return "the pod is gone"
        return "bound to node %s (%s)" % (_node_of(pod), _pod_state(pod)) if _node_of(pod) or _started(pod) else None
    window = min(UNSCHEDULABLE_WINDOW, max(0.0, ctx.remaining() - RESERVE))
    problem = ctx.hold(look, broken, window, "kubectl get pod -n %s access-too-many -w" % ctx.namespace,
                       ctx.api_for("", "v1", "pods", ctx.namespace, "access-too-many"), interval=0.5,
                       note="the oversized pod must stay unbound for %.0fs" % window)
    if problem:
        violations.append("%s: %s" % (what, problem))
    else:
        seen.append("%s stayed Unschedulable for %.0fs" % (what, window))


@probe("secure_accelerator_access")
def secure_accelerator_access(ctx) -> Finding:
    """TestSecureAcceleratorAccess's subtests and the oversized request; PASS only when every one was observed."""
    nodes = _nvidia_nodes(ctx)
    if not nodes:
        return Finding(SKIPPED, "no probe for this accelerator vendor yet (the probe counts NVIDIA device nodes "
                                "/dev/nvidia<N>, as the official test does)")
    grant, why = _grant(ctx, nodes)
    if grant is None:
        return Finding(UNKNOWN, "no way to grant a probe pod one GPU: %s" % why)
    tolerations = _tolerations(nodes)
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


# ================================================================================================ driver_runtime_management
def _same_version(advertised: str, seen: str) -> bool:
    """Equal at the precision both give, numerically ('13.0' and '13.0.0', '580.65.06' and '580.65.6')."""
    a, b = str(advertised).strip().lstrip("v").split("."), str(seen).strip().lstrip("v").split(".")
    if not all(p.isdigit() for p in a + b):
        return str(advertised).strip().lower() == str(seen).strip().lower()
    return all(int(x) == int(y) for x, y in zip(a, b))


def _smi(lines: Dict[str, List[str]]) -> Dict[str, Any]:
    """What the nvidia-smi probe printed: devices, nvidia-smi's path, the query's exit status, driver and CUDA versions."""
    banner = "\n".join(lines.get("smi") or [])
    query = [q.strip() for q in lines.get("query") or [] if q.strip()]
    driver = query[0] if query and DRIVER_NUMBER.match(query[0]) else ""
    if not driver:
        match = DRIVER_BANNER.search(banner)
        driver = match.group(1) if match else ""
    cuda = CUDA_BANNER.search(banner)
    rc = (lines.get("query-rc") or [""])[0]
    return {"devices": _count(lines), "nvidia_smi": (lines.get("nvidia-smi") or [""])[0], "query_rc": rc,
            "query": query, "banner": banner, "driver_version": driver, "cuda_version": cuda.group(1) if cuda else ""}


def _advertised(ctx, claim: Optional[Dict[str, Any]], node: str) -> List[Tuple[str, str, str]]:
    """(source, driver version, CUDA version) the platform advertises for ``node``: the allocated DRA device's
    attributes (else any device of the driver there), and the node's GPU feature discovery labels."""
    sources = []
    inventory = lookups.dra_inventory(ctx.kube)
    for driver, info in inventory["drivers"].items():
        if driver not in NVIDIA_DRIVERS:
            continue
        devices = [d for pool in info["pools"].values() for d in pool["devices"] if d["node"] == node]
        results = ((((claim or {}).get("status") or {}).get("allocation") or {}).get("devices") or {}).get("results") or []
        allocated = [d for d in devices for r in results if r.get("driver") == driver and r.get("device") == d["name"]]
        for device in (allocated or devices)[:1]:
            sources.append(("DRA ResourceSlice %s device %s (driverVersion, cudaDriverVersion)" % (device["slice"], device["name"]),
                            str(device["attributes"].get("driverVersion") or ""), str(device["attributes"].get("cudaDriverVersion") or "")))
    for n in lookups.accelerator_nodes(ctx.kube):
        if n.name == node and (n.driver_version or n.cuda_version):
            sources.append(("GPU feature discovery labels of node %s" % node, n.driver_version, n.cuda_version))
    return sources


def _compare(parsed: Dict[str, Any], sources: List[Tuple[str, str, str]]) -> List[str]:
    problems = []
    for source, driver, cuda in sources:
        if driver and not _same_version(driver, parsed["driver_version"]):
            problems.append("driver %s advertised by %s, nvidia-smi reports %s" % (driver, source, parsed["driver_version"]))
        if cuda and parsed["cuda_version"] and not _same_version(cuda, parsed["cuda_version"]):
            problems.append("CUDA %s advertised by %s, nvidia-smi reports %s" % (cuda, source, parsed["cuda_version"]))
    return problems


@probe("driver_runtime_management")
def driver_runtime_management(ctx) -> Finding:
    """nvidia-smi, injected by the runtime into a vanilla container granted one GPU, reports the advertised driver."""
    nodes = _nvidia_nodes(ctx)
    if not nodes:
        return Finding(SKIPPED, "no probe for this accelerator vendor yet (the probe runs nvidia-smi, as the official test does)")
    grant, why = _grant(ctx, nodes)
    if grant is None:
        return Finding(UNKNOWN, "no way to grant a probe pod one GPU: %s" % why)
    claims, resources = grant.give(ctx, "driver-probe")
    ubuntu = image("ubuntu", ctx.options.probe_image_registry)
    ctx.create("", "v1", "pods", _pod("driver-probe", [_container("probe", ubuntu, SMI_SCRIPT, resources)], _tolerations(nodes), claims),
               note="a vanilla ubuntu container granted one GPU through %s runs nvidia-smi" % grant.describe())
    started, last, why = _start(ctx, "driver-probe")
    if started is None:
        if any(reason in RUNTIME_ERRORS for _c, reason, _m in _waiting(last or {})):
            return Finding(FAIL, "the container runtime could not run a container granted one GPU: %s" % why,
                           remediation="check the NVIDIA container toolkit's runtime/CDI configuration on the node (the "
                                       "container runtime could not inject the driver into the container)")
        return Finding(UNKNOWN, "could not run the nvidia-smi probe: %s" % why,
                       remediation=IMAGE_FIX if any(e in why for e in IMAGE_ERRORS) else "")
    node = _node_of(started)
    lines, why = _output(ctx, "driver-probe", "probe", SMI_WINDOW)
    if lines is None:
        return Finding(UNKNOWN, "could not observe container output of the nvidia-smi probe on node %s: %s" % (node or "?", why))
    parsed = _smi(lines)
    claim = ctx.kube.get(DRA, grant.version, "resourceclaims", "driver-probe", ctx.namespace) if grant.dra else None
    sources = _advertised(ctx, claim, node)
    details = {"node": node, "allocation": grant.describe(), "observed": {k: v for k, v in parsed.items() if k != "banner"},
               "advertised": [{"source": s, "driver_version": d, "cuda_version": c} for s, d, c in sources]}
    problems = []
    if parsed["devices"] != 1:
        problems.append("the container saw %s /dev/nvidia<N> device node(s), not the 1 it was granted" % parsed["devices"])
    if parsed["nvidia_smi"] in ("", "missing"):
        problems.append("nvidia-smi is not in the container: the container runtime (CDI spec or NVIDIA runtime hook) did not "
                        "inject the driver's tools into a container granted a GPU")
    elif parsed["query_rc"] != "0" or not parsed["driver_version"]:
        problems.append("nvidia-smi did not report a driver version (exit status %s): %s" % (
            parsed["query_rc"] or "?", "; ".join(parsed["query"])[:300] or parsed["banner"][:300] or "no output"))
    else:
        problems += _compare(parsed, sources)
    if problems:
        return Finding(FAIL, "Driver/runtime check in a container on node %s failed: %s." % (node or "?", "; ".join(problems)),
                       remediation="repair the driver and the NVIDIA container toolkit on %s so that containers granted a "
                                   "GPU get a working nvidia-smi of the advertised driver" % (node or "the node"), details=details)
    advertised = "; ".join("%s: driver %s%s" % (s, d or "-", ", CUDA %s" % c if c else "") for s, d, c in sources)
    caveats = [] if sources else ["node %s advertises no driver version (no DRA attribute, no GFD label) to compare" % node]
    return Finding(PASS, "nvidia-smi in a vanilla ubuntu container granted one GPU through %s on node %s reports driver %s%s%s."
                   % (grant.describe(), node or "?", parsed["driver_version"],
                      " (CUDA %s)" % parsed["cuda_version"] if parsed["cuda_version"] else "",
                      ", as advertised (%s)" % advertised if sources else ""), details=details, caveats=caveats)
