# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist section `networking`: Gateway API for inference and the 1.36 additions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import (
    api_resources_table, condition_true, conditions_line,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, PASS, Finding

GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_V1_RESOURCES = ("gatewayclasses", "gateways", "httproutes", "grpcroutes")
INSTALL_GATEWAY = ("Install the Gateway API standard CRDs and a Gateway controller, e.g. role "
                   "k8s_ai.conformance.gateway (on RKE2: enable Traefik's kubernetesGateway provider)")
# Weighted backendRefs and header matches are Core features of HTTPRoute: an implementation
# that reports the HTTPRoute feature supports both.
ROUTING_FEATURE = "HTTPRoute"


def _feature_names(gateway_class):
    names = []
    for feature in (gateway_class.get("status") or {}).get("supportedFeatures") or []:
        names.append(feature.get("name") if isinstance(feature, dict) else str(feature))
    return names


@requirement("ai_inference")
def ai_inference(ctx):
    """Gateway API v1 served and an implementation whose GatewayClass is Accepted."""
    kube = ctx.kube
    discovery = kube.discovery()
    versions = discovery.versions(GATEWAY_GROUP)
    ctx.record("kubectl api-resources --api-group=%s" % GATEWAY_GROUP,
               api_resources_table(discovery, GATEWAY_GROUP, versions), api="GET /apis (aggregated discovery)")
    missing = ["%s (v1)" % r for r in GATEWAY_V1_RESOURCES if not discovery.served(GATEWAY_GROUP, "v1", r)]
    if not any(discovery.served(GATEWAY_GROUP, v, "referencegrants") for v in versions):
        missing.append("referencegrants")
    if missing:
        return Finding(FAIL, "Gateway API is not fully served: missing %s." % ", ".join(missing),
                       remediation=INSTALL_GATEWAY + ".", details={"missing": missing})

    classes = kube.list_all(GATEWAY_GROUP, "v1", "gatewayclasses")
    lines = ["%s  controller=%s  %s  features=%s" % (
        c["metadata"]["name"], (c.get("spec") or {}).get("controllerName", ""), conditions_line(c),
        ",".join(_feature_names(c)) or "(not reported)") for c in classes]
    ctx.record("kubectl get gatewayclasses -o custom-columns=NAME:.metadata.name,CONTROLLER:.spec.controllerName,"
               "STATUS:.status.conditions,FEATURES:.status.supportedFeatures",
               "\n".join(lines) or "No resources found", api="GET /apis/%s/v1/gatewayclasses" % GATEWAY_GROUP)
    accepted = [c for c in classes if condition_true(c, "Accepted")]
    if not accepted:
        return Finding(FAIL, "Gateway API is served but no GatewayClass is Accepted by a controller (%d found)." % len(classes),
                       remediation="Start a Gateway controller that accepts a GatewayClass. " + INSTALL_GATEWAY + ".",
                       details={"gateway_classes": [c["metadata"]["name"] for c in classes]})

    implementations = []
    for gc in accepted:
        features = _feature_names(gc)
        implementations.append({
            "gateway_class": gc["metadata"]["name"],
            "controller": (gc.get("spec") or {}).get("controllerName", ""),
            "supported_features": features,
            "weighted_and_header_routing": (ROUTING_FEATURE in features) if features else None,
        })
    routing = [i for i in implementations if i["weighted_and_header_routing"] is not False]
    if not routing:
        return Finding(FAIL, "Accepted GatewayClasses report supportedFeatures without %s, so weighted and header-based "
                       "routing are not supported." % ROUTING_FEATURE,
                       remediation="Use a Gateway implementation conformant for HTTPRoute. " + INSTALL_GATEWAY + ".",
                       details={"implementations": implementations})

    gateways = kube.list_all(GATEWAY_GROUP, "v1", "gateways")
    class_names = {i["gateway_class"] for i in routing}
    served = [g for g in gateways if (g.get("spec") or {}).get("gatewayClassName") in class_names]
    ctx.record("kubectl get gateways -A", "\n".join(
        "%s/%s  class=%s  %s" % (g["metadata"].get("namespace"), g["metadata"]["name"],
                                 (g.get("spec") or {}).get("gatewayClassName"), conditions_line(g))
        for g in served) or "No Gateways use the accepted classes yet", api="GET /apis/%s/v1/gateways" % GATEWAY_GROUP)
    best = routing[0]
    how = ("reports %s (Core: weighted backendRefs and header matches)" % ROUTING_FEATURE
           if best["weighted_and_header_routing"] else
           "does not publish supportedFeatures; weighted and header routing are Core HTTPRoute features (run with "
           "probes: true to exercise them)")
    return Finding(PASS, "Gateway API v1 served; GatewayClass %s accepted by %s, which %s; %d Gateway(s) use it."
                   % (best["gateway_class"], best["controller"], how, len(served)),
                   details={"implementations": implementations,
                            "gateways": ["%s/%s" % (g["metadata"].get("namespace"), g["metadata"]["name"]) for g in served]})
