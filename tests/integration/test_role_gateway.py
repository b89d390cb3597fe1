"""The gateway role run by ansible-playbook against the fake API server: what it refuses, and a real install."""

import json

import pytest

from tests.integration.conftest import kubeconfig_vars, playbook_output, role_playbook, ROOT, run_playbook

CHART = ROOT / "tests" / "fixtures" / "charts" / "gateway-helm"
CRDS = ROOT / "tests" / "fixtures" / "manifests" / "gateway-api-standard-standin.yaml"
GAIE = ROOT / "tests" / "fixtures" / "manifests" / "inference-extension-standin.yaml"


def play(tmp_path, role="k8s_ai.conformance.gateway"):
    return role_playbook(tmp_path, role)


def variables(server, tmp_path, **extra):
    return dict(dict(kubeconfig_vars(server, tmp_path), gateway_chart_archive=str(CHART),
                     gateway_crds_chart_archive=str(CHART.parent / "gateway-crds-helm"),
                     gateway_api_crds_manifest=str(CRDS)), **extra)


def output(proc):
    return playbook_output(proc)


@pytest.mark.parametrize("name,value", [("gateway_implementation", "nginx"), ("gateway_wait_timeout", "soon"),
                                        ("gateway_inference_extension_enabled", "perhaps"),
                                        ("ai_conformance_distribution", "openshift")])
def test_argument_spec_rejects_a_mistyped_variable(fake_cluster, tmp_path, name, value):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, **{name: value}))
    assert proc.returncode != 0
    assert name in output(proc), output(proc)


def test_disabled_does_nothing(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, gateway_enabled=False))
    assert proc.returncode == 0, output(proc)
    assert "gateway_enabled is false" in proc.stdout and "changed=0" in proc.stdout


def test_traefik_is_refused_off_rke2(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, gateway_implementation="traefik"))
    assert proc.returncode != 0
    assert "gateway_implementation traefik" in proc.stdout and "kubeadm" in proc.stdout, output(proc)


def test_traefik_on_rke2_without_the_bundled_chart_is_refused(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, gateway_implementation="traefik",
                                                            ai_conformance_distribution="rke2"))
    assert proc.returncode != 0
    assert "kube-system/rke2-traefik" in proc.stdout and "ingress-controller: traefik" in proc.stdout, output(proc)


def test_missing_local_manifest_is_named(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, gateway_inference_extension_enabled=True,
                                                            gateway_inference_extension_manifest="/nonexistent.yaml"))
    assert proc.returncode != 0
    assert "gateway_inference_extension_manifest /nonexistent.yaml does not exist" in proc.stdout, output(proc)


# ---------------------------------------------------------------------------- a real install (helm v4, fake API)
def test_installs_crds_chart_and_class_and_a_second_run_changes_nothing(tmp_path, kube_for):
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify

    from tests.integration.conftest import get_body as _get, helm_binary, helm_env, simulated_cluster

    server = simulated_cluster("kubeadm-plain")  # the simulated Envoy Gateway accepts the GatewayClass
    try:
        extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary(), gateway_wait_timeout=60,
                          gateway_image_registry="mirror.example.com", gateway_inference_extension_enabled=True,
                          gateway_inference_extension_manifest=str(GAIE))
        first = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert first.returncode == 0, output(first)
        assert "changed=0" not in first.stdout
        gc = json.loads(_get(server, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/eg"))
        assert gc["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
        assert [(c["type"], c["status"], c["observedGeneration"]) for c in gc["status"]["conditions"]] == \
            [("Accepted", "True", gc["metadata"]["generation"])]
        deployment = json.loads(_get(server, "/apis/apps/v1/namespaces/envoy-gateway-system/deployments/envoy-gateway"))
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith("mirror.example.com/")
        json.loads(_get(server, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/inferencepools.inference.networking.k8s.io"))
        # Envoy Gateway's own CRDs, rendered from gateway-crds-helm and applied by the role (the release has crds.enabled false)
        envoy_crd = json.loads(_get(server, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/standinproxies.standin.gateway.test"))
        assert "meta.helm.sh/release-name" not in (envoy_crd["metadata"].get("annotations") or {})
        # what the verify check accepts is what the role produced
        (tmp_path / "verify").mkdir()
        result = verify(kube_for(server, tmp_path / "verify"), requirements=["ai_inference"])["results"][0]
        assert result["outcome"] == "pass", result
        second = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
        assert second.returncode == 0, output(second)
        assert "changed=0" in second.stdout, output(second)
    finally:
        server.stop()


def test_check_mode_writes_nothing(tmp_path):
    from tests.fakeapi import FakeKubeServer, load_cluster
    from tests.integration.conftest import helm_binary, helm_env

    server = FakeKubeServer(load_cluster("kubeadm-plain")).start()
    try:
        extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary())
        server.reset_requests()
        proc = run_playbook(play(tmp_path), tmp_path, extra, check=True, env=helm_env(tmp_path))
        assert proc.returncode == 0, output(proc)
        real = [r for r in server.requests if r.method not in ("GET", "HEAD") and "dryRun=All" not in r.query]
        assert real == [], [(r.method, r.path, r.query) for r in real]
    finally:
        server.stop()


def _send(server, method, path, body, content_type="application/json"):
    import http.client
    from urllib.parse import urlsplit
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(method, path, body=json.dumps(body), headers={"Content-Type": content_type})
        response = connection.getresponse()
        text = response.read().decode()
        return response.status, text
    finally:
        connection.close()


def _helm_cattle_crd(kind, plural):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.helm.cattle.io" % plural},
            "spec": {"group": "helm.cattle.io", "scope": "Namespaced", "names": {"kind": kind, "plural": plural},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_traefik_on_rke2_merges_the_gateway_provider_into_the_helmchartconfig(tmp_path):
    import yaml

    from tests.integration.conftest import get_body as _get, simulated_cluster

    # The simulated RKE2 helm-controller deploys Traefik from the HelmChartConfig; its chart creates GatewayClass
    # traefik, which the simulated Traefik accepts.
    server = simulated_cluster("kubeadm-plain")
    try:
        for kind, plural in (("HelmChart", "helmcharts"), ("HelmChartConfig", "helmchartconfigs")):
            code, text = _send(server, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _helm_cattle_crd(kind, plural))
            assert code in (200, 201), text
        for plural, kind, spec in (("helmcharts", "HelmChart", {"chart": "rke2-traefik"}),
                                   ("helmchartconfigs", "HelmChartConfig", {"valuesContent": "logs:\n  access:\n    enabled: true\n"})):
            code, text = _send(server, "POST", "/apis/helm.cattle.io/v1/namespaces/kube-system/" + plural,
                               {"apiVersion": "helm.cattle.io/v1", "kind": kind,
                                "metadata": {"name": "rke2-traefik", "namespace": "kube-system"}, "spec": spec})
            assert code in (200, 201), text
        extra = variables(server, tmp_path, gateway_implementation="traefik", ai_conformance_distribution="rke2",
                          gateway_wait_timeout=60, gateway_traefik_values={"ports": {"web": {"port": 8000}}})
        first = run_playbook(play(tmp_path), tmp_path, extra)
        assert first.returncode == 0, output(first)
        config = json.loads(_get(server, "/apis/helm.cattle.io/v1/namespaces/kube-system/helmchartconfigs/rke2-traefik"))
        values = yaml.safe_load(config["spec"]["valuesContent"])
        assert values == {"logs": {"access": {"enabled": True}},  # the site's own values are kept
                          "providers": {"kubernetesGateway": {"enabled": True}},
                          "gatewayClass": {"enabled": True, "name": "traefik"}, "gateway": {"enabled": False},
                          "ports": {"web": {"port": 8000}}}
        gc = json.loads(_get(server, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/traefik"))
        assert gc["spec"]["controllerName"] == "traefik.io/gateway-controller"
        second = run_playbook(play(tmp_path), tmp_path, extra)
        assert second.returncode == 0, output(second)
        assert "changed=0" in second.stdout, output(second)
    finally:
        server.stop()
