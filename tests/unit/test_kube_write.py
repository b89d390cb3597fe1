"""kube.py's write verbs, wait and readiness predicates over real HTTP against the fake API server; the probe registry."""

import socket
import threading
import time

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import kube as kube_module
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import (
    FIELD_MANAGER, ApiUnreachable, Kube, KubeError, WaitTimeout, any_of, condition_is, crd_established,
    daemonset_ready, deployment_available, job_complete, job_failed, namespace_gone, pod_phase,
)
from tests.fakeapi import Cluster, FakeKubeServer
from tests.fakeapi import store as fake_store

CONTAINERS = [{"name": "main", "image": "registry.example.com/app:v1"}]


def configmap(name, namespace="work", data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": data or {"k": "v"}}


def deployment(name, replicas=3, namespace="work"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": CONTAINERS}}}}


def daemonset(name, namespace="work"):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": CONTAINERS}}}}


def job(name, namespace="work"):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": CONTAINERS}}}}


def gadget_crd():
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.org"},
            "spec": {"group": "example.org", "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                     "versions": [{"name": "v1", "served": True, "storage": True}]}}


def set_status(kube, group, version, plural, name, status, namespace="work"):
    """Play the controller: merge ``status`` into the object's status subresource."""
    path = kube.path(group, version, plural, namespace, name) + "/status"
    return kube.request("PATCH", path, body={"status": status}, content_type="application/merge-patch+json")


def later(seconds, func, *args, **kwargs):
    """Run ``func`` after ``seconds`` in a thread (a controller acting while the test waits); join it after."""
    thread = threading.Timer(seconds, func, args, kwargs)
    thread.start()
    return thread


pytestmark = pytest.mark.usefixtures("kube_env_cleared")


def start(tmp_path, **cluster_args):
    cluster_args.setdefault("objects", [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "work"}}])
    server = FakeKubeServer(Cluster.from_objects(**cluster_args)).start()
    path = tmp_path / "kubeconfig"
    server.write_kubeconfig(str(path))
    return server, Kube.from_params(dict(kubeconfig=str(path), api_retries=2))


@pytest.fixture
def server_and_kube(tmp_path):
    server, kube = start(tmp_path)
    yield server, kube
    server.stop()


@pytest.fixture
def server(server_and_kube):
    return server_and_kube[0]


@pytest.fixture
def kube(server_and_kube):
    return server_and_kube[1]


def stored(server, api_version, kind, name, namespace="work"):
    return server.store.get(api_version, kind, name, namespace=namespace)


# create


def test_create_stores_the_object_with_our_field_manager(kube, server):
    created = kube.create("", "v1", "configmaps", configmap("c1"), namespace="work")
    assert created["metadata"]["uid"] and created["data"] == {"k": "v"}
    assert stored(server, "v1", "ConfigMap", "c1")["metadata"]["uid"] == created["metadata"]["uid"]
    request = server.requests[-1]
    assert (request.method, request.path, request.query) == (
        "POST", "/api/v1/namespaces/work/configmaps", "fieldManager=%s" % FIELD_MANAGER)
    assert [(f["manager"], f["operation"]) for f in created["metadata"]["managedFields"]] == [(FIELD_MANAGER, "Update")]


def test_create_takes_the_namespace_from_the_body(kube, server):
    kube.create("", "v1", "configmaps", configmap("from-body"))
    assert server.requests[-1].path == "/api/v1/namespaces/work/configmaps"
    assert stored(server, "v1", "ConfigMap", "from-body") is not None


def test_create_of_a_duplicate_is_409_naming_the_call_and_the_fix(kube):
    kube.create("", "v1", "configmaps", configmap("dup"))
    with pytest.raises(KubeError) as err:
        kube.create("", "v1", "configmaps", configmap("dup"))
    assert err.value.status == 409 and "AlreadyExists" not in err.value.hint
    text = str(err.value)
    assert text.startswith("POST /api/v1/namespaces/work/configmaps?fieldManager=k8s-ai-conformance failed: 409")
    assert 'configmaps "dup" already exists' in text and "Fix: an object of that name already exists" in text


def test_create_without_a_name_is_invalid(kube):
    with pytest.raises(KubeError) as err:
        kube.create("", "v1", "configmaps", {"metadata": {}, "data": {}}, namespace="work")
    assert err.value.status == 422 and "metadata.name" in err.value.message
    assert "correct the field the message names" in err.value.hint


def test_dry_run_create_and_patch_store_nothing(kube, server):
    answer = kube.create("", "v1", "configmaps", configmap("dry"), dry_run=True)
    assert answer["metadata"]["name"] == "dry"
    assert "dryRun=All" in server.requests[-1].query
    assert stored(server, "v1", "ConfigMap", "dry") is None
    before = kube.create("", "v1", "configmaps", configmap("real"))
    patched = kube.patch("", "v1", "configmaps", "real", {"data": {"k": "changed"}}, namespace="work", dry_run=True)
    assert patched["data"] == {"k": "changed"} and "dryRun=All" in server.requests[-1].query
    after = kube.get("", "v1", "configmaps", "real", namespace="work")
    assert after["data"] == {"k": "v"} and after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


# patch


def test_merge_patch_removes_with_null_and_bumps_resource_version(kube):
    before = kube.create("", "v1", "configmaps", configmap("m", data={"a": "1", "b": "2"}))
    after = kube.patch("", "v1", "configmaps", "m", {"data": {"a": None, "c": "3"}}, namespace="work")
    assert after["data"] == {"b": "2", "c": "3"}
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])


def test_strategic_merge_patch_acts_as_a_merge_on_maps(kube):
    kube.create("", "v1", "configmaps", configmap("s", data={"a": "1"}))
    after = kube.patch("", "v1", "configmaps", "s", {"data": {"b": "2"}}, namespace="work", patch_type="strategic")
    assert after["data"] == {"a": "1", "b": "2"}


def test_json_patch_adds_replaces_and_removes(kube):
    kube.create("", "v1", "configmaps", configmap("j", data={"a": "1", "b": "2"}))
    after = kube.patch("", "v1", "configmaps", "j", [
        {"op": "add", "path": "/data/c", "value": "3"},
        {"op": "replace", "path": "/data/a", "value": "9"},
        {"op": "remove", "path": "/data/b"},
    ], namespace="work", patch_type="json")
    assert after["data"] == {"a": "9", "c": "3"}
    with pytest.raises(KubeError) as err:
        kube.patch("", "v1", "configmaps", "j", [{"op": "remove", "path": "/data/missing"}], namespace="work",
                   patch_type="json")
    assert err.value.status == 422


def test_patch_of_a_missing_object_is_404_with_the_fix(kube):
    with pytest.raises(KubeError) as err:
        kube.patch("", "v1", "configmaps", "nope", {"data": {}}, namespace="work")
    assert err.value.status == 404 and "patch_type='apply'" in err.value.hint


def test_patch_arguments_are_checked_before_any_call(kube, server):
    server.reset_requests()
    with pytest.raises(ValueError, match="force is only valid"):
        kube.patch("", "v1", "configmaps", "x", {}, namespace="work", force=True)
    with pytest.raises(ValueError, match="list of operations"):
        kube.patch("", "v1", "configmaps", "x", {"op": "add"}, namespace="work", patch_type="json")
    with pytest.raises(ValueError, match="patch_type must be one of"):
        kube.patch("", "v1", "configmaps", "x", {}, namespace="work", patch_type="update")
    assert server.request_count == 0


def test_apply_creates_then_is_idempotent_and_records_the_field_manager(kube, server, monkeypatch):
    ticks = iter(range(10 ** 6))
    monkeypatch.setattr(fake_store, "now", lambda: "2026-01-01T00:00:%02dZ" % (next(ticks) % 60))  # every write a new time
    created = kube.patch("", "v1", "configmaps", "a", configmap("a"), namespace="work", patch_type="apply")
    assert server.requests[-1].query == "fieldManager=k8s-ai-conformance"
    again = kube.patch("", "v1", "configmaps", "a", configmap("a"), namespace="work", patch_type="apply", force=True)
    assert "force=true" in server.requests[-1].query
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    assert [(f["manager"], f["operation"]) for f in again["metadata"]["managedFields"]] == [(FIELD_MANAGER, "Apply")]
    changed = kube.patch("", "v1", "configmaps", "a", configmap("a", data={"k": "w"}), namespace="work",
                         patch_type="apply", field_manager="installer")
    assert changed["data"] == {"k": "w"} and changed["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    assert {f["manager"] for f in changed["metadata"]["managedFields"]} == {FIELD_MANAGER, "installer"}


def test_apply_needs_api_version_and_kind(kube):
    with pytest.raises(KubeError) as err:
        kube.patch("", "v1", "configmaps", "a", {"metadata": {"name": "a"}, "data": {}}, namespace="work",
                   patch_type="apply")
    assert err.value.status == 400 and "apiVersion and kind" in err.value.message


def test_generation_moves_with_the_spec_only(kube):
    created = kube.create("apps", "v1", "deployments", deployment("gen"))
    assert created["metadata"]["generation"] == 1
    labelled = kube.patch("apps", "v1", "deployments", "gen", {"metadata": {"labels": {"x": "y"}}}, namespace="work")
    assert labelled["metadata"]["generation"] == 1
    assert labelled["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    scaled = kube.patch("apps", "v1", "deployments", "gen", {"spec": {"replicas": 5}}, namespace="work")
    assert scaled["metadata"]["generation"] == 2


# delete


def test_delete_says_whether_the_object_existed(kube, server):
    kube.create("", "v1", "configmaps", configmap("gone"))
    assert kube.delete("", "v1", "configmaps", "gone", namespace="work", grace_period_seconds=0) is True
    assert server.requests[-1].query == "propagationPolicy=Background&gracePeriodSeconds=0"
    assert stored(server, "v1", "ConfigMap", "gone") is None
    assert kube.delete("", "v1", "configmaps", "gone", namespace="work") is False
    with pytest.raises(ValueError, match="propagation must be one of"):
        kube.delete("", "v1", "configmaps", "gone", namespace="work", propagation="Cascade")


def owned_configmap(name, owner):
    body = configmap(name)
    body["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner["metadata"]["name"],
                                            "uid": owner["metadata"]["uid"]}]
    return body


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
def test_cascading_delete_takes_the_dependents(kube, server, propagation):
    owner = kube.create("apps", "v1", "deployments", deployment("owner"))
    kube.create("", "v1", "configmaps", owned_configmap("dependent", owner))
    assert kube.delete("apps", "v1", "deployments", "owner", namespace="work", propagation=propagation)
    assert "propagationPolicy=%s" % propagation in server.requests[-1].query
    assert stored(server, "v1", "ConfigMap", "dependent") is None


def test_orphaning_delete_keeps_the_dependents_without_the_reference(kube, server):
    owner = kube.create("apps", "v1", "deployments", deployment("owner"))
    kube.create("", "v1", "configmaps", owned_configmap("orphan", owner))
    assert kube.delete("apps", "v1", "deployments", "owner", namespace="work", propagation="Orphan")
    orphan = stored(server, "v1", "ConfigMap", "orphan")
    assert orphan is not None and "ownerReferences" not in orphan["metadata"]


def test_namespace_delete_waits_until_it_is_gone(tmp_path):
    server, kube = start(tmp_path, namespace_termination_seconds=0.4)
    try:
        kube.create("", "v1", "namespaces", {"metadata": {"name": "scratch"}})
        kube.create("", "v1", "configmaps", configmap("inside", namespace="scratch"))
        started = time.monotonic()
        assert kube.delete("", "v1", "namespaces", "scratch") is True
        terminating = kube.get("", "v1", "namespaces", "scratch")
        assert terminating["status"]["phase"] == "Terminating" and terminating["metadata"]["deletionTimestamp"]
        with pytest.raises(KubeError) as err:
            kube.create("", "v1", "configmaps", configmap("late", namespace="scratch"))
        assert err.value.status == 403 and "being terminated" in err.value.message
        assert "wait until it is gone" in err.value.hint
        assert kube.delete("", "v1", "namespaces", "scratch") is True, "still there while Terminating"
        assert kube.wait("", "v1", "namespaces", "scratch", gone=True, timeout=5, interval=0.05) is None
        assert time.monotonic() - started >= 0.35, "wait(gone=True) returned before the namespace was gone"
        assert kube.get("", "v1", "namespaces", "scratch") is None
        assert stored(server, "v1", "ConfigMap", "inside", namespace="scratch") is None
        assert kube.delete("", "v1", "namespaces", "scratch") is False
    finally:
        server.stop()


def test_wait_for_a_stuck_namespace_times_out_with_its_conditions(tmp_path):
    server, kube = start(tmp_path, namespace_termination_seconds=3600)
    try:
        kube.create("", "v1", "namespaces", {"metadata": {"name": "stuck"}})
        kube.delete("", "v1", "namespaces", "stuck")
        with pytest.raises(WaitTimeout) as err:
            kube.wait("", "v1", "namespaces", "stuck", gone=True, timeout=0.3, interval=0.1)
        text = str(err.value)
        assert text.startswith("WAIT /api/v1/namespaces/stuck failed: namespaces stuck not gone after 0.3s")
        assert "phase=Terminating" in text and "NamespaceContentRemaining=True" in text and "finalizers=kubernetes" in text
        assert err.value.hint == ("%s (kubectl describe namespaces stuck); raise the timeout if the cluster is only slow"
                                  % namespace_gone.hint)
    finally:
        server.stop()


# wait


def test_wait_times_out_within_its_bound_with_a_clear_message(kube, server):
    kube.create("apps", "v1", "deployments", deployment("slow"))
    server.reset_requests()
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as err:
        kube.wait("apps", "v1", "deployments", "slow", namespace="work", predicate=deployment_available,
                  timeout=0.5, interval=0.1)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.0, elapsed
    assert [r.attributes.verb for r in server.requests] == ["get", "watch"] and err.value.looks == 1, "a GET, then one watch"
    assert isinstance(err.value, KubeError) and err.value.last["metadata"]["name"] == "slow"
    text = str(err.value)
    assert "deployments.apps work/slow not available" in text and "after 0.5s (1 look)" in text
    assert "last observed: generation=1, status.observedGeneration unset (no controller has seen it)" in text
    assert "spec.replicas=3 status.replicas=None" in text
    assert "Fix: look at the Deployment's pods" in text and "kubectl describe deployments.apps slow -n work" in text


def test_a_wait_watches_instead_of_polling_every_interval(kube, server):
    kube.create("", "v1", "configmaps", configmap("never"))
    server.reset_requests()
    with pytest.raises(WaitTimeout) as err:
        kube.wait("", "v1", "configmaps", "never", namespace="work", predicate=lambda obj: False, timeout=0.2, interval=0.1)
    assert [r.attributes.verb for r in server.requests] == ["get", "watch"] and err.value.looks == 1, "no poll while watching"
    assert "not <lambda> after" in str(err.value) and "last observed: no status yet" in str(err.value)


def test_wait_returns_the_object_that_satisfied_the_predicate(kube):
    kube.create("apps", "v1", "deployments", deployment("web", replicas=2))
    ready = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    timer = later(0.2, set_status, kube, "apps", "v1", "deployments", "web", ready)
    try:
        obj = kube.wait("apps", "v1", "deployments", "web", namespace="work", predicate=deployment_available,
                        timeout=5, interval=0.05)
    finally:
        timer.join()
    assert obj["status"]["availableReplicas"] == 2


def test_wait_honours_observed_generation(kube):
    kube.create("apps", "v1", "deployments", deployment("roll", replicas=2))
    set_status(kube, "apps", "v1", "deployments", "roll",
               {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2})
    assert kube.wait("apps", "v1", "deployments", "roll", namespace="work", predicate=deployment_available, timeout=1)
    kube.patch("apps", "v1", "deployments", "roll", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "registry.example.com/app:v2"}]}}}}, namespace="work")
    with pytest.raises(WaitTimeout) as err:  # the status (all replicas available) is of generation 1
        kube.wait("apps", "v1", "deployments", "roll", namespace="work", predicate=deployment_available,
                  timeout=0.3, interval=0.1)
    assert "generation=2 observedGeneration=1 (status is from an older generation)" in str(err.value)
    timer = later(0.2, set_status, kube, "apps", "v1", "deployments", "roll", {"observedGeneration": 2})
    try:
        obj = kube.wait("apps", "v1", "deployments", "roll", namespace="work", predicate=deployment_available,
                        timeout=5, interval=0.05)
    finally:
        timer.join()
    assert obj["status"]["observedGeneration"] == 2


def test_wait_for_a_missing_object_keeps_polling_until_it_appears(kube):
    timer = later(0.2, kube.create, "", "v1", "configmaps", configmap("late"))
    try:
        obj = kube.wait("", "v1", "configmaps", "late", namespace="work", predicate=lambda obj: obj["data"]["k"] == "v",
                        timeout=5, interval=0.05)
    finally:
        timer.join()
    assert obj["metadata"]["name"] == "late"


def test_wait_needs_a_predicate_and_ends_on_api_errors(tmp_path):
    server, kube = start(tmp_path, forbidden=["v1/secrets"])
    try:
        with pytest.raises(ValueError, match="needs a predicate"):
            kube.wait("", "v1", "configmaps", "x", namespace="work")
        started = time.monotonic()
        with pytest.raises(KubeError) as err:
            kube.wait("", "v1", "secrets", "s", namespace="work", predicate=lambda obj: True, timeout=10, interval=0.05)
        assert err.value.status == 403 and not isinstance(err.value, WaitTimeout)
        assert time.monotonic() - started < 2
    finally:
        server.stop()


def test_job_complete_failed_and_any_of(kube):
    kube.create("batch", "v1", "jobs", job("ok"))
    kube.create("batch", "v1", "jobs", job("bad"))
    set_status(kube, "batch", "v1", "jobs", "ok", {"conditions": [{"type": "Complete", "status": "True"}]})
    set_status(kube, "batch", "v1", "jobs", "bad", {"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]})
    assert kube.wait("batch", "v1", "jobs", "ok", namespace="work", predicate=job_complete, timeout=1)
    finished = any_of(job_complete, job_failed)
    assert job_failed(kube.wait("batch", "v1", "jobs", "bad", namespace="work", predicate=finished, timeout=1))
    with pytest.raises(WaitTimeout) as err:
        kube.wait("batch", "v1", "jobs", "bad", namespace="work", predicate=job_complete, timeout=0.2, interval=0.1)
    assert "not Complete after" in str(err.value)
    assert "Failed=True (BackoffLimitExceeded: Job has reached the specified backoff limit)" in str(err.value)
    assert "kubectl logs job/<name>" in err.value.hint


def test_crd_established_over_the_api(kube):
    kube.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", gadget_crd())
    crd = kube.wait("apiextensions.k8s.io", "v1", "customresourcedefinitions", "gadgets.example.org",
                    predicate=crd_established, timeout=2, interval=0.05)
    assert crd["spec"]["group"] == "example.org"
    assert not crd_established({"status": {"conditions": [{"type": "Established", "status": "False"}]}})


def test_pod_phase(kube):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "work"},
           "spec": {"containers": CONTAINERS}}
    kube.create("", "v1", "pods", pod)
    set_status(kube, "", "v1", "pods", "p", {"phase": "Succeeded"})
    assert kube.wait("", "v1", "pods", "p", namespace="work", predicate=pod_phase("Succeeded", "Failed"), timeout=1)
    with pytest.raises(WaitTimeout) as err:
        kube.wait("", "v1", "pods", "p", namespace="work", predicate=pod_phase(), timeout=0.1, interval=0.05)
    assert "not in phase Running after" in str(err.value) and "phase=Succeeded" in str(err.value)


def test_daemonset_ready_over_the_api(kube):
    kube.create("apps", "v1", "daemonsets", daemonset("agent"))
    with pytest.raises(WaitTimeout) as err:  # no status yet: not ready, though every count is 0
        kube.wait("apps", "v1", "daemonsets", "agent", namespace="work", predicate=daemonset_ready, timeout=0.1, interval=0.05)
    assert "status.desiredNumberScheduled=None" in str(err.value)
    set_status(kube, "apps", "v1", "daemonsets", "agent", {
        "observedGeneration": 1, "desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 3})
    assert kube.wait("apps", "v1", "daemonsets", "agent", namespace="work", predicate=daemonset_ready, timeout=1)


# predicates on objects


def _with_status(generation, **status):
    return {"metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize("obj, expected", [
    (_with_status(2, conditions=[{"type": "Ready", "status": "True"}]), True),
    (_with_status(2, conditions=[{"type": "Ready", "status": "True", "observedGeneration": 2}]), True),
    (_with_status(2, conditions=[{"type": "Ready", "status": "True", "observedGeneration": 1}]), False),
    (_with_status(2, observedGeneration=1, conditions=[{"type": "Ready", "status": "True"}]), False),
    (_with_status(2, observedGeneration=2, conditions=[{"type": "Ready", "status": "True"}]), True),
    (_with_status(1, conditions=[{"type": "Ready", "status": "False"}]), False),
    (_with_status(1, conditions=[{"type": "Other", "status": "True"}]), False),
    (_with_status(1), False),
    (None, False),
])
def test_condition_is_honours_observed_generation(obj, expected):
    assert condition_is("Ready")(obj) is expected


def test_condition_is_with_another_status():
    assert condition_is("Ready", "False")(_with_status(1, conditions=[{"type": "Ready", "status": "False"}]))


@pytest.mark.parametrize("generation, status, expected", [
    (1, {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}, True),
    (2, {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}, False),
    (1, {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}, False),
    (1, {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}, False),
    (1, {"observedGeneration": 1, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}, False),
    (1, {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}, False),
])
def test_deployment_available(generation, status, expected):
    obj = {"metadata": {"generation": generation}, "spec": {"replicas": 3}, "status": status}
    assert deployment_available(obj) is expected


@pytest.mark.parametrize("generation, status, expected", [
    (1, {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2}, True),
    (2, {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2}, False),
    (1, {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2}, False),
    (1, {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 1}, False),
])
def test_daemonset_ready(generation, status, expected):
    assert daemonset_ready({"metadata": {"generation": generation}, "status": status}) is expected


def test_gone_predicates_hold_only_for_a_missing_object():
    assert namespace_gone(None) and not namespace_gone({"metadata": {"name": "x"}})
    assert any_of(job_complete, namespace_gone)(None)
    assert not any_of(job_complete, job_failed)(None)


# retries and errors of writes


def test_writes_are_retried_on_429_only(tmp_path):
    server, kube = start(tmp_path, proxy={
        "/api/v1/namespaces/work/configmaps": {"body": "busy", "status": 503},
        "/api/v1/namespaces/work/secrets": {"body": "slow down", "status": 429},
    })
    kube.backoff = 0.01
    try:
        with pytest.raises(KubeError) as err:
            kube.create("", "v1", "configmaps", configmap("c"))
        assert server.count_requests("/api/v1/namespaces/work/configmaps", "POST") == 1
        assert err.value.status == 503 and err.value.retries is None
        with pytest.raises(KubeError) as err:
            kube.create("", "v1", "secrets", {"metadata": {"name": "s", "namespace": "work"}})
        assert server.count_requests("/api/v1/namespaces/work/secrets", "POST") == 3
        assert err.value.status == 429 and "2 retries made (api_retries=2)" in str(err.value)
    finally:
        server.stop()


def test_a_write_whose_connection_failed_before_sending_is_retried():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there: every connection is refused
    kube = Kube.from_params(dict(host="http://127.0.0.1:%d" % port, api_key="t", api_retries=2, connect_timeout=1))
    kube.backoff = 0.01
    with pytest.raises(ApiUnreachable) as err:
        kube.create("", "v1", "configmaps", configmap("c"))
    assert kube.request_count == 3 and err.value.retries == 2
    assert "2 retries made (api_retries=2); a write is retried only when its connection failed" in str(err.value)


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers; yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    held, stop = [], threading.Event()

    def accept():
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


def test_a_write_that_may_have_been_received_is_not_retried(silent_server):
    kube = Kube.from_params(dict(host=silent_server, api_key="t", request_timeout=0.3, api_retries=3))
    started = time.monotonic()
    with pytest.raises(ApiUnreachable) as err:
        kube.delete("", "v1", "configmaps", "c", namespace="work")
    assert time.monotonic() - started < 1.5 and kube.request_count == 1
    assert "not retried: the server may have received it" in str(err.value)
    assert "check whether it took effect" in str(err.value)


def test_a_forbidden_write_names_the_verb_and_write_access(tmp_path):
    server, kube = start(tmp_path, forbidden=["v1/configmaps"])
    try:
        with pytest.raises(KubeError) as err:
            kube.create("", "v1", "configmaps", configmap("c"))
        assert err.value.status == 403 and "grant the identity 'create'" in err.value.hint
        assert "read-only ClusterRole ai-conformance-verify" in err.value.hint
        with pytest.raises(KubeError) as err:
            kube.delete("", "v1", "configmaps", "c", namespace="work")
        assert err.value.status == 403 and "grant the identity 'delete'" in err.value.hint
    finally:
        server.stop()


def test_patch_types_are_sent_with_their_content_type(kube, monkeypatch):
    sent = []
    original = kube_module.Kube._send

    def spy(self, method, path, query_list, body, header_params):
        sent.append((method, header_params["Content-Type"], type(body).__name__))
        return original(self, method, path, query_list, body, header_params)

    monkeypatch.setattr(kube_module.Kube, "_send", spy)
    kube.create("", "v1", "configmaps", configmap("t"))
    for patch_type, patch in (("merge", {"data": {}}), ("strategic", {"data": {}}),
                              ("json", [{"op": "add", "path": "/data/x", "value": "1"}]), ("apply", configmap("t"))):
        kube.patch("", "v1", "configmaps", "t", patch, namespace="work", patch_type=patch_type)
    assert sent == [("POST", "application/json", "dict"),
                    ("PATCH", "application/merge-patch+json", "dict"),
                    ("PATCH", "application/strategic-merge-patch+json", "dict"),
                    ("PATCH", "application/json-patch+json", "list"),
                    ("PATCH", "application/apply-patch+yaml", "str")]


# the probe registry (nothing else imports it yet)


def test_probe_registry_mirrors_the_check_registry():
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import PROBES, probe

    def first(ctx, namespace):
        return None

    def second(ctx, namespace):
        return None

    try:
        assert probe("test/registry_probe")(first) is first
        assert probe("test/registry_probe")(first) is first, "registering the same function again is harmless"
        assert PROBES["test/registry_probe"] is first
        with pytest.raises(ValueError, match="two probes registered for test/registry_probe"):
            probe("test/registry_probe")(second)
    finally:
        PROBES.pop("test/registry_probe", None)
