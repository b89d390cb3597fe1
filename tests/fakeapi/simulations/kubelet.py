"""The kubelet and container runtime of the nodes, as far as the probes read them: what a probe container printed.

``LOGS`` answers for an API-created pod bound to a node that has run (phase Running or Succeeded) when its container
runs one of the probes' scripts (plugins/module_utils/probes), recognised by the commands in it; it prints what they
would print there, as ``k8s-ai-conformance: <key>=<value>`` lines and a last ``k8s-ai-conformance: end``. Any other
container: None (nothing simulated).

- ``ls /dev | grep -c '^nvidia[0-9]'``: the ``/dev/nvidia<N>`` the container was granted: the devices of
  ``gpu.nvidia.com`` allocated to the ResourceClaims it references (``resources.claims``, the request named there
  or every request of the claim) plus its ``nvidia.com/gpu`` / ``nvidia.com/mig-*`` limits; 0 without a request.
- ``nvidia-smi``: in a container granted a GPU the runtime (CDI) put ``/usr/bin/nvidia-smi``; the driver query
  prints one version per device and the banner the driver and CUDA versions: the allocated device's ResourceSlice
  attributes ``driverVersion``/``cudaDriverVersion``, else the node's GFD labels. Without a GPU: ``missing``.
- ``uname -r``: the kernel identity (release, ``/proc/version``, boot id). A plain container sees the node's kernel
  (``status.nodeInfo.kernelVersion``, ``bootID``); under a RuntimeClass whose handler is gVisor (runsc, gvisor) the
  sandbox's emulated 4.4.0, under kata/krun/quark a guest VM's kernel, each sandbox with its own boot id.

Scripted node annotations:

- ``fakeapi.k8s-ai.io/kubelet-output: "none"``: its containers print nothing (an empty log, as kwok's).
- ``fakeapi.k8s-ai.io/unrequested-devices: "true"``: a container without a request sees every GPU of the node
  (``nvidia.com/gpu.count``), as with NVIDIA_VISIBLE_DEVICES=all honoured from any container.
- ``fakeapi.k8s-ai.io/sandbox-kernel: "host"``: the sandbox handlers there run containers on the host kernel.
- ``fakeapi.k8s-ai.io/nvidia-smi-banner: "kmd"``: nvidia-smi prints the newer banner (``KMD Version``,
  ``CUDA UMD Version``).
"""

import uuid

from ..controllers import NODES
from .dra import _devices, _results

CLAIMS = ("resource.k8s.io", "resourceclaims")
RUNTIME_CLASSES = ("node.k8s.io", "runtimeclasses")
MARK = "k8s-ai-conformance:"  # what the probes' scripts prefix their lines with (probes/pods.py)
DEVICE_COUNT = "ls /dev | grep -c '^nvidia[0-9]'"
KERNEL = "uname -r"
NVIDIA_DRIVER = "gpu.nvidia.com"
OUTPUT = "fakeapi.k8s-ai.io/kubelet-output"
UNREQUESTED = "fakeapi.k8s-ai.io/unrequested-devices"
SANDBOX_KERNEL = "fakeapi.k8s-ai.io/sandbox-kernel"
BANNER = "fakeapi.k8s-ai.io/nvidia-smi-banner"
GVISOR = ("runsc", "gvisor")
GUEST_VM = ("kata", "krun", "quark")
# (release, /proc/version) of the sandboxes' kernels: gVisor's as it reports itself, a Kata guest kernel's.
GVISOR_KERNEL = ("4.4.0", "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016")
GUEST_KERNEL = ("6.12.42", "Linux version 6.12.42 (kata guest kernel) #1 SMP")


def _annotation(obj, key):
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(key, "")).lower()


def _attribute(attributes, name):
    value = attributes.get(name)
    return str(next(iter(value.values()), "")) if isinstance(value, dict) else str(value or "")


def _granted(store, pod, container):
    """The NVIDIA devices allocated to the container's claims: [(pool, device)], and its device-plugin GPUs."""
    claim_of = {c.get("name"): c.get("resourceClaimName") for c in pod["spec"].get("resourceClaims") or []}
    allocated = []
    for ref in (container.get("resources") or {}).get("claims") or []:
        claim = store.sim_get(CLAIMS, pod["metadata"].get("namespace"), claim_of.get(ref.get("name")))
        allocated += [(r.get("pool"), r.get("device")) for r in _results(claim or {})
                      if r.get("driver") == NVIDIA_DRIVER and ref.get("request") in (None, r.get("request"))]
    limits = (container.get("resources") or {}).get("limits") or {}
    plugin = sum(int(v) for k, v in limits.items() if k == "nvidia.com/gpu" or k.startswith("nvidia.com/mig-"))
    return allocated, plugin


def _smi(store, node, allocated, count):
    """What the SMI script prints after the device count: nvidia-smi, its driver query and the top of its banner."""
    if not count:
        return ["nvidia-smi=missing"]
    labels = (node.get("metadata") or {}).get("labels") or {}
    attributes = next((d[4] for d in _devices(store) if d[0] == NVIDIA_DRIVER and d[1:3] == allocated[0]), {}) if allocated else {}
    driver = _attribute(attributes, "driverVersion") or labels.get("nvidia.com/cuda.driver-version.full", "")
    cuda = ".".join((_attribute(attributes, "cudaDriverVersion") or labels.get("nvidia.com/cuda.runtime-version.full", "")).split(".")[:2])
    product = _attribute(attributes, "productName") or labels.get("nvidia.com/gpu.product", "").replace("-", " ")
    kmd = _annotation(node, BANNER) == "kmd"
    versions = "%s Version: %-16s %s Version: %-8s" % ("KMD" if kmd else "Driver", driver, "CUDA UMD" if kmd else "CUDA", cuda)
    banner = ["+" + "-" * 89 + "+", "| NVIDIA-SMI %-22s %s |" % (driver, versions), "+" + "-" * 89 + "+"]
    banner += ["| %3d  %-84s |" % (i, product) for i in range(count)]
    return ["nvidia-smi=/usr/bin/nvidia-smi", "query-rc=0"] + ["query: %s" % driver] * count + ["smi: %s" % b for b in banner]


def _kernel(store, pod, node):
    """The kernel identity lines: the node's, or the sandbox's of the pod's RuntimeClass handler."""
    info = (node.get("status") or {}).get("nodeInfo") or {}
    release = info.get("kernelVersion", "")
    identity = (release, "Linux version %s (kernel of node %s) #1 SMP" % (release, node["metadata"]["name"]), info.get("bootID", ""))
    runtime_class = store.sim_get(RUNTIME_CLASSES, "", pod["spec"].get("runtimeClassName") or "") or {}
    handler = str(runtime_class.get("handler", "")).lower()
    sandbox = GVISOR_KERNEL if any(h in handler for h in GVISOR) else GUEST_KERNEL if any(h in handler for h in GUEST_VM) else None
    if sandbox and _annotation(node, SANDBOX_KERNEL) != "host":
        identity = sandbox + (str(uuid.uuid5(uuid.NAMESPACE_URL, pod["metadata"]["uid"])),)
    return ["kernel-release=%s" % identity[0], "kernel-version=%s" % identity[1], "boot-id=%s" % identity[2]]


def log(store, pod, container_name):
    """What ``container_name`` (default: the only container) of ``pod`` printed, or None when it ran no probe script."""
    containers = pod["spec"].get("containers") or []
    container = next((c for c in containers if c.get("name") == container_name), None) if container_name else \
        (containers[0] if len(containers) == 1 else None)
    node = store.sim_get(NODES, "", pod["spec"].get("nodeName") or "")
    if container is None or node is None or (pod.get("status") or {}).get("phase") not in ("Running", "Succeeded"):
        return None
    script = " ".join(container.get("command") or []) + " " + " ".join(container.get("args") or [])
    if DEVICE_COUNT not in script and KERNEL not in script:
        return None
    if _annotation(node, OUTPUT) == "none":
        return ""
    lines = []
    if DEVICE_COUNT in script:
        allocated, plugin = _granted(store, pod, container)
        count = len(allocated) + plugin
        if not count and _annotation(node, UNREQUESTED) == "true":
            count = int(((node.get("metadata") or {}).get("labels") or {}).get("nvidia.com/gpu.count") or 0)
        lines.append("devices=%d" % count)
        if "nvidia-smi" in script:
            lines += _smi(store, node, allocated, count)
    if KERNEL in script:
        lines += _kernel(store, pod, node)
    return "".join("%s %s\n" % (MARK, line) for line in lines + ["end"])


LOGS = log
