# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of the networking section.

ai_inference, after the Gateway API conformance tests HTTPRouteWeight and HTTPRouteHeaderMatching (both Core): on
the GatewayClass the check found Accepted, a Gateway of the probe's own with one HTTP listener, two backends
(busybox httpd Deployments behind ClusterIP Services, each answering with its own name), an HTTPRoute splitting
traffic 80/20 between them and an HTTPRoute sending the requests that carry a model-name header to one of them. It
passes once the Gateway is Accepted and Programmed and each route is Accepted with ResolvedRefs by it (conditions of
the current generation); a wait that ends without them is its FAIL. When an address of the Gateway takes a TCP
connection from where the probe runs, it also sends a bounded number of requests and reports where they went (a
header match ignored or a split not made is a FAIL); otherwise its caveat says that traffic was not observed.

advanced_inference_ingress (1.36) has no probe here: it promises routing through a GAIE InferencePool's endpoint
picker on the model servers' metrics, which a Gateway routing to plain Services does not show.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import socket
import time
from collections import Counter
from typing import Any, Dict, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import (
    Predicate, WaitTimeout, condition_is, deployment_available, describe_state,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import (
    condition_true, conditions_line, meta_of, name_of, spec_of, status_of,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import image
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, PASS, UNKNOWN, Finding
from ansible_collections.k8s_ai.conformance.plugins.module_utils.sections.networking import (
    GATEWAY_GROUP, gateway_implementation,
)

# The Gateway API conformance suite's default timeouts (conformance/utils/config): GatewayMustHaveCondition,
# HTTPRouteMustHaveCondition, MaxTimeToConsistency (how long a data plane may take to route as configured).
GATEWAY_TIMEOUT = 180.0
ROUTE_TIMEOUT = 60.0
CONSISTENCY_TIMEOUT = 30.0
BACKENDS_TIMEOUT = 120.0
WAIT_SHARE = 0.9  # of the probe's remaining time a wait may take, so that one ending unmet is reported as such
CONNECT_TIMEOUT = 2.0
REQUEST_TIMEOUT = 5.0
MAX_ADDRESSES = 2
SPLIT_REQUESTS = 50  # the weight-20 backend gets none of them with probability 0.8**50, about 1e-5
HEADER_REQUESTS = 10

GATEWAY = "probe-gateway"
WEIGHTED_ROUTE = "probe-weighted"
HEADER_ROUTE = "probe-model-header"
LARGE, SMALL = "probe-large", "probe-small"
WEIGHTS = {LARGE: 80, SMALL: 20}
SPLIT = "%d/%d" % (WEIGHTS[LARGE], WEIGHTS[SMALL])
# OpenAI-style clients name the model in the JSON body ("model": ...), which HTTPRoute matches cannot read; the
# Gateway API Inference Extension's body-based router copies it into this header so that routes can match on the
# model. The probe's header rule is that match: the model probe-small goes to the backend probe-small.
MODEL_HEADER = "X-Gateway-Model-Name"
BACKEND_PORT = 8080
DEFAULT_PORT = 80
# Traefik binds a listener to the entryPoint with the listener's port: its chart's HTTP entryPoint (web) is 8000.
CONTROLLER_PORTS = {"traefik.io/gateway-controller": (8000, "the port of the Traefik chart's web entryPoint, which "
                                                            "Traefik binds listeners to")}

_ACCEPTED, _PROGRAMMED, _RESOLVED = condition_is("Accepted"), condition_is("Programmed"), condition_is("ResolvedRefs")


def _limit(ctx, default: float) -> float:
    return round(min(default, ctx.remaining() * WAIT_SHARE), 1)


def _http_port(gateway: Dict[str, Any]) -> Optional[int]:
    return next((listener.get("port") for listener in spec_of(gateway).get("listeners") or []
                 if listener.get("protocol") == "HTTP"), None)


def _choose_class(ctx) -> Tuple[Optional[Dict[str, Any]], int, str]:
    """The implementation (sections.networking's reading of a GatewayClass) to probe, the listener port and why that
    port: an Accepted class not denying Core routing, first one with a Programmed Gateway (its controller runs)."""
    classes = [gateway_implementation(c) for c in ctx.list(GATEWAY_GROUP, "v1", "gatewayclasses", show=lambda items: "\n".join(
        "%s  controller=%s  %s" % (name_of(c), spec_of(c).get("controllerName", ""), conditions_line(c)) for c in items)
        or "No resources found", note="the Accepted GatewayClass to put the probe's Gateway on")]
    usable = [i for i in classes if i["accepted"] and i["weighted_and_header_routing"] is not False]
    if not usable:
        return None, 0, ""
    names = {i["gateway_class"] for i in usable}
    gateways = [g for g in ctx.list(GATEWAY_GROUP, "v1", "gateways", show=lambda items: "\n".join(
        "%s  class=%s  %s  HTTP port %s" % (name_of(g), spec_of(g).get("gatewayClassName"), conditions_line(g), _http_port(g))
        for g in items if spec_of(g).get("gatewayClassName") in names) or "No Gateways use the accepted classes",
        note="a Programmed Gateway shows that its class's controller runs, and which HTTP port it serves")
        if spec_of(g).get("gatewayClassName") in names]
    serving: Dict[str, Tuple[str, int]] = {}
    for gateway in gateways:
        if condition_true(gateway, "Programmed") and _http_port(gateway):
            serving.setdefault(spec_of(gateway)["gatewayClassName"], (name_of(gateway), _http_port(gateway)))
    best = min(usable, key=lambda i: (i["gateway_class"] not in serving, i["weighted_and_header_routing"] is not True,
                                      i["gateway_class"]))
    if best["gateway_class"] in serving:
        gateway_name, port = serving[best["gateway_class"]]
        return best, port, "the HTTP port of Programmed Gateway %s" % gateway_name
    port, why = CONTROLLER_PORTS.get(best["controller"], (DEFAULT_PORT, "HTTP's port"))
    return best, port, why


def _backend(name: str, answer: str, busybox: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """A Deployment whose pod answers every GET with ``answer``, and its ClusterIP Service."""
    labels = {"app.kubernetes.io/name": name}
    serve = "mkdir -p /tmp/www && echo %s > /tmp/www/index.html && exec httpd -f -p %d -h /tmp/www" % (answer, BACKEND_PORT)
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                  "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                      "metadata": {"labels": labels},
                      "spec": {"terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
                               "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                                   "seccompProfile": {"type": "RuntimeDefault"}},
                               "containers": [{
                                   "name": "httpd", "image": busybox, "command": ["sh", "-c", serve],
                                   "ports": [{"name": "http", "containerPort": BACKEND_PORT}],
                                   "readinessProbe": {"tcpSocket": {"port": BACKEND_PORT}, "periodSeconds": 2},
                                   "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                                   "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                                 "limits": {"cpu": "50m", "memory": "16Mi"}}}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"type": "ClusterIP", "selector": labels,
                        "ports": [{"name": "http", "port": BACKEND_PORT, "targetPort": "http"}]}}
    return deployment, service


def _gateway(class_name: str, port: int) -> Dict[str, Any]:
    return {"apiVersion": "%s/v1" % GATEWAY_GROUP, "kind": "Gateway", "metadata": {"name": GATEWAY},
            "spec": {"gatewayClassName": class_name,
                     "listeners": [{"name": "http", "protocol": "HTTP", "port": port,
                                    "allowedRoutes": {"namespaces": {"from": "Same"}}}]}}


def _route(name: str, rule: Dict[str, Any]) -> Dict[str, Any]:
    return {"apiVersion": "%s/v1" % GATEWAY_GROUP, "kind": "HTTPRoute", "metadata": {"name": name},
            "spec": {"parentRefs": [{"group": GATEWAY_GROUP, "kind": "Gateway", "name": GATEWAY}], "rules": [rule]}}


def _ref(name: str, weight: Optional[int] = None) -> Dict[str, Any]:
    ref: Dict[str, Any] = {"kind": "Service", "name": name, "port": BACKEND_PORT}
    if weight is not None:
        ref["weight"] = weight
    return ref


def _addresses(gateway: Dict[str, Any]) -> str:
    return ", ".join(a.get("value", "") for a in status_of(gateway).get("addresses") or []) or "none"


GATEWAY_READY = Predicate(
    "Accepted=True and Programmed=True", lambda gw: _ACCEPTED(gw) and _PROGRAMMED(gw),
    show=lambda gw: "%s; addresses: %s" % (describe_state(gw), _addresses(gw)),
    hint="read the Gateway's conditions and events and the log of its GatewayClass's controller: Accepted=False names "
         "what the controller refused (a listener's port or protocol); Programmed=False with AddressNotAssigned "
         "usually means the Service of type LoadBalancer it made got no address (no load-balancer provider)")


def _parent(route: Dict[str, Any], namespace: str) -> Optional[Dict[str, Any]]:
    """The route's status.parents entry for the probe's Gateway."""
    for parent in status_of(route).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if ref.get("name") == GATEWAY and (ref.get("namespace") or namespace) == namespace \
                and (ref.get("kind") or "Gateway") == "Gateway":
            return parent
    return None


def _as_object(route: Dict[str, Any], parent: Dict[str, Any]) -> Dict[str, Any]:
    """A parent entry as an object condition_is reads: its conditions against the route's generation."""
    return {"metadata": {"generation": meta_of(route).get("generation")}, "status": parent}


def _attached(namespace: str, controller: str) -> Predicate:
    """Accepted and ResolvedRefs True (current) in the route's status for the probe's Gateway."""
    def test(route):
        parent = _parent(route, namespace)
        return parent is not None and _ACCEPTED(_as_object(route, parent)) and _RESOLVED(_as_object(route, parent))

    def show(route):
        parent = _parent(route, namespace)
        if parent is None:
            others = [(p.get("parentRef") or {}).get("name", "?") for p in status_of(route).get("parents") or []]
            return "status.parents has no entry for Gateway %s (%s)" % (
                GATEWAY, "only for %s" % ", ".join(others) if others else "no controller has taken the route up")
        return "parent Gateway %s (%s): %s" % (GATEWAY, parent.get("controllerName", "?"),
                                               describe_state(_as_object(route, parent)))
    return Predicate("Accepted=True and ResolvedRefs=True for parent Gateway %s" % GATEWAY, test, show=show,
                     hint="ResolvedRefs=False with BackendNotFound: a backendRef's Service is missing, or the controller "
                          "(%s) may not read Services; Accepted=False names the listener or parent that refused the "
                          "route; read kubectl describe httproute and the controller's log" % controller)


def _connectable(ctx, gateway: Dict[str, Any], port: int) -> Tuple[str, str]:
    """The first address of the Gateway that takes a TCP connection on ``port`` ("" if none), and what was tried."""
    tried = []
    for entry in (status_of(gateway).get("addresses") or [])[:MAX_ADDRESSES]:
        address = entry.get("value", "")
        if entry.get("type", "IPAddress") not in ("IPAddress", "Hostname") or not address:
            continue
        try:
            socket.create_connection((address, port), timeout=CONNECT_TIMEOUT).close()
            outcome = ""
        except OSError as exc:
            outcome = str(exc) or exc.__class__.__name__
        ctx.record("nc -z -w %g %s %s" % (CONNECT_TIMEOUT, address, port), outcome or "connected",
                   note="is the Gateway reachable from the controller?")
        if not outcome:
            return address, ""
        tried.append("%s:%s: %s" % (address, port, outcome))
    return "", "; ".join(tried) or "the Gateway reports no IP address or hostname"


def _ask(address: str, port: int, model: Optional[str]) -> str:
    """One GET / through the Gateway: the body of a 200 (who answered), else the status or the error."""
    connection = http.client.HTTPConnection(address, port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("GET", "/", headers={MODEL_HEADER: model} if model else {})
        response = connection.getresponse()
        body = response.read(200).decode("utf-8", "replace").strip()
        return body if response.status == 200 else "HTTP %d" % response.status
    except (OSError, http.client.HTTPException) as exc:
        return exc.__class__.__name__
    finally:
        connection.close()


def _curl(url: str, model: Optional[str]) -> str:
    return "curl -s -m %g %s%s" % (REQUEST_TIMEOUT, "-H '%s: %s' " % (MODEL_HEADER, model) if model else "", url)


def _repeated(url: str, count: int, model: Optional[str]) -> str:
    return "for i in $(seq %d); do %s; echo; done | sort | uniq -c" % (count, _curl(url, model))


def _send(ctx, address: str, port: int, count: int, model: Optional[str], answers: Dict[str, str]) -> Counter:
    """Who answered ``count`` requests (backend names; anything else as is), fewer when the probe's time runs out."""
    seen: Counter = Counter()
    while sum(seen.values()) < count:
        ctx.check_cancelled()
        if ctx.remaining() < REQUEST_TIMEOUT:
            break
        answer = _ask(address, port, model)
        seen[answers.get(answer, answer[:80])] += 1
    return seen


def _counts(seen: Counter) -> str:
    return ", ".join("%d %s" % (n, who) for who, n in seen.most_common()) or "none sent"


def _not_observed(why: str) -> str:
    return ("traffic through the Gateway was not observed from the controller: %s; the split and the header match rest "
            "on the routes' Accepted and ResolvedRefs status" % why)


def _traffic(ctx, gateway: Dict[str, Any], port: int) -> Tuple[str, str, str]:
    """(how routing broke, what the requests showed, the caveat on what they did not show), each possibly empty."""
    address, tried = _connectable(ctx, gateway, port)
    if not address:
        return "", "", _not_observed("no address of the Gateway took a TCP connection from the controller within %gs (%s)"
                                     % (CONNECT_TIMEOUT, tried))
    try:
        for name in WEIGHTS:
            ctx.wait_for("apps", "v1", "deployments", name, deployment_available, timeout=_limit(ctx, BACKENDS_TIMEOUT),
                         note="the backend must answer before requests are sent")
    except WaitTimeout as exc:
        return "", "", _not_observed("the probe's backends did not become available (%s), so no request was sent" % exc.observed)
    answers = {"%s/%s" % (ctx.namespace, name): name for name in WEIGHTS}
    url = "http://%s:%s/" % ("[%s]" % address if ":" in address else address, port)
    started, deadline = time.monotonic(), time.monotonic() + _limit(ctx, CONSISTENCY_TIMEOUT)
    answer = _ask(address, port, None)
    while answer not in answers and time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(1.0)
        answer = _ask(address, port, None)
    ctx.record(_curl(url, None) + "  # every second until a backend of the probe's answers", "%s after %.1fs" % (
        answer[:80], time.monotonic() - started), note="the data plane may take a while to route as configured")
    if answer not in answers:
        return "", "", _not_observed("%s took a connection but did not answer from the probe's backends within %.0fs "
                                     "(last: %s)" % (url, time.monotonic() - started, answer[:80]))
    split = _send(ctx, address, port, SPLIT_REQUESTS, None, answers)
    ctx.record(_repeated(url, SPLIT_REQUESTS, None), _counts(split), note="weights %s %d, %s %d" % (
        LARGE, WEIGHTS[LARGE], SMALL, WEIGHTS[SMALL]))
    header = _send(ctx, address, port, HEADER_REQUESTS, SMALL, answers)
    ctx.record(_repeated(url, HEADER_REQUESTS, SMALL), _counts(header), note="every one must reach %s" % SMALL)
    observed = "Through %s, %d of %d requests reached %s and %d %s (weights %s); %d of %d with %s: %s reached %s." % (
        url, split[LARGE], sum(split.values()), LARGE, split[SMALL], SMALL, SPLIT, header[SMALL], sum(header.values()),
        MODEL_HEADER, SMALL, SMALL)
    problems, caveat = [], ""
    if header[SMALL] != sum(header.values()):
        problems.append("requests with %s: %s did not all reach %s (%s)" % (MODEL_HEADER, SMALL, SMALL, _counts(header)))
    answered = split[LARGE] + split[SMALL]
    if answered < sum(split.values()) / 2:
        caveat = "the %s split was not judged: only %d of %d requests were answered by the probe's backends (%s)" % (
            SPLIT, answered, sum(split.values()), _counts(split))
    elif not split[LARGE] or not split[SMALL] or split[SMALL] > answered / 2:
        problems.append("the %s split was not made (%s)" % (SPLIT, _counts(split)))
    return "; ".join(problems), observed, caveat


@probe("ai_inference")
def ai_inference(ctx) -> Finding:
    """Weighted and header-matched HTTPRoutes on a Gateway of the Accepted class: accepted, resolved, and routed."""
    impl, port, port_why = _choose_class(ctx)
    if impl is None:
        return Finding(UNKNOWN, "no GatewayClass is Accepted any more (it was when the check ran): nothing to put the "
                                "probe's Gateway on")
    class_name, controller = impl["gateway_class"], impl["controller"]
    busybox = image("busybox", ctx.options.probe_image_registry)
    for name in WEIGHTS:
        deployment, service = _backend(name, "%s/%s" % (ctx.namespace, name), busybox)
        ctx.create("apps", "v1", "deployments", deployment, note="backend %s: httpd answering with its name" % name)
        ctx.create("", "v1", "services", service, note="the Service the routes name as backendRef %s" % name)
    ctx.create(GATEWAY_GROUP, "v1", "gateways", _gateway(class_name, port),
               note="listener HTTP:%s (%s) on GatewayClass %s (%s)" % (port, port_why, class_name, controller))
    ctx.create(GATEWAY_GROUP, "v1", "httproutes", _route(WEIGHTED_ROUTE, {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [_ref(name, weight) for name, weight in WEIGHTS.items()]}), note="a %s weighted split" % SPLIT)
    ctx.create(GATEWAY_GROUP, "v1", "httproutes", _route(HEADER_ROUTE, {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"},
                     "headers": [{"type": "Exact", "name": MODEL_HEADER, "value": SMALL}]}],
        "backendRefs": [_ref(SMALL)]}), note="the model named in %s (GAIE's body-based routing header) to its backend"
                                             % MODEL_HEADER)
    gateway = ctx.wait_for(GATEWAY_GROUP, "v1", "gateways", GATEWAY, GATEWAY_READY, timeout=_limit(ctx, GATEWAY_TIMEOUT))
    attached = _attached(ctx.namespace, controller)
    for route in (WEIGHTED_ROUTE, HEADER_ROUTE):
        ctx.wait_for(GATEWAY_GROUP, "v1", "httproutes", route, attached, timeout=_limit(ctx, ROUTE_TIMEOUT))
    problem, observed, caveat = _traffic(ctx, gateway, port)
    shown = ("Gateway %s on GatewayClass %s (%s), listener HTTP:%s (%s), was Accepted and Programmed (addresses %s); "
             "HTTPRoute %s (%s %d / %s %d) and HTTPRoute %s (%s: %s to %s) were Accepted with ResolvedRefs by it." % (
                 GATEWAY, class_name, controller, port, port_why, _addresses(gateway), WEIGHTED_ROUTE, LARGE, WEIGHTS[LARGE],
                 SMALL, WEIGHTS[SMALL], HEADER_ROUTE, MODEL_HEADER, SMALL, SMALL))
    if problem:
        return Finding(FAIL, "%s But traffic did not follow them: %s. %s" % (shown, problem, observed),
                       remediation="Weighted backendRefs and header matches are Core HTTPRoute features: read the log of "
                                   "%s and report it to its maintainers, or use a conformant implementation." % controller)
    return Finding(PASS, " ".join(t for t in (shown, observed) if t), caveats=[caveat] if caveat else [])
