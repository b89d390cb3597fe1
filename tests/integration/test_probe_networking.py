"""The ai_inference probe against the fake API server's Gateway API controller (tests/fakeapi/simulations/gateway.py).

Each Gateway the probe makes reports the address its GatewayClass's annotation scripts: a hostname under .invalid
(never resolves, so no traffic is sent) or 127.0.0.1, where a test serves a data plane of its own on the port of
the fixture's Programmed Gateway, which the probe reuses.
"""

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.networking import GATEWAY, GATEWAY_READY, _attached
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.scratch import OURS
from tests.fakeapi.simulations.gateway import ADDRESS, BACKENDS_NOT_FOUND, NEVER_PROGRAMMED
from tests.integration.conftest import api_request, probed_result, scratch_left

GATEWAYS = "/apis/gateway.networking.k8s.io/v1"
UNRESOLVABLE = "gateway.fakeapi.invalid"
MERGE = "application/merge-patch+json"


@pytest.fixture
def cluster(probe_cluster):
    """Start a fixture cluster with the simulated controllers and operators; (server, kube)."""
    return probe_cluster


def annotate_class(server, name, annotations):
    status, answer = api_request(server, "PATCH", "%s/gatewayclasses/%s" % (GATEWAYS, name),
                                 {"metadata": {"annotations": annotations}}, MERGE)
    assert status == 200, answer


def probe(kube, timeout=20.0):
    """Verify ai_inference with its probe; its result, once no namespace of the probe's is left."""
    result = probed_result(kube, "ai_inference", probe_timeout=timeout)
    assert scratch_left(kube) == []
    return result


def test_passes_on_rke2_gpu_and_says_traffic_was_not_observed(cluster):
    server, kube = cluster("rke2-gpu")
    annotate_class(server, "traefik", {ADDRESS: UNRESOLVABLE})
    result = probe(kube)
    assert result["outcome"] == "pass", result["notes"]
    notes = result["notes"]
    assert "Probe: Gateway probe-gateway on GatewayClass traefik (traefik.io/gateway-controller), listener HTTP:8000 " \
           "(the HTTP port of Programmed Gateway kube-system/traefik-gateway), was Accepted and Programmed " \
           "(addresses %s)" % UNRESOLVABLE in notes
    assert "HTTPRoute probe-weighted (probe-large 80 / probe-small 20) and HTTPRoute probe-model-header " \
           "(X-Gateway-Model-Name: probe-small to probe-small) were Accepted with ResolvedRefs by it." in notes
    unobserved = "traffic through the Gateway was not observed from the controller: no address of the Gateway took a TCP"
    assert [c for c in result["caveats"] if c.startswith(unobserved)], result["caveats"]
    observed = [e["observed"] for e in result["evidence"] if "--for='Accepted=True and ResolvedRefs=True" in e["command"]]
    assert len(observed) == 2 and all("ResolvedRefs=True (ResolvedRefs" in o for o in observed), observed
    assert result["details"]["probe"]["cleanup"] == "done"


def test_passes_on_envoy_gateway_with_a_listener_on_port_80(cluster):
    server, kube = cluster("half-installed")  # its Traefik class is not Accepted: Envoy Gateway's is the one to use
    status, answer = api_request(server, "POST", "%s/gatewayclasses" % GATEWAYS, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "eg", "annotations": {ADDRESS: UNRESOLVABLE}},
        "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}})
    assert status == 201, answer
    kube.wait("gateway.networking.k8s.io", "v1", "gatewayclasses", "eg", predicate=lambda gc: (gc.get("status") or {}).get(
        "conditions"), timeout=5, interval=0.1)
    result = probe(kube)
    assert result["outcome"] == "pass", result["notes"]
    assert "Gateway probe-gateway on GatewayClass eg (gateway.envoyproxy.io/gatewayclass-controller), listener HTTP:80 " \
           "(HTTP's port), was Accepted and Programmed" in result["notes"]


class DataPlane:
    """A Gateway's data plane on 127.0.0.1: every GET answered as the probe's backend it would route to."""

    def __init__(self, server, honours_header=True, weights=(80, 20), unavailable=0):
        self.fake, self.honours_header, self.weights = server, honours_header, weights
        self.unavailable = unavailable  # of every 3 requests without the header, how many get a 503
        self.random = random.Random(7)
        self.namespace = ""
        self.plain = 0
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # pylint: disable=invalid-name
                body = plane.answer(self.headers.get("X-Gateway-Model-Name"))
                self.send_response(200 if body else 503)
                body = body.encode()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, model):
        if not self.namespace:
            _status, namespaces = api_request(self.fake, "GET", "/api/v1/namespaces?labelSelector=%s" % OURS)
            self.namespace = namespaces["items"][0]["metadata"]["name"]
        if model == "probe-small" and self.honours_header:
            backend = "probe-small"
        else:
            self.plain += 1
            if self.plain % 3 < self.unavailable:
                return ""
            backend = self.random.choices(["probe-large", "probe-small"], weights=self.weights)[0]
        return "%s/%s\n" % (self.namespace, backend)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("honours_header, weights, unavailable, outcome, reported", [
    (True, (80, 20), 0, "pass", "with X-Gateway-Model-Name: probe-small reached probe-small."),
    (False, (80, 20), 0, "fail", "requests with X-Gateway-Model-Name: probe-small did not all reach probe-small"),
    (True, (100, 0), 0, "fail", "the 80/20 split was not made (50 probe-large)"),
    (True, (80, 20), 2, "pass", "of 50 requests reached probe-large"),
])
def test_traffic_through_a_reachable_gateway_is_reported(cluster, honours_header, weights, unavailable, outcome, reported):
    server, kube = cluster("rke2-gpu")
    plane = DataPlane(server, honours_header, weights, unavailable)
    try:
        annotate_class(server, "traefik", {ADDRESS: "127.0.0.1"})
        status, answer = api_request(server, "PATCH", "%s/namespaces/kube-system/gateways/traefik-gateway" % GATEWAYS, {
            "spec": {"listeners": [{"name": "web", "port": plane.port, "protocol": "HTTP"}]}}, MERGE)
        assert status == 200, answer
        result = probe(kube)
    finally:
        plane.stop()
    assert result["outcome"] == outcome, result["notes"]
    assert reported in result["notes"]
    assert "Through http://127.0.0.1:%d/, " % plane.port in result["notes"]
    judged = [c for c in result["caveats"] if c.startswith("the 80/20 split was not judged: only ")]
    assert not [c for c in result["caveats"] if "not observed" in c], result["caveats"]
    assert len(judged) == (1 if unavailable else 0), result["caveats"]
    sent = [e for e in result["evidence"] if e["command"].startswith("for i in $(seq 50); do curl -s -m 5 http://127.0.0.1")]
    assert len(sent) == 1, json.dumps(result["evidence"], indent=1)[-3000:]


def test_fails_naming_the_reason_when_a_backend_is_not_resolved(cluster):
    server, kube = cluster("rke2-gpu")
    annotate_class(server, "traefik", {ADDRESS: UNRESOLVABLE, BACKENDS_NOT_FOUND: "true"})
    started = time.monotonic()
    result = probe(kube, timeout=4.0)
    assert time.monotonic() - started < 8
    assert result["outcome"] == "fail", result["notes"]
    notes = result["notes"]
    assert notes.startswith("Probe failed: the probe's wait ended without the promised behaviour: ")
    assert "httproutes.gateway.networking.k8s.io %s/probe-weighted not Accepted=True and ResolvedRefs=True for parent " \
           "Gateway probe-gateway" % result["details"]["probe"]["namespace"] in notes
    assert "parent Gateway probe-gateway (traefik.io/gateway-controller): conditions: Accepted=True (Accepted: Route is " \
           "accepted (fakeapi)); ResolvedRefs=False (BackendNotFound: backendRef(s) probe-large, probe-small: Service not " \
           "found (fakeapi))" in notes
    assert "BackendNotFound: a backendRef's Service is missing" in result["remediation"]


def test_a_gateway_never_programmed_times_out_as_a_failure_and_leaves_no_namespace(cluster):
    server, kube = cluster("rke2-gpu")
    annotate_class(server, "traefik", {NEVER_PROGRAMMED: "true"})
    result = probe(kube, timeout=3.0)
    assert result["outcome"] == "fail", result["notes"]
    assert "gateways.gateway.networking.k8s.io %s/probe-gateway not Accepted=True and Programmed=True" % (
        result["details"]["probe"]["namespace"]) in result["notes"]
    assert "Programmed=False (AddressNotAssigned: No address assigned to the Gateway's Service (fakeapi)); addresses: " \
           "none" in result["notes"]
    assert "no load-balancer provider" in result["remediation"]
    assert result["details"]["probe"]["cleanup"] == "done"


def test_conditions_of_an_older_generation_do_not_count():
    def condition(kind, observed):
        return {"type": kind, "status": "True", "reason": kind, "observedGeneration": observed}
    gateway = {"metadata": {"generation": 2}, "status": {"conditions": [condition("Accepted", 2), condition("Programmed", 1)]}}
    assert not GATEWAY_READY(gateway)
    assert GATEWAY_READY({**gateway, "status": {"conditions": [condition("Accepted", 2), condition("Programmed", 2)]}})
    parent = {"parentRef": {"name": GATEWAY}, "conditions": [condition("Accepted", 3), condition("ResolvedRefs", 2)]}
    route = {"metadata": {"generation": 3}, "status": {"parents": [parent]}}
    attached = _attached("ns", "example.com/controller")
    assert not attached(route)
    assert "[stale: observedGeneration 2 < generation 3]" in attached.observe(route)
    assert attached({**route, "metadata": {"generation": 2}})
    assert not attached({**route, "status": {"parents": [{**parent, "parentRef": {"name": GATEWAY, "namespace": "other"}}]}})


def route_conditions(route):
    return [(c["type"], c["status"], c["reason"]) for p in (route.get("status") or {}).get("parents") or []
            for c in p["conditions"]]


def test_the_simulated_controller_resolves_a_backend_once_its_service_exists(cluster):
    server, kube = cluster("rke2-gpu")
    gateway = {"metadata": {"name": "gw"},
               "spec": {"gatewayClassName": "traefik", "listeners": [{"name": "http", "protocol": "HTTP", "port": 8000}]}}
    route = {"metadata": {"name": "route"},
             "spec": {"parentRefs": [{"name": "gw"}, {"name": "no-such-gateway"}],
                      "rules": [{"backendRefs": [{"name": "svc", "port": 80}]}]}}
    assert api_request(server, "POST", "/api/v1/namespaces", {"metadata": {"name": "routes"}})[0] == 201
    assert api_request(server, "POST", "%s/namespaces/routes/gateways" % GATEWAYS, gateway)[0] == 201
    assert api_request(server, "POST", "%s/namespaces/routes/httproutes" % GATEWAYS, route)[0] == 201

    def wait(plural, name, test):
        return kube.wait("gateway.networking.k8s.io", "v1", plural, name, "routes", predicate=test, timeout=5, interval=0.1)
    wait("httproutes", "route", lambda r: route_conditions(r) == [("Accepted", "True", "Accepted"),
                                                                  ("ResolvedRefs", "False", "BackendNotFound")])
    assert api_request(server, "POST", "/api/v1/namespaces/routes/services", {
        "metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}})[0] == 201
    resolved = wait("httproutes", "route", lambda r: route_conditions(r) == [("Accepted", "True", "Accepted"),
                                                                             ("ResolvedRefs", "True", "ResolvedRefs")])
    assert [p["controllerName"] for p in resolved["status"]["parents"]] == ["traefik.io/gateway-controller"]
    programmed = wait("gateways", "gw", lambda gw: [l.get("attachedRoutes") for l in (gw.get("status") or {}).get("listeners", [])] == [1])
    assert [a["type"] for a in programmed["status"]["addresses"]] == ["Hostname"]
    assert programmed["status"]["addresses"][0]["value"].endswith(".gateway.fakeapi.invalid")
