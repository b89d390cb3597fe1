"""A large simulated cluster for benchmarks: a fixture cluster plus thousands of nodes and pods.

Objects have realistic size: nodes carry full status (conditions, addresses, ~40 cached images,
nodeInfo), pods full specs (env, mounts, probes, resources, projected token volume) and status.
Nested parts that never differ are shared between objects: the fake server only serializes them.

    python bench/scaled_cluster.py --nodes 5000 --gpu-nodes 500 --pods 100000 --kubeconfig /tmp/kc
"""

import argparse
import json
import signal
import sys
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakeapi import FakeKubeServer, load_cluster  # noqa: E402

GPU_LABELS = {
    "nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8",
    "nvidia.com/gpu.memory": "81559", "nvidia.com/cuda.driver.major": "580", "nvidia.com/cuda.driver.minor": "126",
    "nvidia.com/cuda.driver.rev": "20", "nvidia.com/cuda.runtime.major": "13", "nvidia.com/cuda.runtime.minor": "0",
    "nvidia.com/mig.strategy": "single", "nvidia.com/gpu.sharing-strategy": "none",
    "feature.node.kubernetes.io/pci-10de.present": "true",
}
IMAGES = [{"names": ["registry.example.com/team-%02d/app@sha256:%064x" % (i, i), "registry.example.com/team-%02d/app:v1.%d" % (i, i)],
           "sizeBytes": 100000000 + i * 1234567} for i in range(40)]


def node(i, gpu, gpu_template=None):
    name = "%s-%05d" % ("gpu" if gpu else "cpu", i)
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "node.kubernetes.io/instance-type": "rke2", "topology.kubernetes.io/zone": "zone-%d" % (i % 3)}
    capacity = {"cpu": "64", "memory": "527887408Ki", "pods": "110", "ephemeral-storage": "1919727592Ki"}
    if gpu:
        labels.update(GPU_LABELS)
        capacity = dict(capacity, **{"nvidia.com/gpu": "8"})
        if gpu_template:  # a fixture GPU node's vendor labels (driver, deploy.*), so operands select it
            labels.update({k: v for k, v in gpu_template["metadata"]["labels"].items()
                           if k.startswith(("nvidia.com/", "feature.node.kubernetes.io/"))})
            labels["nvidia.com/gpu.count"] = "8"
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"rke2.io/node-args": '["agent"]', "node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"podCIDR": "10.42.%d.0/24" % (i % 256), "providerID": "rke2://" + name,
                 "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}] if gpu else []},
        "status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": t, "status": "False", "reason": "Kubelet" + t, "message": "ok",
                            "lastHeartbeatTime": "2026-11-23T08:00:00Z", "lastTransitionTime": "2026-11-01T00:00:00Z"}
                           for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
            + [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                "lastHeartbeatTime": "2026-11-23T08:00:00Z", "lastTransitionTime": "2026-11-01T00:00:00Z"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.%d.%d" % (i // 250, i % 250)}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"kubeletVersion": "v1.35.2+rke2r1", "kubeProxyVersion": "v1.35.2+rke2r1",
                         "containerRuntimeVersion": "containerd://2.1.4-k3s1", "osImage": "SUSE Linux Enterprise Server 15 SP6",
                         "kernelVersion": "6.4.0-150600.23.25-default", "operatingSystem": "linux", "architecture": "amd64",
                         "machineID": "%032x" % i, "systemUUID": "%032x" % i, "bootID": "%032x" % i},
            "images": IMAGES,
        },
    }


POD_SPEC_CPU = {
    "containers": [{
        "name": "app", "image": "registry.example.com/team/app:v1.42", "imagePullPolicy": "IfNotPresent",
        "command": ["/app/server"], "args": ["--port=8080", "--log-level=info", "--metrics-port=9090"],
        "env": [{"name": "ENV_%d" % k, "value": "value-%d" % k} for k in range(10)],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}, {"name": "data", "mountPath": "/data"},
                         {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }],
    "volumes": [{"name": "config", "configMap": {"name": "app-config"}}, {"name": "data", "emptyDir": {}},
                {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
    "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30, "priority": 0,
    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
}
POD_SPEC_GPU = dict(POD_SPEC_CPU, runtimeClassName="nvidia", containers=[dict(
    POD_SPEC_CPU["containers"][0], image="nvcr.io/nvidia/pytorch:25.10-py3",
    resources={"requests": {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}})],
    tolerations=POD_SPEC_CPU["tolerations"] + [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
POD_STATUS = {"phase": "Running", "qosClass": "Burstable", "startTime": "2026-11-20T10:00:00Z",
              "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-11-20T10:00:05Z"}
                             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")],
              "containerStatuses": [{"name": "app", "ready": True, "started": True, "restartCount": 0,
                                     "image": "registry.example.com/team/app:v1.42", "imageID": "registry.example.com/team/app@sha256:%064x" % 7,
                                     "containerID": "containerd://%064x" % 9, "state": {"running": {"startedAt": "2026-11-20T10:00:04Z"}}}]}


def pods(count, node_names, gpu_names):
    """Pods spread over all nodes; the ones on GPU nodes request a GPU."""
    gpu_set = set(gpu_names)
    for i in range(count):
        node_name = node_names[i % len(node_names)]
        gpu = node_name in gpu_set
        spec = dict(POD_SPEC_GPU if gpu else POD_SPEC_CPU, nodeName=node_name)
        yield {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "workload-%06d" % i, "namespace": "team-%02d" % (i % 40),
                            "labels": {"app": "workload-%d" % (i % 200), "pod-template-hash": "%08x" % (i % 200)},
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "workload-%d" % (i % 200),
                                                 "uid": "%032x" % (i % 200), "controller": True, "blockOwnerDeletion": True}]},
               "spec": spec, "status": dict(POD_STATUS, podIP="10.42.%d.%d" % (i // 250 % 256, i % 250), hostIP="10.0.0.1")}


def build(nodes, gpu_nodes, pod_count, base="rke2-gpu"):
    """The base fixture cluster with synthetic nodes and pods added; returns (cluster, gpu node count)."""
    cluster = load_cluster(base)
    template = next((o for o in cluster.objects if o.get("kind") == "Node"
                     and "nvidia.com/gpu.present" in ((o.get("metadata") or {}).get("labels") or {})), None)
    node_objs = [node(i, i < gpu_nodes, template) for i in range(nodes)]
    if template is not None:
        handlers = (template.get("status") or {}).get("runtimeHandlers")
        for obj in node_objs[:gpu_nodes]:
            if handlers:
                obj["status"]["runtimeHandlers"] = handlers
    names = [n["metadata"]["name"] for n in node_objs]
    gpu_names = names[:gpu_nodes]
    cluster.objects = list(cluster.objects) + node_objs
    # The GPU operator's DaemonSets run on every GPU node, synthetic ones included.
    base_gpu = sum(1 for o in cluster.objects if o.get("kind") == "Node" and "nvidia.com/gpu.present" in
                   ((o.get("metadata") or {}).get("labels") or {}))
    for obj in cluster.objects:
        if obj.get("kind") == "DaemonSet" and obj.get("metadata", {}).get("namespace") == "gpu-operator":
            status = obj.setdefault("status", {})
            for key in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady", "numberAvailable", "updatedNumberScheduled"):
                status[key] = base_gpu + gpu_nodes
    return cluster, names, gpu_names


def warm(url):
    """Read every pod once, so the fake server has encoded them (a real API server answers lists
    from its watch cache): the benchmark then measures the client, not the fake's first encoding."""
    token = ""
    while True:
        with urllib.request.urlopen(url + "/api/v1/pods?limit=5000" + ("&continue=" + token if token else "")) as resp:
            token = json.loads(resp.read())["metadata"].get("continue")
        if not token:
            return


def serve(nodes, gpu_nodes, pod_count, kubeconfig):
    cluster, names, gpu_names = build(nodes, gpu_nodes, pod_count)
    server = FakeKubeServer(cluster).start()
    server.store.add_objects(pods(pod_count, names, gpu_names))
    server.write_kubeconfig(kubeconfig)
    warm(server.url)
    Path(kubeconfig + ".ready").write_text(server.url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--gpu-nodes", type=int, default=500)
    parser.add_argument("--pods", type=int, default=100000)
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()
    serve(args.nodes, args.gpu_nodes, args.pods, args.kubeconfig)
