"""The fake Kubernetes API server, exercised through the real kubernetes client and kubernetes.core."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

from tests.fakeapi import SYSTEM_DISCOVERY_RULES, Attributes, Cluster, FakeKubeServer, list_clusters, load_cluster
from tests.fakeapi.rbac import allows, request_attributes, rule_allows

TESTDATA = Path(__file__).resolve().parents[1] / "fakeapi" / "testdata"
REPO = Path(__file__).resolve().parents[2]
AGGREGATED_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
DCGM_PATH = "/api/v1/namespaces/gpu-operator/services/nvidia-dcgm-exporter:9400/proxy/metrics"
CONTAINERS = [{"name": "main", "image": "registry.example.com/app:v1"}]


def pod(name, namespace="default", node="node-a", phase="Running", **labels):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node, "containers": CONTAINERS}, "status": {"phase": phase}}


def widget_crd(versions=("v1", "v1beta1")):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                     "versions": [{"name": v, "served": True, "storage": i == 0, "subresources": {"status": {}}}
                                  for i, v in enumerate(versions)]}}


@pytest.fixture(scope="module")
def mini():
    """The testdata cluster, served for the whole module (tests that write use their own server)."""
    with FakeKubeServer(load_cluster("mini", fixtures_dir=TESTDATA)) as server:
        yield server


def api_client(server):
    return client.ApiClient(client.Configuration(host=server.url))


def raw(server, method, path, body=None, headers=None, query=None):
    """(status, headers, parsed body) of a raw request through the client's ApiClient; raises ApiException."""
    api = api_client(server)
    response = api.call_api(*api.param_serialize(method, path, body=body, header_params=headers or {},
                                                 query_params=query or []))
    response.read()
    if response.status >= 400:
        raise ApiException(http_resp=response)
    content_type = response.getheader("content-type") or ""
    data = json.loads(response.data) if content_type.startswith("application/json") else response.data
    return response.status, response.getheaders(), data


def error_of(call):
    with pytest.raises(ApiException) as info:
        call()
    return info.value.status, json.loads(info.value.body)


# Discovery and /version.


def test_version_is_accepted_by_the_strict_client(mini, tmp_path):
    kubeconfig = mini.write_kubeconfig(tmp_path / "kubeconfig", context="simulated-mini")
    api = config.new_client_from_config(str(kubeconfig))
    info = client.VersionApi(api).get_code()
    assert (info.major, info.minor, info.git_version) == ("1", "35", "v1.35.2+rke2r1")
    assert info.git_commit and info.go_version.startswith("go") and info.platform == "linux/amd64"
    assert raw(mini, "GET", "/version/")[2]["gitVersion"] == "v1.35.2+rke2r1"


@pytest.mark.parametrize("path", ["/api", "/api/", "/apis/", "/api/v1/", "/apis/apps/v1/", "/apis/apps/"])
def test_discovery_paths_answer_with_and_without_trailing_slash(mini, path):
    assert raw(mini, "GET", path)[0] == 200


def test_legacy_discovery_lists_builtin_crd_and_aggregated_groups(mini):
    groups = {g.name: g for g in client.ApisApi(api_client(mini)).get_api_versions().groups}
    assert groups["autoscaling"].preferred_version.version == "v2"
    assert [v.version for v in groups["resource.k8s.io"].versions] == ["v1"]
    assert "nvidia.com" in groups and "custom.metrics.k8s.io" in groups
    # An unavailable APIService stays listed (as real servers do) but its group version answers 503.
    assert "metrics.k8s.io" in groups
    status, body = error_of(lambda: raw(mini, "GET", "/apis/metrics.k8s.io/v1beta1"))
    assert (status, body["reason"]) == (503, "ServiceUnavailable")
    core = {r.name: r for r in client.CoreV1Api(api_client(mini)).get_api_resources().resources}
    assert core["pods"].short_names == ["po"] and core["pods"].namespaced
    assert {"pods/status", "pods/log", "pods/proxy", "services/proxy", "nodes/proxy"} <= set(core)
    assert not core["nodes"].namespaced


@pytest.mark.parametrize("version,runtime_config,expected", [
    ("v1.33.5", (), None),
    ("v1.33.5", ("resource.k8s.io/v1beta1", "resource.k8s.io/v1beta2"), ["v1beta2", "v1beta1"]),
    ("v1.34.1", (), ["v1"]),
    ("v1.35.0", ("resource.k8s.io/v1beta2",), ["v1", "v1beta2"]),
])
def test_resource_api_versions_are_gated_by_the_server_version(version, runtime_config, expected):
    with FakeKubeServer(Cluster.from_objects(version=version, runtime_config=runtime_config)) as server:
        groups = {g.name: [v.version for v in g.versions]
                  for g in client.ApisApi(api_client(server)).get_api_versions().groups}
        assert groups.get("resource.k8s.io") == expected
        if expected:
            kinds = {r["kind"] for r in raw(server, "GET", f"/apis/resource.k8s.io/{expected[0]}")[2]["resources"]}
            assert {"DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "ResourceSlice"} <= kinds


def test_aggregated_discovery(mini):
    status, headers, body = raw(mini, "GET", "/apis", headers={"Accept": AGGREGATED_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert (body["kind"], body["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    groups = {item["metadata"]["name"]: item for item in body["items"]}
    assert "metrics.k8s.io" not in groups  # unavailable
    deployments = next(r for r in groups["apps"]["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deployments["scope"] == "Namespaced" and deployments["shortNames"] == ["deploy"]
    assert {s["subresource"] for s in deployments["subresources"]} == {"scale", "status"}
    policies = groups["nvidia.com"]["versions"][0]["resources"][0]
    assert (policies["resource"], policies["scope"], policies["responseKind"]["kind"]) == \
        ("clusterpolicies", "Cluster", "ClusterPolicy")
    metrics = groups["custom.metrics.k8s.io"]["versions"][0]["resources"]
    assert "DCGM_FI_DEV_GPU_UTIL" in {s["subresource"] for r in metrics for s in r["subresources"]}
    core = raw(mini, "GET", "/api", headers={"Accept": AGGREGATED_ACCEPT.replace("v=v2;", "v=v2beta1;", 1)})[2]
    assert core["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert core["items"][0]["versions"][0]["version"] == "v1"
    assert raw(mini, "GET", "/api")[2]["kind"] == "APIVersions"


def test_dynamic_client_discovers_and_gets(mini):
    dynamic = DynamicClient(api_client(mini))
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    deployment = deployments.get(name="gpu-operator", namespace="gpu-operator")
    assert deployment.status.availableReplicas == 1  # the cluster's override replaced the component's
    policies = dynamic.resources.get(api_version="nvidia.com/v1", kind="ClusterPolicy")
    assert [p.metadata.name for p in policies.get().items] == ["cluster-policy"]
    nodes = dynamic.resources.get(api_version="v1", kind="Node").get(label_selector="nvidia.com/gpu.present=true")
    assert [n.metadata.name for n in nodes.items] == ["gpu-node-1"]
    assert dynamic.resources.get(api_version="v1", kind="Pod").subresources["status"]


# Reads: lists, selectors, pagination, errors.


@pytest.fixture(scope="module")
def pods():
    objects = [pod(f"p{i:02d}", namespace=f"ns{i % 3}", node=f"node-{i % 4}",
                   phase="Pending" if i % 5 == 0 else "Running", app="web" if i % 2 else "db",
                   **({"gpu": "true"} if i % 3 == 0 else {})) for i in range(25)]
    with FakeKubeServer(Cluster.from_objects(objects=objects)) as server:
        yield server, client.CoreV1Api(api_client(server))


def test_pagination_is_stable_and_complete(pods):
    core = pods[1]
    names, token, pages = [], None, 0
    while True:
        page = core.list_pod_for_all_namespaces(limit=10, _continue=token)
        pages += 1
        names += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        token = page.metadata._continue
        if pages == 1:
            assert page.metadata.remaining_item_count == 15
        if not token:
            break
    assert pages == 3 and len(names) == 25 and names == sorted(names)
    assert len(core.list_namespaced_pod("ns1", limit=3).items) == 3
    assert len(core.list_namespaced_pod("ns1").items) == 8


@pytest.mark.parametrize("selector,expected", [
    ("app=web", 12), ("app==web", 12), ("app!=web", 13), ("app in (web, db)", 25), ("app notin (db)", 12),
    ("gpu", 9), ("!gpu", 16), ("app=web,gpu", 4), ("app in (web),!gpu", 8),
])
def test_label_selectors(pods, selector, expected):
    core = pods[1]
    assert len(core.list_pod_for_all_namespaces(label_selector=selector).items) == expected


@pytest.mark.parametrize("selector,expected", [
    ("spec.nodeName=node-1", 6), ("spec.nodeName=node-1,metadata.namespace=ns1", 2), ("status.phase=Pending", 5),
    ("status.phase!=Pending", 20), ("metadata.name==p07", 1), ("metadata.namespace=ns2", 8),
    ("spec.nodeName=nowhere", 0),
])
def test_field_selectors(pods, selector, expected):
    core = pods[1]
    assert len(core.list_pod_for_all_namespaces(field_selector=selector).items) == expected


def test_selected_pagination_gives_continue_but_no_remaining_count(pods):
    core = pods[1]
    first = core.list_pod_for_all_namespaces(label_selector="app=web", limit=5)
    assert first.metadata._continue and first.metadata.remaining_item_count is None
    rest = core.list_pod_for_all_namespaces(label_selector="app=web", limit=50, _continue=first.metadata._continue)
    assert len(first.items) + len(rest.items) == 12 and rest.metadata._continue is None


def test_list_shape_and_bad_requests(pods):
    server = pods[0]
    body = raw(server, "GET", "/api/v1/namespaces/ns0/pods")[2]
    assert (body["kind"], body["apiVersion"]) == ("PodList", "v1") and body["metadata"]["resourceVersion"]
    assert "kind" not in body["items"][0]  # built-in list items carry no apiVersion/kind, as on a real server
    assert error_of(lambda: raw(server, "GET", "/api/v1/pods", query=[("labelSelector", "a in (b")]))[0] == 400
    assert error_of(lambda: raw(server, "GET", "/api/v1/pods", query=[("continue", "garbage")]))[0] == 400


def test_errors_are_status_objects_like_a_real_server(mini):
    apps = client.AppsV1Api(api_client(mini))
    status, body = error_of(lambda: apps.read_namespaced_deployment("nope", "gpu-operator"))
    assert status == 404 and body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'deployments.apps "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"}, "code": 404}
    status, body = error_of(lambda: raw(mini, "GET", "/api/v1/nosuchthings"))
    assert (status, body["message"]) == (404, "the server could not find the requested resource")
    assert error_of(lambda: raw(mini, "GET", "/apis/nosuch.io/v1"))[0] == 404
    assert error_of(lambda: raw(mini, "GET", "/api/v1/namespaces/default/nodes"))[0] == 404


def test_forbidden_resources_answer_403_for_every_verb(mini):
    status, body = error_of(lambda: raw(mini, "GET", "/apis/resource.k8s.io/v1/resourceslices"))
    assert status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'resourceslices.resource.k8s.io is forbidden: User "system:serviceaccount:ci:auditor" cannot list '
        'resource "resourceslices" in API group "resource.k8s.io" at the cluster scope')
    assert body["details"] == {"group": "resource.k8s.io", "kind": "resourceslices"}
    status, body = error_of(lambda: raw(mini, "DELETE", "/apis/resource.k8s.io/v1/resourceslices/s1"))
    assert status == 403 and 'resourceslices.resource.k8s.io "s1" is forbidden' in body["message"]
    assert 'cannot delete resource "resourceslices"' in body["message"]


# Proxy and aggregated APIs.


def test_service_proxy_serves_the_mapped_body(mini):
    core = client.CoreV1Api(api_client(mini))
    text = core.connect_get_namespaced_service_proxy_with_path("nvidia-dcgm-exporter:9400", "gpu-operator", "metrics")
    assert "DCGM_FI_DEV_GPU_UTIL" in text
    status, headers, data = raw(mini, "GET", DCGM_PATH.replace("nvidia-dcgm", "http:nvidia-dcgm"))
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4" and b"GPU-0" in data
    assert raw(mini, "GET", DCGM_PATH, query=[("ignored", "1")])[0] == 200
    status, body = error_of(lambda: raw(mini, "GET", DCGM_PATH.replace(":9400", ":9401")))
    assert (status, body["reason"]) == (503, "ServiceUnavailable")
    assert body["message"] == 'no endpoints available for service "nvidia-dcgm-exporter"'
    status, body = error_of(lambda: raw(mini, "GET", DCGM_PATH.replace("nvidia-dcgm-exporter", "absent")))
    assert (status, body["message"]) == (404, 'services "absent" not found')


def test_aggregated_api_paths(mini):
    custom = client.CustomObjectsApi(api_client(mini))
    metric = custom.get_namespaced_custom_object("custom.metrics.k8s.io", "v1beta1", "default", "pods",
                                                 "*/DCGM_FI_DEV_GPU_UTIL")
    assert metric["items"][0]["value"] == "42"
    assert error_of(lambda: raw(mini, "GET", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/x/pods/*/OTHER"))[0] \
        == 404
    assert error_of(lambda: raw(mini, "GET", "/apis/metrics.k8s.io/v1beta1/nodes"))[0] == 503


# Writes.


@pytest.fixture
def server():
    with FakeKubeServer(Cluster.from_objects(objects=[widget_crd()])) as fake:
        yield fake


def configmap(name, data=None, namespace="default"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": data or {"k": "v"}}


def test_create_get_replace_delete(server):
    core = client.CoreV1Api(api_client(server))
    created = core.create_namespaced_config_map("default", configmap("c1"))
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    status, body = error_of(lambda: core.create_namespaced_config_map("default", configmap("c1")))
    assert (status, body["reason"], body["message"]) == (409, "AlreadyExists", 'configmaps "c1" already exists')
    status, body = error_of(lambda: core.create_namespaced_config_map("nowhere", configmap("c1", namespace="nowhere")))
    assert (status, body["message"]) == (404, 'namespaces "nowhere" not found')
    generated = core.create_namespaced_config_map(
        "default", {"metadata": {"generateName": "gen-"}, "data": {}})
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == 9
    replaced = core.replace_namespaced_config_map("c1", "default", {**configmap("c1", {"k": "w"}),
                                                                    "metadata": {"name": "c1",
                                                                                 "resourceVersion": meta.resource_version}})
    assert replaced.data == {"k": "w"} and replaced.metadata.resource_version != meta.resource_version
    assert replaced.metadata.uid == meta.uid
    stale = {**configmap("c1"), "metadata": {"name": "c1", "resourceVersion": meta.resource_version}}
    status, body = error_of(lambda: core.replace_namespaced_config_map("c1", "default", stale))
    assert (status, body["reason"]) == (409, "Conflict") and "the object has been modified" in body["message"]
    core.delete_namespaced_config_map("c1", "default")
    assert error_of(lambda: core.read_namespaced_config_map("c1", "default"))[0] == 404


def test_dry_run_never_persists(server):
    core = client.CoreV1Api(api_client(server))
    core.create_namespaced_config_map("default", configmap("dry"), dry_run="All")
    assert error_of(lambda: core.read_namespaced_config_map("dry", "default"))[0] == 404
    before = core.create_namespaced_config_map("default", configmap("real"))
    patched = core.patch_namespaced_config_map("real", "default", {"data": {"k": "changed"}}, dry_run="All")
    assert patched.data == {"k": "changed"}
    core.replace_namespaced_config_map("real", "default", configmap("real", {"x": "y"}), dry_run="All")
    core.delete_namespaced_config_map("real", "default", dry_run="All")
    after = core.read_namespaced_config_map("real", "default")
    assert after.data == {"k": "v"} and after.metadata.resource_version == before.metadata.resource_version


def test_patch_types_and_noop_patch(server):
    core = client.CoreV1Api(api_client(server))
    created = core.create_namespaced_config_map("default", configmap("p", {"a": "1", "b": "2"}))
    rv = created.metadata.resource_version
    # Strategic merge (the client's choice for object bodies) acts as a merge patch; a no-op keeps everything.
    same = core.patch_namespaced_config_map("p", "default", {"data": {"a": "1"}})
    assert same.metadata.resource_version == rv
    assert "status" not in raw(server, "GET", "/api/v1/namespaces/default/configmaps/p")[2]
    merged = raw(server, "PATCH", "/api/v1/namespaces/default/configmaps/p", body={"data": {"b": None, "c": "3"}},
                 headers={"Content-Type": "application/merge-patch+json"})[2]
    assert merged["data"] == {"a": "1", "c": "3"} and merged["metadata"]["resourceVersion"] != rv
    patched = core.patch_namespaced_config_map("p", "default", [
        {"op": "replace", "path": "/data/a", "value": "9"}, {"op": "add", "path": "/metadata/labels",
                                                             "value": {"x": "y"}}])
    assert patched.data["a"] == "9" and patched.metadata.labels == {"x": "y"}
    status, body = error_of(lambda: raw(server, "PATCH", "/api/v1/namespaces/default/configmaps/p", body={},
                                        headers={"Content-Type": "application/json"}))
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")


def test_server_side_apply_creates_then_merges(server):
    headers = {"Content-Type": "application/apply-patch+yaml"}
    path = "/api/v1/namespaces/default/configmaps/applied"
    assert raw(server, "PATCH", path, body=configmap("applied"), headers=headers,
               query=[("fieldManager", "test")])[0] == 201
    assert raw(server, "PATCH", path, body=configmap("applied", {"k": "2"}), headers=headers,
               query=[("fieldManager", "test")])[2]["data"] == {"k": "2"}
    assert error_of(lambda: raw(server, "PATCH", path, body={}, headers=headers))[0] == 400


def test_status_subresource(server):
    apps = client.AppsV1Api(api_client(server))
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                           "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": CONTAINERS}}}}
    created = apps.create_namespaced_deployment("default", deployment)
    assert created.metadata.generation == 1 and created.status is None
    updated = apps.patch_namespaced_deployment_status("d", "default", {"status": {"readyReplicas": 1},
                                                                       "spec": {"replicas": 5}})
    assert updated.status.ready_replicas == 1 and updated.spec.replicas == 1 and updated.metadata.generation == 1
    assert apps.read_namespaced_deployment_status("d", "default").status.ready_replicas == 1
    scaled = apps.patch_namespaced_deployment("d", "default", {"spec": {"replicas": 3}, "status": {"readyReplicas": 9}})
    assert scaled.spec.replicas == 3 and scaled.status.ready_replicas == 1 and scaled.metadata.generation == 2


def test_custom_objects_crud_and_multiple_versions(server):
    custom = client.CustomObjectsApi(api_client(server))
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    created = custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    assert created["metadata"]["uid"] and created["kind"] == "Widget"
    patched = custom.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w",
                                                    {"spec": {"size": 2}})
    assert patched["spec"]["size"] == 2 and patched["metadata"]["generation"] == 2
    listed = custom.list_namespaced_custom_object("example.com", "v1beta1", "default", "widgets")
    assert listed["kind"] == "WidgetList" and listed["items"][0]["apiVersion"] == "example.com/v1beta1"
    status, body = error_of(lambda: raw(server, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w",
                                        body={"spec": {}},
                                        headers={"Content-Type": "application/strategic-merge-patch+json"}))
    assert status == 415  # real servers refuse strategic merge patches on custom resources
    custom.delete_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    assert custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")["items"] == []


def test_crds_created_over_the_api_become_served(server):
    ext = client.ApiextensionsV1Api(api_client(server))
    crd = widget_crd(("v1alpha1",))
    crd["metadata"]["name"] = "gadgets.example.org"
    crd["spec"].update(group="example.org", names={"plural": "gadgets", "kind": "Gadget"})
    created = ext.create_custom_resource_definition(crd)
    assert {c.type for c in created.status.conditions} == {"NamesAccepted", "Established"}
    assert "gadgets" in {r["name"] for r in raw(server, "GET", "/apis/example.org/v1alpha1")[2]["resources"]}
    ext.delete_custom_resource_definition("gadgets.example.org")
    assert error_of(lambda: raw(server, "GET", "/apis/example.org/v1alpha1"))[0] == 404


def test_namespace_delete_removes_its_objects(server):
    core = client.CoreV1Api(api_client(server))
    namespace = core.create_namespace({"metadata": {"name": "team"}})
    assert namespace.status.phase == "Active"
    assert namespace.metadata.labels == {"kubernetes.io/metadata.name": "team"}
    core.create_namespaced_config_map("team", configmap("c", namespace="team"))
    core.delete_namespace("team")
    assert error_of(lambda: core.read_namespaced_config_map("c", "team"))[0] == 404
    assert "team" not in {n.metadata.name for n in core.list_namespace().items}


def test_field_managers_are_recorded_in_managed_fields(server):
    path = "/api/v1/namespaces/default/configmaps"
    created = raw(server, "POST", path, body=configmap("m"), query=[("fieldManager", "maker")])[2]
    assert [(f["manager"], f["operation"]) for f in created["metadata"]["managedFields"]] == [("maker", "Update")]
    applied = raw(server, "PATCH", path + "/m", body=configmap("m", {"k": "2"}),
                  headers={"Content-Type": "application/apply-patch+yaml"}, query=[("fieldManager", "applier")])[2]
    assert [(f["manager"], f["operation"]) for f in applied["metadata"]["managedFields"]] == [
        ("maker", "Update"), ("applier", "Apply")]
    again = raw(server, "PATCH", path + "/m", body=configmap("m", {"k": "2"}),
                headers={"Content-Type": "application/apply-patch+yaml"}, query=[("fieldManager", "applier")])[2]
    assert again["metadata"] == applied["metadata"], "an unchanged apply changes nothing, resourceVersion included"
    replaced = raw(server, "PUT", path + "/m", body=configmap("m", {"k": "3"}))[2]
    assert replaced["metadata"]["managedFields"] == applied["metadata"]["managedFields"], "server-owned: kept on PUT"
    plain = raw(server, "POST", path, body={**configmap("plain"), "metadata": {"name": "plain", "managedFields": [{}]}})[2]
    assert "managedFields" not in plain["metadata"], "a client cannot set managedFields; no fieldManager, no entry"


def test_apply_and_force_are_checked_like_a_real_server(server):
    apply = {"Content-Type": "application/apply-patch+yaml"}
    path = "/api/v1/namespaces/default/configmaps/a"
    manager = [("fieldManager", "t")]
    status, body = error_of(lambda: raw(server, "PATCH", path, body={"metadata": {"name": "a"}}, headers=apply, query=manager))
    assert status == 400 and "apiVersion and kind" in body["message"]
    status, body = error_of(lambda: raw(server, "PATCH", path, body=configmap("b"), headers=apply, query=manager))
    assert status == 400 and "does not match the name on the URL (a)" in body["message"]
    assert raw(server, "PATCH", path, body=configmap("a"), headers=apply, query=manager + [("force", "true")])[0] == 201
    status, body = error_of(lambda: raw(server, "PATCH", path, body={"data": {}}, query=[("force", "true")],
                                        headers={"Content-Type": "application/merge-patch+json"}))
    assert status == 400 and "only be used with apply" in body["message"]


def test_dry_run_values_other_than_all_are_refused(server):
    status, body = error_of(lambda: raw(server, "POST", "/api/v1/namespaces/default/configmaps", body=configmap("d"),
                                        query=[("dryRun", "true")]))
    assert (status, body["reason"]) == (422, "Invalid")
    assert server.store.get("v1", "ConfigMap", "d", namespace="default") is None
    raw(server, "POST", "/api/v1/namespaces/default/configmaps", body=configmap("d"))
    raw(server, "DELETE", "/api/v1/namespaces/default/configmaps/d", body={"dryRun": ["All"]})
    assert server.store.get("v1", "ConfigMap", "d", namespace="default") is not None


def owned(name, owner, namespace="default"):
    body = configmap(name, namespace=namespace)
    body["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name,
                                            "uid": owner.metadata.uid}]
    return body


def test_delete_propagation_follows_owner_references(server):
    core = client.CoreV1Api(api_client(server))
    owner = core.create_namespaced_config_map("default", configmap("owner"))
    child = core.create_namespaced_config_map("default", owned("child", owner))
    core.create_namespaced_config_map("default", owned("grandchild", child))
    core.delete_namespaced_config_map("owner", "default", body=client.V1DeleteOptions(propagation_policy="Foreground"))
    assert {c.metadata.name for c in core.list_namespaced_config_map("default").items} & {"child", "grandchild"} == set()
    owner = core.create_namespaced_config_map("default", configmap("owner"))
    core.create_namespaced_config_map("default", owned("kept", owner))
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    kept = core.read_namespaced_config_map("kept", "default")
    assert kept.metadata.owner_references is None
    status, body = error_of(lambda: core.delete_namespaced_config_map("kept", "default", propagation_policy="Cascade"))
    assert status == 422 and "Unsupported value" in body["message"]
    status, body = error_of(lambda: raw(server, "DELETE", "/api/v1/namespaces/default/configmaps/kept",
                                        query=[("gracePeriodSeconds", "soon")]))
    assert status == 400


def test_a_deleted_namespace_stays_terminating_for_the_configured_time():
    with FakeKubeServer(Cluster.from_objects(namespace_termination_seconds=0.3)) as fake:
        core = client.CoreV1Api(api_client(fake))
        core.create_namespace({"metadata": {"name": "team"}})
        core.create_namespaced_config_map("team", configmap("c", namespace="team"))
        answer = raw(fake, "DELETE", "/api/v1/namespaces/team")[2]
        assert answer["kind"] == "Namespace" and answer["status"]["phase"] == "Terminating"
        assert core.read_namespace("team").metadata.deletion_timestamp is not None
        assert core.read_namespaced_config_map("c", "team").data == {"k": "v"}, "content goes when the namespace does"
        status, body = error_of(lambda: core.create_namespaced_config_map("team", configmap("d", namespace="team")))
        assert (status, body["details"]["causes"][0]["reason"]) == (403, "NamespaceTerminating")
        time.sleep(0.35)
        assert error_of(lambda: core.read_namespace("team"))[0] == 404
        assert error_of(lambda: core.read_namespaced_config_map("c", "team"))[0] == 404
        fake.store.namespace_termination_seconds = 0
        core.create_namespace({"metadata": {"name": "team"}})
        core.delete_namespace("team")
        assert error_of(lambda: core.read_namespace("team"))[0] == 404


# Request recording, store helpers, fixtures, CLI.


def test_request_counting(server):
    core = client.CoreV1Api(api_client(server))
    server.reset_requests()
    core.list_namespace()
    core.list_pod_for_all_namespaces(limit=1)
    core.read_namespace("default")
    assert server.request_count == 3
    assert server.count_requests("/api/v1/namespaces") == 2
    assert server.count_requests("/api/v1/", method="get") == 3
    assert server.requests[1].query == "limit=1"


def test_store_helpers_and_bulk_load(server):
    count = server.store.add_objects([pod(f"bulk-{i}", namespace="bulk") for i in range(300)])
    assert count == 301  # and the namespace they needed
    assert server.store.get("v1", "Namespace", "bulk")["status"] == {"phase": "Active"}
    stored = server.store.get("v1", "Pod", "bulk-7", namespace="bulk")
    assert stored["kind"] == "Pod" and stored["metadata"]["uid"]
    assert len(server.store.objects("v1", "Pod", namespace="bulk")) == 300
    core = client.CoreV1Api(api_client(server))
    assert len(core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a").items) == 300


def test_fixture_loader(tmp_path):
    cluster = load_cluster("mini", fixtures_dir=TESTDATA)
    assert cluster.description.startswith("Tiny") and cluster.version == "v1.35.2+rke2r1"
    deployments = [o for o in cluster.objects if o["kind"] == "Deployment"]
    assert len(deployments) == 1 and deployments[0]["status"]["availableReplicas"] == 1
    assert list_clusters(TESTDATA) == [("mini", cluster.description)]
    assert load_cluster(TESTDATA / "clusters" / "mini").name == "mini"
    with pytest.raises(FileNotFoundError, match="known clusters: mini"):
        load_cluster("absent", fixtures_dir=TESTDATA)
    broken = tmp_path / "clusters" / "broken"
    broken.mkdir(parents=True)
    (broken / "cluster.yaml").write_text("components: [missing-component]\n")
    with pytest.raises(FileNotFoundError, match="component 'missing-component' not found"):
        load_cluster("broken", fixtures_dir=tmp_path)
    (broken / "cluster.yaml").write_text("kubernetes_version: v1.35.0\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_cluster("broken", fixtures_dir=tmp_path)


def test_cli_serves_until_sigterm(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeapi", "serve", "--cluster", str(TESTDATA / "clusters" / "mini"),
         "--kubeconfig", str(kubeconfig)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        assert "serving at http://127.0.0.1:" in first_line
        api = config.new_client_from_config(str(kubeconfig))
        assert client.VersionApi(api).get_code().minor == "35"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()


# kubernetes.core modules against the server.


def _kubernetes_core_path():
    for root in (REPO / ".collections", Path("/tmp/kc")):
        if (root / "ansible_collections" / "kubernetes" / "core" / "plugins" / "modules" / "k8s_info.py").is_file():
            return root
    return None


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - kubernetes.core.k8s_info: {kind: Deployment, namespace: gpu-operator}
      register: deployments
    - kubernetes.core.k8s_info: {api_version: nvidia.com/v1, kind: ClusterPolicy}
      register: policies
    - kubernetes.core.k8s: &cm
        definition: {apiVersion: v1, kind: ConfigMap, metadata: {name: from-ansible, namespace: default},
                     data: {k: v}}
      register: first
    - kubernetes.core.k8s: *cm
      register: second
    - kubernetes.core.k8s: {state: absent, kind: ConfigMap, namespace: default, name: from-ansible}
      check_mode: true
      register: checked
    - kubernetes.core.k8s_info: {kind: ConfigMap, namespace: default, name: from-ansible}
      register: still_there
    - ansible.builtin.assert:
        that:
          - deployments.resources | length == 1
          - deployments.resources[0].status.availableReplicas == 1
          - policies.resources[0].metadata.name == 'cluster-policy'
          - first is changed
          - second is not changed
          - checked is changed
          - still_there.resources | length == 1
"""


def test_kubernetes_core_modules(mini, tmp_path):
    collections = _kubernetes_core_path()
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    if collections is None or not playbook_bin.exists():
        pytest.skip("kubernetes.core or ansible-playbook is not available")
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    kubeconfig = mini.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections), "K8S_AUTH_KUBECONFIG": str(kubeconfig),
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "false",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false", "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run([str(playbook_bin), "-i", "localhost,", "-c", "local", "site.yml"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    client.CoreV1Api(api_client(mini)).delete_namespaced_config_map("from-ansible", "default")  # leave mini as it was
    assert result.returncode == 0, result.stdout + result.stderr


# RBAC: request attributes, rule matching, enforcement.


@pytest.mark.parametrize("method, path, query, expected", [
    ("GET", "/api/v1/nodes", "", ("list", "", "nodes", "", "", "")),
    ("GET", "/api/v1/nodes/gpu-01", "", ("get", "", "nodes", "", "", "gpu-01")),
    ("HEAD", "/api/v1/nodes/gpu-01", "", ("get", "", "nodes", "", "", "gpu-01")),
    ("GET", "/api/v1/pods", "watch=true", ("watch", "", "pods", "", "", "")),
    ("GET", "/api/v1/pods", "fieldSelector=metadata.name%3Dp1", ("list", "", "pods", "", "", "p1")),
    ("GET", "/api/v1/pods", "fieldSelector=metadata.name!%3Dp1", ("list", "", "pods", "", "", "")),
    ("GET", "/api/v1/namespaces/ns/pods", "fieldSelector=metadata.name=p1,status.phase=Running",
     ("list", "", "pods", "", "ns", "p1")),
    ("GET", "/api/v1/namespaces/ns/pods/p1/log", "", ("get", "", "pods", "log", "ns", "p1")),
    ("GET", "/api/v1/namespaces", "", ("list", "", "namespaces", "", "", "")),
    ("GET", "/api/v1/namespaces/kube-system", "", ("get", "", "namespaces", "", "kube-system", "kube-system")),
    ("PUT", "/api/v1/namespaces/ns/finalize", "", ("update", "", "namespaces", "finalize", "ns", "ns")),
    ("GET", "/api/v1/namespaces/gpu-operator/services/http:dcgm:9400/proxy/metrics", "",
     ("get", "", "services", "proxy", "gpu-operator", "http:dcgm:9400")),
    ("GET", "/apis/apps/v1/namespaces/ns/deployments/d/scale", "", ("get", "apps", "deployments", "scale", "ns", "d")),
    ("POST", "/apis/apps/v1/namespaces/ns/deployments", "", ("create", "apps", "deployments", "", "ns", "")),
    ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d", "", ("patch", "apps", "deployments", "", "ns", "d")),
    ("DELETE", "/apis/apps/v1/namespaces/ns/deployments/d", "", ("delete", "apps", "deployments", "", "ns", "d")),
    ("DELETE", "/apis/apps/v1/namespaces/ns/deployments", "", ("deletecollection", "apps", "deployments", "", "ns", "")),
    ("GET", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/ai/pods/*/DCGM_FI_DEV_GPU_UTIL", "",
     ("get", "custom.metrics.k8s.io", "pods", "DCGM_FI_DEV_GPU_UTIL", "ai", "*")),
    ("GET", "/api/v1/proxy/namespaces/ns/services/s", "", ("proxy", "", "services", "", "ns", "s")),
])
def test_rbac_attributes_of_resource_requests(method, path, query, expected):
    attributes = request_attributes(method, path, query)
    assert attributes.resource_request
    assert attributes[:6] == expected


@pytest.mark.parametrize("method, path, verb", [
    ("GET", "/version", "get"), ("GET", "/version/", "get"), ("GET", "/api", "get"), ("GET", "/api/v1", "get"),
    ("GET", "/apis", "get"), ("GET", "/apis/apps", "get"), ("GET", "/apis/apps/v1", "get"),
    ("GET", "/openapi/v3/apis/apps/v1", "get"), ("GET", "/healthz", "get"), ("HEAD", "/livez", "head"),
    ("POST", "/apis", "post"), ("GET", "/metrics", "get"),
])
def test_rbac_attributes_of_non_resource_requests(method, path, verb):
    assert request_attributes(method, path) == Attributes.non_resource(verb, path)


def _attrs(verb, group="", resource="", subresource="", namespace="", name=""):
    return Attributes(verb, group, resource, subresource, namespace, name)


@pytest.mark.parametrize("rule, attributes, allowed", [
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}, _attrs("list", "", "pods"), True),
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, _attrs("list", "", "pods"), False),
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}, _attrs("watch", "", "pods"), True),
    ({"apiGroups": ["apps"], "resources": ["pods"], "verbs": ["list"]}, _attrs("list", "", "pods"), False),
    ({"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["list"]}, _attrs("list", "apps", "deployments"), True),
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, _attrs("get", "", "pods", "log", "ns", "p"), False),
    ({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}, _attrs("get", "", "pods", "log", "ns", "p"),
     True),
    ({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}, _attrs("get", "", "pods", "", "ns", "p"), False),
    ({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}, _attrs("get", "", "services", "proxy", "ns", "s:80"),
     True),
    ({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]},
     _attrs("get", "apps", "deployments", "scale", "ns", "d"), True),
    ({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]}, _attrs("get", "apps", "deployments"), False),
    ({"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["get"]},
     _attrs("get", "apps", "deployments", "scale", "ns", "d"), False),
    ({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get", "list"]},
     _attrs("get", "", "configmaps", "", "ns", "a"), True),
    ({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get", "list"]},
     _attrs("get", "", "configmaps", "", "ns", "b"), False),
    ({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get", "list"]},
     _attrs("list", "", "configmaps", "", "ns"), False),
    ({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["list"]},
     _attrs("list", "", "configmaps", "", "ns", "a"), True),  # a list narrowed by fieldSelector metadata.name
    ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, Attributes.non_resource("get", "/version"), False),
    ({"nonResourceURLs": ["/version"], "verbs": ["get"]}, Attributes.non_resource("get", "/version"), True),
    ({"nonResourceURLs": ["/version"], "verbs": ["get"]}, Attributes.non_resource("get", "/version/"), False),
    ({"nonResourceURLs": ["/version"], "verbs": ["get"]}, Attributes.non_resource("post", "/version"), False),
    ({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}, Attributes.non_resource("get", "/apis/apps/v1"), True),
    ({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}, Attributes.non_resource("get", "/apis"), False),
    ({"nonResourceURLs": ["/apis*"], "verbs": ["get"]}, Attributes.non_resource("get", "/apis"), True),
    ({"nonResourceURLs": ["*"], "verbs": ["*"]}, Attributes.non_resource("get", "/metrics"), True),
    ({"nonResourceURLs": ["*"], "verbs": ["*"]}, _attrs("get", "", "nodes", "", "", "n"), False),
])
def test_rbac_rule_matching_follows_kubernetes(rule, attributes, allowed):
    assert rule_allows(rule, attributes) is allowed


def test_rbac_system_discovery_rules_cover_discovery_only():
    for path in ("/version", "/api", "/api/v1", "/apis", "/apis/resource.k8s.io/v1", "/openapi/v2", "/healthz"):
        assert allows(SYSTEM_DISCOVERY_RULES, request_attributes("GET", path)), path
    assert not allows(SYSTEM_DISCOVERY_RULES, request_attributes("GET", "/api/v1/nodes"))
    assert not allows(SYSTEM_DISCOVERY_RULES, request_attributes("GET", "/metrics"))
    assert not allows(SYSTEM_DISCOVERY_RULES, request_attributes("POST", "/apis"))


@pytest.fixture
def restricted():
    rules = list(SYSTEM_DISCOVERY_RULES) + [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]
    with FakeKubeServer(load_cluster("mini", fixtures_dir=TESTDATA)) as server:
        server.cluster.rbac_rules = rules
        yield server


def test_rbac_rules_deny_like_a_real_api_server(restricted):
    user = restricted.cluster.user
    apps = client.AppsV1Api(api_client(restricted))
    assert apps.list_deployment_for_all_namespaces().items
    status, body = error_of(lambda: raw(restricted, "GET", "/api/v1/nodes"))
    assert status == 403 and body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'nodes is forbidden: User "%s" cannot list resource "nodes" in API group "" at the cluster scope'
                   % user, "reason": "Forbidden", "details": {"kind": "nodes"}, "code": 403}
    status, body = error_of(lambda: apps.read_namespaced_deployment("gpu-operator", "gpu-operator"))
    assert body["message"] == ('deployments.apps "gpu-operator" is forbidden: User "%s" cannot get resource '
                               '"deployments" in API group "apps" in the namespace "gpu-operator"' % user)
    assert body["details"] == {"name": "gpu-operator", "group": "apps", "kind": "deployments"}
    status, body = error_of(lambda: raw(restricted, "GET", DCGM_PATH))
    assert status == 403 and body["message"] == (
        'services "nvidia-dcgm-exporter:9400" is forbidden: User "%s" cannot get resource "services/proxy" in API '
        'group "" in the namespace "gpu-operator"' % user)
    status, body = error_of(lambda: raw(restricted, "GET", "/apis/nosuch.io/v1/things"))
    assert status == 403, "authorization comes before routing: unknown resources are forbidden, not 404"
    status, body = error_of(lambda: raw(restricted, "GET", "/metrics"))
    assert (status, body["message"], body["details"]) == (403, 'forbidden: User "%s" cannot get path "/metrics"' % user, {})
    assert error_of(lambda: raw(restricted, "GET", "/api/v1/nodes/absent"))[0] == 404  # allowed, then not found


def test_rbac_requests_are_recorded_with_attributes_and_decision(restricted):
    restricted.reset_requests()
    core = client.CoreV1Api(api_client(restricted))
    client.VersionApi(api_client(restricted)).get_code()
    with pytest.raises(ApiException):
        core.list_node()
    requests = restricted.requests
    assert [(r.attributes, r.allowed) for r in requests] == [
        (Attributes.non_resource("get", "/version/"), True), (Attributes("list", "", "nodes", api_version="v1"), False)]
    assert restricted.denied == requests[1:]
    assert restricted.attributes == [r.attributes for r in requests]
    restricted.cluster.rbac_rules = None  # read per request: enforcement off, attributes still recorded
    restricted.reset_requests()
    assert core.list_node().items
    assert restricted.requests[0].allowed is None and restricted.requests[0].attributes.resource == "nodes"
