"""Shared helpers for tests that run the real code over HTTP against the fake API server."""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeapi import FakeKubeServer, load_cluster

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# helm v4 as make install puts it (scripts/install_kube_tools.py): behind the wrapper that lets
# kubernetes.core 6.2.0 run it.
HELM = next((p for p in (BIN / "helm", ROOT / ".venv" / "bin" / "helm") if p.is_file()), None)


def role_playbook(tmp_path, role):
    """A one-play playbook on k8s_api that runs ``role``; its path."""
    path = tmp_path / "play.yml"
    path.write_text(json.dumps([{"name": "Install", "hosts": "k8s_api", "gather_facts": False, "roles": [{"role": role}]}]))
    return str(path)


def kubeconfig_vars(server, tmp_path):
    """The play variable that points the roles at ``server`` (its kubeconfig written into tmp_path)."""
    kubeconfig = tmp_path / "kubeconfig"
    server.write_kubeconfig(str(kubeconfig))
    return {"ai_conformance_kubeconfig": str(kubeconfig)}


def playbook_output(proc, tail=4000):
    """The end of a playbook run's stdout and stderr, for assertion messages."""
    return proc.stdout[-tail:] + proc.stderr[-2000:]


def helm_binary():
    """The helm the install roles run in tests; the test skips, saying why, when make install has not put it there."""
    if HELM is None:
        pytest.skip("the helm binary is not installed (.venv/bin/helm): run make install")
    return str(HELM)


def helm_env(tmp_path):
    """helm's cache, config and data in the test's own directory."""
    return {"HELM_CACHE_HOME": str(tmp_path / "helm-cache"), "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
            "HELM_DATA_HOME": str(tmp_path / "helm-data")}


def simulated_cluster(name="kubeadm-plain", operators=True):
    """A started fake server of fixture cluster ``name`` (or of a cluster loaded and changed by the test) with the
    simulated controllers on (API-created workloads become ready) and, unless ``operators`` is False, the simulated
    operators (tests/fakeapi/operators.py and simulations/: what Envoy Gateway, Traefik, Kueue, Volcano, the
    Prometheus and GPU operators, cert-manager, the endpoint-slice controller and what the probes drive would
    write). The caller stops it."""
    from tests.fakeapi.server import DEFAULT_CONTROLLER_DELAY
    cluster = load_cluster(name) if isinstance(name, str) else name
    return FakeKubeServer(cluster, controller_delay=DEFAULT_CONTROLLER_DELAY, operators=operators).start()


@contextlib.contextmanager
def serving(cluster, tmp_path):
    """A simulated_cluster of ``cluster`` (a fixture name or a loaded cluster) and a Kube client for it, as
    (server, kube), while the block runs."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
    server = simulated_cluster(cluster)
    try:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"))
        yield server, Kube.from_params(dict(kubeconfig=str(kubeconfig)))
    finally:
        server.stop()


@pytest.fixture
def probe_cluster(tmp_path):
    """start(cluster) -> (server, kube): a simulated cluster the probes can run on (see serving); all stop at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda cluster: stack.enter_context(serving(cluster, tmp_path))


def probed_result(kube, requirement, **options):
    """The result of ``requirement`` verified with the probes on (``options``: more engine Options)."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
    return verify(kube, requirements=[requirement], options=Options(probes=True, **options))["results"][0]


def scratch_left(kube):
    """The names of the namespaces labelled as the probes' that exist."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.scratch import OURS
    return [n["metadata"]["name"] for n in kube.list_all("", "v1", "namespaces", label_selector=OURS)]


def transcript(result):
    """A result's evidence as one text: each command and what it showed."""
    return "\n".join(e["command"] + "\n" + e["observed"] for e in result["evidence"])


def get_body(server, path):
    """The body of a GET that must answer 200, as text."""
    import http.client
    from urllib.parse import urlsplit
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read().decode()
        assert response.status == 200, (path, response.status, body[:500])
        return body
    finally:
        connection.close()


def api_request(server, method, path, body=None, content_type="application/json"):
    """One request to a fake server: (status, the answer parsed as JSON or None)."""
    import http.client
    from urllib.parse import urlsplit
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": content_type, "Accept": "application/json"})
        response = connection.getresponse()
        text = response.read().decode()
        return response.status, (json.loads(text) if text else None)
    finally:
        connection.close()


def get_json(server, path):
    """The object a GET that must answer 200 returns."""
    return json.loads(get_body(server, path))


@pytest.fixture
def serve():
    """Start a Cluster object (built in code); yields a function returning the running server."""
    servers = []

    def start(cluster):
        server = FakeKubeServer(cluster).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_cluster(serve):
    """Start a fixture cluster by name, with attribute changes; returns the running server."""
    def start(name, **changes):
        cluster = load_cluster(name)
        for key, value in changes.items():
            setattr(cluster, key, value)
        return serve(cluster)

    return start


@pytest.fixture
def kube_for():
    """A Kube client for a running fake server."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube

    def make(server, tmp_path, **params):
        kubeconfig = tmp_path / "kubeconfig"
        server.write_kubeconfig(str(kubeconfig))
        return Kube.from_params(dict(kubeconfig=str(kubeconfig), **params))

    return make


def playbook_command(playbook, tmp_path, extra_vars, check=False, env=None, inventory="inventories/example/hosts.yml", verbosity=0):
    """(command, environment) of an ansible-playbook run from the checkout. ``env`` adds variables (KUBECONFIG,
    K8S_AUTH_*) on purpose; the caller's own never reach it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_") and k != "KUBECONFIG"}
    clean.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "atmp"),
                 ANSIBLE_REMOTE_TEMP=str(tmp_path / "rtmp"))
    clean.update(env or {})
    vars_file = tmp_path / "extra-vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    command = [str(BIN / "ansible-playbook"), playbook, "-e", "@%s" % vars_file]
    if inventory:
        command[2:2] = ["-i", inventory]
    if check:
        command.append("--check")
    if verbosity:
        command.append("-" + "v" * verbosity)
    return command, clean


def run_playbook(playbook, tmp_path, extra_vars, check=False, env=None, inventory="inventories/example/hosts.yml", verbosity=0):
    """Run an ansible-playbook from the checkout (see playbook_command); returns the CompletedProcess."""
    command, clean = playbook_command(playbook, tmp_path, extra_vars, check, env, inventory, verbosity)
    return subprocess.run(command, cwd=str(ROOT), env=clean, capture_output=True, text=True, timeout=300, check=False)
