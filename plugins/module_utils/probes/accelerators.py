# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the accelerators section, and how a probe pod is given accelerators (also for probes/security.py).

How a probe pod gets an accelerator, as the official tests choose (``-allocation-mode auto``): through DRA when a
DeviceClass selects devices a driver publishes, a ResourceClaim for one device referenced by the pod's
``spec.resourceClaims``; otherwise through the device plugin, a limit of one ``nvidia.com/gpu``.

* dra_support: a ResourceClaim (the served resource.k8s.io version) for one device of such a DeviceClass and a
  pause pod using it; the claim must be allocated a device of the class's driver and reserved for the pod, and the
  pod bound to that device's node and Running.
* driver_runtime_management (TestAcceleratorDriverRuntimeManagement): a vanilla ubuntu container granted one GPU
  runs nvidia-smi, which only the container runtime (CDI spec or NVIDIA runtime hook) can have put there; the
  driver version it prints must match what the node advertises (DRA ResourceSlice attributes, GFD labels), and
  so must the CUDA version where both are known. nvidia-smi's answers are read from the container's log
  (probes/pods.py): output that cannot be observed makes the probe UNKNOWN.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils import lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import program
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Predicate, WaitTimeout, pod_phase
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import parse_quantity
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import DRA_POOL, PLUGIN_POOL, pods, probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import image
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, PASS, SKIPPED, UNKNOWN, Finding

DRA = lookups.DRA_GROUP
NVIDIA_DRIVERS = lookups.DRA_DRIVERS_BY_VENDOR["nvidia"]
NVIDIA_RESOURCES = ("nvidia.com/gpu", "nvidia.com/mig-")  # device-plugin resources granting one device, by prefix
ALLOCATION_TIMEOUT = 120.0  # seconds the dra_support claim may take to be allocated and reserved
SMI_WINDOW = 90.0  # seconds to read nvidia-smi's answers from a started container's log, slow on a cold GPU (the official 90 s)
# /dev entries named nvidia<digit>...: one per granted GPU, as the official glob /dev/nvidia[0-9]* (nvidiactl,
# nvidia-uvm, nvidia-modeset and nvidia-caps are shared control nodes, not devices). busybox's ls prints one name
# per line into a pipe; grep -c prints 0 when there is none.
COUNT_LINE = "echo \"%s devices=$(ls /dev | grep -c '^nvidia[0-9]')\"" % pods.MARK
# nvidia-smi where the NVIDIA runtime/CDI put it (GKE: /usr/local/nvidia); the driver version from the query
# (stable across driver lines) and the banner, whose labels newer drivers renamed (KMD / CUDA UMD Version).
SMI_SCRIPT = "\n".join([
    'M="%s"' % pods.MARK,
    '[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"',
    COUNT_LINE,
    'smi="$(command -v nvidia-smi)"',
    'for c in /usr/bin/nvidia-smi /usr/local/nvidia/bin/nvidia-smi; do [ -z "$smi" ] && [ -x "$c" ] && smi="$c"; done',
    'if [ -z "$smi" ]; then echo "$M nvidia-smi=missing"; else',
    '  echo "$M nvidia-smi=$smi"',
    '  out="$(timeout 60 "$smi" --query-gpu=driver_version --format=csv,noheader 2>&1)"; echo "$M query-rc=$?"',
    '  printf "%s\\n" "$out" | sed "s/^/$M query: /"',
    '  timeout 60 "$smi" 2>&1 | head -n 12 | sed "s/^/$M smi: /"',
    "fi",
    pods.END_LINE,
])
DRIVER_BANNER = re.compile(r"(?:Driver|KMD) Version:\s*([0-9][0-9.]*)")
CUDA_BANNER = re.compile(r"CUDA(?: UMD)? Version:\s*([0-9][0-9.]*)")
DRIVER_NUMBER = re.compile(r"^[0-9]+(?:\.[0-9]+)+$")
# Equality terms of a DeviceClass's CEL the probe can judge: device.attributes['<domain>'].<name> == '<value>'.
ATTRIBUTE_TERM = re.compile(r"""device\.attributes\[['"]([^'"]+)['"]\]\.(\w+)\s*==\s*['"]([^'"]*)['"]""")
RUNNING = Predicate("Running", pod_phase("Running"), show=pods.pod_state, hint=pod_phase("Running").hint)


def nvidia_nodes(ctx):
    return [n for n in lookups.accelerator_nodes(ctx.kube) if n.vendor == "nvidia"]


def accelerator_tolerations(nodes) -> List[Dict[str, str]]:
    """Tolerations for the accelerator nodes' own taints (nvidia.com/gpu always, as the official test)."""
    return pods.tolerate({"nvidia.com/gpu"} | {t.split("=", 1)[0].split(":", 1)[0] for n in nodes for t in n.taints})


def device_count(lines: Dict[str, List[str]]) -> Optional[int]:
    """The /dev/nvidia<N> count COUNT_LINE printed, or None."""
    values = lines.get("devices") or []
    return int(values[0]) if values and values[0].isdigit() else None


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


def pick_grant(ctx, nodes) -> Tuple[Optional[Grant], str]:
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


def _whole(value: Any) -> int:
    """A device count (a quantity such as "4"); 0 for what is not one."""
    try:
        return int(parse_quantity(value))
    except ValueError:
        return 0


def free_devices(kube) -> Dict[str, Tuple[int, int, str]]:
    """Per pool (DRA_POOL, PLUGIN_POOL): (NVIDIA devices free, in all, how that was counted). DRA: the devices of NVIDIA
    drivers in complete pools, untainted, that no ResourceClaim has allocated; the device plugin: the nvidia.com/gpu
    and nvidia.com/mig-* allocatable of Ready, schedulable nodes minus what the unfinished pods bound there hold."""
    inventory = lookups.dra_inventory(kube)
    published = {(driver, name, device["name"]) for driver in NVIDIA_DRIVERS
                 for name, pool in ((inventory["drivers"].get(driver) or {}).get("pools") or {}).items() if pool["complete"]
                 for device in pool["devices"] if not device["taints"]}
    allocated = set()
    if published:
        version = inventory["api_version"].split("/")[-1]
        allocated = {(r.get("driver"), r.get("pool"), r.get("device")) for claim in kube.list(DRA, version, "resourceclaims")
                     for r in (((claim.get("status") or {}).get("allocation") or {}).get("devices") or {}).get("results") or []}
    free = len(published - allocated)
    counted = {DRA_POOL: (free, len(published), "%d of the %d DRA devices of %s not allocated to a ResourceClaim"
                          % (free, len(published), ", ".join(NVIDIA_DRIVERS)))}
    nodes = {n.name: sum(_whole(v) for k, v in n.resources.items() if k.startswith(NVIDIA_RESOURCES))
             for n in lookups.accelerator_nodes(kube) if n.vendor == "nvidia" and n.ready and n.schedulable}
    requested = pods.requested_by_node(kube.list_all("", "v1", "pods", field_selector=pods.LIVE_PODS)) if any(nodes.values()) else {}
    held = {n: int(sum(amount for k, amount in requested.get(n, {}).items() if k.startswith(NVIDIA_RESOURCES))) for n in nodes}
    free = sum(max(0, nodes[n] - held[n]) for n in nodes)
    counted[PLUGIN_POOL] = (free, sum(nodes.values()), "%d of the %d nvidia.com/gpu and nvidia.com/mig-* the device plugin "
                                                       "advertises on %d Ready, schedulable nodes not held by a pod"
                            % (free, sum(nodes.values()), len(nodes)))
    return counted


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


@probe("dra_support", devices=1, pool=DRA_POOL)
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
    tolerations = accelerator_tolerations(lookups.accelerator_nodes(ctx.kube))
    ctx.create(DRA, version, "resourceclaims", _claim_body(version, claim, device_class, 1),
               note="one device of DeviceClass %s (driver %s)" % (device_class, driver))
    ctx.create("", "v1", "pods", pods.pod(pod, [pods.container("pause", image("pause", ctx.options.probe_image_registry), resources={
        "claims": [{"name": "gpu"}]})], tolerations, [{"name": "gpu", "resourceClaimName": claim}], restart="Always"),
        note="a pod using ResourceClaim %s" % claim)
    try:
        allocated = ctx.wait_for(DRA, version, "resourceclaims", claim, _allocated_for(pod, driver),
                                 timeout=pods.bounded(ctx, ALLOCATION_TIMEOUT), interval=0.5)
    except WaitTimeout as exc:
        seen = ctx.get("", "v1", "pods", pod, ctx.namespace, show=pods.pod_state, note="why the claim's pod was not scheduled")
        return Finding(FAIL, "ResourceClaim %s for one device of DeviceClass %s (driver %s) was not allocated and reserved for "
                             "pod %s within %.0fs: claim %s; pod %s." % (claim, device_class, driver, pod, exc.timeout,
                                                                         exc.observed, pods.pod_state(seen)),
                       remediation="read kubectl describe pod %s -n %s (the scheduler's DRA message) and the %s kubelet "
                                   "plugin's logs; check the DeviceClass selectors match the published devices" % (
                                       pod, ctx.namespace, driver))
    device, node = _allocated_node(allocated, choice["devices"], driver)
    try:
        running = ctx.wait_for("", "v1", "pods", pod, RUNNING, timeout=pods.bounded(ctx, pods.START_TIMEOUT), interval=0.5)
    except WaitTimeout as exc:
        seen = pods.pod_state(exc.last)
        if any(reason in pods.IMAGE_ERRORS for _c, reason, _m in pods.waiting(exc.last or {})):
            return Finding(UNKNOWN, "claim %s got device %s, but pod %s could not pull its image: %s" % (claim, device, pod, seen),
                           remediation=pods.IMAGE_FIX)
        return Finding(FAIL, "claim %s got device %s on node %s and was reserved for pod %s, but the pod never ran: %s"
                       % (claim, device, node or "?", pod, seen),
                       remediation="the DRA driver's kubelet plugin on %s must prepare the device: read its logs and "
                                   "kubectl describe pod %s -n %s" % (node or "the node", pod, ctx.namespace))
    bound = pods.node_of(running)
    if node and bound != node:
        return Finding(FAIL, "claim %s got device %s on node %s, but pod %s runs on node %s: a pod must run where its "
                             "allocated device is" % (claim, device, node, pod, bound))
    return Finding(PASS, "ResourceClaim %s (resource.k8s.io/%s, DeviceClass %s) was allocated device %s and reserved for pod "
                         "%s, which the scheduler bound to that device's node %s, where it runs."
                   % (claim, version, device_class, device, pod, bound or "?"))


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
    return {"devices": device_count(lines), "nvidia_smi": (lines.get("nvidia-smi") or [""])[0], "query_rc": rc,
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


@probe("driver_runtime_management", devices=1)
def driver_runtime_management(ctx) -> Finding:
    """nvidia-smi, injected by the runtime into a vanilla container granted one GPU, reports the advertised driver."""
    nodes = nvidia_nodes(ctx)
    if not nodes:
        return Finding(SKIPPED, "no probe for this accelerator vendor yet (the probe runs nvidia-smi, as the official test does)")
    grant, why = pick_grant(ctx, nodes)
    if grant is None:
        return Finding(UNKNOWN, "no way to grant a probe pod one GPU: %s" % why)
    claims, resources = grant.give(ctx, "driver-probe")
    ubuntu = image("ubuntu", ctx.options.probe_image_registry)
    ctx.create("", "v1", "pods", pods.pod("driver-probe", [pods.container("probe", ubuntu, SMI_SCRIPT, resources)], accelerator_tolerations(nodes), claims),
               note="a vanilla ubuntu container granted one GPU through %s runs nvidia-smi" % grant.describe())
    started, last, why = pods.start(ctx, "driver-probe")
    if started is None:
        if any(reason in pods.RUNTIME_ERRORS for _c, reason, _m in pods.waiting(last or {})):
            return Finding(FAIL, "the container runtime could not run a container granted one GPU: %s" % why,
                           remediation="check the NVIDIA container toolkit's runtime/CDI configuration on the node (the "
                                       "container runtime could not inject the driver into the container)")
        return Finding(UNKNOWN, "could not run the nvidia-smi probe: %s" % why,
                       remediation=pods.IMAGE_FIX if any(e in why for e in pods.IMAGE_ERRORS) else "")
    node = pods.node_of(started)
    lines, why = pods.output(ctx, "driver-probe", "probe", SMI_WINDOW)
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
