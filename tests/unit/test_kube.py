"""kube.py over real HTTP against the fake API server: discovery, lists, retries, errors."""

import socket
import threading
import time

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import kube as kube_module
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import ApiUnreachable, Kube, KubeError
from tests.fakeapi import Cluster, FakeKubeServer


def pods(count):
    return [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "p-%03d" % i, "namespace": "work", "labels": {"tier": "gpu" if i % 3 == 0 else "cpu"}},
             "spec": {"nodeName": "node-%d" % (i % 4), "containers": [{"name": "c", "image": "busybox"}]}}
            for i in range(count)]


pytestmark = pytest.mark.usefixtures("kube_env_cleared")


@pytest.fixture
def server():
    cluster = Cluster.from_objects(version="v1.35.2", objects=pods(25), proxy={
        "/api/v1/namespaces/mon/services/flaky:80/proxy/metrics": {"body": "busy", "status": 503},
        "/api/v1/namespaces/mon/services/limited:80/proxy/metrics": {"body": "slow down", "status": 429},
        "/api/v1/namespaces/mon/services/ok:80/proxy/metrics": {"body": "up 1\n"},
    }, forbidden=["v1/secrets"])
    with FakeKubeServer(cluster) as srv:
        yield srv


@pytest.fixture
def kube(server, tmp_path):
    path = tmp_path / "kubeconfig"
    server.write_kubeconfig(str(path))
    return Kube.from_params(dict(kubeconfig=str(path), api_retries=2))


def test_paginated_list_with_selectors_follows_continue(kube, server):
    server.reset_requests()
    names = [p["metadata"]["name"] for p in kube.list("", "v1", "pods", namespace="work", page_size=4)]
    assert names == sorted("p-%03d" % i for i in range(25))
    assert server.request_count == 7  # ceil(25 / 4) pages
    gpu = kube.list_all("", "v1", "pods", label_selector="tier=gpu", field_selector="spec.nodeName=node-0")
    assert {p["metadata"]["name"] for p in gpu} == {"p-%03d" % i for i in range(0, 25, 12)}


def test_aggregated_discovery_takes_two_calls_and_is_cached(kube, server):
    server.reset_requests()
    discovery = kube.discovery()
    kube.discovery()
    assert [r.path for r in server.requests] == ["/api", "/apis"]
    assert discovery.served("resource.k8s.io", "v1", "resourceslices")
    assert discovery.resources("", "v1")["pods"]["namespaced"] is True
    assert discovery.preferred("autoscaling") == "v2"


def test_legacy_discovery_gives_the_same_answer(kube, server, tmp_path, monkeypatch):
    aggregated = kube.discovery().groups
    monkeypatch.setattr(kube_module, "AGGREGATED_DISCOVERY_ACCEPT", "application/json")
    path = tmp_path / "kc2"
    server.write_kubeconfig(str(path))
    legacy = Kube.from_params(dict(kubeconfig=str(path))).discovery().groups
    assert set(legacy) == set(aggregated)
    for group, entry in aggregated.items():
        assert set(legacy[group]["versions"]) == set(entry["versions"]), group
        for version, table in entry["resources"].items():
            assert set(legacy[group]["resources"][version]) == set(table), (group, version)


def test_get_missing_object_is_none(kube):
    assert kube.get("", "v1", "pods", "nope", namespace="work") is None


def test_retryable_answers_are_retried_then_reported(kube, server):
    server.reset_requests()
    with pytest.raises(KubeError) as err:
        kube.request("GET", "/api/v1/namespaces/mon/services/flaky:80/proxy/metrics", raw=True)
    assert server.request_count == 3  # the call and two retries
    assert err.value.status == 503 and "overloaded or unavailable" in str(err.value)
    assert "2 retries made (api_retries=2)" in str(err.value) and err.value.retries == 2
    server.reset_requests()
    with pytest.raises(KubeError):
        kube.proxy_get("mon", "flaky", 80, "metrics")
    assert server.request_count == 1, "a proxy 503 (no endpoints) is final"
    server.reset_requests()
    with pytest.raises(KubeError):
        kube.proxy_get("mon", "limited", 80, "/metrics")
    assert server.request_count == 3
    assert kube.proxy_get("mon", "ok", 80, "metrics") == "up 1\n"


def test_forbidden_names_the_call_the_verb_and_the_fix(kube):
    with pytest.raises(KubeError) as err:
        kube.list_all("", "v1", "secrets", namespace="work")
    text = str(err.value)
    assert text.startswith("GET /api/v1/namespaces/work/secrets?limit=500 failed: 403 Forbidden")
    assert "cannot list resource" in text
    assert "grant the identity 'list'" in err.value.hint


def test_unreachable_server_is_one_clear_error_without_secrets():
    kube = Kube.from_params(dict(host="http://127.0.0.1:9", api_key="sekret-token-value", connect_timeout=1))
    with pytest.raises(ApiUnreachable) as err:
        kube.version()
    assert "cannot reach the API server at http://127.0.0.1:9" in str(err.value)
    assert "0 retries: a refused or failed first connection is not retried; api_retries=3 applies to later calls" in str(err.value)
    assert "sekret" not in str(err.value)


def test_explicit_host_wins_over_an_earlier_kubeconfig_load(kube, server):
    kube.version()  # loads a kubeconfig in this process: the client's global default now points at it
    other = Kube.from_params(dict(host="http://127.0.0.1:9", api_key="t", api_retries=0, connect_timeout=1))
    with pytest.raises(ApiUnreachable) as err:
        other.version()
    assert "127.0.0.1:9 " in str(err.value)


def test_bad_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(KubeError) as err:
        Kube.from_params(dict(kubeconfig=str(tmp_path / "missing")))
    assert "could not load the cluster configuration" in str(err.value)
    assert "kubeconfig" in err.value.hint


def test_once_computes_a_shared_value_once(kube):
    calls = []
    assert kube.once("k", lambda: calls.append(1) or 42) == 42
    assert kube.once("k", lambda: calls.append(1) or 43) == 42
    assert calls == [1]


def test_serving_version_prefers_the_preferred_version():
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Discovery
    discovery = Discovery({"g": {"versions": ["v1", "v1beta1"],
                                 "resources": {"v1": {"a": {}}, "v1beta1": {"a": {}, "b": {}}}}})
    assert discovery.serving_version("g", "a") == "v1"
    assert discovery.serving_version("g", "b") == "v1beta1"
    assert discovery.serving_version("g", "c") is None and discovery.serving_version("other", "a") is None


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never sends a byte; yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_silent_server_fails_the_first_contact_within_one_timeout(silent_server):
    kube = Kube.from_params(dict(host=silent_server, api_key="t", request_timeout=0.5, api_retries=3))
    started = time.monotonic()
    with pytest.raises(ApiUnreachable) as err:
        kube.version()
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.0, "one request_timeout, not (1 + api_retries) of them plus backoff: %.2fs" % elapsed
    text = str(err.value)
    assert "the API server at %s sent no answer within request_timeout=0.5s" % silent_server in text
    assert ("0 retries: a server that accepted the connection but sent nothing to GET /version within request_timeout=0.5s "
            "is not retried; api_retries=3 applies to later calls") in text
    assert "raise request_timeout" in err.value.hint and err.value.retries == 0


def test_silent_server_later_calls_are_retried_and_say_how_often(silent_server):
    kube = Kube.from_params(dict(host=silent_server, api_key="t", request_timeout=0.2, api_retries=2))
    started = time.monotonic()
    with pytest.raises(ApiUnreachable) as err:
        kube.request("GET", "/api")
    assert time.monotonic() - started >= 3 * 0.2
    assert "cannot reach the API server at %s" % silent_server in str(err.value)
    assert "2 retries made (api_retries=2)" in str(err.value) and err.value.retries == 2
