"""The networking section over real HTTP against fixture clusters (and variants built from them in code):
ai_inference (every version) and the 1.36 SHOULDs advanced_inference_ingress, high_performance_networking,
disaggregated_inference."""

import copy
from pathlib import Path
from urllib.parse import unquote


from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import load_cluster
from tests.fakeapi.fixtures import read_objects

COMPONENTS = Path(__file__).resolve().parents[1] / "fixtures" / "components"
SECTION = ["ai_inference", "advanced_inference_ingress", "high_performance_networking", "disaggregated_inference"]
OWN = ("/apis/gateway.networking.k8s.io/", "/apis/inference.networking", "/apis/resource.k8s.io/",
       "/apis/discovery.k8s.io/", "/apis/k8s.cni.cncf.io/", "/apis/sriovnetwork.openshift.io/", "/apis/mellanox.com/",
       "/apis/nvidia.com/v1alpha1/dynamo", "/apis/nvidia.com/v1beta1/dynamo", "/apis/workloads.x-k8s.io/",
       "/apis/apps/v1/namespaces/kube-system/daemonsets", "/api/v1/pods")


def run(server, kube_for, tmp_path, ids=("ai_inference",), version=None):
    return {r["id"]: r for r in verify(kube_for(server, tmp_path), checklist_version=version, requirements=list(ids))["results"]}


def observed(result):
    return "\n".join(e["command"] + "\n" + e["observed"] for e in result["evidence"])


def own_requests(server):
    return [r for r in server.requests if r.path.startswith(OWN)
            or (r.path == "/api/v1/nodes" and "rdma" in unquote(r.query))]


def find(cluster, kind, name):
    return next(o for o in cluster.objects if o["kind"] == kind and o["metadata"]["name"] == name)


def drop(cluster, kind, name=None):
    cluster.objects = [o for o in cluster.objects if not (o["kind"] == kind and (name is None or o["metadata"]["name"] == name))]


def http_route(name, namespace, parent, controller, rules, accepted=True):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace, "uid": "0b7b3c1e-route-" + name},
            "spec": {"parentRefs": [{"name": parent}], "rules": rules},
            "status": {"parents": [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": parent},
                                    "controllerName": controller,
                                    "conditions": [{"type": "Accepted", "status": "True" if accepted else "False",
                                                    "reason": "Accepted" if accepted else "NotAllowedByListeners"}]}]}}


# ---------------------------------------------------------------------------------------------- ai_inference
def test_rke2_traefik_passes_with_features_and_gateway(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    result = run(server, kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "pass", result["notes"]
    notes = result["notes"]
    assert "GatewayClass traefik is Accepted by traefik.io/gateway-controller" in notes
    assert "reports Gateway and HTTPRoute (Core: weighted backendRefs and header matches)" in notes
    assert "HTTPRouteQueryParamMatching" in notes and "HTTPRouteMethodMatching" in notes
    assert "kube-system/traefik-gateway (web HTTP:8000" in notes
    assert "referencegrants v1/v1beta1" in notes
    assert "No accepted HTTPRoute with weights or header matches exists yet" in notes
    text = observed(result)
    assert "Accepted=True (Handled)" in text and "features=BackendTLSPolicy,GRPCRoute,Gateway" in text
    assert "Programmed=True" in text and "0 HTTPRoute(s)" in text
    impl = result["details"]["implementations"][0]
    assert impl["weighted_and_header_routing"] is True and "HTTPRouteQueryParamMatching" in impl["extended_httproute_features"]
    assert result["details"]["gateways"][0]["programmed"] is True
    # GatewayClasses, Gateways, HTTPRoutes.
    assert len(own_requests(server)) == 3, own_requests(server)


def test_existing_weighted_header_route_is_reported(serve, kube_for, tmp_path):
    cluster = load_cluster("rke2-gpu")
    cluster.objects.append(http_route("vllm-canary", "kube-system", "traefik-gateway", "traefik.io/gateway-controller", [
        {"matches": [{"headers": [{"name": "x-model", "value": "qwen3-8b"}]}],
         "backendRefs": [{"name": "vllm-a", "port": 8000, "weight": 90}, {"name": "vllm-b", "port": 8000, "weight": 10}]}]))
    cluster.objects.append(http_route("not-attached", "ai-workloads", "traefik-gateway", "traefik.io/gateway-controller", [
        {"matches": [{"headers": [{"name": "x-model", "value": "x"}]}], "backendRefs": [{"name": "a", "port": 80}]}],
        accepted=False))
    result = run(serve(cluster), kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "pass"
    assert ("HTTPRoute kube-system/vllm-canary already uses weighted backendRefs and header matches and is Accepted by "
            "traefik-gateway (traefik.io/gateway-controller)") in result["notes"]
    text = observed(result)
    assert "kube-system/vllm-canary  weighted=True header-match=True" in text
    assert "ai-workloads/not-attached  weighted=False header-match=True  accepted by: none" in text


def test_half_installed_gatewayclass_not_accepted_fails(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("half-installed"), kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "fail"
    assert "no GatewayClass is Accepted" in result["notes"] and "traefik Accepted=Unknown (Pending)" in result["notes"]
    assert "kubectl describe gatewayclass traefik" in result["remediation"]
    assert "oci://docker.io/envoyproxy/gateway-helm" in result["remediation"]
    assert "with role k8s_ai.conformance.gateway (by hand: " in result["remediation"]  # the role ships: tests/unit/test_roles.py
    assert "features=(not reported)" in observed(result)


def test_gatewayclass_reporting_features_without_httproute_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("rke2-gpu")
    gc = find(cluster, "GatewayClass", "traefik")
    gc["status"]["supportedFeatures"] = [{"name": "Gateway"}, {"name": "GRPCRoute"}, {"name": "TLSRoute"}]
    result = run(serve(cluster), kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "fail"
    assert "without Gateway and HTTPRoute (traefik lacks HTTPRoute)" in result["notes"]
    assert "conformant for HTTPRoute" in result["remediation"] and "--version v1.9.0" in result["remediation"]


def test_v11_string_features_and_mesh_feature(serve, kube_for, tmp_path):
    cluster = load_cluster("rke2-gpu")
    gc = find(cluster, "GatewayClass", "traefik")
    gc["status"]["supportedFeatures"] = ["Gateway", "HTTPRoute", "Mesh", "HTTPRouteQueryParamMatching"]  # Gateway API v1.1 shape
    result = run(serve(cluster), kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "pass", result["notes"]
    assert "plus extended HTTPRouteQueryParamMatching" in result["notes"]
    assert "Optional service-mesh integration detected: reports the Mesh feature (GAMMA)" in result["notes"]


def test_gateways_never_programmed_fail(serve, kube_for, tmp_path):
    cluster = load_cluster("rke2-gpu")
    gw = find(cluster, "Gateway", "traefik-gateway")
    gw["status"]["conditions"][1].update(status="False", reason="AddressNotAssigned")
    result = run(serve(cluster), kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "fail"
    assert "none of its 1 Gateway(s) is Programmed" in result["notes"]
    assert "Programmed=False (AddressNotAssigned)" in result["notes"]
    assert "kubectl describe gateway -n kube-system traefik-gateway" in result["remediation"]


def test_istio_without_features_passes_and_names_mesh(fake_cluster, kube_for, tmp_path):
    result = run(fake_cluster("v1.36-gaie"), kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "pass"
    assert "istio.io/gateway-controller, which does not publish supportedFeatures" in result["notes"]
    assert "Istio service mesh controller" in result["notes"]
    assert "ai-inference/inference-gateway (http HTTP:80 (attachedRoutes=1))" in result["notes"]


def test_plain_cluster_misses_gateway_api(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kubeadm-plain")
    result = run(server, kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "fail"
    assert "missing gatewayclasses (v1), gateways (v1), httproutes (v1), grpcroutes (v1), referencegrants" in result["notes"]
    assert "gateway-api/releases/download/v1.6.1/standard-install.yaml" in result["remediation"]
    assert "with role k8s_ai.conformance.gateway (by hand: " in result["remediation"]  # the role ships: tests/unit/test_roles.py
    assert "(no resources served in API group gateway.networking.k8s.io)" in observed(result)
    assert own_requests(server) == []  # discovery alone decides


def test_forbidden_gatewayclasses_is_an_error(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=("gateway.networking.k8s.io/v1/gatewayclasses",))
    result = run(server, kube_for, tmp_path)["ai_inference"]
    assert result["outcome"] == "error" and result["status"] == ""
    assert "403" in result["notes"] and "gatewayclasses" in result["notes"]
    assert "grant the identity" in result["remediation"]


# ---------------------------------------------------------------------------------------------- 1.36 cluster
def test_gaie_cluster_passes_every_136_item_within_budget(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("v1.36-gaie")
    results = run(server, kube_for, tmp_path, ids=SECTION)
    assert {k: r["outcome"] for k, r in results.items()} == {k: "pass" for k in SECTION}, \
        {k: r["notes"] for k, r in results.items()}
    ingress = results["advanced_inference_ingress"]
    assert ("InferencePool ai-inference/llama3-8b (inference.networking.k8s.io/v1) is Accepted with ResolvedRefs by Gateway "
            "ai-inference/inference-gateway (istio.io/gateway-controller)") in ingress["notes"]
    assert "endpoint picker Service llama3-8b-epp has 1/1 ready endpoint(s) (port 9002, failureMode FailOpen)" in ingress["notes"]
    assert "1/1 endpoints ready (endpoint picker of ai-inference/llama3-8b, port 9002)" in observed(ingress)
    hpn = results["high_performance_networking"]
    assert "through DRA (the program's preferred mechanism): DeviceClass(es) rdma-nic select driver dra.net" in hpn["notes"]
    assert "2 network device(s) (2 with RDMA) on 2 node(s)" in hpn["notes"] and "ifName" in hpn["notes"]
    assert "kube-system/dranet 2/2 ready" in observed(hpn)
    pd = results["disaggregated_inference"]
    assert ("llm-d ai-inference/llama3-8b has prefill 1/1 and decode 1/1 ready as separate instances on node(s) gpu-01, gpu-02, "
            "served through InferencePool ai-inference/llama3-8b") in pd["notes"]
    assert "ai-inference/llama3-8b-prefill-zkfjzg64gt-lvfth  role=prefill  Ready  node=gpu-01" in observed(pd)
    # gatewayclasses, gateways, httproutes, inferencepools, EPP endpointslices, deviceclasses, resourceslices,
    # dranet DaemonSet, llm-d pods.
    assert len(own_requests(server)) <= 9, own_requests(server)


def test_plain_cluster_on_136_checklist(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kubeadm-plain")
    results = run(server, kube_for, tmp_path, ids=SECTION, version="1.36")
    ingress, hpn, pd = (results[k] for k in SECTION[1:])
    assert ingress["outcome"] == "fail" and "Inference Extension is not installed" in ingress["notes"]
    assert "releases/download/v1.6.0/manifests.yaml" in ingress["remediation"]
    assert "kgateway, Istio, agentgateway, Envoy AI Gateway, GKE" in ingress["remediation"]
    assert hpn["outcome"] == "not_applicable" and hpn["status"] == "N/A"
    assert "No high-performance network resources (RDMA/SR-IOV/secondary networks) are present" in hpn["notes"]
    assert "pod-to-pod traffic uses the primary CNI" in hpn["notes"] and "DRANET" in hpn["notes"]
    assert hpn["evidence"]
    assert pd["outcome"] == "fail" and "No disaggregated inference solution found" in pd["notes"]
    assert "llm-d" in pd["remediation"] and "Dynamo" in pd["remediation"]
    # deviceclasses, RDMA-labelled nodes, llm-d pods.
    assert len(own_requests(server)) == 3, own_requests(server)


# ---------------------------------------------------------------------------------------------- advanced_inference_ingress
def test_epp_without_ready_endpoints_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("v1.36-gaie")
    eps = find(cluster, "EndpointSlice", "llama3-8b-epp-qczcj")
    eps["endpoints"][0]["conditions"].update(ready=False, serving=False)
    result = run(serve(cluster), kube_for, tmp_path, ids=["advanced_inference_ingress"])["advanced_inference_ingress"]
    assert result["outcome"] == "fail"
    assert "endpoint picker ai-inference/llama3-8b-epp of ai-inference/llama3-8b has no ready endpoints (1 total)" in result["notes"]
    assert "epp" in result["remediation"]


def test_pool_not_accepted_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("v1.36-gaie")
    pool = find(cluster, "InferencePool", "llama3-8b")
    pool["status"]["parents"][0]["conditions"][0].update(status="False", reason="HTTPRouteNotAccepted")
    result = run(serve(cluster), kube_for, tmp_path, ids=["advanced_inference_ingress"])["advanced_inference_ingress"]
    assert result["outcome"] == "fail"
    assert "No InferencePool is Accepted with ResolvedRefs" in result["notes"]
    assert "Accepted=False (HTTPRouteNotAccepted)" in result["notes"]


def test_crds_without_pools_fail(serve, kube_for, tmp_path):
    cluster = load_cluster("v1.36-gaie")
    drop(cluster, "InferencePool")
    result = run(serve(cluster), kube_for, tmp_path, ids=["advanced_inference_ingress"])["advanced_inference_ingress"]
    assert result["outcome"] == "fail" and "no InferencePool exists" in result["notes"]
    assert result["remediation"].startswith("Deploy an InferencePool")


def test_v1alpha2_pool_passes(serve, kube_for, tmp_path):
    """GAIE before v1.0: inference.networking.x-k8s.io/v1alpha2, spec.extensionRef, status.parent."""
    cluster = load_cluster("v1.36-gaie")
    crd = copy.deepcopy(find(cluster, "CustomResourceDefinition", "inferencepools.inference.networking.k8s.io"))
    crd["metadata"]["name"] = "inferencepools.inference.networking.x-k8s.io"
    crd["spec"]["group"] = "inference.networking.x-k8s.io"
    crd["spec"]["versions"][0]["name"] = "v1alpha2"
    pool = find(cluster, "InferencePool", "llama3-8b")
    drop(cluster, "CustomResourceDefinition", "inferencepools.inference.networking.k8s.io")
    drop(cluster, "InferencePool")
    old = {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
           "metadata": dict(pool["metadata"], uid="5f0e7a43-old-pool"),
           "spec": {"selector": {"llm-d.ai/model": "llama3-8b"}, "targetPortNumber": 8000,
                    "extensionRef": {"name": "llama3-8b-epp", "portNumber": 9002, "failureMode": "FailClose"}},
           "status": {"parent": [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                "name": "inference-gateway"},
                                  "conditions": pool["status"]["parents"][0]["conditions"]}]}}
    cluster.objects += [crd, old]
    results = run(serve(cluster), kube_for, tmp_path, ids=["advanced_inference_ingress", "disaggregated_inference"])
    result = results["advanced_inference_ingress"]
    assert result["outcome"] == "pass", result["notes"]
    assert "(inference.networking.x-k8s.io/v1alpha2) is Accepted with ResolvedRefs by Gateway ai-inference/inference-gateway" in result["notes"]
    assert "failureMode FailClose" in result["notes"]
    assert "served through InferencePool ai-inference/llama3-8b" in results["disaggregated_inference"]["notes"]


# ---------------------------------------------------------------------------------------------- high_performance_networking
def _plain_with(*components):
    cluster = load_cluster("kubeadm-plain")
    for component in components:
        cluster.objects += read_objects(COMPONENTS / ("%s.yaml" % component))
    return cluster


def test_multus_without_specialised_resources_fails(serve, kube_for, tmp_path):
    server = serve(_plain_with("multus"))
    result = run(server, kube_for, tmp_path, ids=["high_performance_networking"], version="1.36")["high_performance_networking"]
    assert result["outcome"] == "fail"
    assert "Multus attaches secondary interfaces, but no specialised (RDMA/SR-IOV) network resource is advertised" in result["notes"]
    assert "DRANET" in result["remediation"]
    text = observed(result)
    assert "default/storage-net" in text and "kube-system/kube-multus-ds 3/3 ready" in text
    # deviceclasses, NADs, kube-system DaemonSets, RDMA-labelled nodes.
    assert len(own_requests(server)) == 4, own_requests(server)


def test_multus_with_rdma_device_plugin_passes(serve, kube_for, tmp_path):
    cluster = _plain_with("multus")
    node = find(cluster, "Node", "worker-01")
    node["metadata"]["labels"]["feature.node.kubernetes.io/rdma.available"] = "true"
    node["status"]["allocatable"]["rdma/rdma_shared_device_a"] = "63"
    result = run(serve(cluster), kube_for, tmp_path, ids=["high_performance_networking"], version="1.36")["high_performance_networking"]
    assert result["outcome"] == "pass", result["notes"]
    assert "through Multus (1 NetworkAttachmentDefinition(s)" in result["notes"]
    assert "node resources rdma/rdma_shared_device_a" in result["notes"] and "not through DRA" in result["notes"]
    assert "rdma/rdma_shared_device_a on worker-01" in observed(result)


def test_rdma_nodes_without_mechanism_fail(serve, kube_for, tmp_path):
    cluster = load_cluster("kubeadm-plain")
    find(cluster, "Node", "worker-02")["metadata"]["labels"]["feature.node.kubernetes.io/rdma.available"] = "true"
    result = run(serve(cluster), kube_for, tmp_path, ids=["high_performance_networking"], version="1.36")["high_performance_networking"]
    assert result["outcome"] == "fail"
    assert "1 node(s) are labelled feature.node.kubernetes.io/rdma.available=true but nothing exposes" in result["notes"]


def test_dra_network_class_without_devices_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("v1.36-gaie")
    drop(cluster, "ResourceSlice", "gpu-01-dra.net-q8w2x")
    drop(cluster, "ResourceSlice", "gpu-02-dra.net-t5k7m")
    result = run(serve(cluster), kube_for, tmp_path, ids=["high_performance_networking"])["high_performance_networking"]
    assert result["outcome"] == "fail"
    assert "DeviceClass(es) rdma-nic select dra.net but no ResourceSlice publishes network devices" in result["notes"]
    assert "0 network device(s)" in observed(result)


def test_forbidden_deviceclasses_is_an_error(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("v1.36-gaie", forbidden=("resource.k8s.io/v1/deviceclasses",))
    result = run(server, kube_for, tmp_path, ids=["high_performance_networking"])["high_performance_networking"]
    assert result["outcome"] == "error" and "deviceclasses" in result["notes"]


# ---------------------------------------------------------------------------------------------- disaggregated_inference
def test_decode_not_ready_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("v1.36-gaie")
    pod = find(cluster, "Pod", "llama3-8b-decode-4wqjn2rdhm-w9kf6")
    for cond in pod["status"]["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = "False"
    result = run(serve(cluster), kube_for, tmp_path, ids=["disaggregated_inference"])["disaggregated_inference"]
    assert result["outcome"] == "fail"
    assert "llm-d ai-inference/llama3-8b: prefill ready 1/1, decode ready 0/1" in result["notes"]
    assert "decode" in result["remediation"]


def _dynamo_crd():
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "dynamographdeployments.nvidia.com", "uid": "7d1a0c2e-dgd-crd"},
            "spec": {"group": "nvidia.com", "scope": "Namespaced",
                     "names": {"plural": "dynamographdeployments", "singular": "dynamographdeployment",
                               "kind": "DynamoGraphDeployment", "listKind": "DynamoGraphDeploymentList", "shortNames": ["dgd"]},
                     "versions": [{"name": "v1alpha1", "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]},
            "status": {"conditions": [{"type": "Established", "status": "True"}], "storedVersions": ["v1alpha1"]}}


def test_dynamo_disaggregated_graph_passes_and_crds_alone_fail(serve, kube_for, tmp_path):
    cluster = load_cluster("kubeadm-plain")
    cluster.objects.append(_dynamo_crd())
    result = run(serve(cluster), kube_for, tmp_path, ids=["disaggregated_inference"], version="1.36")["disaggregated_inference"]
    assert result["outcome"] == "fail"
    assert "NVIDIA Dynamo CRDs (nvidia.com dynamographdeployments)" in result["notes"]
    assert "no prefill/decode deployment runs" in result["notes"]

    cluster = load_cluster("kubeadm-plain")
    cluster.objects.append(_dynamo_crd())
    cluster.objects.append({
        "apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
        "metadata": {"name": "llama-disagg", "namespace": "default", "uid": "7d1a0c2e-dgd"},
        "spec": {"backendFramework": "vllm", "services": {
            "Frontend": {"componentType": "frontend", "replicas": 1},
            "VllmPrefillWorker": {"componentType": "worker", "subComponentType": "prefill", "replicas": 2},
            "VllmDecodeWorker": {"componentType": "worker", "subComponentType": "decode", "replicas": 1}}},
        "status": {"state": "successful", "conditions": [{"type": "Ready", "status": "True", "reason": "AllComponentsReady"}],
                   "services": {"Frontend": {"componentKind": "Deployment", "componentName": "llama-disagg-frontend",
                                             "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1},
                                "VllmPrefillWorker": {"componentKind": "Deployment", "componentName": "llama-disagg-vllmprefillworker",
                                                      "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2},
                                "VllmDecodeWorker": {"componentKind": "Deployment", "componentName": "llama-disagg-vllmdecodeworker",
                                                     "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1}}}})
    result = run(serve(cluster), kube_for, tmp_path, ids=["disaggregated_inference"], version="1.36")["disaggregated_inference"]
    assert result["outcome"] == "pass", result["notes"]
    assert "NVIDIA Dynamo default/llama-disagg has prefill 2/2 and decode 1/1 ready" in result["notes"]
    assert "successful, Ready=True (AllComponentsReady)" in observed(result)


def test_forbidden_pods_is_an_error(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("v1.36-gaie", forbidden=("v1/pods",))
    result = run(server, kube_for, tmp_path, ids=["disaggregated_inference"])["disaggregated_inference"]
    assert result["outcome"] == "error" and "pods" in result["notes"]
