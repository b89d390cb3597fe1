"""A Gateway API controller for Gateways and HTTPRoutes created through the API, whatever their GatewayClass's
controller (Envoy Gateway, Traefik, Istio...): what the ai_inference probe waits for.

- Gateway whose GatewayClass is ``Accepted=True`` (a fixture's, or one operators.py accepted): after the delay
  ``Accepted=True`` and ``Programmed=True`` (observedGeneration = generation), ``status.addresses`` one Hostname
  ``<name>.<namespace>.gateway.fakeapi.invalid`` (what the controller's data-plane Service got; it never resolves,
  so a probe learns at once that it cannot send traffic from the test machine), and one
  ``status.listeners`` entry per spec listener (supportedKinds HTTPRoute and GRPCRoute, attachedRoutes = the
  HTTPRoutes this controller accepted for it, Accepted/ResolvedRefs/Programmed True). A Gateway whose class is
  missing or not Accepted keeps its status and is looked at again after each delay.
- HTTPRoute: one ``status.parents`` entry per parentRef naming a Gateway that exists and whose class is Accepted
  (a parent no controller claims gets none), with the class's controllerName: ``Accepted=True`` once that Gateway is
  Accepted (looked at again until then), and ``ResolvedRefs=True`` when every backendRef names a Service (core
  group, kind Service) that exists in its namespace, else ``False`` with reason ``BackendNotFound`` (``InvalidKind``
  for other kinds) naming them; a route with unresolved refs is looked at again after each delay, as a controller
  watching Services would. Each reconciled route has its Gateways reconciled again (their attachedRoutes follow).

Annotations on the GatewayClass (``fakeapi.k8s-ai.io/...``) script what tests need:

- ``NEVER_PROGRAMMED`` "true": its Gateways are Accepted but ``Programmed=False`` (``AddressNotAssigned``, no
  address), as when no load balancer gives the data-plane Service an address.
- ``BACKENDS_NOT_FOUND`` "true": every backendRef of a route on its Gateways is unresolved (``BackendNotFound``), as
  for a controller that may not read Services.
- ``ADDRESS``: the address its Gateways report instead of the derived one: an IPAddress (e.g. 127.0.0.1, where a
  test serves), or else a Hostname (e.g. one under ``.invalid``, which never resolves).
"""

import ipaddress

from ..controllers import RETRY, SERVICES, metadata_of, now

GROUP = "gateway.networking.k8s.io"
GATEWAYCLASSES = (GROUP, "gatewayclasses")
GATEWAYS = (GROUP, "gateways")
HTTPROUTES = (GROUP, "httproutes")
NEVER_PROGRAMMED = "fakeapi.k8s-ai.io/never-programmed"
BACKENDS_NOT_FOUND = "fakeapi.k8s-ai.io/backends-not-found"
ADDRESS = "fakeapi.k8s-ai.io/gateway-address"
ROUTE_KINDS = [{"group": GROUP, "kind": "HTTPRoute"}, {"group": GROUP, "kind": "GRPCRoute"}]


def _annotation(obj, name):
    return str((metadata_of(obj).get("annotations") or {}).get(name, ""))


def _accepted(obj):
    return any(c.get("type") == "Accepted" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def _condition(kind, ok, reason, message, generation):
    moment = now()
    return {"type": kind, "status": "True" if ok else "False", "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": moment}


def _without_times(value):
    """A status with every lastTransitionTime left out, to tell a change from a rewrite."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "lastTransitionTime"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _write_status(ops, resource_key, obj, status):
    if _without_times(obj.get("status")) != _without_times(status):
        ops.store.sim_write(resource_key, {**obj, "status": status})


def _accepted_class(store, gateway):
    gateway_class = store.sim_get(GATEWAYCLASSES, "", (gateway.get("spec") or {}).get("gatewayClassName"))
    return gateway_class if gateway_class is not None and _accepted(gateway_class) else None


def _address(gateway_class, gateway):
    """The Gateway's status.addresses entry."""
    scripted = _annotation(gateway_class, ADDRESS)
    if scripted:
        try:
            ipaddress.ip_address(scripted)
        except ValueError:
            return {"type": "Hostname", "value": scripted}
        return {"type": "IPAddress", "value": scripted}
    return {"type": "Hostname", "value": "%s.%s.gateway.fakeapi.invalid" % (metadata_of(gateway).get("name"), metadata_of(gateway).get("namespace"))}


def _refers_to(ref, route, gateway):
    return (ref.get("kind") or "Gateway") == "Gateway" and (ref.get("group") or GROUP) == GROUP \
        and ref.get("name") == metadata_of(gateway).get("name") \
        and (ref.get("namespace") or metadata_of(route).get("namespace")) == metadata_of(gateway).get("namespace")


def _attached_routes(store, gateway):
    return sum(1 for route in store.sim_objects(HTTPROUTES)
               for parent in (route.get("status") or {}).get("parents") or []
               if _refers_to(parent.get("parentRef") or {}, route, gateway) and _accepted({"status": parent}))


def gateway(ops, resource_key, obj):
    """Accept and program a Gateway of an accepted class (or, scripted, leave it unprogrammed)."""
    gateway_class = _accepted_class(ops.store, obj)
    if gateway_class is None:
        return RETRY
    generation = metadata_of(obj).get("generation", 1)
    programmed = _annotation(gateway_class, NEVER_PROGRAMMED).lower() != "true"
    listeners = [{"name": listener.get("name"), "supportedKinds": ROUTE_KINDS,
                  "attachedRoutes": _attached_routes(ops.store, obj),
                  "conditions": [_condition("Accepted", True, "Accepted", "No error found (fakeapi)", generation),
                                 _condition("ResolvedRefs", True, "ResolvedRefs", "No error found (fakeapi)", generation),
                                 _condition("Programmed", programmed, "Programmed" if programmed else "Pending",
                                            "No error found (fakeapi)" if programmed else "Waiting for an address (fakeapi)",
                                            generation)]}
                 for listener in (obj.get("spec") or {}).get("listeners") or []]
    status = {"conditions": [
        _condition("Accepted", True, "Accepted", "Gateway accepted by %s (fakeapi)" % gateway_class["spec"]["controllerName"],
                   generation),
        _condition("Programmed", True, "Programmed", "Gateway programmed (fakeapi)", generation) if programmed else
        _condition("Programmed", False, "AddressNotAssigned", "No address assigned to the Gateway's Service (fakeapi)",
                   generation)], "listeners": listeners}
    if programmed:
        status["addresses"] = [_address(gateway_class, obj)]
    _write_status(ops, resource_key, obj, status)
    return None


def _unresolved(store, route, gateway_class):
    """(reason, the backendRefs that do not resolve) of a route's rules; ("", []) when all do."""
    refs = [ref for rule in (route.get("spec") or {}).get("rules") or [] for ref in rule.get("backendRefs") or []]
    invalid = [ref.get("name", "") for ref in refs if (ref.get("kind") or "Service") != "Service" or ref.get("group")]
    if invalid:
        return "InvalidKind", invalid
    hidden = _annotation(gateway_class, BACKENDS_NOT_FOUND).lower() == "true"
    missing = [ref.get("name", "") for ref in refs if hidden or store.sim_get(
        SERVICES, ref.get("namespace") or metadata_of(route).get("namespace"), ref.get("name")) is None]
    return ("BackendNotFound", missing) if missing else ("", [])


def httproute(ops, resource_key, obj):
    """Per-parent status of a route: Accepted by each accepted parent Gateway, ResolvedRefs from its Services."""
    store = ops.store
    generation = metadata_of(obj).get("generation", 1)
    parents, again = [], False
    for ref in (obj.get("spec") or {}).get("parentRefs") or []:
        if (ref.get("kind") or "Gateway") != "Gateway":
            continue
        parent = store.sim_get(GATEWAYS, ref.get("namespace") or metadata_of(obj).get("namespace"), ref.get("name"))
        gateway_class = _accepted_class(store, parent) if parent is not None else None
        if gateway_class is None:
            continue
        if not _accepted(parent):
            again = True
            continue
        reason, names = _unresolved(store, obj, gateway_class)
        again = again or bool(names)
        resolved = _condition("ResolvedRefs", True, "ResolvedRefs", "Resolved all the Object references (fakeapi)", generation) \
            if not names else _condition("ResolvedRefs", False, reason, "backendRef(s) %s: %s (fakeapi)" % (
                ", ".join(names), "Service not found" if reason == "BackendNotFound" else "not a Service"), generation)
        parents.append({"parentRef": ref, "controllerName": gateway_class["spec"]["controllerName"],
                        "conditions": [_condition("Accepted", True, "Accepted", "Route is accepted (fakeapi)", generation),
                                       resolved]})
        ops._schedule(GATEWAYS, parent)
    _write_status(ops, resource_key, obj, {"parents": parents})
    return RETRY if again else None


RECONCILERS = {GATEWAYS: gateway, HTTPROUTES: httproute}
ADMISSION = {}
