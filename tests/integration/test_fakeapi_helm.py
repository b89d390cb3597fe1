"""Real helm v4, kubernetes.core.helm / k8s / k8s_info against the fake API server with its simulated controllers.

The server runs with ``controller_delay`` (the simulated controllers: API-created Deployments,
StatefulSets and DaemonSets report ready replicas that long after each generation), so the
readiness waits of helm (a kstatus watcher over ``?watch=true``) and of kubernetes.core (polling)
are exercised for real. Chart: tests/fixtures/charts/fakeapi-smoke.
"""

import http.client
import json
import os
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import yaml

from tests.fakeapi import FakeKubeServer, load_cluster
from tests.fakeapi.server import DEFAULT_CONTROLLER_DELAY
from tests.integration.conftest import HELM, ROOT, run_playbook

CHART = ROOT / "tests" / "fixtures" / "charts" / "fakeapi-smoke"
CRD = "smokegadgets.smoke.example.org"
GADGETS = "/apis/smoke.example.org/v1alpha1"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
needs_helm = pytest.mark.skipif(HELM is None, reason="the helm binary is not installed (.venv/bin/helm)")


@pytest.fixture
def cluster(tmp_path):
    """kubeadm-plain (3 nodes; cp-01 has the control-plane NoSchedule taint) with the simulated controllers."""
    server = FakeKubeServer(load_cluster("kubeadm-plain"), controller_delay=DEFAULT_CONTROLLER_DELAY).start()
    server.kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    yield server
    server.stop()


def helm(server, tmp_path, *args, timeout=60):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "K8S_AUTH_"))},
           "KUBECONFIG": str(server.kubeconfig), "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "helm-config"), "HELM_DATA_HOME": str(tmp_path / "helm-data")}
    return subprocess.run([str(HELM), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def get(server, path, accept="application/json"):
    """(status, parsed JSON body) of a GET."""
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Accept": accept})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def obj(server, api_version, kind, name, namespace="default"):
    return server.store.get(api_version, kind, name, namespace)


def served_groups(server):
    return {item["metadata"].get("name") for item in get(server, "/apis", AGGREGATED)[1]["items"]}


def writes(server):
    return [f"{r.method} {r.path}" for r in server.requests if r.method not in ("GET", "HEAD")]


def release_secrets(server, release="smoke"):
    return {s["metadata"]["name"]: s for s in server.store.objects("v1", "Secret", "default")
            if (s["metadata"].get("labels") or {}).get("owner") == "helm"
            and s["metadata"]["labels"].get("name") == release}


# Real helm v4.


@needs_helm
def test_helm_install_upgrade_uninstall_with_waits(cluster, tmp_path):
    assert get(cluster, GADGETS)[0] == 404 and "smoke.example.org" not in served_groups(cluster)
    started = time.monotonic()
    proc = helm(cluster, tmp_path, "install", "smoke", str(CHART), "-n", "default", "--wait", "--timeout", "30s")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started >= DEFAULT_CONTROLLER_DELAY, "helm cannot have waited for the controller"
    assert any("watch=true" in r.query for r in cluster.requests), "helm v4 --wait watches (kstatus)"
    assert "ListAndWatch error" not in proc.stderr, proc.stderr  # the watches worked (no relisting)
    # Server-side apply created everything; the simulated controllers made the workloads ready.
    assert [r.query for r in cluster.requests if r.method == "PATCH" and r.path.endswith("/smoke-web")] == [
        "fieldManager=helm&fieldValidation=Strict&force=false"]
    web = obj(cluster, "apps/v1", "Deployment", "smoke-web")
    assert web["status"]["observedGeneration"] == web["metadata"]["generation"] == 1
    assert web["status"]["readyReplicas"] == web["status"]["availableReplicas"] == web["spec"]["replicas"] == 2
    agent = obj(cluster, "apps/v1", "DaemonSet", "smoke-agent")["status"]
    assert agent["desiredNumberScheduled"] == agent["numberReady"] == 2, "cp-01's taint is not tolerated"
    assert obj(cluster, "v1", "ConfigMap", "smoke-settings")["data"] == {"message": "hello"}
    assert obj(cluster, "smoke.example.org/v1alpha1", "SmokeGadget", "smoke-gadget")["spec"] == {"size": 1}
    # The CRD (from crds/) is Established and served, in legacy and aggregated discovery.
    crd = obj(cluster, "apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD, "")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert [r["name"] for r in get(cluster, GADGETS)[1]["resources"]] == ["smokegadgets"]
    assert "smoke.example.org" in served_groups(cluster)
    # helm's release storage: Secrets selected by label.
    assert {n: s["metadata"]["labels"]["status"] for n, s in release_secrets(cluster).items()} == {
        "sh.helm.release.v1.smoke.v1": "deployed"}
    assert release_secrets(cluster)["sh.helm.release.v1.smoke.v1"]["type"] == "helm.sh/release.v1"
    listed = json.loads(helm(cluster, tmp_path, "list", "-n", "default", "-o", "json").stdout)
    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("smoke", "1", "deployed")]
    assert "STATUS: deployed" in helm(cluster, tmp_path, "status", "smoke", "-n", "default").stdout

    proc = helm(cluster, tmp_path, "upgrade", "smoke", str(CHART), "-n", "default", "--set", "message=bye",
                "--wait", "--timeout", "30s")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(helm(cluster, tmp_path, "get", "values", "smoke", "-n", "default", "-o", "json").stdout) == {
        "message": "bye"}
    assert obj(cluster, "v1", "ConfigMap", "smoke-settings")["data"] == {"message": "bye"}
    web = obj(cluster, "apps/v1", "Deployment", "smoke-web")
    assert web["metadata"]["generation"] == web["status"]["observedGeneration"] == 2, "the status followed the update"
    assert {n: s["metadata"]["labels"]["status"] for n, s in release_secrets(cluster).items()} == {
        "sh.helm.release.v1.smoke.v1": "superseded", "sh.helm.release.v1.smoke.v2": "deployed"}

    proc = helm(cluster, tmp_path, "uninstall", "smoke", "-n", "default", "--wait", "--timeout", "30s")
    assert proc.returncode == 0, proc.stderr
    for api_version, kind, name in (("v1", "ConfigMap", "smoke-settings"), ("apps/v1", "Deployment", "smoke-web"),
                                    ("apps/v1", "DaemonSet", "smoke-agent"),
                                    ("smoke.example.org/v1alpha1", "SmokeGadget", "smoke-gadget")):
        assert obj(cluster, api_version, kind, name) is None, kind
    assert release_secrets(cluster) == {}
    # helm keeps CRDs from crds/; deleting it takes its resources out of discovery.
    assert obj(cluster, "apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD, "") is not None
    cluster.api.handle("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD}", "", {}, b"")
    assert get(cluster, GADGETS)[0] == 404 and "smoke.example.org" not in served_groups(cluster)


@needs_helm
def test_helm_wait_on_a_workload_that_never_becomes_ready_times_out(cluster, tmp_path):
    started = time.monotonic()
    proc = helm(cluster, tmp_path, "install", "stuck", str(CHART), "-n", "default", "--set", "neverReady=true",
                "--wait", "--timeout", "2s")
    assert proc.returncode != 0 and time.monotonic() - started < 20
    assert "resource Deployment/default/stuck-web not ready" in proc.stderr, proc.stderr
    assert "context deadline exceeded" in proc.stderr
    web = obj(cluster, "apps/v1", "Deployment", "stuck-web")
    assert web["status"]["observedGeneration"] == 1 and web["status"]["readyReplicas"] == 0
    assert "DaemonSet/default/stuck-agent" not in proc.stderr, "the DaemonSet did become ready"


@needs_helm
def test_helm_without_the_controllers_cannot_finish_a_wait(tmp_path):
    server = FakeKubeServer(load_cluster("kubeadm-plain")).start()  # controller_delay=None: no controllers
    try:
        server.kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        proc = helm(server, tmp_path, "install", "smoke", str(CHART), "-n", "default", "--wait", "--timeout", "2s")
        assert proc.returncode != 0 and "resource Deployment/default/smoke-web not ready" in proc.stderr
        assert "status" not in obj(server, "apps/v1", "Deployment", "smoke-web")
    finally:
        server.stop()


# kubernetes.core through ansible-playbook.

HELM_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: the release
      kubernetes.core.helm:
        binary_path: "{{ helm_bin }}"  # helm v4 behind the make-install wrapper kubernetes.core 6.2.0 needs
        kubeconfig: "{{ kubeconfig }}"
        name: smoke
        chart_ref: "{{ chart }}"
        release_namespace: default
        values: "{{ release_values }}"
        state: "{{ release_state }}"
        wait: true
        wait_timeout: 30s
      register: release
    - name: report
      ansible.builtin.debug:
        msg: "RESULT changed={{ release.changed }}"
"""


def play(tmp_path, server, source, check=False, **extra):
    playbook = tmp_path / "play.yml"
    playbook.write_text(source)
    extra = {"kubeconfig": str(server.kubeconfig), **extra}
    env = {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "helm-config"), "HELM_DATA_HOME": str(tmp_path / "helm-data")}
    proc = run_playbook(str(playbook), tmp_path, extra, check=check, env=env, inventory=None)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout[-3000:]
    return proc


def changed(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    flags = [line.split("RESULT changed=")[1].split()[0].strip("'\"") for line in proc.stdout.splitlines()
             if "RESULT changed=" in line]
    assert len(flags) == 1, proc.stdout[-3000:]
    return flags[0] == "True"


@needs_helm
def test_kubernetes_core_helm_is_idempotent_upgrades_checks_and_uninstalls(cluster, tmp_path):
    def release(check=False, state="present", **values):
        return play(tmp_path, cluster, HELM_PLAY, check=check, helm_bin=str(HELM), chart=str(CHART),
                    release_values=values, release_state=state)

    assert changed(release()) is True
    web = obj(cluster, "apps/v1", "Deployment", "smoke-web")
    assert web["status"]["readyReplicas"] == 2 and web["status"]["observedGeneration"] == 1
    assert list(release_secrets(cluster)) == ["sh.helm.release.v1.smoke.v1"]
    assert changed(release()) is False

    cluster.reset_requests()
    assert changed(release(check=True, message="bye")) is True
    assert writes(cluster) == [], "check mode wrote to the server"
    assert obj(cluster, "v1", "ConfigMap", "smoke-settings")["data"] == {"message": "hello"}

    assert changed(release(message="bye")) is True
    assert obj(cluster, "v1", "ConfigMap", "smoke-settings")["data"] == {"message": "bye"}
    web = obj(cluster, "apps/v1", "Deployment", "smoke-web")
    assert web["metadata"]["generation"] == web["status"]["observedGeneration"] == 2
    assert sorted(release_secrets(cluster)) == ["sh.helm.release.v1.smoke.v1", "sh.helm.release.v1.smoke.v2"]

    assert changed(release(state="absent")) is True
    assert obj(cluster, "apps/v1", "Deployment", "smoke-web") is None
    assert obj(cluster, "v1", "ConfigMap", "smoke-settings") is None and release_secrets(cluster) == {}
    assert changed(release(state="absent")) is False


MANIFEST = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: probes.k8s.example.org}
spec:
  group: k8s.example.org
  scope: Namespaced
  names: {plural: probes, singular: probe, kind: Probe}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: k8s.example.org/v1
kind: Probe
metadata: {name: first, namespace: default}
spec: {size: 1}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: registry.example.com/db:1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: registry.example.com/api:1}]}
"""

K8S_PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s:
      kubeconfig: "{{ kubeconfig }}"
  tasks:
    - name: server-side apply of the manifest (CRD, custom resource, StatefulSet, Deployment)
      kubernetes.core.k8s:
        src: "{{ manifest }}"
        state: present
        apply: true
        server_side_apply: {field_manager: fakeapi-test, force_conflicts: true}
        wait: true
        wait_sleep: 1
        wait_timeout: 20
      register: applied
    - name: the Deployment is ready
      kubernetes.core.k8s_info:
        kind: Deployment
        name: api
        namespace: default
        wait: true
        wait_sleep: 1
        wait_timeout: 20
      register: api
    - name: the CRD is Established
      kubernetes.core.k8s_info:
        kind: CustomResourceDefinition
        name: probes.k8s.example.org
        wait: true
        wait_condition: {type: Established, status: "True"}
        wait_sleep: 1
        wait_timeout: 20
    - name: custom resources of it
      kubernetes.core.k8s_info:
        api_version: k8s.example.org/v1
        kind: Probe
        namespace: default
      register: probes
    - name: the same apply again
      kubernetes.core.k8s:
        src: "{{ manifest }}"
        state: present
        apply: true
        server_side_apply: {field_manager: fakeapi-test, force_conflicts: true}
      register: again
    - name: the same manifest with plain state present
      kubernetes.core.k8s:
        src: "{{ manifest }}"
        state: present
      register: plain
    - name: a Deployment the simulated controller never makes ready
      kubernetes.core.k8s:
        state: present
        definition:
          apiVersion: apps/v1
          kind: Deployment
          metadata: {name: stuck, namespace: default, annotations: {"fakeapi.k8s-ai.io/never-ready": "true"}}
          spec:
            replicas: 1
            selector: {matchLabels: {app: stuck}}
            template:
              metadata: {labels: {app: stuck}}
              spec: {containers: [{name: main, image: registry.example.com/app:1}]}
        wait: true
        wait_sleep: 1
        wait_timeout: 2
      register: stuck
      ignore_errors: true
    - name: report
      ansible.builtin.debug:
        msg: "RESULT changed={{ applied.changed }} again={{ again.changed }} plain={{ plain.changed }}
          ready={{ api.resources[0].status.readyReplicas }}
          probes={{ probes.resources | map(attribute='metadata.name') | join(',') }}
          stuck_failed={{ stuck.failed }} STUCK {{ stuck.msg }}"
"""


def test_kubernetes_core_k8s_applies_crds_and_waits(cluster, tmp_path):
    manifest = tmp_path / "manifest.yml"
    manifest.write_text(MANIFEST)
    started = time.monotonic()
    proc = play(tmp_path, cluster, K8S_PLAY, manifest=str(manifest))
    assert proc.returncode == 0, proc.stdout[-3000:]
    line = " ".join(proc.stdout.split("RESULT ", 1)[1].split("STUCK", 1)[0].split())
    assert line == "changed=True again=False plain=False ready=3 probes=first stuck_failed=True", proc.stdout[-3000:]
    stuck_message = proc.stdout.split("STUCK", 1)[1].split("\n")[0]
    assert '"Deployment" "stuck": Timed out waiting on resource' in stuck_message, stuck_message
    assert time.monotonic() - started < 40
    assert any(r.method == "PATCH" and "fieldManager=fakeapi-test" in r.query for r in cluster.requests)
    db = obj(cluster, "apps/v1", "StatefulSet", "db")
    assert db["spec"]["updateStrategy"]["type"] == "RollingUpdate", "server default kubernetes.core reads"
    assert db["status"]["readyReplicas"] == 2 and db["status"]["currentRevision"] == db["status"]["updateRevision"]
    assert "probes" in {r["name"] for r in get(cluster, "/apis/k8s.example.org/v1")[1]["resources"]}
    assert obj(cluster, "apps/v1", "Deployment", "stuck")["status"]["readyReplicas"] == 0


# The fake's own behaviour, directly.


def watch_events(server, path, count, timeout=5):
    """The first ``count`` events of a watch stream (``path`` with its query)."""
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
        events = []
        while len(events) < count:
            line = response.fp.readline()  # chunk size line, then the event
            if not line:
                break
            if line.strip() and not line.startswith(b"{"):
                continue
            if line.strip():
                events.append(json.loads(line))
        return events
    finally:
        connection.close()


def api(server, method, path, body=None, content_type="application/json"):
    response = server.api.handle(method, path, "", {"Content-Type": content_type},
                                 json.dumps(body).encode() if body is not None else b"")
    return response.status, json.loads(response.body)


def deployment(name, replicas=2, namespace="default"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "registry.example.com/app:1"}]}}}}


def test_watch_streams_changes_and_controller_status(cluster):
    rv = cluster.store.resource_version
    assert api(cluster, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment("w"))[0] == 201
    events = watch_events(cluster, f"/apis/apps/v1/namespaces/default/deployments?watch=true&resourceVersion={rv}"
                                   "&timeoutSeconds=3", 2)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED"]
    assert events[0]["object"]["kind"] == "Deployment" and events[0]["object"]["status"] == {}
    assert events[1]["object"]["status"]["readyReplicas"] == 2, "the simulated controller's status"
    initial = watch_events(cluster, "/apis/apps/v1/namespaces/default/deployments?watch=true&sendInitialEvents=true"
                                    "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=2", 2)
    assert [e["type"] for e in initial] == ["ADDED", "BOOKMARK"]
    assert initial[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    api(cluster, "DELETE", "/apis/apps/v1/namespaces/default/deployments/w")
    gone = watch_events(cluster, f"/apis/apps/v1/namespaces/default/deployments?watch=true&resourceVersion={rv}"
                                 "&fieldSelector=metadata.name%3Dw&timeoutSeconds=2", 3)
    assert [e["type"] for e in gone] == ["ADDED", "MODIFIED", "DELETED"]


def test_fixture_workloads_keep_their_status(cluster):
    before = obj(cluster, "apps/v1", "Deployment", "calico-kube-controllers", "kube-system") \
        or next(iter(cluster.store.objects("apps/v1", "Deployment")))
    name, namespace = before["metadata"]["name"], before["metadata"]["namespace"]
    patch = {"metadata": {"labels": {"touched": "yes"}}, "spec": {"replicas": 5}}
    status = api(cluster, "PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", patch,
                 "application/merge-patch+json")[0]
    assert status == 200
    time.sleep(DEFAULT_CONTROLLER_DELAY * 2)
    after = obj(cluster, "apps/v1", "Deployment", name, namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after["status"] == before["status"], "a fixture object's status is the fixture's"


def test_crd_establish_delay_and_namespace_deletion(tmp_path):
    server = FakeKubeServer(load_cluster("kubeadm-plain"), controller_delay=0.2, crd_establish_delay=0.3).start()
    try:
        crd = yaml.safe_load(MANIFEST.split("---", maxsplit=1)[0])
        assert api(server, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
        stored = obj(server, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "probes.k8s.example.org", "")
        assert stored["status"]["conditions"] == [] and get(server, "/apis/k8s.example.org/v1")[0] == 404
        time.sleep(0.4)
        assert get(server, "/apis/k8s.example.org/v1")[0] == 200 and "k8s.example.org" in served_groups(server)
        assert api(server, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})[0] == 201
        probe = {"apiVersion": "k8s.example.org/v1", "kind": "Probe", "metadata": {"name": "p"}}
        assert api(server, "POST", "/apis/k8s.example.org/v1/namespaces/team/probes", probe)[0] == 201
        team_deployment = deployment("d", namespace="team")
        assert api(server, "POST", "/apis/apps/v1/namespaces/team/deployments", team_deployment)[0] == 201
        assert api(server, "DELETE", "/api/v1/namespaces/team")[0] == 200
        assert obj(server, "k8s.example.org/v1", "Probe", "p", "team") is None
        assert obj(server, "apps/v1", "Deployment", "d", "team") is None
        api(server, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/probes.k8s.example.org")
        assert get(server, "/apis/k8s.example.org/v1")[0] == 404 and "k8s.example.org" not in served_groups(server)
    finally:
        server.stop()
