# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist section `networking`: Gateway API for inference and the 1.36 additions.

Object shapes are the upstream ones:
- Gateway API (kubernetes-sigs/gateway-api): GatewayClass status.supportedFeatures is a list of
  strings in v1.1 and a list of {name: <FeatureName>} from v1.2 on; feature names come from
  pkg/features ("Gateway", "HTTPRoute", "HTTPRouteQueryParamMatching", ..., "Mesh"). The conformance
  tests for weighted backendRefs and header matches need only the Gateway and HTTPRoute features.
- Gateway API Inference Extension (kubernetes-sigs/gateway-api-inference-extension): InferencePool
  inference.networking.k8s.io/v1 (spec.endpointPickerRef {name, kind (default Service), port.number},
  status.parents[] {parentRef, controllerName, conditions Accepted/ResolvedRefs}); before v1.0 the
  InferencePool was inference.networking.x-k8s.io/v1alpha2 (spec.extensionRef {name, portNumber},
  status.parent[] {parentRef, conditions}) with InferenceModel, later InferenceObjective.
- DRANET (kubernetes-sigs/dranet): DRA driver "dra.net", DaemonSet kube-system/dranet, device attributes
  dra.net/ifName, dra.net/rdma, dra.net/pciAddress, ...; DeviceClass names are the site's own and select
  the driver with CEL (device.driver == "dra.net"). The SR-IOV DRA driver is
  "sriovnetwork.k8snetworkplumbingwg.io".
- Multus (k8snetworkplumbingwg/multus-cni): k8s.cni.cncf.io/v1 network-attachment-definitions, DaemonSet
  kube-system/kube-multus-ds (RKE2: rke2-multus-ds); SR-IOV network operator sriovnetwork.openshift.io/v1;
  NVIDIA network operator mellanox.com/v1alpha1 nicclusterpolicies (cluster-scoped, status.state).
- llm-d: model-server pods labelled llm-d.ai/role=prefill|decode (the inference scheduler's prefill/decode
  filters); NVIDIA Dynamo nvidia.com DynamoGraphDeployment (spec.services.<name>.componentType /
  subComponentType, status.state, status.services.<name>.readyReplicas); SGLang RBG workloads.x-k8s.io
  RoleBasedGroup (spec.roles[].name, status.roleStatuses[] {name, readyReplicas, replicas}).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils import components, lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import (
    condition_true, conditions_line, daemonset_ready, daemonset_summary, meta_of, name_of, pod_ready,
    spec_of, status_of,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, NOT_APPLICABLE, PASS, Finding

# -- Gateway API ------------------------------------------------------------------------------------
GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_V1_RESOURCES = ("gatewayclasses", "gateways", "httproutes", "grpcroutes")


def install_gateway() -> str:
    """How to install the Gateway API and a controller that serves it."""
    return ("Install a Gateway API implementation: %s; or keep your own controller and install the CRDs it needs: %s "
            "(on RKE2, Traefik serves them once its kubernetesGateway provider is enabled)"
            % (components.install_hint("envoy_gateway"), components.install_hint("gateway_api_crds")))


# Weighted backendRefs and header matches are Core HTTPRoute features: the upstream conformance tests
# (HTTPRouteWeight, HTTPRouteHeaderMatching) need exactly these two features.
ROUTING_FEATURES = ("Gateway", "HTTPRoute")
MESH_FEATURE = "Mesh"
# Istio's GatewayClasses for its mesh (waypoints) and remote gateways, and its controllers.
ISTIO_MESH_CLASSES = ("istio-waypoint", "istio-remote")
ROUTE_LINES = 10

# -- Gateway API Inference Extension ---------------------------------------------------------------
GAIE_X_RESOURCES = ("inferencepools", "inferencemodels", "inferenceobjectives")
POOL_CHECK_MAX = 3
# The last GAIE release that ships the inferencepool chart (with its endpoint picker); from v1.6.0 the endpoint
# picker lives in llm-d. Pool and model names are the site's own.
INFERENCEPOOL_CHART = "oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool --version v1.5.0"
DEPLOY_POOL = (
    "Deploy an InferencePool with its endpoint picker for your model server (helm install POOL %s "
    "--set inferencePool.modelServers.matchLabels.app=MODEL --set provider.name=istio, gke or none; POOL and MODEL are "
    "your names) and route to it with an HTTPRoute whose backendRef is the InferencePool" % INFERENCEPOOL_CHART)


def install_gaie() -> str:
    return "Install the %s; then %s" % (components.install_hint("inference_extension"), DEPLOY_POOL[0].lower() + DEPLOY_POOL[1:])


# -- High-performance networking -------------------------------------------------------------------
DRANET_DRIVER = "dra.net"
DRANET_DS = ("kube-system", "dranet")
NETWORK_DRA_DRIVERS = (DRANET_DRIVER, "sriovnetwork.k8snetworkplumbingwg.io")
NETWORK_ATTRIBUTES = ("ifName", "rdma", "pciAddress", "mac", "mtu", "rdmaDevice", "sriov", "numaNode")
NAD_GROUP, NAD_VERSION, NAD_PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
SRIOV_GROUP, SRIOV_VERSION = "sriovnetwork.openshift.io", "v1"
NICOP_GROUP, NICOP_VERSION, NICOP_PLURAL = "mellanox.com", "v1alpha1", "nicclusterpolicies"
RDMA_NODE_LABEL = "feature.node.kubernetes.io/rdma.available=true"
NETWORK_RESOURCE_HINTS = ("rdma", "sriov", "infiniband", "roce")
NODE_PAGE = 100


def hpn_fix() -> str:
    return ("Expose the RDMA/SR-IOV NICs through DRA: %s (select RDMA NICs with device.attributes[\"dra.net\"].rdma); "
            "or Multus with the SR-IOV network operator or the NVIDIA network operator (RDMA shared device plugin)"
            % components.install_hint("dranet"))


# -- Disaggregated inference ------------------------------------------------------------------------
LLMD_ROLE = "llm-d.ai/role"
LLMD_MODEL = "llm-d.ai/model"
LLMD_SELECTOR = "%s in (prefill,decode)" % LLMD_ROLE
POD_PAGE = 500
DYNAMO_GROUP, DYNAMO_PLURAL = "nvidia.com", "dynamographdeployments"
RBG_GROUP, RBG_PLURAL = "workloads.x-k8s.io", "rolebasedgroups"
VLLM_STACK_GROUP = "production-stack.vllm.ai"
PD_FIX = ("Deploy a prefill/decode-disaggregated serving stack and keep both phases running: e.g. llm-d's P/D "
          "disaggregation guide (prefill and decode model servers labelled llm-d.ai/role=prefill|decode behind a "
          "GAIE InferencePool), NVIDIA Dynamo (dynamo-platform chart + a DynamoGraphDeployment with prefill and decode "
          "workers) or SGLang on RoleBasedGroup (rbg) with prefill and decode roles")


def _parent_true(parent_status: Dict[str, Any], cond_type: str) -> bool:
    """A condition of a route's/pool's per-parent status entry (conditions sit directly on it)."""
    return condition_true({"status": parent_status}, cond_type)


# ================================================================================================
# ai_inference
# ================================================================================================
def _feature_names(gateway_class: Dict[str, Any]) -> List[str]:
    """supportedFeatures as names: v1.1 lists strings, v1.2+ lists {name: ...}."""
    names = []
    for feature in status_of(gateway_class).get("supportedFeatures") or []:
        name = feature.get("name") if isinstance(feature, dict) else feature
        if name:
            names.append(str(name))
    return names


def gateway_implementation(gc: Dict[str, Any]) -> Dict[str, Any]:
    """A GatewayClass as the ai_inference check and probe read it: its controller, whether it is Accepted, the
    features it reports and the routing ones it lacks, and mesh support."""
    features = _feature_names(gc)
    controller = spec_of(gc).get("controllerName", "")
    missing = [f for f in ROUTING_FEATURES if f not in features]
    mesh = []
    if MESH_FEATURE in features:
        mesh.append("reports the Mesh feature (GAMMA)")
    if meta_of(gc).get("name") in ISTIO_MESH_CLASSES or controller.startswith("istio.io/"):
        mesh.append("Istio service mesh controller %s" % controller)
    return {
        "gateway_class": meta_of(gc).get("name", ""),
        "controller": controller,
        "accepted": condition_true(gc, "Accepted"),
        "supported_features": features,
        "extended_httproute_features": sorted(f for f in features if f.startswith("HTTPRoute") and f != "HTTPRoute"),
        # True: reports Gateway+HTTPRoute; False: reports features without them; None: reports no features.
        "weighted_and_header_routing": (not missing) if features else None,
        "missing_features": missing if features else [],
        "mesh": mesh,
    }


def _listeners(gw: Dict[str, Any]) -> str:
    attached = {l.get("name"): l.get("attachedRoutes", 0) for l in status_of(gw).get("listeners") or []}
    return ", ".join("%s %s:%s (attachedRoutes=%s)" % (l.get("name"), l.get("protocol"), l.get("port"),
                                                       attached.get(l.get("name"), "?"))
                     for l in spec_of(gw).get("listeners") or []) or "no listeners"


def _route_shape(route: Dict[str, Any]) -> Dict[str, Any]:
    weighted = header = False
    for rule in spec_of(route).get("rules") or []:
        refs = rule.get("backendRefs") or []
        if len(refs) > 1 and any("weight" in r for r in refs):
            weighted = True
        if any(m.get("headers") for m in rule.get("matches") or []):
            header = True
    parents = status_of(route).get("parents") or []
    accepted = [p for p in parents if _parent_true(p, "Accepted")]
    return {"name": name_of(route), "weighted": weighted, "header_match": header,
            "accepted_by": ["%s (%s)" % ((p.get("parentRef") or {}).get("name", ""), p.get("controllerName", ""))
                            for p in accepted]}


def _routes_text(items: List[Dict[str, Any]]) -> str:
    routes = [_route_shape(r) for r in items]
    shaped = [r for r in routes if r["weighted"] or r["header_match"]]
    if not shaped:
        return "%d HTTPRoute(s), none with weighted backendRefs or header matches" % len(routes)
    return "\n".join("%s  weighted=%s header-match=%s  accepted by: %s" % (
        r["name"], r["weighted"], r["header_match"], ", ".join(r["accepted_by"]) or "none") for r in shaped[:ROUTE_LINES]) + (
        "\n... %d more" % (len(shaped) - ROUTE_LINES) if len(shaped) > ROUTE_LINES else "")


@requirement("ai_inference")
def ai_inference(ctx):
    """Gateway API v1 served and an implementation whose GatewayClass is Accepted and supports
    weighted backendRefs and header matches; the Gateways it serves; existing routes as extra evidence."""
    kube = ctx.kube
    discovery = kube.discovery()
    ctx.api_resources(GATEWAY_GROUP)
    missing = ["%s (v1)" % r for r in GATEWAY_V1_RESOURCES if not discovery.served(GATEWAY_GROUP, "v1", r)]
    grant_versions = [v for v in ("v1", "v1beta1") if discovery.served(GATEWAY_GROUP, v, "referencegrants")]
    if not grant_versions:
        missing.append("referencegrants (v1beta1 or v1)")
    if missing:
        partial = any(discovery.served(GATEWAY_GROUP, "v1", r) for r in GATEWAY_V1_RESOURCES)
        fix = ("Upgrade the Gateway API CRDs to a current standard channel (your controller must support it): %s"
               % components.install_hint("gateway_api_crds")) if partial else install_gateway()
        return Finding(FAIL, "Gateway API is not fully served: missing %s." % ", ".join(missing),
                       remediation=fix + ".", details={"missing": missing})

    classes = ctx.list(GATEWAY_GROUP, "v1", "gatewayclasses", args="-o 'custom-columns=NAME:.metadata.name,"
                       "CONTROLLER:.spec.controllerName,STATUS:.status.conditions,FEATURES:.status.supportedFeatures[*].name'",
                       show=lambda items: "\n".join("%s  controller=%s  %s  features=%s" % (
                           meta_of(c).get("name"), i["controller"], conditions_line(c), ",".join(i["supported_features"]) or "(not reported)")
                           for c, i in ((c, gateway_implementation(c)) for c in items)) or "No resources found")
    impls = [gateway_implementation(c) for c in classes]
    accepted = [i for i in impls if i["accepted"]]
    if not accepted:
        return Finding(FAIL, "Gateway API is served but no GatewayClass is Accepted by a controller (%d found%s)." % (
            len(classes), ": " + ", ".join("%s %s" % (meta_of(c).get("name"), conditions_line(c)) for c in classes) if classes else ""),
            remediation=(("Start (or fix) the controller the GatewayClass names so that it accepts it: kubectl describe "
                          "gatewayclass %s (controllerName %s) and read that controller's log. Or install another "
                          "implementation: " % (impls[0]["gateway_class"], impls[0]["controller"] or "unset")) if impls
                         else "No GatewayClass exists, so no controller serves the Gateway API. ")
            + (install_gateway()[0].lower() + install_gateway()[1:] if impls else install_gateway()) + ".",
            details={"gateway_classes": impls})
    routing = [i for i in accepted if i["weighted_and_header_routing"] is not False]
    if not routing:
        return Finding(FAIL, "The accepted GatewayClasses report supportedFeatures without %s (%s), so the implementation "
                       "does not claim the Core HTTPRoute features weighted backendRefs and header matches." % (
                           " and ".join(ROUTING_FEATURES),
                           "; ".join("%s lacks %s" % (i["gateway_class"], ",".join(i["missing_features"])) for i in accepted)),
                       remediation="Use a Gateway implementation conformant for HTTPRoute (it lists Gateway and HTTPRoute "
                                   "in its GatewayClass status.supportedFeatures). " + install_gateway() + ".",
                       details={"implementations": impls})

    class_names = {i["gateway_class"] for i in routing}
    served = [g for g in ctx.list(GATEWAY_GROUP, "v1", "gateways", show=lambda items: "\n".join(
        "%s  class=%s  %s  listeners: %s" % (name_of(g), spec_of(g).get("gatewayClassName"), conditions_line(g), _listeners(g))
        for g in items if spec_of(g).get("gatewayClassName") in class_names) or "No Gateways use the accepted classes yet")
        if spec_of(g).get("gatewayClassName") in class_names]
    gateway_info = [{"name": name_of(g), "gateway_class": spec_of(g).get("gatewayClassName"),
                     "accepted": condition_true(g, "Accepted"), "programmed": condition_true(g, "Programmed"),
                     "listeners": _listeners(g)} for g in served]
    programmed = [g for g in gateway_info if g["programmed"]]
    details: Dict[str, Any] = {"implementations": impls, "referencegrants_versions": grant_versions, "gateways": gateway_info}
    if served and not programmed:
        return Finding(FAIL, "GatewayClass %s is accepted, but none of its %d Gateway(s) is Programmed (%s): the controller "
                       "does not program its data plane." % (", ".join(sorted(class_names)), len(served),
                                                             "; ".join("%s %s" % (name_of(g), conditions_line(g)) for g in served)),
                       remediation="Read the Gateway's conditions and events (kubectl describe gateway -n %s %s) and the "
                                   "log of its controller %s; the usual cause is a Service of type LoadBalancer that gets "
                                   "no address (no load-balancer provider on the cluster)." % (
                                       meta_of(served[0]).get("namespace", "default"), meta_of(served[0]).get("name", ""),
                                       next((i["controller"] for i in routing
                                             if i["gateway_class"] == spec_of(served[0]).get("gatewayClassName")), "")),
                       details=details)

    routes = [_route_shape(r) for r in ctx.list(GATEWAY_GROUP, "v1", "httproutes", args="-o yaml", show=_routes_text,
                                                note="rules with more than one weighted backendRef or with header matches, "
                                                     "and the parents that accepted them")]
    shaped = [r for r in routes if r["weighted"] or r["header_match"]]
    proven = [r for r in shaped if r["accepted_by"]]
    details["httproutes"] = {"total": len(routes), "weighted_or_header": shaped[:ROUTE_LINES]}

    best = next((i for i in routing if i["weighted_and_header_routing"]), routing[0])
    if best["weighted_and_header_routing"]:
        how = "reports %s (Core: weighted backendRefs and header matches)" % " and ".join(ROUTING_FEATURES)
        if best["extended_httproute_features"]:
            how += " plus extended %s" % ", ".join(best["extended_httproute_features"])
    else:
        how = ("does not publish supportedFeatures; weighted backendRefs and header matches are Core HTTPRoute "
               "features every conformant implementation supports")
    notes = ["Gateway API v1 served (gatewayclasses, gateways, httproutes, grpcroutes; referencegrants %s)."
             % "/".join(grant_versions),
             "GatewayClass %s is Accepted by %s, which %s." % (best["gateway_class"], best["controller"], how)]
    if programmed:
        notes.append("%d Gateway(s) Programmed: %s." % (len(programmed), "; ".join(
            "%s (%s)" % (g["name"], g["listeners"]) for g in programmed[:3])))
    else:
        notes.append("No Gateway uses the class yet (the implementation is ready to serve one).")
    if proven:
        notes.append("HTTPRoute %s already uses %s and is Accepted by %s." % (
            proven[0]["name"], " and ".join(k for k, v in (("weighted backendRefs", proven[0]["weighted"]),
                                                           ("header matches", proven[0]["header_match"])) if v),
            ", ".join(proven[0]["accepted_by"])))
    else:
        notes.append("No accepted HTTPRoute with weights or header matches exists yet; the official test "
                     "(TestNetworking_AIInference) creates one and waits for Accepted.")
    mesh = sorted({m for i in accepted for m in i["mesh"]})
    if mesh:
        notes.append("Optional service-mesh integration detected: %s." % "; ".join(mesh))
    return Finding(PASS, " ".join(notes), details=details)


# ================================================================================================
# advanced_inference_ingress (1.36)
# ================================================================================================
def _pool_parents(pool: Dict[str, Any]) -> List[Dict[str, Any]]:
    status = status_of(pool)
    return list(status.get("parents") or status.get("parent") or [])  # v1: parents; v1alpha2: parent


def _epp_ref(pool: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    spec = spec_of(pool)
    ref = spec.get("endpointPickerRef")
    if ref:
        return {"name": ref.get("name", ""), "kind": ref.get("kind") or "Service",
                "port": (ref.get("port") or {}).get("number"), "failure_mode": ref.get("failureMode", "")}
    ref = spec.get("extensionRef")
    if ref:
        return {"name": ref.get("name", ""), "kind": ref.get("kind") or "Service", "port": ref.get("portNumber"),
                "failure_mode": ref.get("failureMode", "")}
    return None


def _parent_text(parent: Dict[str, Any], namespace: str) -> str:
    ref = parent.get("parentRef") or parent.get("gatewayRef") or {}
    return "%s %s/%s%s" % (ref.get("kind") or "Gateway", ref.get("namespace") or namespace, ref.get("name", ""),
                           " (%s)" % parent["controllerName"] if parent.get("controllerName") else "")


@requirement("advanced_inference_ingress")
def advanced_inference_ingress(ctx):
    """GAIE: InferencePool CRDs served, a pool accepted by a Gateway, its endpoint picker ready."""
    kube = ctx.kube
    discovery = kube.discovery()
    for group in (lookups.GAIE_GROUP, lookups.GAIE_X_GROUP):
        ctx.api_resources(group)
    served = ["%s/%s %s" % (g, v, r) for g, v, r in [(lookups.GAIE_GROUP, lookups.GAIE_VERSION, "inferencepools")] +
              [(lookups.GAIE_X_GROUP, lookups.GAIE_X_VERSION, r) for r in GAIE_X_RESOURCES] if discovery.served(g, v, r)]
    if not served:
        return Finding(FAIL, "The Gateway API Inference Extension is not installed: neither %s/%s inferencepools nor the "
                       "older %s/%s inferencepools are served." % (lookups.GAIE_GROUP, lookups.GAIE_VERSION, lookups.GAIE_X_GROUP, lookups.GAIE_X_VERSION),
                       remediation=install_gaie() + ".", details={"served": []})
    api_version, pools = lookups.inference_pools(kube)
    if not api_version:
        return Finding(FAIL, "GAIE CRDs are partly installed (%s) but no InferencePool resource is served." % ", ".join(served),
                       remediation=install_gaie() + ".", details={"served": served})
    evaluated = []
    for pool in pools:
        namespace = meta_of(pool).get("namespace", "")
        parents = _pool_parents(pool)
        accepted = [p for p in parents if _parent_true(p, "Accepted") and _parent_true(p, "ResolvedRefs")]
        evaluated.append({"pool": name_of(pool), "namespace": namespace, "epp": _epp_ref(pool),
                          "parents": [{"parent": _parent_text(p, namespace), "conditions": conditions_line({"status": p})}
                                      for p in parents],
                          "accepted_by": [_parent_text(p, namespace) for p in accepted]})
    ctx.record_list(api_version.split("/")[0], api_version.split("/")[1], "inferencepools",
                    "\n".join("%s  epp=%s  %s" % (e["pool"], (e["epp"] or {}).get("name", "(none)"),
                                                  "; ".join("%s %s" % (p["parent"], p["conditions"]) for p in e["parents"])
                                                  or "no parent status") for e in evaluated) or "No resources found",
                    args="-o custom-columns=NAME:.metadata.name,EPP:.spec.endpointPickerRef.name,PARENTS:.status.parents")
    details: Dict[str, Any] = {"served": served, "api_version": api_version, "pools": evaluated}
    if not pools:
        return Finding(FAIL, "GAIE CRDs are installed (%s) but no InferencePool exists." % ", ".join(served),
                       remediation=DEPLOY_POOL + ".",
                       details=details)
    candidates = [e for e in evaluated if e["accepted_by"]]
    if not candidates:
        return Finding(FAIL, "No InferencePool is Accepted with ResolvedRefs by a Gateway (%s)." % "; ".join(
            "%s: %s" % (e["pool"], "; ".join("%s %s" % (p["parent"], p["conditions"]) for p in e["parents"]) or "no parent status")
            for e in evaluated[:POOL_CHECK_MAX]),
            remediation="Attach the pool to a Gateway whose implementation supports InferencePool: an HTTPRoute with "
                        "backendRef group inference.networking.k8s.io kind InferencePool, parentRef the Gateway; check the "
                        "pool's endpointPickerRef. " + install_gaie() + ".", details=details)
    problems = []
    for entry in candidates[:POOL_CHECK_MAX]:
        epp = entry["epp"]
        if not epp or not epp["name"]:
            problems.append("%s has no endpoint picker reference" % entry["pool"])
            continue
        if epp["kind"] != "Service":
            problems.append("%s names endpoint picker %s %s (not a Service; check it by hand)" % (entry["pool"], epp["kind"], epp["name"]))
            continue
        ready, total, _lines, _slices = lookups.endpoint_slices_ready(kube, entry["namespace"], epp["name"])
        entry["epp_endpoints"] = {"ready": ready, "total": total}
        ctx.record_list("discovery.k8s.io", "v1", "endpointslices",
                        "%d/%d endpoints ready (endpoint picker of %s, port %s)" % (ready, total, entry["pool"], epp["port"]),
                        namespace=entry["namespace"], label_selector=lookups.service_selector(epp["name"]))
        if ready:
            return Finding(PASS, "InferencePool %s (%s) is Accepted with ResolvedRefs by %s, and its endpoint picker "
                           "Service %s has %d/%d ready endpoint(s) (port %s%s): model-aware routing through the Gateway API "
                           "Inference Extension is in place. The program's test runs the GAIE conformance suite against "
                           "the GatewayClass." % (
                               entry["pool"], api_version, ", ".join(entry["accepted_by"]), epp["name"], ready, total,
                               epp["port"], ", failureMode %s" % epp["failure_mode"] if epp["failure_mode"] else ""),
                           details=details)
        problems.append("endpoint picker %s/%s of %s has no ready endpoints (%d total)" % (entry["namespace"], epp["name"], entry["pool"], total))
    first = next((e for e in candidates[:POOL_CHECK_MAX] if e["epp"] and e["epp"]["name"]), None)
    if first:
        fix = ("Make the endpoint picker (EPP) ready: kubectl describe service -n %s %s shows the pods it selects; "
               "kubectl get pods -n %s -o wide and kubectl describe pod -n %s on the EPP pod tell why they are not ready "
               "(the inferencepool chart names its Deployment after the pool, %s-epp)"
               % (first["namespace"], first["epp"]["name"], first["namespace"], first["namespace"], first["pool"]))
    else:
        fix = "Give each InferencePool an endpoint picker: spec.endpointPickerRef naming the EPP Service"
    return Finding(FAIL, "InferencePools are accepted but no endpoint picker is ready: %s." % "; ".join(problems),
                   remediation=fix + ".", details=details)


# ================================================================================================
# high_performance_networking (1.36)
# ================================================================================================
def _class_drivers(device_class: Dict[str, Any]) -> List[str]:
    """The drivers a DeviceClass selects: those its CEL names (device.driver == ...), and a network driver whose
    name it quotes (device.attributes["dra.net"]...)."""
    drivers = lookups.device_class_drivers(device_class)
    for selector in spec_of(device_class).get("selectors") or []:
        expression = ((selector or {}).get("cel") or {}).get("expression", "")
        drivers += [d for d in NETWORK_DRA_DRIVERS if '"%s"' % d in expression and d not in drivers]
    return drivers


def _network_devices(slices: List[Dict[str, Any]], drivers: List[str]) -> Dict[str, Any]:
    nodes, devices, rdma, attributes = set(), 0, 0, set()
    for rs in slices:
        spec = spec_of(rs)
        driver = spec.get("driver", "")
        if driver not in drivers:
            continue
        for device in spec.get("devices") or []:
            attrs = device.get("attributes") or (device.get("basic") or {}).get("attributes") or {}
            short = {k.split("/", 1)[-1]: v for k, v in attrs.items()}
            if not any(a in short for a in NETWORK_ATTRIBUTES):
                continue
            devices += 1
            nodes.add(spec.get("nodeName") or (spec.get("pool") or {}).get("name", ""))
            attributes.update(a for a in short if a in NETWORK_ATTRIBUTES)
            if (short.get("rdma") or {}).get("bool"):
                rdma += 1
    return {"devices": devices, "rdma_devices": rdma, "nodes": sorted(nodes), "attributes": sorted(attributes)}


def _hpn_dra(ctx, mechanisms: List[Dict[str, Any]]) -> None:
    kube = ctx.kube
    discovery = kube.discovery()
    version = discovery.serving_version(lookups.DRA_GROUP, "deviceclasses")
    if not version:
        return
    classes = lookups.device_classes(kube)
    network = {}
    for dc in classes:
        drivers = [d for d in _class_drivers(dc) if d in NETWORK_DRA_DRIVERS]
        if drivers:
            network[meta_of(dc).get("name", "")] = drivers
    ctx.record_list(lookups.DRA_GROUP, version, "deviceclasses",
                    "\n".join("%s  drivers=%s" % (meta_of(dc).get("name"), ",".join(_class_drivers(dc)) or "-") for dc in classes)
                    or "No resources found", args="-o yaml", api_note="the shared list",
                    note="DeviceClasses whose CEL selectors name a network DRA driver (%s)" % ", ".join(NETWORK_DRA_DRIVERS))
    if not network:
        return
    drivers = sorted({d for ds in network.values() for d in ds})
    slices = lookups.resource_slices(kube)
    found = _network_devices(slices, drivers)
    for driver in drivers:
        one = _network_devices(slices, [driver])
        ctx.record_list(lookups.DRA_GROUP, lookups.dra_version(kube) or version, "resourceslices",
                        "%d network device(s) on %d node(s) [%s]; %d with RDMA; attributes: %s" % (
                            one["devices"], len(one["nodes"]), ", ".join(one["nodes"][:5]), one["rdma_devices"],
                            ", ".join(one["attributes"]) or "-"), args="-o yaml",
                        api_note="the shared list, read for driver %s" % driver,
                        note="devices of driver %s with network attributes (%s)" % (driver, ", ".join(NETWORK_ATTRIBUTES)))
    problem = "" if found["devices"] else "DeviceClass(es) %s select %s but no ResourceSlice publishes network devices for it" % (
        ", ".join(sorted(network)), ",".join(drivers))
    daemonset = ""
    if DRANET_DRIVER in drivers:
        ds = ctx.get("apps", "v1", "daemonsets", DRANET_DS[1], DRANET_DS[0], show=daemonset_summary,
                     missing="not found (DRANET installed elsewhere?)")
        daemonset = daemonset_summary(ds) if ds else ""
        if ds and not daemonset_ready(ds) and not problem:
            problem = "the DRANET DaemonSet %s is not ready, so published devices may not be allocatable" % daemonset
    mechanisms.append({"mechanism": "DRA", "device_classes": sorted(network), "drivers": drivers, **found,
                       "daemonset": daemonset, "ready": not problem, "problem": problem})


def _hpn_multus(ctx, mechanisms: List[Dict[str, Any]]) -> None:
    kube = ctx.kube
    if not kube.discovery().served(NAD_GROUP, NAD_VERSION, NAD_PLURAL):
        return
    nads = ctx.list(NAD_GROUP, NAD_VERSION, NAD_PLURAL, show=lambda items: "\n".join(name_of(n) for n in items[:10]) or "No resources found")
    daemonsets = [d for d in kube.list_all("apps", "v1", "daemonsets", namespace="kube-system") if "multus" in meta_of(d).get("name", "")]
    ctx.record_list("apps", "v1", "daemonsets", "\n".join(daemonset_summary(d) for d in daemonsets) or "no Multus DaemonSet in kube-system",
                    namespace="kube-system", note="DaemonSets whose name contains multus")
    ready = any(daemonset_ready(d) for d in daemonsets)
    problem = ""
    if not daemonsets:
        problem = "NetworkAttachmentDefinitions are served but no Multus DaemonSet runs in kube-system"
    elif not ready:
        problem = "Multus DaemonSet %s is not ready" % ", ".join(daemonset_summary(d) for d in daemonsets)
    elif not nads:
        problem = "Multus runs but no NetworkAttachmentDefinition defines a secondary network"
    mechanisms.append({"mechanism": "Multus", "network_attachment_definitions": [name_of(n) for n in nads[:20]],
                       "daemonsets": [daemonset_summary(d) for d in daemonsets], "ready": not problem, "problem": problem,
                       "secondary_only": True})


def _hpn_operators(ctx, mechanisms: List[Dict[str, Any]]) -> None:
    kube = ctx.kube
    discovery = kube.discovery()
    if discovery.served(SRIOV_GROUP, SRIOV_VERSION, "sriovnetworks"):
        networks = ctx.list(SRIOV_GROUP, SRIOV_VERSION, "sriovnetworks", show=lambda items: "\n".join(
            "%s  resourceName=%s" % (name_of(n), spec_of(n).get("resourceName", "")) for n in items[:10]) or "No resources found")
        mechanisms.append({"mechanism": "SR-IOV network operator", "networks": [name_of(n) for n in networks[:20]],
                           "ready": bool(networks), "problem": "" if networks else "the SR-IOV network operator is installed but "
                                                                                   "no SriovNetwork is defined"})
    if discovery.served(NICOP_GROUP, NICOP_VERSION, NICOP_PLURAL):
        policies = ctx.list(NICOP_GROUP, NICOP_VERSION, NICOP_PLURAL, show=lambda items: "\n".join(
            "%s  state=%s" % (name_of(p), status_of(p).get("state", "?")) for p in items) or "No resources found")
        ready = [p for p in policies if status_of(p).get("state") == "ready"]
        mechanisms.append({"mechanism": "NVIDIA network operator", "policies": ["%s state=%s" % (name_of(p), status_of(p).get("state", "?"))
                                                                                for p in policies],
                           "ready": bool(ready), "problem": "" if ready else "NicClusterPolicy %s" % (
                               ", ".join("%s is %s" % (name_of(p), status_of(p).get("state", "not reported")) for p in policies)
                               or "does not exist")})


def _hpn_node_resources(ctx) -> Dict[str, Any]:
    """Nodes NFD labels RDMA-capable (one page) and the network resources they advertise."""
    def resources_of(nodes):
        resources: Dict[str, List[str]] = {}
        for node in nodes:
            for key, value in (status_of(node).get("allocatable") or {}).items():
                if any(h in key.lower() for h in NETWORK_RESOURCE_HINTS) and str(value) not in ("0", ""):
                    resources.setdefault(key, []).append(meta_of(node).get("name", ""))
        return resources

    def shown(page):
        nodes, more = page.get("items") or [], bool((page.get("metadata") or {}).get("continue"))
        return ("%d node(s)%s; %s" % (len(nodes), "+ (first page)" if more else "", "; ".join(
            "%s on %s" % (k, ",".join(v[:5])) for k, v in sorted(resources_of(nodes).items())) or "no RDMA/SR-IOV resources advertised")
            if nodes else "No resources found")

    page = ctx.page("", "v1", "nodes", NODE_PAGE, label_selector=RDMA_NODE_LABEL, args="-o yaml", show=shown,
                    note="status.allocatable resources whose name contains %s (first page of %d nodes)"
                         % (", ".join(NETWORK_RESOURCE_HINTS), NODE_PAGE))
    nodes = page.get("items") or []
    resources = resources_of(nodes)
    return {"rdma_nodes": len(nodes), "more": bool((page.get("metadata") or {}).get("continue")),
            "resources": {k: v[:10] for k, v in resources.items()}}


@requirement("high_performance_networking")
def high_performance_networking(ctx):
    """Specialised network resources exposed (DRA preferred) so pods can attach secondary/RDMA interfaces."""
    mechanisms: List[Dict[str, Any]] = []
    _hpn_dra(ctx, mechanisms)
    dra = next((m for m in mechanisms if m["mechanism"] == "DRA" and m["ready"]), None)
    if dra:  # the preferred mechanism decides; nothing else needs reading
        return Finding(PASS, "High-performance networking is exposed through DRA (the program's preferred mechanism): "
                       "DeviceClass(es) %s select driver %s, whose ResourceSlices publish %d network device(s) (%d with RDMA) "
                       "on %d node(s) with discoverable attributes %s%s; pods attach them as extra interfaces through "
                       "ResourceClaims." % (", ".join(dra["device_classes"]), ",".join(dra["drivers"]), dra["devices"],
                                            dra["rdma_devices"], len(dra["nodes"]), ", ".join(dra["attributes"]),
                                            "; driver DaemonSet %s" % dra["daemonset"] if dra.get("daemonset") else ""),
                       details={"mechanisms": mechanisms})
    _hpn_multus(ctx, mechanisms)
    _hpn_operators(ctx, mechanisms)
    nodes = _hpn_node_resources(ctx)
    details = {"mechanisms": mechanisms, "nodes": nodes}
    specialised = [m for m in mechanisms if m["ready"] and not m.get("secondary_only")]
    multus = next((m for m in mechanisms if m["mechanism"] == "Multus" and m["ready"]), None)
    if multus and (specialised or nodes["resources"]):
        what = [m["mechanism"] for m in specialised] + ["node resources %s" % ", ".join(sorted(nodes["resources"]))] \
            if nodes["resources"] else [m["mechanism"] for m in specialised]
        return Finding(PASS, "Pods attach secondary high-performance interfaces through Multus (%d NetworkAttachmentDefinition(s), "
                       "%s) backed by %s; the devices are advertised as node resources (device plugins), not through DRA, "
                       "which the program prefers (DRANET)." % (
                           len(multus["network_attachment_definitions"]), "; ".join(multus["daemonsets"]), "; ".join(what)),
                       details=details)
    if not mechanisms and not nodes["rdma_nodes"]:
        return Finding(NOT_APPLICABLE, "No high-performance network resources (RDMA/SR-IOV/secondary networks) are present on "
                       "this platform: no DRA network DeviceClass, no Multus, SR-IOV or NVIDIA network operator, and no node "
                       "labelled RDMA-capable; pod-to-pod traffic uses the primary CNI. If the platform needs high-performance "
                       "pod-to-pod communication, expose the NICs through DRA (DRANET) or Multus.", details=details)
    problems = [m["problem"] for m in mechanisms if m.get("problem")]
    if multus and not specialised and not nodes["resources"]:
        problems.append("Multus attaches secondary interfaces, but no specialised (RDMA/SR-IOV) network resource is "
                        "advertised, so their characteristics are not discoverable")
    if nodes["rdma_nodes"] and not mechanisms:
        problems.append("%d node(s) are labelled %s but nothing exposes their RDMA NICs to pods" % (nodes["rdma_nodes"], RDMA_NODE_LABEL))
    return Finding(FAIL, "High-performance networking is not usable: %s." % "; ".join(problems or ["no mechanism is ready"]),
                   remediation=hpn_fix() + ".", details=details)


# ================================================================================================
# disaggregated_inference (1.36)
# ================================================================================================
def _llmd(ctx) -> List[Dict[str, Any]]:
    pods = ctx.page("", "v1", "pods", POD_PAGE, label_selector=LLMD_SELECTOR, args="-o wide",
                    show=lambda page: _llmd_text(page.get("items") or [])).get("items") or []
    groups: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for pod in pods:
        labels = meta_of(pod).get("labels") or {}
        key = (meta_of(pod).get("namespace", ""), labels.get(LLMD_MODEL, ""))
        group = groups.setdefault(key, {"solution": "llm-d", "name": "%s%s" % (key[0], "/" + key[1] if key[1] else ""),
                                        "namespace": key[0], "labels": labels,
                                        "roles": {"prefill": [0, 0], "decode": [0, 0]}, "nodes": set()})
        role = group["roles"][labels.get(LLMD_ROLE)]
        role[1] += 1
        if pod_ready(pod, running=True):
            role[0] += 1
        group["nodes"].add(spec_of(pod).get("nodeName", ""))
    found = []
    for group in groups.values():
        group["nodes"] = sorted(n for n in group["nodes"] if n)
        found.append(group)
    return found


def _llmd_text(pods: List[Dict[str, Any]]) -> str:
    lines = ["%s  role=%s  %s  node=%s" % (name_of(p), (meta_of(p).get("labels") or {}).get(LLMD_ROLE),
                                           "Ready" if pod_ready(p, running=True) else status_of(p).get("phase", "?"),
                                           spec_of(p).get("nodeName", "-")) for p in pods[:10]]
    if len(pods) > 10:
        lines.append("... %d more" % (len(pods) - 10))
    return "\n".join(lines) or "No resources found"


def _pd_line(found: Dict[str, Any]) -> str:
    roles = found["roles"]
    return "%s  %s  prefill ready %d/%d, decode ready %d/%d" % (
        found["name"], found["state"], roles["prefill"][0], roles["prefill"][1], roles["decode"][0], roles["decode"][1])


def _dynamo(ctx) -> List[Dict[str, Any]]:
    kube = ctx.kube
    discovery = kube.discovery()
    version = discovery.serving_version(DYNAMO_GROUP, DYNAMO_PLURAL)
    if not version:
        return []
    found = []
    for dgd in kube.list_all(DYNAMO_GROUP, version, DYNAMO_PLURAL):
        roles = {"prefill": [0, 0], "decode": [0, 0]}
        services = status_of(dgd).get("services") or {}
        for name, svc in (spec_of(dgd).get("services") or {}).items():
            svc = svc or {}
            kinds = " ".join(str(svc.get(k, "")) for k in ("componentType", "subComponentType")).lower() + " " + name.lower()
            for role in roles:
                if role in kinds:
                    state = services.get(name) or {}
                    roles[role][1] += int(state.get("replicas", svc.get("replicas", 1)) or 0)
                    roles[role][0] += int(state.get("readyReplicas") or 0)
        found.append({"solution": "NVIDIA Dynamo", "name": name_of(dgd), "roles": roles,
                      "state": "%s, %s" % (status_of(dgd).get("state", "?"), conditions_line(dgd))})
    ctx.record_list(DYNAMO_GROUP, version, DYNAMO_PLURAL, "\n".join(_pd_line(f) for f in found) or "No resources found")
    return found


def _rbg(ctx) -> List[Dict[str, Any]]:
    kube = ctx.kube
    discovery = kube.discovery()
    version = discovery.serving_version(RBG_GROUP, RBG_PLURAL)
    if not version:
        return []
    found = []
    for rbg in kube.list_all(RBG_GROUP, version, RBG_PLURAL):
        roles = {"prefill": [0, 0], "decode": [0, 0]}
        for status in status_of(rbg).get("roleStatuses") or []:
            for role in roles:
                if role in str(status.get("name", "")).lower():
                    roles[role][0] += int(status.get("readyReplicas") or 0)
                    roles[role][1] += int(status.get("replicas") or 0)
        found.append({"solution": "SGLang RoleBasedGroup", "name": name_of(rbg), "roles": roles, "state": conditions_line(rbg)})
    ctx.record_list(RBG_GROUP, version, RBG_PLURAL, "\n".join(_pd_line(f) for f in found) or "No resources found")
    return found


def _pool_for(kube, group: Dict[str, Any]) -> str:
    """The InferencePool (shared lookup) whose selector matches an llm-d group's labels, if any."""
    if not (kube.discovery().served(lookups.GAIE_GROUP, lookups.GAIE_VERSION, "inferencepools")
            or kube.discovery().served(lookups.GAIE_X_GROUP, lookups.GAIE_X_VERSION, "inferencepools")):
        return ""
    labels = group.get("labels") or {}
    for pool in lookups.inference_pools(kube)[1]:
        if meta_of(pool).get("namespace") != group.get("namespace"):
            continue
        selector = spec_of(pool).get("selector") or {}
        match = selector.get("matchLabels") if isinstance(selector.get("matchLabels"), dict) else selector
        if match and all(labels.get(k) == v for k, v in match.items()):
            return name_of(pool)
    return ""


@requirement("disaggregated_inference")
def disaggregated_inference(ctx):
    """A prefill/decode-disaggregated serving stack (llm-d, Dynamo, RBG) with both phases running."""
    kube = ctx.kube
    discovery = kube.discovery()
    installed = []
    if discovery.serving_version(DYNAMO_GROUP, DYNAMO_PLURAL):
        installed.append("NVIDIA Dynamo CRDs (nvidia.com dynamographdeployments)")
    if discovery.serving_version(RBG_GROUP, RBG_PLURAL):
        installed.append("SGLang RBG CRDs (workloads.x-k8s.io rolebasedgroups)")
    if discovery.versions(VLLM_STACK_GROUP):
        installed.append("vLLM production stack CRDs (production-stack.vllm.ai)")
    ctx.record_discovery("\n".join(installed) or "none of these APIs is served",
                         note="%s %s, %s %s and the API group %s" % (DYNAMO_GROUP, DYNAMO_PLURAL, RBG_GROUP, RBG_PLURAL, VLLM_STACK_GROUP))
    stacks = _llmd(ctx) + _dynamo(ctx) + _rbg(ctx)
    details: Dict[str, Any] = {"installed": installed, "deployments": [
        {k: v for k, v in s.items() if k != "labels"} for s in stacks]}
    running = [s for s in stacks if s["roles"]["prefill"][0] > 0 and s["roles"]["decode"][0] > 0]
    if running:
        best = running[0]
        pool = _pool_for(kube, best) if best["solution"] == "llm-d" else ""
        if pool:
            best["inference_pool"] = pool
            details["deployments"][stacks.index(best)]["inference_pool"] = pool
        return Finding(PASS, "Disaggregated inference runs: %s %s has prefill %d/%d and decode %d/%d ready as separate "
                       "instances%s%s. The program's test also sends a request through the gateway and finds the same "
                       "request id in a prefill and a decode pod." % (
                           best["solution"], best["name"], best["roles"]["prefill"][0], best["roles"]["prefill"][1],
                           best["roles"]["decode"][0], best["roles"]["decode"][1],
                           " on node(s) %s" % ", ".join(best["nodes"]) if best.get("nodes") else "",
                           ", served through InferencePool %s" % pool if pool else ""), details=details)
    if stacks:
        what = "; ".join("%s %s: prefill ready %d/%d, decode ready %d/%d" % (
            s["solution"], s["name"], s["roles"]["prefill"][0], s["roles"]["prefill"][1], s["roles"]["decode"][0],
            s["roles"]["decode"][1]) for s in stacks[:5])
        return Finding(FAIL, "A disaggregated serving stack is deployed but does not run both phases: %s." % what,
                       remediation="Make both the prefill and the decode instances ready (kubectl describe the pods / "
                                   "the graph's status); they need accelerators on separate pods. " + PD_FIX + ".",
                       details=details)
    if installed:
        return Finding(FAIL, "Disaggregated-serving software is installed (%s) but no prefill/decode deployment runs; the "
                       "requirement asks to demonstrate one running." % "; ".join(installed),
                       remediation=PD_FIX + ".", details=details)
    return Finding(FAIL, "No disaggregated inference solution found: no llm-d prefill/decode pods (label %s), no NVIDIA "
                   "Dynamo DynamoGraphDeployment, no SGLang RoleBasedGroup." % LLMD_ROLE,
                   remediation=PD_FIX + ".", details=details)
