"""Unit tests of lookups.py: node reading, the DRA inventory (pool completeness, attribute shapes), DeviceClass drivers."""

import threading

from ansible_collections.k8s_ai.conformance.plugins.module_utils import lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Discovery


class FakeKube:
    """Just what facts uses: discovery, list_all, once; counts list calls."""

    def __init__(self, objects, version="v1"):
        self.objects = objects
        self.calls = []
        self._memo = {}
        self._lock = threading.RLock()
        resources = {"resourceslices": {}, "deviceclasses": {}}
        self._discovery = Discovery({"resource.k8s.io": {"versions": [version], "resources": {version: resources}}})

    def discovery(self):
        return self._discovery

    def list_all(self, group, version, plural, **_kwargs):
        self.calls.append((group, version, plural))
        return [o for o in self.objects if o["plural"] == plural]

    def once(self, key, compute):
        with self._lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]


def rslice(name, driver, pool, generation, count, node="n1", devices=(), **spec):
    body = {"driver": driver, "pool": {"name": pool, "generation": generation, "resourceSliceCount": count},
            "devices": list(devices)}
    if node:
        body["nodeName"] = node
    body.update(spec)
    return {"plural": "resourceslices", "metadata": {"name": name}, "spec": body}


def gpu(name, **attrs):
    return {"name": name, "attributes": dict(attrs)}


def test_pool_complete_only_with_all_slices_of_the_newest_generation():
    kube = FakeKube([
        rslice("a-old", "gpu.nvidia.com", "n1", 1, 1, devices=[gpu("gpu-0")]),  # stale generation: ignored
        rslice("a-1", "gpu.nvidia.com", "n1", 2, 2, devices=[gpu("gpu-0")]),
        rslice("a-2", "gpu.nvidia.com", "n1", 2, 2, devices=[gpu("gpu-1")]),
        rslice("b-1", "gpu.nvidia.com", "n2", 1, 2, node="n2", devices=[gpu("gpu-0")]),
    ])
    inventory = lookups.dra_inventory(kube)
    pools = inventory["drivers"]["gpu.nvidia.com"]["pools"]
    assert pools["n1"]["complete"] and pools["n1"]["slices"] == 2 and pools["n1"]["stale_slices"] == 1
    assert [d["name"] for d in pools["n1"]["devices"]] == ["gpu-0", "gpu-1"]
    assert not pools["n2"]["complete"] and pools["n2"]["resource_slice_count"] == 2
    assert inventory["drivers"]["gpu.nvidia.com"]["nodes"] == ["n1", "n2"]
    assert inventory["drivers"]["gpu.nvidia.com"]["vendor"] == "nvidia"
    assert inventory["api_version"] == "resource.k8s.io/v1" and inventory["slice_count"] == 4
    lookups.dra_inventory(kube)
    assert kube.calls == [("resource.k8s.io", "v1", "resourceslices")], "listed once per run"


def test_attributes_are_read_from_v1_and_v1beta1_shapes_and_qualified_names_shortened():
    v1 = gpu("gpu-0", **{"gpu.nvidia.com/driverVersion": {"version": "580.126.20"}, "productName": {"string": "NVIDIA L40S"},
                         "resource.kubernetes.io/pciBusID": {"string": "0000:4a:00.0"}, "index": {"int": 0}})
    beta = {"name": "gpu-1", "basic": {"attributes": {"driverVersion": {"version": "580.126.20"}, "type": {"string": "mig"}},
                                       "capacity": {"memory": {"value": "10Gi"}}, "consumesCounters": [{"counterSet": "x"}]}}
    kube = FakeKube([rslice("s", "gpu.nvidia.com", "p", 1, 1, devices=[v1, beta])])
    devices = lookups.dra_inventory(kube)["drivers"]["gpu.nvidia.com"]["pools"]["p"]["devices"]
    assert devices[0]["attributes"] == {"driverVersion": "580.126.20", "productName": "NVIDIA L40S",
                                        "resource.kubernetes.io/pciBusID": "0000:4a:00.0", "index": 0}
    assert devices[1]["attributes"]["type"] == "mig" and devices[1]["capacity"] == {"memory": "10Gi"}
    assert devices[1]["partition"] and not devices[0]["partition"]


def test_device_location_and_blocking_taints():
    tainted = dict(gpu("gpu-0"), taints=[{"key": "gpu.nvidia.com/unhealthy", "effect": "NoSchedule"},
                                         {"key": "info", "effect": "None"}])
    kube = FakeKube([rslice("s1", "tpu.google.com", "p", 1, 1, node=None, allNodes=True, devices=[tainted]),
                     rslice("s2", "dra.net", "q", 1, 1, node=None, nodeSelector={"nodeSelectorTerms": []}, devices=[gpu("eth1")])])
    drivers = lookups.dra_inventory(kube)["drivers"]
    device = drivers["tpu.google.com"]["pools"]["p"]["devices"][0]
    assert device["node"] == "*" and device["taints"] == ["gpu.nvidia.com/unhealthy=:NoSchedule"]
    assert drivers["dra.net"]["pools"]["q"]["devices"][0]["node"] == "(node selector)"
    assert drivers["dra.net"]["vendor"] == ""


def test_no_dra_api_means_an_empty_inventory_without_requests():
    kube = FakeKube([])
    kube._discovery = Discovery({})
    assert lookups.dra_inventory(kube) == {"api_version": "", "slice_count": 0, "drivers": {}}
    assert lookups.device_classes(kube) == [] and kube.calls == []


def test_device_class_drivers_from_cel():
    dc = {"spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.nvidia.com' && "
                                                        "device.attributes['gpu.nvidia.com'].type == 'gpu'"}},
                                 {"cel": {"expression": 'device.driver=="gpu.amd.com"'}}]}}
    assert lookups.device_class_drivers(dc) == ["gpu.amd.com", "gpu.nvidia.com"]
    assert lookups.device_class_drivers({"spec": {"selectors": [{"cel": {"expression": "true"}}]}}) == []


def test_node_reading_keeps_runtime_handlers_and_other_vendor_resources():
    node = {"metadata": {"name": "gpu-01", "labels": {"nvidia.com/gpu.present": "true", "nvidia.com/cuda.driver.major": "580",
                                                      "nvidia.com/cuda.driver.minor": "126", "nvidia.com/cuda.driver.rev": "20",
                                                      "kubernetes.io/os": "linux"}},
            "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                   "allocatable": {"cpu": "8", "nvidia.com/gpu": "2", "nvidia.com/GRID_L40S-12Q": "4",
                                                   "amd.com/xgmi": "0"},
                                   "runtimeHandlers": [{"name": ""}, {"name": "nvidia"}, {"name": "runc"}]}}
    acc = lookups.to_accelerator_node(node, "nvidia")
    assert acc.resources == {"nvidia.com/gpu": "2"} and acc.other_resources == {"nvidia.com/GRID_L40S-12Q": "4"}
    assert acc.runtime_handlers == ["nvidia", "runc"] and acc.driver_version == "580.126.20"
    assert "kubernetes.io/os" not in acc.labels and acc.to_dict()["vgpu"] is False
