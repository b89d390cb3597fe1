"""The verification run (kube client + engine + checks) over real HTTP against fixture clusters."""

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import ApiUnreachable, Kube
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify


def by_id(outcome):
    return {r["id"]: r for r in outcome["results"]}


def test_conformant_fixture_passes_implemented_checks_with_evidence(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    outcome = verify(kube_for(server, tmp_path))
    assert outcome["checklist_version"] == "1.35"
    assert outcome["kubernetes_version"].startswith("v1.35")
    results = by_id(outcome)
    assert [r["id"] for r in outcome["results"]] == checklists.load("1.35").ids
    for rid in ("dra_support", "ai_inference"):
        assert results[rid]["outcome"] == "pass", results[rid]["notes"]
        assert results[rid]["status"] == "Implemented"
        assert results[rid]["evidence"], "a pass must name its evidence"
    assert "traefik" in results["ai_inference"]["notes"]
    assert "deviceclasses" in results["dra_support"]["evidence"][0]["observed"]


def test_plain_kubeadm_fails_gateway_with_remediation(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("kubeadm-plain")
    results = by_id(verify(kube_for(server, tmp_path), requirements=["ai_inference"]))
    gateway = results["ai_inference"]
    assert gateway["outcome"] == "fail"
    assert gateway["status"] == "Not Implemented"
    assert "gatewayclasses" in gateway["notes"]
    assert "oci://docker.io/envoyproxy/gateway-helm" in gateway["remediation"]


def test_half_installed_gateway_without_accepted_class_fails(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("half-installed")
    gateway = by_id(verify(kube_for(server, tmp_path), requirements=["ai_inference"]))["ai_inference"]
    assert gateway["outcome"] == "fail"
    assert "Accepted" in gateway["notes"]


def test_forbidden_resource_is_an_error_naming_call_and_fix(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["gateway.networking.k8s.io/v1/gatewayclasses"])
    results = by_id(verify(kube_for(server, tmp_path), requirements=["ai_inference", "dra_support"]))
    gateway = results["ai_inference"]
    assert gateway["outcome"] == "error"
    assert gateway["status"] == ""
    assert "GET /apis/gateway.networking.k8s.io/v1/gatewayclasses" in gateway["notes"]
    assert "403" in gateway["notes"] and "list" in gateway["remediation"]
    assert results["dra_support"]["outcome"] == "pass", "one check's error must not stop the others"


def test_unreachable_api_is_a_clear_error(tmp_path):
    kube = Kube.from_params(dict(host="http://127.0.0.1:9", api_key="not-a-real-token", api_retries=0, connect_timeout=1))
    with pytest.raises(ApiUnreachable) as err:
        verify(kube)
    text = str(err.value)
    assert "cannot reach the API server at http://127.0.0.1:9" in text
    assert "not-a-real-token" not in text


def test_unknown_checklist_version_lists_known_ones(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    with pytest.raises(checklists.ChecklistError) as err:
        verify(kube_for(server, tmp_path), checklist_version="1.20")
    assert "1.33, 1.34, 1.35, 1.36" in str(err.value)


def test_checklist_override_and_1_36_has_no_dra_support(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    outcome = verify(kube_for(server, tmp_path), checklist_version="1.36")
    ids = [r["id"] for r in outcome["results"]]
    assert "dra_support" not in ids and "advanced_inference_ingress" in ids


def test_selection_unknown_requirement_is_an_error(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    with pytest.raises(checklists.ChecklistError) as err:
        verify(kube_for(server, tmp_path), requirements=["gang_sched"])
    assert "gang_scheduling" in str(err.value)


def test_request_count_is_small_and_discovery_is_fetched_once(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu")
    kube = kube_for(server, tmp_path)
    outcome = verify(kube)
    paths = [r[1] if isinstance(r, (tuple, list)) else r["path"] for r in server.requests]
    assert paths.count("/apis") == 1 and paths.count("/api") == 1
    assert outcome["api_requests"] == server.request_count
    assert server.request_count <= 60


def test_forbidden_nodes_degrade_cluster_facts_and_fail_only_the_checks_needing_them(fake_cluster, kube_for, tmp_path):
    server = fake_cluster("rke2-gpu", forbidden=["v1/nodes"])
    outcome = verify(kube_for(server, tmp_path))
    assert "403" in outcome["cluster"]["error"] and outcome["cluster"]["node_count"] is None
    results = by_id(outcome)
    assert results["accelerator_metrics"]["outcome"] == "error"
    assert results["ai_inference"]["outcome"] == "pass"


def test_results_come_back_redacted(fake_cluster, kube_for, tmp_path):
    """A secret in a check's notes, details or evidence never reaches the module result."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils import engine
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import PASS, Finding

    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"

    def leaky(ctx):
        ctx.record("kubectl get configmap -n ns c", "token: %s" % secret)
        return Finding(PASS, "saw Bearer %s" % secret, details={"password": "hunter2", "seen": secret})

    server = fake_cluster("rke2-gpu")
    original = dict(engine.REGISTRY)
    engine.REGISTRY["dra_support"] = leaky
    try:
        outcome = verify(kube_for(server, tmp_path), requirements=["dra_support"], options=engine.Options())
    finally:
        engine.REGISTRY.clear()
        engine.REGISTRY.update(original)
    assert secret not in str(outcome) and "hunter2" not in str(outcome)
    assert by_id(outcome)["dra_support"]["details"]["password"] == "<redacted>"
