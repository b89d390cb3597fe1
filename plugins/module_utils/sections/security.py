# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist section `security`: accelerators reachable only through the device plugin or DRA.

The read-only part decides from configuration: the GPU operator's ClusterPolicy (device-plugin and
toolkit environment, CDI), the device-plugin DaemonSet's actual environment, the RuntimeClasses, and
whether a DRA driver publishes ResourceSlices. The opt-in workload audit (``audit_workloads``) streams
the pods on accelerator nodes page by page and names the pods that reach devices outside that path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils import lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.components import install_hint, join_fixes
from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import daemonset_summary, truthy
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import (
    FAIL, NOT_APPLICABLE, PASS, UNKNOWN, Finding,
)

# NVIDIA GPU operator (NVIDIA/gpu-operator api/nvidia/v1, assets/state-device-plugin).
DEVICE_PLUGIN_DS = "nvidia-device-plugin-daemonset"
DEVICE_PLUGIN_CONTAINER = "nvidia-device-plugin"
# The standalone NVIDIA device-plugin helm chart (NVIDIA/k8s-device-plugin deployments/helm).
STANDALONE_PLUGIN_SELECTOR = "app.kubernetes.io/name=nvidia-device-plugin"
# Device-plugin env / flag (k8s-device-plugin: default "envvar") and the toolkit's env (nvidia-container-toolkit:
# envvar-when-unprivileged defaults to true, as-volume-mounts to false).
LIST_STRATEGY = "DEVICE_LIST_STRATEGY"
ENVVAR_UNPRIVILEGED = "ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED"
AS_VOLUME_MOUNTS = "ACCEPT_NVIDIA_VISIBLE_DEVICES_AS_VOLUME_MOUNTS"
RUNTIME_DEFAULT_ENVS = ("NVIDIA_RUNTIME_SET_AS_DEFAULT", "CONTAINERD_SET_AS_DEFAULT")
CDI_STRATEGIES = ("cdi-annotations", "cdi-cri")
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"


def _env_index(items, name: str) -> int:
    """The index of env var ``name`` in a ClusterPolicy env list, else the next free index."""
    items = [e for e in items or [] if isinstance(e, dict)]
    return next((i for i, e in enumerate(items) if e.get("name") == name), len(items))


def secure_values(policy: Dict[str, Any], toolkit: bool, plugin: bool) -> str:
    """The helm upgrade of the operator's release that makes the toolkit and/or the device plugin accept devices only
    from the device plugin (volume-mounts), with the env indexes the ClusterPolicy's lists need."""
    spec, meta = policy.get("spec") or {}, policy.get("metadata") or {}
    namespace = (policy.get("status") or {}).get("namespace") or "gpu-operator"
    release = (meta.get("annotations") or {}).get(HELM_RELEASE_ANNOTATION) or "gpu-operator"
    sets = []
    if toolkit:
        env = (spec.get("toolkit") or {}).get("env")
        first = _env_index(env, ENVVAR_UNPRIVILEGED)
        second = _env_index(env, AS_VOLUME_MOUNTS)
        if second == first:  # both new: the second goes after the first
            second += 1
        sets += ["--set-string 'toolkit.env[%d].name=%s,toolkit.env[%d].value=false'" % (first, ENVVAR_UNPRIVILEGED, first),
                 "--set-string 'toolkit.env[%d].name=%s,toolkit.env[%d].value=true'" % (second, AS_VOLUME_MOUNTS, second)]
    if plugin:
        index = _env_index((spec.get("devicePlugin") or {}).get("env"), LIST_STRATEGY)
        sets.append("--set-string 'devicePlugin.env[%d].name=%s,devicePlugin.env[%d].value=volume-mounts'"
                    % (index, LIST_STRATEGY, index))
    return "helm upgrade %s nvidia/gpu-operator -n %s --reuse-values %s" % (release, namespace, " ".join(sets))


# Workload audit.
AUDIT_CAP = 50
AUDIT_RECORDS = 8  # up to this many accelerator nodes audited one by one: one evidence entry per node
DEVICE_PATHS = ("/dev/nvidia", "/dev/dri", "/dev/kfd", "/dev/accel")
VISIBLE_DEVICES_ENVS = ("NVIDIA_VISIBLE_DEVICES",)
HARMLESS_VISIBLE = ("", "void", "none")
INFRA_NAMESPACES = ("kube-system", "gpu-operator", "nvidia-gpu-operator", "nvidia-dra-driver-gpu", "dra-driver-nvidia-gpu")
PER_NODE_MAX = 64  # up to this many accelerator nodes: always one field-selected pod list per node
PODS_PER_NODE_REQUEST = 20  # beyond that, per node only while accelerator nodes <= all pods / this (see audit_workloads)
PAGE_SIZE = 500
UNFINISHED = "status.phase!=Succeeded,status.phase!=Failed"


def _env(items: Optional[List[Dict[str, Any]]]) -> Dict[str, str]:
    """name -> literal value of an env list (valueFrom entries have no literal value)."""
    return {e.get("name", ""): e.get("value") for e in items or [] if isinstance(e, dict) and "value" in e}


def _env_text(items) -> str:
    return " ".join("%s=%s" % (e.get("name"), e.get("value", "<valueFrom>")) for e in items or [] if isinstance(e, dict)) or "(none)"


def _strategy_of(container: Dict[str, Any]) -> Optional[str]:
    """DEVICE_LIST_STRATEGY from the container's env or --device-list-strategy flag, else None."""
    value = _env(container.get("env")).get(LIST_STRATEGY)
    if value:
        return value
    words = list(container.get("command") or []) + list(container.get("args") or [])
    for i, word in enumerate(words):
        if word.startswith("--device-list-strategy="):
            return word.split("=", 1)[1]
        if word == "--device-list-strategy" and i + 1 < len(words):
            return words[i + 1]
    return None


def _strategies(value: str) -> List[str]:
    return [s.strip() for s in value.split(",") if s.strip()]


def _dra_slices(ctx, drivers: Tuple[str, ...]) -> Dict[str, int]:
    """driver -> number of ResourceSlices seen (first page of a driver-selected list; limit 1 is enough to know)."""
    kube = ctx.kube
    discovery = kube.discovery()
    version = discovery.serving_version(lookups.DRA_GROUP, "resourceslices")
    found: Dict[str, int] = {}
    if not version:
        ctx.record_discovery("resourceslices not served (no DRA)", lookups.DRA_GROUP)
        return found

    def shown(page):
        items, more = page.get("items") or [], (page.get("metadata") or {}).get("continue")
        return ("%s (node %s)%s" % (items[0]["metadata"]["name"], (items[0].get("spec") or {}).get("nodeName", "-"),
                                    ", more..." if more else "")) if items else "No resources found"

    for driver in drivers:
        page = ctx.page(lookups.DRA_GROUP, version, "resourceslices", 1, field_selector="spec.driver=%s" % driver, show=shown)
        items = page.get("items") or []
        if items:
            found[driver] = len(items) + (1 if (page.get("metadata") or {}).get("continue") else 0)
    return found


def _runtime_classes(ctx) -> Dict[str, str]:
    classes = lookups.runtime_classes(ctx.kube)
    ctx.record_list("node.k8s.io", "v1", "runtimeclasses", "\n".join("%s  handler=%s" % kv for kv in sorted(classes.items()))
                    or "No resources found")
    return classes


def _plugin_container(daemonset: Dict[str, Any]) -> Dict[str, Any]:
    """The device plugin's container of its DaemonSet (the first container when none has its name)."""
    containers = ((daemonset.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return next((c for c in containers if c.get("name") == DEVICE_PLUGIN_CONTAINER), containers[0] if containers else {})


def _plugin_env(daemonset: Dict[str, Any]) -> Dict[str, str]:
    """The device plugin container's literal environment, in the order that shows (strategy, CDI, device specs)."""
    env = _env(_plugin_container(daemonset).get("env"))
    return {k: env[k] for k in (LIST_STRATEGY, "CDI_ENABLED", "PASS_DEVICE_SPECS") if k in env}


def _nvidia_operator(ctx, policy: Dict[str, Any], nodes, dra: Dict[str, int]) -> Dict[str, Any]:
    """Decide NVIDIA access mediation from the ClusterPolicy and the device-plugin DaemonSet."""
    spec, status = policy.get("spec") or {}, policy.get("status") or {}
    name = policy["metadata"]["name"]
    namespace = status.get("namespace") or "gpu-operator"
    toolkit, plugin, cdi = spec.get("toolkit") or {}, spec.get("devicePlugin") or {}, spec.get("cdi") or {}
    toolkit_env, plugin_env = _env(toolkit.get("env")), _env(plugin.get("env"))
    cdi_enabled = truthy(cdi.get("enabled"), True)  # the CRD default (gpu-operator >= v25.10)
    toolkit_managed = truthy(toolkit.get("enabled"), True)
    plugin_enabled = truthy(plugin.get("enabled"), True)
    ctx.record_list(lookups.CP_GROUP, lookups.CP_VERSION, lookups.CP_PLURAL,
                    "state=%s namespace=%s\ncdi=%s\ndevicePlugin.enabled=%s devicePlugin.env=%s\ntoolkit.enabled=%s toolkit.env=%s" % (
                        status.get("state", "?"), namespace, cdi or "{} (default enabled)", plugin.get("enabled", "(default true)"),
                        _env_text(plugin.get("env")), toolkit.get("enabled", "(default true)"), _env_text(toolkit.get("env"))),
                    args="-o jsonpath='{.items[*].spec.cdi}{.items[*].spec.devicePlugin.env}{.items[*].spec.toolkit.env}'",
                    api_note="the shared list", note="ClusterPolicy %s" % name)

    jsonpath = shlex.quote("-o=jsonpath={.spec.template.spec.containers[?(@.name==\"%s\")].env}" % DEVICE_PLUGIN_CONTAINER)
    daemonset = ctx.get("apps", "v1", "daemonsets", DEVICE_PLUGIN_DS, namespace, args=jsonpath, show=lambda ds: "%s\n%s" % (
        daemonset_summary(ds), "  ".join("%s=%s" % kv for kv in _plugin_env(ds).items()))) if plugin_enabled else None
    strategy_source = "ClusterPolicy spec.devicePlugin.env"
    strategy = plugin_env.get(LIST_STRATEGY)
    if daemonset is not None:
        main = _plugin_container(daemonset)
        if _strategy_of(main):
            strategy, strategy_source = _strategy_of(main), "DaemonSet %s/%s env" % (namespace, DEVICE_PLUGIN_DS)
    if not strategy:
        strategy = ",".join(CDI_STRATEGIES) if cdi_enabled else "envvar"
        strategy_source = "operator default (%s)" % ("CDI enabled" if cdi_enabled else "CDI disabled")

    plugin_active = plugin_enabled and (daemonset is not None or any(
        k.startswith("nvidia.com/") for n in nodes for k in n.resources))
    envvar_unprivileged = truthy(toolkit_env.get(ENVVAR_UNPRIVILEGED), True)
    volume_mounts_accepted = truthy(toolkit_env.get(AS_VOLUME_MOUNTS), False)
    runtime_default = (not cdi_enabled) or any(truthy(toolkit_env.get(k), False) for k in RUNTIME_DEFAULT_ENVS)
    strategies = _strategies(strategy)
    mediated_by, problems, unknowns, hardening, fixes = [], [], [], [], []
    patch = "kubectl patch clusterpolicies.nvidia.com/%s --type merge -p" % name

    if plugin_active:
        if "envvar" in strategies:
            problems.append("the device plugin passes devices as NVIDIA_VISIBLE_DEVICES (%s=%s, from %s), so any container "
                            "that sets that variable itself gets GPUs without a request" % (LIST_STRATEGY, strategy, strategy_source))
            fixes.append("make the device plugin pass devices as volume mounts the toolkit alone accepts: %s; or turn CDI on "
                         "(cdi.enabled=true) and drop the %s override" % (secure_values(policy, True, True), LIST_STRATEGY))
        elif "volume-mounts" in strategies:
            if not toolkit_managed and ENVVAR_UNPRIVILEGED not in toolkit_env:
                unknowns.append("the toolkit is not managed by the operator (toolkit.enabled=false): check on each GPU node that "
                                "/etc/nvidia-container-runtime/config.toml has accept-nvidia-visible-devices-envvar-when-unprivileged "
                                "= false and accept-nvidia-visible-devices-as-volume-mounts = true")
            else:
                if envvar_unprivileged:
                    problems.append("the toolkit still accepts NVIDIA_VISIBLE_DEVICES from unprivileged containers (%s is %s)"
                                    % (ENVVAR_UNPRIVILEGED, toolkit_env.get(ENVVAR_UNPRIVILEGED, "unset, default true")))
                if not volume_mounts_accepted:
                    problems.append("the device plugin uses volume-mounts but the toolkit does not accept them (%s is %s)"
                                    % (AS_VOLUME_MOUNTS, toolkit_env.get(AS_VOLUME_MOUNTS, "unset, default false")))
                if problems:
                    fixes.append("make the toolkit accept devices only as the device plugin's volume mounts: %s"
                                 % secure_values(policy, True, False))
                if not problems:
                    mediated_by.append("device plugin (%s=volume-mounts, toolkit %s=false, %s=true)"
                                       % (LIST_STRATEGY, ENVVAR_UNPRIVILEGED, AS_VOLUME_MOUNTS))
        elif any(s in CDI_STRATEGIES for s in strategies):
            mediated_by.append("device plugin with CDI (%s=%s, cdi.enabled=%s)" % (LIST_STRATEGY, strategy, cdi_enabled))
        else:
            unknowns.append("the device plugin's %s=%s is not a strategy these checks know" % (LIST_STRATEGY, strategy))
    if dra.get("gpu.nvidia.com"):
        mediated_by.append("DRA driver gpu.nvidia.com (ResourceSlices published; devices only through ResourceClaims, injected by CDI)")
    if not plugin_active and not dra.get("gpu.nvidia.com"):
        problems.append("neither the NVIDIA device plugin (%s) nor the NVIDIA DRA driver (ResourceSlices of gpu.nvidia.com) "
                        "exposes the GPUs" % ("disabled in the ClusterPolicy" if not plugin_enabled else "DaemonSet not found"))
        if plugin_enabled:
            fixes.append("read why the operator did not create DaemonSet %s/%s: kubectl logs -n %s deployment/gpu-operator"
                         % (namespace, DEVICE_PLUGIN_DS, namespace))
        else:
            fixes.append("turn the device plugin on: %s '{\"spec\":{\"devicePlugin\":{\"enabled\":true}}}'; or install the DRA "
                         "driver: %s" % (patch, install_hint("dra_driver")))
    if envvar_unprivileged and toolkit_managed:
        if runtime_default and not ({"envvar", "volume-mounts"} & set(strategies)):
            problems.append("the nvidia runtime is the default runtime (%s) and accepts NVIDIA_VISIBLE_DEVICES from unprivileged "
                            "containers, so every container image that sets it (all CUDA images do) gets GPUs"
                            % ("CDI disabled" if not cdi_enabled else "toolkit env sets it as default"))
            fixes.append(("turn CDI on so the nvidia runtime is no longer the default: %s '{\"spec\":{\"cdi\":{\"enabled\":true}}}'"
                          % patch) if not cdi_enabled else
                         "stop setting the nvidia runtime as the default (drop %s from toolkit.env), or %s"
                         % (" and ".join(k for k in RUNTIME_DEFAULT_ENVS if truthy(toolkit_env.get(k), False)),
                            secure_values(policy, True, False)))
        elif not runtime_default:
            hardening.append("the toolkit still accepts NVIDIA_VISIBLE_DEVICES from unprivileged containers that select "
                             "RuntimeClass nvidia; set toolkit env %s=false to close that path too" % ENVVAR_UNPRIVILEGED)
    return {
        "source": "ClusterPolicy %s (operator namespace %s)" % (name, namespace),
        "operator_namespace": namespace,
        "device_list_strategy": strategy, "strategy_source": strategy_source, "cdi_enabled": cdi_enabled,
        "device_plugin_active": plugin_active,
        "toolkit": {ENVVAR_UNPRIVILEGED: toolkit_env.get(ENVVAR_UNPRIVILEGED, "(default true)"),
                    AS_VOLUME_MOUNTS: toolkit_env.get(AS_VOLUME_MOUNTS, "(default false)"),
                    "managed_by_operator": toolkit_managed, "nvidia_runtime_default": runtime_default},
        "mediated_by": mediated_by, "problems": problems, "unknowns": unknowns, "hardening": hardening, "fixes": fixes,
    }


def _nvidia_standalone(ctx, nodes, dra: Dict[str, int]) -> Dict[str, Any]:
    """No ClusterPolicy: the standalone device-plugin chart (toolkit on the hosts, not visible to the API)."""
    kube = ctx.kube
    daemonsets = kube.list_all("apps", "v1", "daemonsets", label_selector=STANDALONE_PLUGIN_SELECTOR)
    mediated_by, problems, unknowns, fixes = [], [], [], []
    strategy = None
    if daemonsets:
        ds = daemonsets[0]
        containers = ((ds.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
        strategy = next((s for s in (_strategy_of(c) for c in containers) if s), None)
        ctx.record_list("apps", "v1", "daemonsets",
                        "%s  %s=%s" % (daemonset_summary(ds), LIST_STRATEGY, strategy or "(not set: config file or default envvar)"),
                        label_selector=STANDALONE_PLUGIN_SELECTOR, args="-o jsonpath='{..env}'")
    else:
        ctx.record_list("apps", "v1", "daemonsets", "No resources found", label_selector=STANDALONE_PLUGIN_SELECTOR)
    advertised = any(k.startswith("nvidia.com/") for n in nodes for k in n.resources)
    strategies = _strategies(strategy or "")
    if daemonsets and not strategy:
        unknowns.append("the device plugin's list strategy is not set in its env or flags (it may come from its config file; "
                        "the built-in default is envvar): check flags.plugin.deviceListStrategy in the plugin's ConfigMap")
    elif "envvar" in strategies:
        problems.append("the device plugin passes devices as NVIDIA_VISIBLE_DEVICES (%s=envvar), so any container that sets "
                        "that variable itself gets GPUs without a request" % LIST_STRATEGY)
        ds = daemonsets[0]["metadata"]
        fixes.append("set %s (flag --device-list-strategy) of DaemonSet %s/%s to cdi-cri, with CDI enabled in the container "
                     "toolkit on every GPU node (nvidia-ctk runtime configure --runtime=containerd --cdi.enabled)"
                     % (LIST_STRATEGY, ds.get("namespace", ""), ds.get("name", "")))
    elif "volume-mounts" in strategies:
        unknowns.append("the device plugin uses volume-mounts; the NVIDIA Container Toolkit is installed on the hosts, so check "
                        "on each GPU node that /etc/nvidia-container-runtime/config.toml has "
                        "accept-nvidia-visible-devices-envvar-when-unprivileged = false and "
                        "accept-nvidia-visible-devices-as-volume-mounts = true")
    elif any(s in CDI_STRATEGIES for s in strategies):
        mediated_by.append("device plugin with CDI (%s=%s)" % (LIST_STRATEGY, strategy))
    if dra.get("gpu.nvidia.com"):
        mediated_by.append("DRA driver gpu.nvidia.com (ResourceSlices published; devices only through ResourceClaims)")
    if not daemonsets and advertised and not mediated_by:
        unknowns.append("nodes advertise nvidia.com/gpu but neither the GPU operator's ClusterPolicy nor a device-plugin "
                        "DaemonSet labelled %s was found: check how the device plugin is deployed and its "
                        "DEVICE_LIST_STRATEGY" % STANDALONE_PLUGIN_SELECTOR)
    if not daemonsets and not advertised and not dra.get("gpu.nvidia.com"):
        problems.append("neither a device plugin nor a DRA driver exposes the NVIDIA GPUs")
        fixes.append("expose the GPUs through the NVIDIA GPU operator (its device plugin), %s; or the DRA driver, %s"
                     % (install_hint("gpu_operator"), install_hint("dra_driver")))
    return {"source": "standalone device plugin" if daemonsets else "no GPU operator ClusterPolicy",
            "device_list_strategy": strategy, "mediated_by": mediated_by, "problems": problems,
            "unknowns": unknowns, "hardening": [], "fixes": fixes}


# --------------------------------------------------------------------------------------------------- audit
def _accelerator_request(container: Dict[str, Any]) -> bool:
    resources = container.get("resources") or {}
    if resources.get("claims"):
        return True
    for section in ("limits", "requests"):
        for key in (resources.get(section) or {}):
            if any(key.startswith(prefix) for prefix, _vendor in lookups.ACCELERATOR_RESOURCE_PREFIXES):
                return True
    return False


def pod_violations(pod: Dict[str, Any]) -> List[str]:
    """Why this pod reaches accelerator devices outside the device plugin / DRA path ([] when it does not)."""
    spec = pod.get("spec") or {}
    found = []
    for volume in spec.get("volumes") or []:
        host_path = ((volume.get("hostPath") or {}).get("path") or "").rstrip("/")
        if host_path and (host_path == "/dev" or host_path.startswith(DEVICE_PATHS)):
            found.append("hostPath volume %s=%s" % (volume.get("name"), host_path))
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(kind) or []:
            name = container.get("name", "?")
            if (container.get("securityContext") or {}).get("privileged"):
                found.append("container %s is privileged (sees every device on the node)" % name)
            for env in container.get("env") or []:
                if env.get("name") in VISIBLE_DEVICES_ENVS and "value" in env \
                        and str(env.get("value")).strip().lower() not in HARMLESS_VISIBLE and not _accelerator_request(container):
                    found.append("container %s sets %s=%s without an accelerator request or DRA claim"
                                 % (name, env["name"], env["value"]))
    return found


class _Audit:
    """Counts and the first AUDIT_CAP offenders; memory stays bounded whatever the pod count."""

    def __init__(self, exempt):
        self.exempt = set(exempt)
        self.streamed = self.examined = self.exempted = self.count = 0
        self.offenders: List[Dict[str, Any]] = []

    def feed(self, pods, nodes=None):
        for pod in pods:
            self.streamed += 1
            if nodes is not None and (pod.get("spec") or {}).get("nodeName") not in nodes:
                continue
            meta = pod.get("metadata") or {}
            if meta.get("namespace") in self.exempt:
                self.exempted += 1
                continue
            self.examined += 1
            reasons = pod_violations(pod)
            if reasons:
                self.count += 1
                if len(self.offenders) < AUDIT_CAP:
                    self.offenders.append({"pod": "%s/%s" % (meta.get("namespace"), meta.get("name")),
                                           "node": (pod.get("spec") or {}).get("nodeName"), "reasons": reasons})

    def merge(self, other):
        self.streamed += other.streamed
        self.examined += other.examined
        self.exempted += other.exempted
        self.count += other.count
        self.offenders.extend(other.offenders[:max(0, AUDIT_CAP - len(self.offenders))])


def _audit_text(audit: _Audit, where: str) -> str:
    lines = ["%s  %s" % (o["pod"], "; ".join(o["reasons"])) for o in audit.offenders]
    if audit.count > len(audit.offenders):
        lines.append("... and %d more" % (audit.count - len(audit.offenders)))
    return "%d pods examined %s (%d in exempt namespaces skipped); %d reach devices outside the device plugin/DRA path%s" % (
        audit.examined, where, audit.exempted, audit.count, (":\n" + "\n".join(lines)) if lines else "")


def audit_workloads(ctx, nodes, exempt) -> Dict[str, Any]:
    """Stream the unfinished pods on accelerator nodes page by page and collect the offenders.

    Two ways, chosen by cost. Per node: one list per accelerator node with fieldSelector spec.nodeName=<node>
    (the API server indexes pods by node, so only the pods on accelerator nodes travel; small, cheap requests,
    a few in parallel). Cluster-wide: one paginated list of unfinished pods, filtered to accelerator nodes as it
    streams (every pod travels; requests = pods / PAGE_SIZE, each heavy). A page of PAGE_SIZE full pods costs
    about as much as PODS_PER_NODE_REQUEST small per-node requests, so per node is chosen while the accelerator
    nodes number at most PER_NODE_MAX or at most all pods / PODS_PER_NODE_REQUEST (the pod count comes from one
    limit=1 list's remainingItemCount). Either way the request count is bounded by the pod count / 20 and at
    most a few pages are held in memory."""
    kube = ctx.kube
    names = sorted(n.name for n in nodes)
    before = kube.request_count
    result = _Audit(exempt)
    total_pods = None
    forced = ctx.options.audit_strategy or "auto"
    if forced == "auto" and len(names) > PER_NODE_MAX:
        head = kube.request("GET", kube.path("", "v1", "pods"), query={"limit": 1})
        remaining = (head.get("metadata") or {}).get("remainingItemCount")
        total_pods = len(head.get("items") or []) + int(remaining) if remaining is not None else None
    per_node = len(names) <= PER_NODE_MAX or (total_pods is not None and len(names) <= total_pods // PODS_PER_NODE_REQUEST)
    if forced != "auto":
        per_node = forced == "per-node"
    if per_node:
        strategy = "per-node field selector (%d accelerator nodes; %s)" % (
            len(names), "audit_strategy=per-node" if forced != "auto" else
            "<= %d" % PER_NODE_MAX if total_pods is None else "<= %d pods / %d" % (total_pods, PODS_PER_NODE_REQUEST))

        def one(node_name):
            part = _Audit(exempt)
            part.feed(kube.list("", "v1", "pods", field_selector="spec.nodeName=%s,%s" % (node_name, UNFINISHED),
                                page_size=PAGE_SIZE))
            return part
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(names))), thread_name_prefix="pod-audit") as pool:
            parts = list(pool.map(one, names))
        for part in parts:
            result.merge(part)
    else:
        strategy = "one cluster-wide paginated stream filtered to accelerator nodes (%s)" % (
            "audit_strategy=stream" if forced != "auto" else "%d accelerator nodes > %d and > %s pods / %d" % (
                len(names), PER_NODE_MAX, total_pods if total_pods is not None else "unknown", PODS_PER_NODE_REQUEST))
        result.feed(kube.list("", "v1", "pods", field_selector=UNFINISHED, page_size=PAGE_SIZE), set(names))
    summary = {
        "strategy": strategy, "requests": kube.request_count - before, "cluster_pods": total_pods, "pods_streamed": result.streamed,
        "pods_examined": result.examined, "pods_exempted": result.exempted, "exempt_namespaces": sorted(result.exempt),
        "violations": result.count, "offenders": result.offenders, "offenders_shown": len(result.offenders),
    }
    exempt_note = "pods in the exempt namespaces %s are skipped" % ", ".join(sorted(result.exempt))
    if per_node and len(names) <= AUDIT_RECORDS:
        for node_name, part in zip(names, parts):
            selector = "spec.nodeName=%s,%s" % (node_name, UNFINISHED)
            ctx.record_list("", "v1", "pods", _audit_text(part, "on node %s" % node_name), field_selector=selector,
                            args="-o yaml", api_note="pages of %d" % PAGE_SIZE,
                            note="hostPath /dev volumes, privileged containers and NVIDIA_VISIBLE_DEVICES without a device "
                            "request; " + exempt_note)
    else:
        ctx.record(ctx.list_command("", "v1", "pods", field_selector=UNFINISHED, args="-o wide"),
                   _audit_text(result, "on the %d accelerator nodes" % len(names)),
                   api=ctx.api_for("", "v1", "pods", query={"fieldSelector": "spec.nodeName={node},%s" % UNFINISHED},
                                   api_note="pages of %d, for each of the %d accelerator nodes" % (PAGE_SIZE, len(names)))
                   if per_node else ctx.api_for("", "v1", "pods", query={"fieldSelector": UNFINISHED}, api_note="pages of %d" % PAGE_SIZE),
                   note="the pods on the accelerator nodes %s: hostPath /dev volumes, privileged containers and "
                        "NVIDIA_VISIBLE_DEVICES without a device request; %s" % (", ".join(names[:10]) + (
                            " and %d more" % (len(names) - 10) if len(names) > 10 else ""), exempt_note))
    return summary


# --------------------------------------------------------------------------------------------------- check
def _exempt_namespaces(ctx, configs) -> List[str]:
    exempt = set(INFRA_NAMESPACES)
    exempt.update(c["operator_namespace"] for c in configs if c.get("operator_namespace"))
    exempt.update(ctx.options.audit_exempt_namespaces or [])
    return sorted(exempt)


@requirement("secure_accelerator_access")
def secure_accelerator_access(ctx):
    """Accelerator devices reach containers only through the device plugin or DRA (plus the opt-in pod audit)."""
    kube = ctx.kube
    nodes = lookups.accelerator_nodes(kube)
    lookups.record_accelerator_nodes(ctx, nodes, lambda found: "\n".join(
        "%s  vendor=%s  %s" % (n.name, n.vendor, ",".join("%s=%s" % kv for kv in sorted(n.resources.items()))) for n in found))
    if not nodes:
        return Finding(NOT_APPLICABLE, "No accelerator nodes: no node carries an accelerator label (e.g. nvidia.com/gpu.present) "
                       "or advertises an accelerator resource, so there are no accelerators whose access needs isolating; "
                       "the requirement applies once accelerator nodes join the cluster.",
                       details={"accelerator_nodes": 0})
    vendors = sorted({n.vendor for n in nodes})
    drivers = tuple(d for v in vendors for d in lookups.DRA_DRIVERS_BY_VENDOR.get(v, ()))
    dra = _dra_slices(ctx, drivers) if drivers else {}
    runtime_classes = _runtime_classes(ctx)

    configs = []
    if "nvidia" in vendors:
        nvidia_nodes = [n for n in nodes if n.vendor == "nvidia"]
        policies = lookups.cluster_policies(kube)
        if policies:
            configs.append(dict(_nvidia_operator(ctx, policies[0], nvidia_nodes, dra), vendor="nvidia"))
        else:
            ctx.record_list(lookups.CP_GROUP, lookups.CP_VERSION, lookups.CP_PLURAL, "No resources found (or CRD not served)")
            configs.append(dict(_nvidia_standalone(ctx, nvidia_nodes, dra), vendor="nvidia"))
        if runtime_classes.get("nvidia"):
            configs[-1]["runtime_class"] = "nvidia (handler %s)" % runtime_classes["nvidia"]
    for vendor in vendors:
        if vendor == "nvidia":
            continue
        vendor_drivers = [d for d in lookups.DRA_DRIVERS_BY_VENDOR.get(vendor, ()) if dra.get(d)]
        if vendor_drivers:
            configs.append({"vendor": vendor, "source": "DRA", "mediated_by": ["DRA driver %s" % d for d in vendor_drivers],
                            "problems": [], "unknowns": [], "hardening": []})
        else:
            configs.append({"vendor": vendor, "source": "not recognised", "mediated_by": [], "problems": [], "hardening": [],
                            "unknowns": ["accelerator vendor '%s' (nodes %s) is not one these checks recognise: check by hand "
                                         "that a pod without a device request sees no accelerator device nodes, and that two "
                                         "pods each given one device cannot see each other's" % (
                                             vendor, ", ".join(n.name for n in nodes if n.vendor == vendor))]})

    config_fixes = [f for c in configs for f in c.pop("fixes", [])]
    details: Dict[str, Any] = {"accelerator_nodes": len(nodes), "vendors": vendors, "dra_resourceslices": dra,
                               "runtime_classes": runtime_classes, "configurations": configs}
    problems = ["%s: %s" % (c["vendor"], p) for c in configs for p in c["problems"]]
    unknowns = ["%s: %s" % (c["vendor"], u) for c in configs for u in c["unknowns"]]
    hardening = [h for c in configs for h in c.get("hardening", [])]

    audit = None
    if ctx.options.audit_workloads:
        audit = audit_workloads(ctx, nodes, _exempt_namespaces(ctx, configs))
        details["audit"] = audit

    mediated = "; ".join("%s: %s" % (c["vendor"], ", ".join(c["mediated_by"])) for c in configs if c["mediated_by"])
    if problems or (audit and audit["violations"]):
        notes = []
        if problems:
            notes.append("Accelerator access is not mediated: %s." % "; ".join(problems))
        if audit and audit["violations"]:
            notes.append("%d pod(s) on accelerator nodes reach devices outside the device plugin/DRA path: %s%s." % (
                audit["violations"], ", ".join(o["pod"] for o in audit["offenders"][:10]),
                " ..." if audit["violations"] > 10 else ""))
        fix = []
        if problems:
            fix.append(join_fixes(config_fixes))
        if audit and audit["violations"]:
            fix.append("Remove privileged mode, /dev accelerator hostPath volumes and NVIDIA_VISIBLE_DEVICES from the named "
                       "workloads and have them request the accelerator (resources.limits nvidia.com/gpu or a ResourceClaim); "
                       "enforce it with Pod Security Admission 'baseline' or 'restricted' on workload namespaces.")
        return Finding(FAIL, " ".join(notes), remediation=" ".join(fix), details=details)
    if unknowns:
        recognised = (" Mediated where recognised: %s." % mediated) if mediated else ""
        return Finding(UNKNOWN, "A person must check: %s.%s" % ("; ".join(unknowns), recognised), details=details)
    audit_note = (" Workload audit: %d pods on %d accelerator nodes examined, none reaches devices outside that path "
                  "(exempt namespaces: %s)." % (audit["pods_examined"], len(nodes), ", ".join(audit["exempt_namespaces"]))
                  if audit else " Run with audit_workloads: true to also audit the pods on accelerator nodes.")
    hardening_note = (" Hardening: %s." % "; ".join(hardening)) if hardening else ""
    return Finding(PASS, "Accelerator access is mediated on %d accelerator node(s): %s.%s%s" % (
        len(nodes), mediated, audit_note, hardening_note), details=details,
        caveats=["functional part not demonstrated: a pod without a request seeing no device and two pods each with a "
                 "device not seeing each other's need the functional probe (probes: true)"])


# ---------------------------------------------------------------------------- workload_sandboxing (1.37)

# The keywords the program's official test (TestWorkloadSandboxing) matches in a RuntimeClass's name or handler.
SANDBOX_KEYWORDS = ("gvisor", "runsc", "kata", "sandboxed", "quark", "krun")
AGENT_SANDBOX_GROUP = "agents.x-k8s.io"
NODE_SAMPLE = 100  # nodes read (one page) for a sandbox RuntimeClass without a nodeSelector
SANDBOX_CAVEAT = ("functional part not demonstrated: a pod on the sandbox RuntimeClass running and seeing a kernel "
                  "identity different from an unsandboxed pod on the same node needs the functional probe (probes: true)")


def _is_sandbox(runtime_class: Dict[str, Any]) -> bool:
    name = ((runtime_class.get("metadata") or {}).get("name") or "").lower()
    handler = (runtime_class.get("handler") or "").lower()
    return any(k in name or k in handler for k in SANDBOX_KEYWORDS)


def _handlers(node: Dict[str, Any]) -> List[str]:
    return [h.get("name", "") for h in (node.get("status") or {}).get("runtimeHandlers") or []]


def _runtime_class_rows(items: List[Dict[str, Any]]) -> str:
    rows = []
    for rc in items:
        selector = ((rc.get("scheduling") or {}).get("nodeSelector")) or {}
        rows.append("%s handler=%s nodeSelector=%s" % (rc["metadata"]["name"], rc.get("handler", ""),
                                                       ",".join("%s=%s" % kv for kv in sorted(selector.items())) or "-"))
    return "\n".join(rows) or "No resources found"


def _sandbox_nodes(ctx, runtime_class: Dict[str, Any]) -> Tuple[List[str], str]:
    """(nodes that can run the RuntimeClass, the problem when none can)."""
    name, handler = runtime_class["metadata"]["name"], runtime_class.get("handler", "")
    selector = ((runtime_class.get("scheduling") or {}).get("nodeSelector")) or {}
    note = ("nodes for RuntimeClass %s and the runtime handlers their container runtime reports (status.runtimeHandlers); "
            "handler %s must be among them" % (name, handler))

    def show(nodes):
        return "\n".join("%s handlers=%s" % (n["metadata"]["name"], ",".join(h or "(default)" for h in _handlers(n)) or "-")
                         for n in nodes) or "No resources found"
    if selector:
        nodes = ctx.list("", "v1", "nodes", label_selector=",".join("%s=%s" % kv for kv in sorted(selector.items())),
                         show=show, note=note)
    else:
        nodes = ctx.raw("/api/v1/nodes", {"limit": NODE_SAMPLE}, show=lambda body: show(body.get("items") or []),
                        note=note + " (the first %d nodes: the RuntimeClass has no nodeSelector)" % NODE_SAMPLE).get("items") or []
    if not nodes:
        return [], "no node matches RuntimeClass %s's nodeSelector %s" % (name, selector)
    reporting = [n for n in nodes if _handlers(n)]
    able = [n["metadata"]["name"] for n in reporting if handler in _handlers(n)]
    if reporting and not able:
        return [], ("RuntimeClass %s names handler %s, which the container runtime of none of %s reports"
                    % (name, handler, ", ".join(n["metadata"]["name"] for n in nodes[:5]) + (" ..." if len(nodes) > 5 else "")))
    return able or [n["metadata"]["name"] for n in nodes], ""


@requirement("workload_sandboxing")
def workload_sandboxing(ctx) -> Finding:
    """A sandbox runtime (gVisor, Kata, ...) behind a RuntimeClass some node can run, or the agent-sandbox API."""
    discovery = ctx.kube.discovery()
    sandboxes = []
    if discovery.served("node.k8s.io", "v1", "runtimeclasses"):
        items = ctx.list("node.k8s.io", "v1", "runtimeclasses", show=_runtime_class_rows,
                         note="RuntimeClasses whose name or handler names a sandbox runtime (%s: the keywords of the "
                              "official TestWorkloadSandboxing)" % ", ".join(SANDBOX_KEYWORDS))
        sandboxes = [rc for rc in items if _is_sandbox(rc)]
    agent_versions = ctx.api_resources(AGENT_SANDBOX_GROUP)
    runnable, problems = {}, []
    for rc in sandboxes:
        nodes, problem = _sandbox_nodes(ctx, rc)
        if nodes:
            runnable["%s (handler %s)" % (rc["metadata"]["name"], rc.get("handler", ""))] = nodes
        else:
            problems.append(problem)
    details = {"sandbox_runtime_classes": [rc["metadata"]["name"] for rc in sandboxes], "runnable": runnable,
               "agent_sandbox_api": agent_versions, "problems": problems}
    agent = (" The agent-sandbox API (%s %s) is served too." % (AGENT_SANDBOX_GROUP, ", ".join(agent_versions))
             if agent_versions else "")
    if runnable:
        text = "; ".join("%s on %s" % (rc, ", ".join(nodes[:5]) + (" ..." if len(nodes) > 5 else "")) for rc, nodes in runnable.items())
        other = (" Not runnable: %s." % "; ".join(problems)) if problems else ""
        return Finding(PASS, "Sandboxed runtime available: %s.%s%s" % (text, agent, other), details=details,
                       caveats=[SANDBOX_CAVEAT])
    if agent_versions:
        return Finding(UNKNOWN, "The agent-sandbox API (%s %s) is served, but no RuntimeClass of a sandbox runtime is "
                                "runnable%s: a person must check that its Sandbox pods run under a runtime with its own "
                                "kernel (the official test warns the default runtime handler must then provide one)."
                       % (AGENT_SANDBOX_GROUP, ", ".join(agent_versions), " (%s)" % "; ".join(problems) if problems else ""),
                       remediation=install_hint("kata"), details=details)
    if problems:
        return Finding(FAIL, "Sandbox RuntimeClasses exist but no node can run them: %s." % "; ".join(problems),
                       remediation="Install the sandbox runtime on the nodes the RuntimeClass selects (containerd must "
                                   "report its handler in the node's status.runtimeHandlers; kubectl get node NODE -o "
                                   "jsonpath='{.status.runtimeHandlers}' shows them), or fix its scheduling.nodeSelector; "
                                   "for Kata: " + install_hint("kata"), details=details)
    return Finding(FAIL, "No workload sandbox: no RuntimeClass names a sandbox runtime (%s) and the agent-sandbox API "
                         "(%s) is not served." % (", ".join(SANDBOX_KEYWORDS), AGENT_SANDBOX_GROUP),
                   remediation=install_hint("kata"), details=details)
