"""robust_controller over real HTTP against fixture clusters (and variants built from them in code)."""

import copy
from pathlib import Path


from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import load_cluster
from tests.fakeapi.fixtures import read_objects

RID = "robust_controller"
COMPONENTS = Path(__file__).resolve().parents[1] / "fixtures" / "components"
OWN = ("/apis/apiextensions.k8s.io/", "/apis/apps/", "/apis/admissionregistration.k8s.io/",
       "/apis/discovery.k8s.io/")  # what this section reads (the run's start-up and shared facts are not counted)


def run(server, kube_for, tmp_path):
    return verify(kube_for(server, tmp_path), requirements=[RID])["results"][0]


def observed(result):
    return "\n".join(e["command"] + "\n" + e["observed"] for e in result["evidence"])


def own_requests(server):
    return [r for r in server.requests if r.path.startswith(OWN) or "/endpoints/" in r.path]


def test_rke2_gpu_training_operator_passes(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "pass", result["notes"]
    assert result["status"] == "Implemented"
    assert "Kubeflow Training Operator (v1)" in result["notes"]
    assert "kubeflow/training-operator ready" in result["notes"]
    assert "probes" not in result["notes"] and "its probe did not run (probes: false)" in result["caveats"][-1]
    text = observed(result)
    assert "pytorchjobs.kubeflow.org" in text and "Established=True" in text
    assert "validator.training-operator.kubeflow.org webhook validator.tfjob.training-operator.kubeflow.org" in text
    assert "1/1 endpoints ready" in text
    operator = result["details"]["operators"][0]
    assert operator["webhook_endpoints"]["kubeflow/training-operator"]["ready"] == 1
    # CRD GET, Deployment GET, validating + mutating webhook lists, EndpointSlices of the webhook service.
    assert len(own_requests(server)) <= 5, own_requests(server)


def test_plain_cluster_fails_naming_the_role(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kubeadm-plain")
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "fail"
    assert result["status"] == "Not Implemented"
    assert "No complex AI operator found" in result["notes"] and "ray.io" in result["notes"]
    assert "oci://ghcr.io/kubeflow/charts/kubeflow-trainer -n kubeflow-system --create-namespace --version 2.3.0" \
        in result["remediation"]
    assert "with role k8s_ai.conformance.training_operator (by hand: " in result["remediation"]  # the role ships: tests/unit/test_roles.py
    assert result["evidence"]
    assert own_requests(server) == []  # discovery alone decides


def test_half_installed_webhook_without_endpoints_fails(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("half-installed")
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "fail"
    assert "webhook service kubeflow/training-operator has no ready endpoints" in result["notes"]
    assert "kubectl describe service -n kubeflow training-operator" in result["remediation"]
    assert "helm install" not in result["remediation"]
    assert "0/1 endpoints ready" in observed(result)


def test_kuberay_without_webhooks_passes(serve, kube_for, tmp_path):
    cluster = load_cluster("kubeadm-plain")
    cluster.objects = list(cluster.objects) + read_objects(COMPONENTS / "kuberay.yaml")
    server = serve(cluster)
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "pass", result["notes"]
    assert "KubeRay" in result["notes"] and "ray-system/kuberay-operator" in result["notes"]
    assert "no admission webhooks registered for ray.io" in result["notes"]
    assert "app.kubernetes.io/name=kuberay-operator" in observed(result)


def test_missing_ca_bundle_fails(serve, kube_for, tmp_path):
    cluster = load_cluster("rke2-gpu")
    cluster.objects = copy.deepcopy(cluster.objects)
    config = next(o for o in cluster.objects if o["kind"] == "ValidatingWebhookConfiguration"
                  and o["metadata"]["name"] == "validator.training-operator.kubeflow.org")
    for hook in config["webhooks"]:
        hook["clientConfig"].pop("caBundle", None)
    server = serve(cluster)
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "fail"
    assert "has no caBundle" in result["notes"]


def test_broken_first_operator_falls_through_to_a_working_one(serve, kube_for, tmp_path):
    cluster = load_cluster("half-installed")
    cluster.objects = list(cluster.objects) + read_objects(COMPONENTS / "kuberay.yaml")
    server = serve(cluster)
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "pass", result["notes"]
    names = [o["operator"] for o in result["details"]["operators"]]
    assert names == ["Kubeflow Training Operator (v1)", "KubeRay"]
    assert result["details"]["operators"][0]["problems"]


def test_forbidden_webhook_configurations_is_an_error(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["admissionregistration.k8s.io/v1/validatingwebhookconfigurations"])
    result = run(server, kube_for, tmp_path)
    assert result["outcome"] == "error"
    assert "validatingwebhookconfigurations" in result["notes"] and "403" in result["notes"]
