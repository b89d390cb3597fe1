"""The training_operator role run by ansible-playbook against the fake API server: what it refuses, a real install of
the stand-in Kubeflow Trainer chart through helm (with and without an existing JobSet), the v1 manifest applied
server-side, and second runs that change nothing."""

import pytest
import yaml

from tests.fakeapi.operators import CA_BUNDLE
from tests.integration.conftest import (
    api_request as _request, get_json as _get, kubeconfig_vars, playbook_output, role_playbook, ROOT, run_playbook,
    simulated_cluster,
)

CHART = ROOT / "tests" / "fixtures" / "charts" / "kubeflow-trainer"


def play(tmp_path):
    return role_playbook(tmp_path, "k8s_ai.conformance.training_operator")


def variables(server, tmp_path, **extra):
    return dict(dict(kubeconfig_vars(server, tmp_path), training_operator_trainer_chart_archive=str(CHART)),
                **extra)


def output(proc):
    return playbook_output(proc, 5000)


@pytest.mark.parametrize("name,value", [("training_operator_implementation", "v3"),
                                        ("training_operator_wait_timeout", "soon"),
                                        ("training_operator_trainer_jobset", "true"),
                                        ("training_operator_trainer_runtimes", "maybe")])
def test_argument_spec_rejects_a_mistyped_variable(fake_cluster, tmp_path, name, value):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, **{name: value}))
    assert proc.returncode != 0
    assert name in output(proc), output(proc)


def test_disabled_does_nothing(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, training_operator_enabled=False))
    assert proc.returncode == 0, output(proc)
    assert "training_operator_enabled is false" in proc.stdout and "changed=0" in proc.stdout


def test_v1_without_a_manifest_says_how_to_render_one(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    proc = run_playbook(play(tmp_path), tmp_path, variables(server, tmp_path, training_operator_implementation="v1"))
    assert proc.returncode != 0
    assert "training_operator_v1_manifest" in proc.stdout and "overlays/standalone?ref=v1.9.4" in proc.stdout, output(proc)


def test_v1_manifest_that_is_not_the_operator_is_refused(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    manifest = tmp_path / "other.yaml"
    manifest.write_text(yaml.safe_dump_all([{"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "x", "namespace": "default"}}]))
    extra = variables(server, tmp_path, training_operator_implementation="v1", training_operator_v1_manifest=str(manifest))
    proc = run_playbook(play(tmp_path), tmp_path, extra)
    assert proc.returncode != 0
    assert "must be Kubernetes objects" in proc.stdout and "training_operator_v1_manifest" in proc.stdout, output(proc)


def test_bad_registry_names_the_variable(fake_cluster, tmp_path):
    server = fake_cluster("kubeadm-plain")
    extra = variables(server, tmp_path, training_operator_image_registry="https://mirror")
    proc = run_playbook(play(tmp_path), tmp_path, extra)
    assert proc.returncode != 0
    assert "training_operator_image_registry" in proc.stdout, output(proc)


# ---------------------------------------------------------------------------- a real install (helm v4, fake API)
def run_twice(tmp_path, server, extra):
    """Install, then install again: the second run changes nothing. The fake's simulated operators give the
    webhook Service its ready endpoint and the webhook configuration its caBundle."""
    from tests.integration.conftest import helm_binary, helm_env
    extra = variables(server, tmp_path, ai_conformance_helm_binary=helm_binary(), training_operator_wait_timeout=60,
                      **extra)
    first = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
    assert first.returncode == 0, output(first)
    assert "changed=0" not in first.stdout
    second = run_playbook(play(tmp_path), tmp_path, extra, env=helm_env(tmp_path))
    assert second.returncode == 0, output(second)
    assert "changed=0" in second.stdout, output(second)
    return first


def start():
    return simulated_cluster("kubeadm-plain")


def test_trainer_installs_runtimes_and_jobset_and_waits_for_the_webhook(tmp_path):
    server = start()
    try:
        run_twice(tmp_path, server, {"training_operator_image_registry": "mirror.example.com"})
        vwc = _get(server, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/validator.trainer.kubeflow.org")
        assert [h["clientConfig"]["caBundle"] for h in vwc["webhooks"]] == [CA_BUNDLE]
        deployment = _get(server, "/apis/apps/v1/namespaces/kubeflow-system/deployments/kubeflow-trainer-controller-manager")
        assert deployment["metadata"]["annotations"]["stand-in/runtimes-default-enabled"] == "true"
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
            "mirror.example.com/kubeflow/trainer/trainer-controller-manager:v2.3.0"
        jobset = _get(server, "/apis/apps/v1/namespaces/kubeflow-system/deployments/jobset-controller")
        assert jobset["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.example.com/jobset/jobset:v0.12.0"
        assert _get(server, "/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/torch-distributed")
    finally:
        server.stop()


def test_trainer_leaves_an_existing_jobset_alone(tmp_path):
    server = start()
    try:
        for body, path in (({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jobset-system"}}, "/api/v1/namespaces"),
                           ({"apiVersion": "apps/v1", "kind": "Deployment",
                             "metadata": {"name": "jobset-controller-manager", "namespace": "jobset-system",
                                          "labels": {"control-plane": "controller-manager"}},
                             "spec": {"selector": {"matchLabels": {"control-plane": "controller-manager"}},
                                      "template": {"metadata": {"labels": {"control-plane": "controller-manager"}},
                                                   "spec": {"containers": [{"name": "manager",
                                                                            "image": "registry.k8s.io/jobset/jobset:v0.11.1"}]}}}},
                            "/apis/apps/v1/namespaces/jobset-system/deployments")):
            status, answer = _request(server, "POST", path, body)
            assert status == 201, answer
        first = run_twice(tmp_path, server, {})
        assert "JobSet is already installed (jobset-system/jobset-controller-manager)" in first.stdout, output(first)
        status, _body = _request(server, "GET", "/apis/apps/v1/namespaces/kubeflow-system/deployments/jobset-controller")
        assert status == 404
    finally:
        server.stop()


def v1_manifest(path):
    """A small rendered manifest of the v1 shape (not upstream's text): Namespace, CRD, Service, Deployment, webhook."""
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": {"name": "pytorchjobs.kubeflow.org"},
         "spec": {"group": "kubeflow.org", "scope": "Namespaced",
                  "names": {"kind": "PyTorchJob", "plural": "pytorchjobs", "singular": "pytorchjob", "listKind": "PyTorchJobList"},
                  "versions": [{"name": "v1", "served": True, "storage": True,
                                "schema": {"openAPIV3Schema": {"type": "object",
                                                               "x-kubernetes-preserve-unknown-fields": True}}}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "training-operator", "namespace": "kubeflow"},
         "spec": {"selector": {"control-plane": "kubeflow-training-operator"},
                  "ports": [{"name": "webhook-server", "port": 443, "targetPort": 9443}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "training-operator", "namespace": "kubeflow"},
         "spec": {"selector": {"matchLabels": {"control-plane": "kubeflow-training-operator"}},
                  "template": {"metadata": {"labels": {"control-plane": "kubeflow-training-operator"}},
                               "spec": {"containers": [{"name": "training-operator",
                                                        "image": "ghcr.io/kubeflow/training-v1/training-operator:v1-93c5489"}]}}}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "validator.training-operator.kubeflow.org"},
         "webhooks": [{"name": "validator.pytorchjob.training-operator.kubeflow.org", "admissionReviewVersions": ["v1"],
                       "sideEffects": "None", "failurePolicy": "Fail",
                       # The operator injects the caBundle; a real API server's server-side apply keeps that field
                       # the operator's, the fake API's apply is a merge patch (lists replaced), so the stand-in
                       # manifest carries the same value the simulated operator writes.
                       "clientConfig": {"caBundle": CA_BUNDLE,
                                        "service": {"name": "training-operator", "namespace": "kubeflow",
                                                    "path": "/validate-kubeflow-org-v1-pytorchjob"}},
                       "rules": [{"apiGroups": ["kubeflow.org"], "apiVersions": ["v1"], "resources": ["pytorchjobs"],
                                  "operations": ["CREATE", "UPDATE"]}]}]},
    ]
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True))
    return str(path)


def test_v1_applies_the_manifest_server_side_and_waits(tmp_path):
    server = start()
    try:
        run_twice(tmp_path, server, {"training_operator_implementation": "v1",
                                     "training_operator_v1_manifest": v1_manifest(tmp_path / "to.yaml")})
        assert _get(server, "/apis/apps/v1/namespaces/kubeflow/deployments/training-operator")
        vwc = _get(server, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
                           "validator.training-operator.kubeflow.org")
        assert vwc["webhooks"][0]["clientConfig"]["caBundle"] == CA_BUNDLE
        # every object went through server-side apply with the role's field manager
        applies = [r for r in server.requests if r.method == "PATCH"
                   and "fieldManager=k8s_ai.conformance.training_operator" in r.query]
        paths = {r.path.rsplit("/", 1)[-1] for r in applies}
        assert {"kubeflow", "pytorchjobs.kubeflow.org", "training-operator",
                "validator.training-operator.kubeflow.org"} <= paths, sorted(paths)
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
