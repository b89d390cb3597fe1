"""Kube.wait over real HTTP against the fake API server: it watches the object, and polls where watching is refused."""

import threading
import time
from urllib.parse import parse_qs

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube, WaitTimeout
from tests.fakeapi import SYSTEM_DISCOVERY_RULES, Cluster, FakeKubeServer
from tests.fakeapi import store as fake_store

WORK = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "work"}}


def configmap(name, value="v1"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "work"}, "data": {"k": value}}


def has(value):
    return lambda obj: obj["data"]["k"] == value


pytestmark = pytest.mark.usefixtures("kube_env_cleared")


@pytest.fixture
def start(tmp_path):
    """start(**cluster_args) -> (server, kube); the servers stop after the test."""
    servers = []

    def run(**cluster_args):
        server = FakeKubeServer(Cluster.from_objects(objects=[WORK], **cluster_args)).start()
        servers.append(server)
        path = tmp_path / ("kubeconfig-%d" % len(servers))
        server.write_kubeconfig(str(path))
        return server, Kube.from_params(dict(kubeconfig=str(path), api_retries=2))

    yield run
    for server in servers:
        server.stop()


class Later:
    """Run ``func`` after ``seconds`` in a thread; ``done`` is when it returned."""

    def __init__(self, seconds, func, *args):
        self.done = None
        self.thread = threading.Timer(seconds, self._run, (func,) + args)
        self.thread.start()

    def _run(self, func, *args):
        func(*args)
        self.done = time.monotonic()


def watches(server):
    return [parse_qs(r.query) for r in server.requests if "watch=true" in r.query]


def test_a_change_is_seen_as_it_happens_even_with_a_long_interval(start):
    server, kube = start()
    created = kube.create("", "v1", "configmaps", configmap("c"))
    server.reset_requests()
    sent = kube.request_count
    change = Later(0.5, kube.patch, "", "v1", "configmaps", "c", {"data": {"k": "v2"}}, "work")
    obj = kube.wait("", "v1", "configmaps", "c", namespace="work", predicate=has("v2"), timeout=10, interval=5)
    seen = time.monotonic()
    change.thread.join()
    assert obj["data"]["k"] == "v2" and seen - change.done < 0.2, "seen %.2fs after the change" % (seen - change.done)
    assert [(r.method, r.attributes.verb) for r in server.requests] == [("GET", "get"), ("GET", "watch"), ("PATCH", "patch")]
    assert kube.request_count - sent == server.request_count == 3, "the watch is a counted request"
    query = watches(server)[0]
    assert query["fieldSelector"] == ["metadata.name=c"] and query["allowWatchBookmarks"] == ["true"]
    assert query["resourceVersion"] == [created["metadata"]["resourceVersion"]] and query["timeoutSeconds"] == ["10"]


def test_a_deletion_ends_a_gone_wait_promptly(start):
    server, kube = start()
    kube.create("", "v1", "configmaps", configmap("doomed"))
    deletion = Later(0.4, kube.delete, "", "v1", "configmaps", "doomed", "work")
    assert kube.wait("", "v1", "configmaps", "doomed", namespace="work", gone=True, timeout=10, interval=5) is None
    seen = time.monotonic()
    deletion.thread.join()
    assert seen - deletion.done < 0.2, "seen %.2fs after the deletion" % (seen - deletion.done)


def test_a_missing_object_is_watched_from_a_list_until_it_appears(start):
    server, kube = start()
    server.reset_requests()
    creation = Later(0.4, kube.create, "", "v1", "configmaps", configmap("late"))
    obj = kube.wait("", "v1", "configmaps", "late", namespace="work", predicate=has("v1"), timeout=10, interval=5)
    seen = time.monotonic()
    creation.thread.join()
    assert obj["metadata"]["name"] == "late" and seen - creation.done < 0.2
    calls = [(r.path, r.attributes.verb) for r in server.requests if r.method == "GET"]
    assert calls == [("/api/v1/namespaces/work/configmaps/late", "get"), ("/api/v1/namespaces/work/configmaps", "list"),
                     ("/api/v1/namespaces/work/configmaps", "watch")]
    assert server.requests[1].attributes.name == "late", "the list asks for that one object"


def test_a_watch_that_rbac_forbids_falls_back_to_polling_now_and_later(start):
    rules = list(SYSTEM_DISCOVERY_RULES) + [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch"]}]
    server, kube = start(rbac_rules=rules)
    kube.create("", "v1", "configmaps", configmap("c"))
    change = Later(0.3, kube.patch, "", "v1", "configmaps", "c", {"data": {"k": "v2"}}, "work")
    assert kube.wait("", "v1", "configmaps", "c", namespace="work", predicate=has("v2"), timeout=5, interval=0.1)
    change.thread.join()
    assert [str(r.attributes) for r in server.denied] == ["watch core/configmaps c -n work"]
    server.reset_requests()
    with pytest.raises(WaitTimeout) as err:
        kube.wait("", "v1", "configmaps", "c", namespace="work", predicate=has("v3"), timeout=0.3, interval=0.1)
    assert {r.attributes.verb for r in server.requests} == {"get"}, "a later wait polls at once"
    assert err.value.looks == server.request_count


def test_a_timeout_ends_the_wait_on_time_with_the_last_object_seen(start):
    server, kube = start()
    kube.create("", "v1", "configmaps", configmap("c"))
    change = Later(0.3, kube.patch, "", "v1", "configmaps", "c", {"data": {"k": "v2"}}, "work")
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as err:
        kube.wait("", "v1", "configmaps", "c", namespace="work", predicate=has("never"), timeout=1.3, interval=5)
    elapsed = time.monotonic() - started
    change.thread.join()
    assert 1.3 <= elapsed < 1.5, "the watch's reads end at the deadline: %.2fs" % elapsed
    assert err.value.last["data"] == {"k": "v2"}, "the last object is the one the watch streamed"
    assert err.value.looks == 2 and "not <lambda> after 1.3s (2 looks)" in str(err.value), "a GET and one event"


def test_an_expired_resource_version_is_listed_again_and_watched(start, monkeypatch):
    monkeypatch.setattr(fake_store, "EVENT_LOG_SIZE", 5)
    server, kube = start()
    kube.create("", "v1", "configmaps", configmap("old"))
    for index in range(8):  # the event log forgets the creation of "old": a watch from its resourceVersion is 410 Gone
        kube.create("", "v1", "configmaps", configmap("other-%d" % index))
    server.reset_requests()
    change = Later(0.6, kube.patch, "", "v1", "configmaps", "old", {"data": {"k": "v2"}}, "work")
    obj = kube.wait("", "v1", "configmaps", "old", namespace="work", predicate=has("v2"), timeout=10, interval=0.3)
    seen = time.monotonic()
    change.thread.join()
    assert obj["data"]["k"] == "v2" and seen - change.done < 0.2
    verbs = [r.attributes.verb for r in server.requests if r.method == "GET"]
    assert verbs == ["get", "watch", "list", "watch"], verbs
    first, second = watches(server)
    assert int(second["resourceVersion"][0]) > int(first["resourceVersion"][0]), "the second watch starts from the list"


def test_a_terminating_namespace_is_seen_gone_while_its_wait_watches(start):
    server, kube = start()
    server.store.namespace_termination_seconds = 0.6
    kube.create("", "v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}})
    kube.delete("", "v1", "namespaces", "scratch")
    started = time.monotonic()
    assert kube.wait("", "v1", "namespaces", "scratch", gone=True, timeout=10, interval=5) is None
    assert 0.5 <= time.monotonic() - started < 1.2, "gone %.2fs after its deletion" % (time.monotonic() - started)
    assert [r.attributes.verb for r in server.requests if r.method == "GET"][-2:] == ["get", "watch"], "seen by the watch"
