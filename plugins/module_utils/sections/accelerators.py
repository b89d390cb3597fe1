# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist section `accelerators`: DRA, driver/runtime management, GPU sharing, vGPU.

Every check reads shared, once-per-run lookups from ``facts`` (accelerator nodes by label selector,
the ResourceSlices listed once and digested by ``lookups.dra_inventory``, DeviceClasses, the GPU
operator's ClusterPolicy, RuntimeClasses, the operator namespace's DaemonSets) plus at most a
ConfigMap GET (the device plugin's sharing configuration) and, only when something is not ready,
a label-selected pod list naming the nodes concerned. Nothing lists every node or every pod.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils import components, lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import program
from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import (
    condition, condition_true, conditions_line, daemonset_summary, spec_of, table, truthy, yaml_doc,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import (
    FAIL, NOT_APPLICABLE, PASS, UNKNOWN, Finding,
)

DRA_RESOURCES = ("deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices")

NODE_GET_CAP = 10  # pool nodes that are not accelerator nodes: read one by one up to this many
TABLE_ROWS = 20  # rows of a long table kept in evidence
NO_ACCELERATORS = ("no accelerator nodes: no node carries an accelerator label (nvidia.com/gpu.present, node feature "
                   "discovery PCI vendor 10de/1002, intel.feature.node.kubernetes.io/gpu) or advertises an accelerator "
                   "resource (nvidia.com/gpu, amd.com/gpu, gpu.intel.com/*, ...)")

# GPU operator operands (NVIDIA/gpu-operator assets/state-*/0500_daemonset.yaml); with the NVIDIADriver CRD the
# driver DaemonSets are named nvidia-gpu-driver-<os>-<hash>.
OPERANDS = (
    ("driver", "driver", ("nvidia-driver-daemonset", "nvidia-gpu-driver-")),
    ("container toolkit", "toolkit", ("nvidia-container-toolkit-daemonset",)),
    ("device plugin", "devicePlugin", ("nvidia-device-plugin-daemonset",)),
)
MPS_DAEMON = "nvidia-device-plugin-mps-control-daemon"
VGPU_DAEMONSETS = (("vGPU manager", "vgpuManager", "nvidia-vgpu-manager-daemonset"),
                   ("vGPU device manager", "vgpuDeviceManager", "nvidia-vgpu-device-manager"),
                   ("sandbox device plugin", "sandboxDevicePlugin", "nvidia-sandbox-device-plugin-daemonset"))
AMD_DRIVER_LABEL = "amd.com/gpu.driver-version"

TIME_SLICING_CONFIG = "time-slicing-config"
TIME_SLICING_DATA = "{version: v1, sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 4}]}}}"


def time_slicing_fix(namespace: str, policy_name: str, mig_nodes: List[str]) -> str:
    """Commands that turn on time-slicing through the GPU operator (and MIG on MIG-capable nodes)."""
    text = ("Configure a GPU sharing strategy through the GPU operator: time-slicing with kubectl create configmap %s "
            "-n %s --from-literal=any='%s' && kubectl patch clusterpolicies.nvidia.com/%s --type merge -p "
            "'{\"spec\":{\"devicePlugin\":{\"config\":{\"name\":\"%s\",\"default\":\"any\"}}}}'"
            % (TIME_SLICING_CONFIG, namespace, TIME_SLICING_DATA, policy_name, TIME_SLICING_CONFIG))
    if mig_nodes:
        text += ("; or MIG on the MIG-capable node(s): kubectl patch clusterpolicies.nvidia.com/%s --type merge -p "
                 "'{\"spec\":{\"mig\":{\"strategy\":\"mixed\"}}}' && kubectl label node %s "
                 "nvidia.com/mig.config=all-balanced --overwrite" % (policy_name, " ".join(mig_nodes)))
    return text


# ================================================================================================ helpers
def _names(items, limit: int = 8) -> str:
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return "%s and %d more" % (", ".join(items[:limit]), len(items) - limit)


def _table(rows: List[List[str]]) -> str:
    """Rows (the first a header) as aligned columns; long tables cut to TABLE_ROWS with a count."""
    return table(rows, TABLE_ROWS)


def _version_key(version: str) -> str:
    """'13.0.0' and '13.0' compare equal; '580.126.20' stays."""
    parts = str(version).split(".")
    while len(parts) > 2 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)


def _pool_node_readiness(ctx, node_names: List[str]) -> Dict[str, bool]:
    """node -> Ready and schedulable, for the nodes DRA pools name: from the shared accelerator-node lookup,
    else one GET per node (at most NODE_GET_CAP; the rest stay unknown)."""
    known = {n.name: n.ready and n.schedulable for n in lookups.accelerator_nodes(ctx.kube)}
    out, fetched = {}, []
    for name in node_names:
        if name in known:
            out[name] = known[name]
        elif len(fetched) < NODE_GET_CAP:
            node = ctx.kube.get("", "v1", "nodes", name)
            fetched.append(name)
            out[name] = bool(node) and condition_true(node, "Ready") and not spec_of(node).get("unschedulable", False)
    if fetched:
        ctx.record(ctx.get_command("", "nodes", fetched),
                   "\n".join("%s  %s" % (n, "Ready" if out[n] else "NotReady/unschedulable/absent") for n in fetched),
                   api="; ".join(ctx.api_for("", "v1", "nodes", name=n) for n in fetched),
                   note="the nodes DRA pools name that the accelerator-node lookup did not find: Ready and schedulable?")
    return out


# ================================================================================================ dra_support
def _record_dra_objects(ctx, classes, inventory) -> None:
    version = (inventory["api_version"] or "%s/v1" % lookups.DRA_GROUP).split("/")[-1]
    shown = "\n".join("%s  (selects driver %s)" % (dc["metadata"]["name"], ", ".join(lookups.device_class_drivers(dc)) or "?")
                      for dc in classes)
    ctx.record_list(lookups.DRA_GROUP, version, "deviceclasses", shown or "No resources found")
    rows = [["NAME", "DRIVER", "POOL", "GENERATION", "SLICES", "NODE", "DEVICES"]]
    for driver, info in inventory["drivers"].items():
        for pool_name, pool in info["pools"].items():
            per_slice: Dict[str, int] = {}
            for device in pool["devices"]:
                per_slice[device["slice"]] = per_slice.get(device["slice"], 0) + 1
            for slice_name in pool["slice_names"]:
                nodes = sorted({d["node"] for d in pool["devices"] if d["slice"] == slice_name}) or pool["nodes"] or ["-"]
                rows.append([slice_name, driver, pool_name, str(pool["generation"]),
                             "%d/%d" % (pool["slices"], pool["resource_slice_count"]), ",".join(nodes),
                             str(per_slice.get(slice_name, 0))])
    ctx.record_list(lookups.DRA_GROUP, version, "resourceslices", _table(rows) if len(rows) > 1 else "No resources found",
                    args="-o custom-columns=NAME:.metadata.name,DRIVER:.spec.driver,POOL:.spec.pool.name,"
                         "GENERATION:.spec.pool.generation,COUNT:.spec.pool.resourceSliceCount,NODE:.spec.nodeName",
                    api_note="paginated, %d slices" % inventory["slice_count"])


def dra_usability(ctx) -> Dict[str, Any]:
    """Per DRA driver: its DeviceClasses, complete/incomplete pools and allocatable devices on Ready nodes
    (the official suite's precheck). Records its evidence."""
    kube = ctx.kube
    classes = lookups.device_classes(kube)
    inventory = lookups.dra_inventory(kube)
    _record_dra_objects(ctx, classes, inventory)
    unattributed = [dc["metadata"]["name"] for dc in classes if not lookups.device_class_drivers(dc)]
    pool_nodes = sorted({n for info in inventory["drivers"].values() for n in info["nodes"] if n not in ("*", "(node selector)")})
    readiness = _pool_node_readiness(ctx, pool_nodes)
    drivers = {}
    for driver, info in inventory["drivers"].items():
        driver_classes = [dc["metadata"]["name"] for dc in classes if driver in lookups.device_class_drivers(dc)]
        complete, incomplete, allocatable, ready_nodes, not_ready = [], [], 0, set(), set()
        for pool_name, pool in info["pools"].items():
            if not pool["complete"]:
                incomplete.append({"pool": pool_name, "slices": pool["slices"], "expected": pool["resource_slice_count"],
                                   "generation": pool["generation"]})
                continue
            complete.append(pool_name)
            for device in pool["devices"]:
                node = device["node"]
                on_ready = node in ("*", "(node selector)") or readiness.get(node, False)
                if node not in ("*", "(node selector)"):
                    (ready_nodes if readiness.get(node, False) else not_ready).add(node)
                if on_ready and not device["taints"]:
                    allocatable += 1
        usable = bool(driver_classes or unattributed) and allocatable > 0
        drivers[driver] = {
            "vendor": info["vendor"], "device_classes": driver_classes, "pools": len(info["pools"]),
            "complete_pools": complete, "incomplete_pools": incomplete, "devices": info["device_count"],
            "allocatable_devices": allocatable, "ready_nodes": sorted(ready_nodes), "not_ready_nodes": sorted(not_ready),
            "usable": usable,
        }
    return {"device_classes": [dc["metadata"]["name"] for dc in classes], "unattributed_classes": unattributed,
            "slice_count": inventory["slice_count"], "drivers": drivers,
            "usable_drivers": sorted(d for d, v in drivers.items() if v["usable"])}


def allocation_mode(kube, usability: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """'DRA', 'device plugin', 'DRA and device plugin' or 'none', with what showed it."""
    dra = [d for d in usability["usable_drivers"] if usability["drivers"][d]["vendor"]]
    plugin = {n.name: n.resources for n in lookups.accelerator_nodes(kube) if n.resources}
    mode = " and ".join(m for m, on in (("DRA", dra), ("device plugin", plugin)) if on) or "none"
    return mode, {"dra_drivers": dra, "device_plugin_nodes": plugin}


def _usability_sentences(usability: Dict[str, Any]) -> List[str]:
    out = []
    drivers = usability["drivers"]
    for name in usability["usable_drivers"]:
        d = drivers[name]
        classes = ", ".join(d["device_classes"]) or "(a DeviceClass whose selectors do not name the driver: %s)" % ", ".join(
            usability["unattributed_classes"])
        pools = d["complete_pools"]
        out.append("DRA is usable: driver %s publishes %d complete pool(s) (%s) with %d allocatable device(s) on Ready "
                   "nodes, requested through DeviceClass(es) %s."
                   % (name, len(pools), _names(pools), d["allocatable_devices"], classes))
    for name, d in drivers.items():
        if d["incomplete_pools"]:
            out.append("Driver %s has incomplete pool(s): %s; the scheduler does not allocate from a pool until all its "
                       "ResourceSlices are published — check the driver's kubelet plugin on those nodes." % (name, "; ".join(
                           "%s (%d of %d ResourceSlices at generation %d)" % (p["pool"], p["slices"], p["expected"], p["generation"])
                           for p in d["incomplete_pools"])))
        if not d["usable"]:
            why, fix = [], []
            if not d["device_classes"] and not usability["unattributed_classes"]:
                why.append("no DeviceClass selects it")
                fix.append("create a DeviceClass whose CEL selector is device.driver == '%s'" % name)
            if not d["allocatable_devices"]:
                why.append("no allocatable device in a complete pool on a Ready, schedulable node%s"
                           % (" (not ready: %s)" % _names(d["not_ready_nodes"]) if d["not_ready_nodes"] else ""))
                if d["not_ready_nodes"]:
                    fix.append("find why the node(s) are not Ready or schedulable: kubectl describe node %s"
                               % " ".join(d["not_ready_nodes"][:5]))
                elif not d["incomplete_pools"]:
                    fix.append("its devices carry NoSchedule/NoExecute taints or sit on no node the cluster knows: "
                               "kubectl get resourceslices --field-selector spec.driver=%s -o yaml" % name)
            out.append("Driver %s is not usable: %s%s." % (name, "; ".join(why), " (%s)" % "; ".join(fix) if fix else ""))
    if not usability["usable_drivers"] and not drivers:
        what = ("DeviceClasses %s exist but no ResourceSlices" % _names(usability["device_classes"])
                if usability["device_classes"] else "no DeviceClasses and no ResourceSlices")
        out.append("DRA is not usable yet: %s (no DRA driver publishes devices). Install a DRA driver, e.g. %s."
                   % (what, components.install_hint("dra_driver")))
    return out


@requirement("dra_support")
def dra_support(ctx):
    """All four resource.k8s.io resources served at the version the checklist needs (the pass criterion,
    KAR-0051), plus whether DRA is usable and how accelerators are allocated (in notes and details)."""
    discovery = ctx.kube.discovery()
    wanted = program.rules(ctx.checklist.version).dra_api_versions
    served_versions = ctx.api_resources(lookups.DRA_GROUP)
    version = next((v for v in wanted if all(discovery.served(lookups.DRA_GROUP, v, r) for r in DRA_RESOURCES)), None)
    if version is None:
        version = wanted[0]
        missing = [r for r in DRA_RESOURCES if not discovery.served(lookups.DRA_GROUP, version, r)]
        return Finding(
            FAIL,
            "%s/%s is not fully served: missing %s (served versions: %s)."
            % (lookups.DRA_GROUP, version, ", ".join(missing), ", ".join(served_versions) or "none"),
            remediation="Enable the DRA API: on Kubernetes 1.34+ resource.k8s.io/v1 is on by default unless disabled with "
                        "--runtime-config; on RKE2 remove any 'runtime-config=resource.k8s.io/v1=false' from "
                        "kube-apiserver-arg and restart the servers.",
            details={"missing": missing, "served_versions": served_versions})
    usability = dra_usability(ctx)
    mode, mode_details = allocation_mode(ctx.kube, usability)
    plugin_nodes = mode_details["device_plugin_nodes"]
    mode_text = "Accelerator allocation mode: %s" % mode
    if plugin_nodes:
        resources = sorted({k for r in plugin_nodes.values() for k in r})
        mode_text += " (device plugin resources %s on %s)" % (", ".join(resources), _names(sorted(plugin_nodes)))
    notes = " ".join(["%s/%s serves %s." % (lookups.DRA_GROUP, version, ", ".join(DRA_RESOURCES))]
                     + _usability_sentences(usability) + [mode_text + "."])
    return Finding(PASS, notes, details={
        "api_version": "%s/%s" % (lookups.DRA_GROUP, version), "served_versions": served_versions,
        "dra_usable": bool(usability["usable_drivers"]), "allocation_mode": mode,
        "device_classes": usability["device_classes"], "resource_slices": usability["slice_count"],
        "drivers": usability["drivers"], "device_plugin_nodes": plugin_nodes,
    })


# ================================================================================================ driver_runtime_management
def _dra_versions_by_node(kube, driver: str) -> Dict[str, Dict[str, set]]:
    """node -> {"driverVersion": {...}, "cudaDriverVersion": {...}} from the driver's ResourceSlice attributes."""
    out: Dict[str, Dict[str, set]] = {}
    info = lookups.dra_inventory(kube)["drivers"].get(driver)
    for pool in (info or {}).get("pools", {}).values():
        for device in pool["devices"]:
            entry = out.setdefault(device["node"], {"driverVersion": set(), "cudaDriverVersion": set()})
            for attr in ("driverVersion", "cudaDriverVersion"):
                if device["attributes"].get(attr):
                    entry[attr].add(str(device["attributes"][attr]))
    return out


def _selector_misses(ds: Dict[str, Any], nodes) -> List[str]:
    """Accelerator nodes the DaemonSet's vendor-label nodeSelector leaves out."""
    selector = ((spec_of(ds).get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    vendor_keys = {k: v for k, v in selector.items() if k.startswith(lookups.NVIDIA_LABEL_PREFIXES)}
    return [n.name for n in nodes if any(n.labels.get(k) != v for k, v in vendor_keys.items())]


def _unready_pods(ctx, ds: Dict[str, Any], namespace: str) -> List[Tuple[str, str]]:
    """(node, pod) of this DaemonSet's pods that are not Ready (one label-selected pod list; only called on trouble)."""
    labels = ((spec_of(ds).get("selector") or {}).get("matchLabels") or {})
    if not labels:
        return []
    selector = ",".join("%s=%s" % kv for kv in sorted(labels.items()))
    pods = ctx.list("", "v1", "pods", namespace=namespace, label_selector=selector, args="-o wide", show=lambda items: "\n".join(
        "%s  %s  %s" % (p["metadata"]["name"], spec_of(p).get("nodeName", "-"),
                        "Ready" if condition_true(p, "Ready") else (p.get("status") or {}).get("phase", "?"))
        for p in items) or "No resources found")
    bad = sorted({(spec_of(p).get("nodeName", "?"), p["metadata"]["name"]) for p in pods if not condition_true(p, "Ready")})
    return bad


def _check_operand(ctx, label: str, ds: Dict[str, Any], nodes, namespace: str, problems: List[str],
                   fixes: List[str]) -> Dict[str, Any]:
    status = ds.get("status") or {}
    desired, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    name = ds["metadata"]["name"]
    left_out = _selector_misses(ds, nodes)
    expected = len(nodes) - len(left_out)
    if left_out:
        problems.append("%s DaemonSet %s does not select accelerator node(s) %s (nodeSelector labels missing)"
                        % (label, name, _names(left_out)))
        fixes.append("compare DaemonSet %s/%s's nodeSelector with the labels of %s (kubectl get daemonset -n %s %s "
                     "-o jsonpath='{.spec.template.spec.nodeSelector}'; kubectl get node %s --show-labels)"
                     % (namespace, name, _names(left_out), namespace, name, left_out[0]))
    unready = []
    if ready < desired or desired < expected:
        bad = _unready_pods(ctx, ds, namespace)
        unready = [node for node, _pod in bad]
        problems.append("%s DaemonSet %s is %d/%d ready for %d accelerator node(s)%s"
                        % (label, name, ready, desired, len(nodes),
                           ": not ready on %s" % _names(unready) if unready else ""))
        if bad:
            fixes.append("read why %s pod %s is not ready: kubectl describe pod -n %s %s; kubectl logs -n %s %s "
                         "--all-containers" % (label, bad[0][1], namespace, bad[0][1], namespace, bad[0][1]))
        else:
            fixes.append("find why DaemonSet %s/%s schedules no pod on every accelerator node (taints, nodeSelector): "
                         "kubectl describe daemonset -n %s %s" % (namespace, name, namespace, name))
    return {"daemonset": "%s/%s" % (namespace, name), "desired": desired, "ready": ready,
            "nodes_not_selected": left_out, "nodes_not_ready": unready}


def _nvidia_driver_runtime(ctx, nodes, problems, unknowns, mechanisms, fixes) -> Dict[str, Any]:
    kube = ctx.kube
    details: Dict[str, Any] = {"nodes": {}}
    dra = _dra_versions_by_node(kube, "gpu.nvidia.com")
    rows = [["NODE", "DRIVER (label)", "CUDA (label)", "DRIVER (DRA)", "CUDA (DRA)", "RUNTIME HANDLERS"]]
    no_version, mismatched = [], []
    for n in nodes:
        from_dra = dra.get(n.name, {})
        driver_dra = sorted(from_dra.get("driverVersion", ()))
        cuda_dra = sorted(from_dra.get("cudaDriverVersion", ()))
        rows.append([n.name, n.driver_version or "-", n.cuda_version or "-", ",".join(driver_dra) or "-",
                     ",".join(cuda_dra) or "-", ",".join(n.runtime_handlers) or "-"])
        if not n.driver_version and not driver_dra:
            no_version.append(n.name)
        if n.driver_version and driver_dra and driver_dra != [n.driver_version]:
            mismatched.append("%s (label %s, DRA %s)" % (n.name, n.driver_version, ",".join(driver_dra)))
        if len(driver_dra) > 1:
            mismatched.append("%s (DRA devices report %s)" % (n.name, ",".join(driver_dra)))
        details["nodes"][n.name] = {"driver_version": n.driver_version or (driver_dra[0] if driver_dra else ""),
                                    "cuda_version": n.cuda_version or (cuda_dra[0] if cuda_dra else ""),
                                    "dra_driver_versions": driver_dra, "dra_cuda_versions": cuda_dra,
                                    "runtime_handlers": n.runtime_handlers}
    ctx.record_list("", "v1", "nodes", _table(rows), label_selector=lookups.NVIDIA_SELECTOR, api_note=lookups.SHARED_NODES,
                    args="-L nvidia.com/cuda.driver-version.full,nvidia.com/cuda.runtime-version.full",
                    note="GPU feature discovery's driver and CUDA version labels, and status.runtimeHandlers, of every NVIDIA "
                    "accelerator node")
    if dra:
        ctx.record_list(lookups.DRA_GROUP, lookups.dra_version(kube) or "v1", "resourceslices",
                        "\n".join("%s: driverVersion %s, cudaDriverVersion %s" % (
                            node, ",".join(sorted(v["driverVersion"])) or "-", ",".join(sorted(v["cudaDriverVersion"])) or "-")
                            for node, v in sorted(dra.items())),
                        args="-o jsonpath='{range .items[*]}{.spec.nodeName}{\": \"}{..driverVersion}{\" \"}{..cudaDriverVersion}{\"\\n\"}{end}'",
                        api_note="the shared list, read for driver gpu.nvidia.com",
                        note="the driverVersion and cudaDriverVersion attributes the DRA driver publishes per device")
    drivers = sorted({v["driver_version"] for v in details["nodes"].values() if v["driver_version"]})
    cudas = sorted({_version_key(v["cuda_version"]) for v in details["nodes"].values() if v["cuda_version"]})
    details.update(driver_versions=drivers, cuda_versions=cudas, dra_reports_versions=bool(dra))
    if no_version:
        problems.append("no driver version is reported for node(s) %s (GPU feature discovery labels nvidia.com/cuda.driver.* "
                        "missing and no DRA ResourceSlice attribute driverVersion)" % _names(no_version))
    if len(drivers) > 1:
        problems.append("driver versions differ across accelerator nodes: %s" % "; ".join(
            "%s on %s" % (v, _names(sorted(n for n, d in details["nodes"].items() if d["driver_version"] == v))) for v in drivers))
        fixes.append("install one driver version on every accelerator node (with the GPU operator: one driver.version in "
                     "ClusterPolicy, or one NVIDIADriver per node pool)")
    if len(cudas) > 1:
        problems.append("CUDA versions differ across accelerator nodes: %s" % ", ".join(cudas))
    if mismatched:
        problems.append("the DRA driver and the node labels disagree on the driver version: %s" % "; ".join(mismatched))
        fixes.append("restart the stale reporter after a driver upgrade (the gpu-feature-discovery pods and the DRA "
                     "driver's kubelet-plugin pods on %s)" % _names(m.split(" ", 1)[0] for m in mismatched))
    if dra and not no_version:
        covered = [n.name for n in nodes if dra.get(n.name, {}).get("driverVersion")]
        if len(covered) == len(nodes):
            driver_versions = ", ".join(sorted({v for d in dra.values() for v in d["driverVersion"]}))
            cuda_versions = ", ".join(sorted({v for d in dra.values() for v in d["cudaDriverVersion"]}))
            mechanisms.append("DRA ResourceSlice attributes of driver gpu.nvidia.com (driverVersion %s, cudaDriverVersion %s) "
                              "on every accelerator node" % (driver_versions, cuda_versions))
    if drivers and len(drivers) == 1 and all(n.driver_version for n in nodes):
        mechanisms.append("GPU feature discovery labels: driver %s, CUDA %s on every accelerator node"
                          % (drivers[0], ", ".join(cudas) or "?"))

    policies = lookups.cluster_policies(kube)
    runtime_class_name, handler = "nvidia", "nvidia"
    toolkit_managed = False
    if policies:
        policy = policies[0]
        spec, status = spec_of(policy), policy.get("status") or {}
        name, namespace = policy["metadata"]["name"], status.get("namespace") or "gpu-operator"
        state = status.get("state", "")
        enabled = {key: truthy((spec.get(key) or {}).get("enabled"), True) for _label, key, _p in OPERANDS}
        toolkit_managed = enabled["toolkit"]
        runtime_class_name = (spec.get("operator") or {}).get("runtimeClass") or "nvidia"
        ctx.record_list(lookups.CP_GROUP, lookups.CP_VERSION, lookups.CP_PLURAL,
                        "state=%s  conditions: %s\ndriver.enabled=%s driver.version=%s toolkit.enabled=%s devicePlugin.enabled=%s "
                        "operator.runtimeClass=%s" % (state or "?", conditions_line(policy), enabled["driver"],
                                                      (spec.get("driver") or {}).get("version", "-"), enabled["toolkit"],
                                                      enabled["devicePlugin"], runtime_class_name),
                        api_note="the shared list", note="ClusterPolicy %s" % name)
        details["cluster_policy"] = {"name": name, "state": state, "namespace": namespace, "enabled": enabled}
        if state != "ready":
            err = condition(policy, "Error") or {}
            problems.append("GPU operator ClusterPolicy %s is %s%s" % (name, state or "without a state",
                                                                       ": %s" % err["message"] if err.get("message") else ""))
            fixes.append("read the ClusterPolicy's conditions and the operator's log: kubectl describe "
                         "clusterpolicies.nvidia.com %s; kubectl logs -n %s deployment/gpu-operator" % (name, namespace))
        else:
            mechanisms.append("GPU operator ClusterPolicy %s ready" % name)
        daemonsets = lookups.namespace_daemonsets(kube, namespace)
        relevant = [ds for ds_name, ds in sorted(daemonsets.items())
                    if ds_name.startswith(tuple(p for _l, _k, prefixes in OPERANDS for p in prefixes)) or ds_name == "nvidia-operator-validator"]
        ctx.record_list("apps", "v1", "daemonsets",
                        "\n".join(daemonset_summary(ds) for ds in relevant) or "No operand DaemonSets found", namespace,
                        note="the operand DaemonSets: driver, container toolkit, device plugin and operator validator")
        details["operands"] = {}
        ready_operands = []
        for label, key, prefixes in OPERANDS:
            if not enabled[key]:
                continue
            found = [ds for ds_name, ds in sorted(daemonsets.items()) if ds_name.startswith(prefixes)]
            if not found:
                problems.append("%s is enabled in ClusterPolicy %s but no DaemonSet %s exists in namespace %s"
                                % (label, name, prefixes[0], namespace))
                fixes.append("read why the operator did not create the %s DaemonSet: kubectl logs -n %s deployment/gpu-operator"
                             % (label, namespace))
                continue
            for ds in found:
                before = len(problems)
                details["operands"][ds["metadata"]["name"]] = _check_operand(ctx, label, ds, nodes, namespace, problems, fixes)
                if len(problems) == before:
                    ready_operands.append(ds["metadata"]["name"])
        if ready_operands:
            mechanisms.append("%s ready on every accelerator node" % ", ".join(ready_operands))
        if not enabled["driver"]:
            mechanisms.append("driver installed on the hosts (ClusterPolicy driver.enabled=false), accepted because every "
                              "node reports its driver version" if not no_version else "driver installed on the hosts")
        if not enabled["devicePlugin"] and not dra:
            problems.append("neither the operator's device plugin (devicePlugin.enabled=false) nor a DRA driver "
                            "(no gpu.nvidia.com ResourceSlices) exposes the GPUs")
            fixes.append("install the DRA driver: %s; or turn the device plugin on: kubectl patch clusterpolicies.nvidia.com/%s "
                         "--type merge -p '{\"spec\":{\"devicePlugin\":{\"enabled\":true}}}'"
                         % (components.install_hint("dra_driver"), name))
        if no_version and truthy((spec.get("gfd") or {}).get("enabled"), True):
            fixes.append("check GPU feature discovery on %s: kubectl get pods -n %s -l app=gpu-feature-discovery -o wide"
                         % (_names(no_version), namespace))
    else:
        ctx.record_discovery("the GPU operator is not installed (nvidia.com/v1 clusterpolicies not served)", group=lookups.CP_GROUP)
        if not no_version and (drivers or dra):  # (missing versions are already a problem above)
            mechanisms.append("no GPU operator: drivers and toolkit installed on the hosts")
        if no_version:
            fixes.append("publish the driver version: install the NVIDIA GPU operator (its GPU feature discovery labels the "
                         "nodes), %s" % components.install_hint("gpu_operator"))

    classes = lookups.runtime_classes(kube)
    ctx.record_list("node.k8s.io", "v1", "runtimeclasses", "\n".join("%s  handler=%s" % kv for kv in sorted(classes.items()))
                    or "No resources found")
    if runtime_class_name in classes:
        handler = classes[runtime_class_name] or handler
        missing_handler = [n.name for n in nodes if n.runtime_handlers and handler not in n.runtime_handlers]
        if missing_handler:
            problems.append("RuntimeClass %s uses handler %s but the container runtime of node(s) %s has no such handler "
                            "(status.runtimeHandlers)" % (runtime_class_name, handler, _names(missing_handler)))
            fixes.append("configure the %s runtime in containerd on %s (the NVIDIA container toolkit does it; on RKE2 set "
                         "toolkit.env CONTAINERD_SOCKET=/run/k3s/containerd/containerd.sock) and check: kubectl get node %s "
                         "-o jsonpath='{.status.runtimeHandlers}'" % (handler, _names(missing_handler), missing_handler[0]))
        else:
            reported = [n.name for n in nodes if n.runtime_handlers]
            mechanisms.append("RuntimeClass %s (handler %s)%s" % (
                runtime_class_name, handler, ", configured in the container runtime of %s" % _names(reported) if reported else ""))
    else:
        nvidia_classes = sorted(k for k, v in classes.items() if v.startswith("nvidia"))
        if nvidia_classes:
            mechanisms.append("RuntimeClass %s" % ", ".join(nvidia_classes))
        elif policies and toolkit_managed:
            problems.append("no RuntimeClass %s for the NVIDIA container runtime (the operator creates it with the "
                            "toolkit)" % runtime_class_name)
            fixes.append("read why the operator did not create RuntimeClass %s: kubectl logs -n %s deployment/gpu-operator"
                         % (runtime_class_name, (policies[0].get("status") or {}).get("namespace") or "gpu-operator"))
        else:
            unknowns.append("no RuntimeClass for the NVIDIA container runtime: check on each accelerator node that "
                            "containerd has an 'nvidia' runtime (or CDI) configured by the NVIDIA Container Toolkit")
    details["runtime_classes"] = classes
    return details


def _amd_driver_runtime(ctx, nodes, problems, unknowns, mechanisms, fixes) -> Dict[str, Any]:
    dra = _dra_versions_by_node(ctx.kube, "gpu.amd.com")
    versions = {n.name: n.labels.get(AMD_DRIVER_LABEL) or ",".join(sorted(dra.get(n.name, {}).get("driverVersion", ())))
                for n in nodes}
    ctx.record_list("", "v1", "nodes",
                    "\n".join("%s  %s  %s" % (n.name, versions[n.name] or "-", ",".join("%s=%s" % kv for kv in n.resources.items()) or "-")
                              for n in nodes),
                    label_selector=lookups.AMD_SELECTOR, args="-L %s" % AMD_DRIVER_LABEL, api_note=lookups.SHARED_NODES,
                    note="the AMD node labeller's driver version label and the amd.com/gpu resource")
    missing = [n for n, v in versions.items() if not v]
    distinct = sorted({v for v in versions.values() if v})
    if missing:
        unknowns.append("AMD node(s) %s report no driver version (label %s from the AMD node labeller, or DRA gpu.amd.com "
                        "attributes): check the amdgpu driver and ROCm runtime by hand (amd-smi on the node, the AMD GPU "
                        "operator's DeviceConfig status)" % (_names(missing), AMD_DRIVER_LABEL))
    if len(distinct) > 1:
        problems.append("AMD driver versions differ across nodes: %s" % ", ".join(distinct))
        fixes.append("install one amdgpu driver version on every AMD accelerator node")
    if distinct and not missing and len(distinct) == 1:
        no_plugin = [n.name for n in nodes if not n.resources and not dra.get(n.name)]
        if no_plugin:
            problems.append("AMD node(s) %s advertise no amd.com/gpu and publish no DRA devices" % _names(no_plugin))
            fixes.append("check the AMD device plugin pods on %s: kubectl get pods -A -o wide --field-selector "
                         "spec.nodeName=%s" % (_names(no_plugin), no_plugin[0]))
        else:
            mechanisms.append("AMD node labeller: amdgpu driver %s on every AMD node, devices exposed by the AMD device "
                              "plugin/DRA driver (no extra container runtime needed)" % distinct[0])
    return {"driver_versions": versions}


@requirement("driver_runtime_management")
def driver_runtime_management(ctx):
    """Compatible drivers and container runtime configuration on every accelerator node, shown by a
    verifiable mechanism (operator state, operand DaemonSets, version labels, DRA attributes, RuntimeClass)."""
    nodes = lookups.accelerator_nodes(ctx.kube)
    lookups.record_accelerator_nodes(ctx, nodes)
    if not nodes:
        return Finding(NOT_APPLICABLE, "Not applicable: %s, so there are no accelerator drivers or runtimes to manage."
                       % NO_ACCELERATORS)
    by_vendor: Dict[str, list] = {}
    for n in nodes:
        by_vendor.setdefault(n.vendor, []).append(n)
    problems: List[str] = []
    unknowns: List[str] = []
    mechanisms: List[str] = []
    details: Dict[str, Any] = {"accelerator_nodes": [n.name for n in nodes], "vendors": sorted(by_vendor)}
    fixes: List[str] = []
    if "nvidia" in by_vendor:
        details["nvidia"] = _nvidia_driver_runtime(ctx, by_vendor["nvidia"], problems, unknowns, mechanisms, fixes)
    if "amd" in by_vendor:
        details["amd"] = _amd_driver_runtime(ctx, by_vendor["amd"], problems, unknowns, mechanisms, fixes)
    for vendor in sorted(set(by_vendor) - {"nvidia", "amd"}):
        unknowns.append("accelerator vendor '%s' on node(s) %s is not one these checks recognise: verify by hand that its "
                        "driver and container runtime integration are installed, version-consistent and monitored (KAR-0001: "
                        "report Unknown for manual verification)" % (vendor, _names(n.name for n in by_vendor[vendor])))
    details.update(mechanisms=mechanisms, problems=problems, unknowns=unknowns)
    count = "%d accelerator node(s) (%s)" % (len(nodes), _names(n.name for n in nodes))
    if problems:
        return Finding(FAIL, "Drivers/runtime not verified on %s: %s." % (count, "; ".join(problems)),
                       remediation=components.join_fixes(fixes or ["repair the NVIDIA GPU operator's operands and keep "
                                                                   "one driver version across the accelerator nodes"]),
                       details=details)
    if unknowns:
        verified = (" Verified: %s." % "; ".join(mechanisms)) if mechanisms else ""
        return Finding(UNKNOWN, "Needs a person: %s.%s" % ("; ".join(unknowns), verified), details=details)
    return Finding(PASS, "Drivers and runtime verified on %s: %s." % (count, "; ".join(mechanisms)), details=details)


# ================================================================================================ gpu_sharing
def _sharing_config(ctx, policy: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The device plugin's sharing configuration named by ClusterPolicy spec.devicePlugin.config (one GET)."""
    if not policy:
        return {}
    config = (spec_of(policy).get("devicePlugin") or {}).get("config") or {}
    name = config.get("name")
    if not name:
        return {}
    namespace = (policy.get("status") or {}).get("namespace") or "gpu-operator"
    out: Dict[str, Any] = {"configmap": "%s/%s" % (namespace, name), "default": config.get("default", ""), "configs": {}}

    def shown(found):
        lines = ["%s: %s" % (key, "; ".join("%s %s" % (s, ", ".join("%s replicas=%s" % kv for kv in r.items()))
                                            for s, r in entry.items()) or "no sharing")
                 for key, entry in _sharing_entries(found).items()]
        return "devicePlugin.config default=%s\n%s" % (out["default"] or "-", "\n".join(lines) or "(no data)")

    cm = ctx.get("", "v1", "configmaps", name, namespace, args="-o yaml", show=shown)
    if cm is None:
        out["missing"] = True
        return out
    out["configs"] = _sharing_entries(cm)
    return out


def _sharing_entries(cm: Dict[str, Any]) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """key -> {strategy: {resource: replicas}} of the device plugin's sharing ConfigMap (time-slicing, mps)."""
    out = {}
    for key, text in sorted((cm.get("data") or {}).items()):
        sharing = (yaml_doc(text) or {}).get("sharing") or {}
        entry = {}
        for strategy, field_name in (("time-slicing", "timeSlicing"), ("mps", "mps")):
            resources = (sharing.get(field_name) or {}).get("resources") or []
            if resources:
                entry[strategy] = {r.get("name", ""): r.get("replicas") for r in resources}
        out[key] = entry
    return out


def _node_sharing(n) -> List[Dict[str, Any]]:
    """The sharing strategies one NVIDIA node shows through its labels and allocatable resources."""
    found = []
    labels = n.labels
    mig_resources = {k: v for k, v in n.resources.items() if k.startswith("nvidia.com/mig-")}
    product = labels.get("nvidia.com/gpu.product", "")
    if labels.get("nvidia.com/mig.capable") == "true" and (mig_resources or "-MIG-" in product):
        found.append({"strategy": "MIG", "mig_strategy": labels.get("nvidia.com/mig.strategy", ""),
                      "mig_config": labels.get("nvidia.com/mig.config", ""),
                      "mig_config_state": labels.get("nvidia.com/mig.config.state", ""),
                      "resources": mig_resources or {k: v for k, v in n.resources.items() if k == "nvidia.com/gpu"}})
    strategy = labels.get("nvidia.com/gpu.sharing-strategy", "")
    try:
        replicas = int(labels.get("nvidia.com/gpu.replicas", "1") or 1)
    except ValueError:
        replicas = 1
    if strategy in ("time-slicing", "mps") or (product.endswith("-SHARED") and replicas > 1):
        found.append({"strategy": "MPS" if strategy == "mps" else "time-slicing", "replicas": replicas,
                      "allocatable": n.resources.get("nvidia.com/gpu", "0"), "physical_gpus": n.count, "product": product})
    return found


def _dra_sharing(kube) -> Dict[str, Dict[str, Any]]:
    """node -> DRA partitions on it: MIG-type devices and partitionable devices (consumesCounters)."""
    out: Dict[str, Dict[str, Any]] = {}
    for driver, info in lookups.dra_inventory(kube)["drivers"].items():
        for pool in info["pools"].values():
            for device in pool["devices"]:
                kind = ("MIG" if str(device["attributes"].get("type", "")).lower() == "mig"
                        else "partitionable" if device["partition"] else "")
                if kind:
                    entry = out.setdefault(device["node"], {"driver": driver, "MIG": 0, "partitionable": 0})
                    entry[kind] += 1
    return out


@requirement("gpu_sharing")
def gpu_sharing(ctx):
    """At least one static GPU sharing strategy on the accelerator nodes: MIG partitions as schedulable
    resources, time-slicing/MPS oversubscription, or DRA partitions; which one, on which nodes."""
    kube = ctx.kube
    nodes = lookups.accelerator_nodes(kube)
    if not nodes:
        lookups.record_accelerator_nodes(ctx, nodes)
        return Finding(NOT_APPLICABLE, "Not applicable: %s, so there are no GPUs to share." % NO_ACCELERATORS)
    nvidia = [n for n in nodes if n.vendor == "nvidia"]
    others = [n for n in nodes if n.vendor != "nvidia"]
    rows = [["NODE", "PRODUCT", "GPUS", "SHARING-STRATEGY", "REPLICAS", "MIG.STRATEGY", "MIG.CONFIG", "RESOURCES"]]
    for n in nodes:
        rows.append([n.name, n.product or "-", str(n.count), n.labels.get("nvidia.com/gpu.sharing-strategy", "-"),
                     n.labels.get("nvidia.com/gpu.replicas", "-"), n.labels.get("nvidia.com/mig.strategy", "-"),
                     "%s(%s)" % (n.labels.get("nvidia.com/mig.config", "-"), n.labels.get("nvidia.com/mig.config.state", "-")),
                     ",".join("%s=%s" % kv for kv in n.resources.items()) or "-"])
    ctx.record_list("", "v1", "nodes", _table(rows), label_selector=lookups.NVIDIA_SELECTOR, api_note=lookups.SHARED_NODES,
                    args="-L nvidia.com/gpu.product,nvidia.com/gpu.count,nvidia.com/gpu.sharing-strategy,nvidia.com/gpu.replicas,"
                         "nvidia.com/mig.strategy,nvidia.com/mig.config,nvidia.com/mig.config.state",
                    note="GPU feature discovery's sharing and MIG labels, and the accelerator resources in status.allocatable")

    policies = lookups.cluster_policies(kube) if nvidia else []
    policy = policies[0] if policies else None
    config = _sharing_config(ctx, policy)
    dra = _dra_sharing(kube) if nvidia else {}
    classes = [dc["metadata"]["name"] for dc in lookups.device_classes(kube)] if nvidia else []
    if dra or "mig.nvidia.com" in classes:
        ctx.record_list(lookups.DRA_GROUP, lookups.dra_version(kube) or "v1", "resourceslices",
                        "\n".join("%s: %d MIG device(s), %d partitionable device(s) (driver %s)" % (node, e["MIG"], e["partitionable"], e["driver"])
                                  for node, e in sorted(dra.items())) or "no MIG or partitionable DRA devices published",
                        args="-o yaml", api_note="the shared list",
                        note="devices whose attribute type is mig, and devices that consume shared counters (partitionable)")
    if "mig.nvidia.com" in classes:
        ctx.record_list(lookups.DRA_GROUP, ctx.kube.discovery().serving_version(lookups.DRA_GROUP, "deviceclasses") or "v1",
                        "deviceclasses", "mig.nvidia.com exists", api_note="the shared list",
                        note="the DeviceClass mig.nvidia.com, through which MIG devices are requested")

    by_strategy: Dict[str, Dict[str, Any]] = {}
    problems: List[str] = []
    for n in nvidia:
        for entry in _node_sharing(n):
            by_strategy.setdefault(entry["strategy"], {})[n.name] = entry
    for node, entry in dra.items():
        by_strategy.setdefault("DRA %s devices" % ("MIG" if entry["MIG"] else "partitionable"), {})[node] = entry
    namespace = ((policy or {}).get("status") or {}).get("namespace") or "gpu-operator"
    fixes: List[str] = []
    if "MPS" in by_strategy and policy:
        daemon = lookups.namespace_daemonsets(kube, namespace).get(MPS_DAEMON)
        status = (daemon or {}).get("status") or {}
        if not daemon or status.get("numberReady", 0) < len(by_strategy["MPS"]):
            problems.append("MPS is configured on %s but the MPS control daemon %s/%s is %s" % (
                _names(sorted(by_strategy["MPS"])), namespace, MPS_DAEMON, daemonset_summary(daemon) if daemon else "missing"))
            fixes.append(("find why the MPS control daemon is not ready: kubectl describe daemonset -n %s %s" % (namespace, MPS_DAEMON))
                         if daemon else ("read why the operator did not create the MPS control daemon: kubectl logs -n %s "
                                         "deployment/gpu-operator" % namespace))
            by_strategy.pop("MPS")
    configured = sorted({s for c in (config.get("configs") or {}).values() for s in c})
    details = {"strategies": {s: sorted(v) for s, v in by_strategy.items()},
               "per_node": dict(by_strategy), "device_plugin_config": config,
               "cluster_policy_mig_strategy": ((spec_of(policy).get("mig") or {}).get("strategy", "") if policy else ""),
               "dra_device_classes": classes}
    if by_strategy:
        parts = []
        for strategy, per_node in sorted(by_strategy.items()):
            text = "%s on %s" % (strategy, _names(sorted(per_node)))
            sample = next(iter(per_node.values()))
            if strategy in ("time-slicing", "MPS"):
                text += " (%s replicas per GPU: %s schedulable nvidia.com/gpu from %s physical GPU(s) per node%s)" % (
                    sample["replicas"], sample["allocatable"], sample["physical_gpus"] or "?",
                    ", ConfigMap %s" % config["configmap"] if config.get("configmap") else "")
            elif strategy == "MIG":
                text += " (mig.strategy=%s, mig.config=%s %s; schedulable %s)" % (
                    sample["mig_strategy"], sample["mig_config"] or "-", sample["mig_config_state"] or "-",
                    ", ".join("%s=%s" % kv for kv in sample["resources"].items()))
            parts.append(text)
        notes = "GPU sharing configured: %s." % "; ".join(parts)
        if problems:
            notes += " Also: %s." % "; ".join(problems)
        if others:
            notes += " Node(s) %s of other vendors were not assessed." % _names(n.name for n in others)
        return Finding(PASS, notes, details=details)
    if not nvidia:
        return Finding(UNKNOWN, "Needs a person: the accelerator node(s) %s are %s; these checks recognise NVIDIA MIG, "
                       "time-slicing/MPS and DRA partitions only. Check by hand whether the vendor's partitioning (e.g. AMD "
                       "compute/memory partitions) exposes fractional devices as schedulable resources."
                       % (_names(n.name for n in others), ", ".join(sorted({n.vendor for n in others}))), details=details)
    why = ["no node shows MIG partitions (nvidia.com/mig-* resources), time-slicing/MPS replicas "
           "(nvidia.com/gpu.sharing-strategy, nvidia.com/gpu.replicas) or DRA partitions"]
    mig_nodes = [n.name for n in nvidia if n.labels.get("nvidia.com/mig.capable") == "true"]
    if config.get("missing"):
        why.append("ClusterPolicy devicePlugin.config names ConfigMap %s, which does not exist" % config["configmap"])
        name = config["configmap"].split("/", 1)[1]
        fixes.append("create the ConfigMap ClusterPolicy devicePlugin.config names: kubectl create configmap %s -n %s "
                     "--from-literal=%s='%s'" % (name, namespace, config.get("default") or "any", TIME_SLICING_DATA))
    elif configured:
        why.append("ConfigMap %s configures %s but no node advertises it: the device plugin has not applied it"
                   % (config["configmap"], ", ".join(configured)))
        fixes.append("find why the device plugin did not apply ConfigMap %s: kubectl get nodes -l nvidia.com/gpu.present -L "
                     "nvidia.com/device-plugin.config; kubectl logs -n %s daemonset/nvidia-device-plugin-daemonset -c "
                     "config-manager" % (config["configmap"], namespace))
    if "mig.nvidia.com" in classes:
        why.append("DeviceClass mig.nvidia.com exists but no MIG device is published")
        if mig_nodes:
            fixes.append("find why the MIG manager did not partition the GPUs: kubectl get nodes %s -L nvidia.com/mig.config,"
                         "nvidia.com/mig.config.state" % " ".join(mig_nodes[:5]))
    why += problems
    if not fixes:
        fixes.append(time_slicing_fix(namespace, policy["metadata"]["name"], mig_nodes) if policy else
                     "install the NVIDIA GPU operator, %s, then %s" % (
                         components.install_hint("gpu_operator"),
                         time_slicing_fix("gpu-operator", "cluster-policy", mig_nodes)[0].lower()
                         + time_slicing_fix("gpu-operator", "cluster-policy", mig_nodes)[1:]))
    return Finding(FAIL, "No GPU sharing strategy is in effect on the %d NVIDIA accelerator node(s) (%s): %s."
                   % (len(nvidia), _names(n.name for n in nvidia), "; ".join(why)),
                   remediation=components.join_fixes(fixes), details=details)


# ================================================================================================ virtualized_accelerator
@requirement("virtualized_accelerator")
def virtualized_accelerator(ctx):
    """vGPUs exposed and managed like physical GPUs: nodes that run on vGPUs (GFD vgpu labels), or hosts
    whose vGPU manager / device manager / sandbox device plugin expose vGPU types to VMs."""
    kube = ctx.kube
    nodes = lookups.accelerator_nodes(kube)
    if not nodes:
        lookups.record_accelerator_nodes(ctx, nodes)
        return Finding(NOT_APPLICABLE, "Not applicable: %s, so there are no virtualized accelerators." % NO_ACCELERATORS)
    nvidia = [n for n in nodes if n.vendor == "nvidia"]
    rows = [["NODE", "VGPU.PRESENT", "VGPU.HOST-DRIVER", "WORKLOAD.CONFIG", "PRODUCT", "RESOURCES"]]
    for n in nodes:
        rows.append([n.name, n.labels.get("nvidia.com/vgpu.present", "-"), n.labels.get("nvidia.com/vgpu.host-driver-version", "-"),
                     n.labels.get("nvidia.com/gpu.workload.config", "-"), n.product or "-",
                     ",".join("%s=%s" % kv for kv in list(n.resources.items()) + list(n.other_resources.items())) or "-"])
    ctx.record_list("", "v1", "nodes", _table(rows), label_selector=lookups.NVIDIA_SELECTOR, api_note=lookups.SHARED_NODES,
                    args="-L nvidia.com/vgpu.present,nvidia.com/vgpu.host-driver-version,nvidia.com/gpu.workload.config,"
                         "nvidia.com/gpu.product",
                    note="GPU feature discovery's vGPU labels, and the accelerator and vGPU-type resources in status.allocatable")
    guests = [n for n in nvidia if n.labels.get("nvidia.com/vgpu.present") == "true"]
    hosts = [n for n in nvidia if n.labels.get("nvidia.com/gpu.workload.config") == "vm-vgpu"]
    details: Dict[str, Any] = {"vgpu_guest_nodes": [n.name for n in guests], "vgpu_host_nodes": [n.name for n in hosts]}
    policies = lookups.cluster_policies(kube) if nvidia else []
    policy = policies[0] if policies else None
    spec = spec_of(policy) if policy else {}
    sandbox = spec.get("sandboxWorkloads") or {}
    parts, problems, fixes = [], [], []
    namespace = ((policy or {}).get("status") or {}).get("namespace") or "gpu-operator"
    if guests:
        unmanaged = [n.name for n in guests if not n.resources.get("nvidia.com/gpu")]
        host_drivers = sorted({n.labels.get("nvidia.com/vgpu.host-driver-version", "") for n in guests} - {""})
        licensing = (spec.get("driver") or {}).get("licensingConfig") or {}
        parts.append("node(s) %s run on NVIDIA vGPUs (nvidia.com/vgpu.present=true, host driver %s, product %s) and expose "
                     "them as nvidia.com/gpu exactly like physical GPUs (same device plugin/DRA request path)%s" % (
                         _names(n.name for n in guests), ", ".join(host_drivers) or "?",
                         ", ".join(sorted({n.product for n in guests if n.product})) or "?",
                         "; guest driver licensing configured in ClusterPolicy driver.licensingConfig"
                         if licensing.get("configMapName") or licensing.get("secretName") else ""))
        if unmanaged:
            problems.append("vGPU node(s) %s advertise no nvidia.com/gpu" % _names(unmanaged))
            fixes.append("find why the device plugin advertises no GPU on %s: kubectl get pods -n %s -l "
                         "app=nvidia-device-plugin-daemonset -o wide --field-selector spec.nodeName=%s"
                         % (_names(unmanaged), namespace, unmanaged[0]))
        details["vgpu_host_driver_versions"] = host_drivers
    if hosts or (truthy(sandbox.get("enabled"), False) and truthy((spec.get("vgpuManager") or {}).get("enabled"), False)):
        daemonsets = lookups.namespace_daemonsets(kube, namespace)
        ctx.record_list("apps", "v1", "daemonsets",
                        "\n".join(daemonset_summary(daemonsets[name]) if name in daemonsets else "%s NotFound" % name
                                  for _label, _key, name in VGPU_DAEMONSETS), namespace, api_note="the shared list",
                        note="the vGPU DaemonSets: %s" % ", ".join(name for _label, _key, name in VGPU_DAEMONSETS))
        disabled = []
        for label, key, name in VGPU_DAEMONSETS:
            ds = daemonsets.get(name)
            status = (ds or {}).get("status") or {}
            if not ds or status.get("numberReady", 0) < max(1, status.get("desiredNumberScheduled", 0)) \
                    or status.get("desiredNumberScheduled", 0) < len(hosts):
                problems.append("%s DaemonSet %s/%s is %s" % (label, namespace, name, daemonset_summary(ds) if ds else "missing"))
                if ds:
                    fixes.append("find why %s is not ready on every vGPU host: kubectl describe daemonset -n %s %s"
                                 % (name, namespace, name))
                else:
                    disabled.append(key)
        if disabled:
            fixes.append("turn on %s in the GPU operator's values: sandboxWorkloads.enabled=true, %s (vgpuManager needs "
                         "your vGPU manager image in vgpuManager.repository/image/version, which NVIDIA ships to licensed "
                         "vGPU customers), then helm upgrade the gpu-operator release with them"
                         % (", ".join(disabled), ", ".join("%s.enabled=true" % k for k in disabled)))
        vgpu_types = sorted({k for n in hosts for k in n.other_resources})
        if hosts and not vgpu_types:
            problems.append("vGPU host node(s) %s advertise no vGPU type resources (nvidia.com/<vGPU type>)" % _names(n.name for n in hosts))
            fixes.append("check the vGPU device manager's configuration on %s: kubectl get nodes %s -L nvidia.com/vgpu.config,"
                         "nvidia.com/vgpu.config.state" % (_names(n.name for n in hosts), " ".join(n.name for n in hosts[:5])))
        parts.append("vGPU host node(s) %s (nvidia.com/gpu.workload.config=vm-vgpu) create vGPUs with the vGPU manager and "
                     "vGPU device manager and expose them to KubeVirt VMs as schedulable resources %s" % (
                         _names(n.name for n in hosts) or "(none labelled)", ", ".join(vgpu_types) or "(none)"))
        details["vgpu_types"] = vgpu_types
    details["problems"] = problems
    if problems:
        return Finding(FAIL, "vGPUs are present but not fully managed: %s." % "; ".join(problems),
                       remediation=components.join_fixes(fixes or ["find the failing vGPU pod: kubectl get pods -n %s -o wide"
                                                                   % namespace]), details=details)
    if parts:
        return Finding(PASS, "Virtualized accelerators managed: %s." % "; ".join(parts), details=details)
    unknown_vendors = sorted({n.vendor for n in nodes if n.vendor not in ("nvidia", "amd")})
    if unknown_vendors:
        return Finding(UNKNOWN, "Needs a person: no NVIDIA vGPU found, and accelerators of vendor(s) %s are not ones these "
                       "checks recognise; check by hand whether they are virtualized and how the vGPUs are exposed."
                       % ", ".join(unknown_vendors), details=details)
    return Finding(NOT_APPLICABLE, "Not applicable: no virtualized accelerators on this platform: the accelerators on %s are "
                   "physical GPUs passed to containers (no node reports nvidia.com/vgpu.present, no node runs the vm-vgpu "
                   "workload configuration, and the vGPU manager is not deployed)." % _names(n.name for n in nodes),
                   details=details)
