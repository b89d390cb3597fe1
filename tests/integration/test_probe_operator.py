"""The robust_controller probe against the fake API server with the simulated operators (simulations/trainer.py):
Kubeflow Trainer (built in code from the stand-in chart's CRDs) and the training operator v1 of rke2-gpu pass; a
webhook that admits everything fails; a TrainJob that never completes fails or errors, and no namespace is left."""

import copy
from pathlib import Path

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import operator as probe
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import IMAGES
from tests.fakeapi import load_cluster
from tests.fakeapi.fixtures import read_objects
from tests.fakeapi.operators import CA_BUNDLE
from tests.fakeapi.simulations.trainer import ADMITS_EVERYTHING, FAILS, NEVER_COMPLETE
from tests.integration.conftest import probed_result, scratch_left, transcript

RID = "robust_controller"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NAMESPACE, MANAGER = "kubeflow-system", "kubeflow-trainer-controller-manager"
LABELS = {"app.kubernetes.io/name": "kubeflow-trainer", "app.kubernetes.io/part-of": "kubeflow",
          "app.kubernetes.io/component": "manager"}


def trainer_objects(runtime="torch-distributed", runtime_annotations=None):
    """Kubeflow Trainer installed and ready: the stand-in chart's CRDs, the controller with its webhook Service and
    endpoint, ValidatingWebhookConfiguration validator.trainer.kubeflow.org with a caBundle, and one runtime."""
    def meta(name, **extra):
        return dict({"name": name, "namespace": NAMESPACE}, **extra)
    objects = read_objects(FIXTURES / "charts" / "kubeflow-trainer" / "crds" / "trainer.yaml") + [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(MANAGER, labels=LABELS),
         "spec": {"replicas": 1, "selector": {"matchLabels": LABELS},
                  "template": {"metadata": {"labels": LABELS},
                               "spec": {"containers": [{"name": "manager", "image": "ghcr.io/kubeflow/trainer/trainer-controller-manager:v2.3.0"}]}}},
         "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta(MANAGER),
         "spec": {"selector": LABELS, "ports": [{"name": "webhook-server", "port": 443, "targetPort": 9443}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": meta(MANAGER + "-x1", labels={"kubernetes.io/service-name": MANAGER}), "addressType": "IPv4",
         "endpoints": [{"addresses": ["10.244.1.7"], "conditions": {"ready": True}}], "ports": [{"port": 9443}]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "validator.trainer.kubeflow.org"},
         "webhooks": [{"name": "validator.trainjob.trainer.kubeflow.org", "admissionReviewVersions": ["v1"],
                       "sideEffects": "None", "failurePolicy": "Fail",
                       "clientConfig": {"caBundle": CA_BUNDLE, "service": {
                           "name": MANAGER, "namespace": NAMESPACE, "path": "/validate-trainer-kubeflow-org-v1alpha1-trainjob"}},
                       "rules": [{"apiGroups": ["trainer.kubeflow.org"], "apiVersions": ["v1alpha1"],
                                  "resources": ["trainjobs"], "operations": ["CREATE", "UPDATE"]}]}]}]
    if runtime:
        objects.append({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "ClusterTrainingRuntime",
                        "metadata": {"name": runtime, "annotations": dict(runtime_annotations or {})},
                        "spec": {"mlPolicy": {"numNodes": 1, "torch": {"numProcPerNode": "auto"}}}})
    return objects


def trainer_cluster(**changes):
    cluster = load_cluster("kubeadm-plain")
    cluster.objects = list(cluster.objects) + trainer_objects(**changes)
    return cluster


def admitting_everything(cluster, webhook_configuration):
    """``cluster`` whose ValidatingWebhookConfiguration ``webhook_configuration`` admits every object."""
    cluster.objects = copy.deepcopy(cluster.objects)
    config = next(o for o in cluster.objects if o["kind"] == "ValidatingWebhookConfiguration"
                  and o["metadata"]["name"] == webhook_configuration)
    config["metadata"].setdefault("annotations", {})[ADMITS_EVERYTHING] = "true"
    return cluster


@pytest.fixture
def probed(probe_cluster):
    """Run robust_controller with probes on a simulated cluster: (its result, the namespaces of ours left)."""
    def run(cluster, probe_timeout=30.0):
        dummy, kube = probe_cluster(cluster)
        return probed_result(kube, RID, probe_timeout=probe_timeout), scratch_left(kube)
    return run


def test_trainer_denies_a_missing_runtime_and_completes_a_valid_trainjob(probed):
    result, left = probed(trainer_cluster())
    assert result["outcome"] == "pass", result["notes"]
    assert "Kubeflow Trainer (v2)" in result["notes"]
    assert "denied a TrainJob on the missing ClusterTrainingRuntime does-not-exist-runtime" in result["notes"]
    assert 'admission webhook "validator.trainjob.trainer.kubeflow.org" denied the request' in result["notes"]
    assert "TrainJob valid-cr on ClusterTrainingRuntime torch-distributed (trainer image busybox) reached Complete" \
        in result["notes"]
    assert not any(c.startswith("functional part not demonstrated") for c in result["caveats"]), result["caveats"]
    text = transcript(result)
    assert "kubectl create --dry-run=server" in text and "name: does-not-exist-runtime" in text
    assert IMAGES["busybox"] in text and "met after" in text and "Complete=True" in text
    assert result["details"]["probe"]["cleanup"] == "done" and left == []


def test_trainer_without_torch_distributed_runs_on_another_torch_runtime(probed):
    result, _left = probed(trainer_cluster(runtime="torch-small"))
    assert result["outcome"] == "pass", result["notes"]
    assert "on ClusterTrainingRuntime torch-small" in result["notes"]


def test_trainer_without_a_runtime_fails_naming_the_default_runtimes(probed):
    result, _left = probed(trainer_cluster(runtime=None))
    assert result["outcome"] == "fail"
    assert "has no ClusterTrainingRuntime torch-distributed" in result["notes"]
    assert "runtimes.defaultEnabled=true" in result["remediation"]


def test_training_operator_v1_denies_a_tfjob_without_an_image(probed):
    result, left = probed(load_cluster("rke2-gpu"))
    assert result["outcome"] == "pass", result["notes"]
    assert "Kubeflow Training Operator (v1)" in result["notes"]
    assert 'admission webhook "validator.tfjob.training-operator.kubeflow.org" denied the request: ' \
           "spec.tfReplicaSpecs[Chief].template.spec.containers[0].image: Required value" in result["notes"]
    assert any("valid custom resource reconciled is not demonstrated" in c for c in result["caveats"])
    assert "kind: TFJob" in transcript(result) and left == []


@pytest.mark.parametrize("cluster,configuration,accepted", [
    (trainer_cluster, "validator.trainer.kubeflow.org",
     "accepted a TrainJob whose runtimeRef names ClusterTrainingRuntime does-not-exist-runtime"),
    (lambda: load_cluster("rke2-gpu"), "validator.training-operator.kubeflow.org",
     "accepted a TFJob whose container has no image"),
])
def test_a_webhook_that_admits_the_invalid_object_fails(probed, cluster, configuration, accepted):
    result, left = probed(admitting_everything(cluster(), configuration))
    assert result["outcome"] == "fail", result["notes"]
    assert result["status"] == "Not Implemented"
    assert accepted in result["notes"] and "(The read-only check found: " in result["notes"]
    assert "accepted (dry run)" in transcript(result) and left == []


def test_a_trainjob_that_never_completes_within_probe_timeout_is_not_implemented(probed):
    result, left = probed(trainer_cluster(runtime_annotations={NEVER_COMPLETE: "true"}), probe_timeout=2.0)
    assert result["outcome"] in ("fail", "error"), result["notes"]
    assert result["status"] != "Implemented"
    assert "not met after" in transcript(result)
    assert left == []


def test_a_trainjob_that_never_completes_fails_naming_what_was_seen(probed, monkeypatch):
    monkeypatch.setattr(probe, "RECONCILE_TIMEOUT", 1.5)
    result, left = probed(trainer_cluster(runtime_annotations={NEVER_COMPLETE: "true"}))
    assert result["outcome"] == "fail", result["notes"]
    assert "TrainJob valid-cr on ClusterTrainingRuntime torch-distributed did not reach Complete within 2s" in result["notes"]
    assert "pods: valid-cr-node-0-0-" in result["notes"] and " Running" in result["notes"], result["notes"]
    assert "kubectl describe trainjob" in result["remediation"] and left == []


def test_a_failed_trainjob_fails_at_once(probed):
    result, left = probed(trainer_cluster(runtime_annotations={FAILS: "true"}))
    assert result["outcome"] == "fail", result["notes"]
    assert "TrainJob valid-cr on ClusterTrainingRuntime torch-distributed failed: Failed=True (JobsFailed)" in result["notes"]
    assert "-node-0-0-" in result["notes"] and " Failed" in result["notes"]
    assert result["details"]["probe"]["duration_s"] < 10 and left == []


def test_an_operator_without_a_validating_webhook_keeps_its_pass_with_a_caveat(probed):
    cluster = load_cluster("kubeadm-plain")
    cluster.objects = list(cluster.objects) + read_objects(FIXTURES / "components" / "kuberay.yaml")
    result, left = probed(cluster)
    assert result["outcome"] == "pass", result["notes"]
    assert result["details"]["probe"]["outcome"] == "skipped"
    assert "functional part not demonstrated: KubeRay registers no validating webhook for rayclusters, so no invalid " \
        "object can be shown denied" in result["caveats"]
    assert left == []
