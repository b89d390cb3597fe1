"""install_plan: which install roles a verification calls for, and why each other one is left out."""

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import components, install_plan
from ansible_collections.k8s_ai.conformance.plugins.module_utils.install_plan import PlanError, plan

GPU_CLUSTER = {"accelerators": [{"name": "gpu-01", "vendor": "nvidia", "count": 2}]}
AMD_CLUSTER = {"accelerators": [{"name": "mi-01", "vendor": "amd", "count": 8}]}


def result(rid, status, level="MUST", outcome=None):
    outcome = outcome or {"Implemented": "pass", "N/A": "not_applicable", "": "error"}.get(status, "fail")
    return {"id": rid, "level": level, "status": status, "outcome": outcome}


# kubeadm-plain as verify sees it: no accelerators, no AI components.
PLAIN = [result("dra_support", "Implemented"), result("gpu_sharing", "N/A", "SHOULD"), result("ai_inference", "Not Implemented"),
         result("gang_scheduling", "Not Implemented"), result("cluster_autoscaling", "N/A"),
         result("pod_autoscaling", "Not Implemented"), result("accelerator_metrics", "N/A"),
         result("ai_service_metrics", "Not Implemented"), result("secure_accelerator_access", "N/A"),
         result("robust_controller", "Not Implemented")]


def test_unmet_musts_plan_their_roles_in_order_and_accelerator_roles_need_nvidia_nodes():
    outcome = plan(PLAIN, {})
    assert outcome["roles"] == ["gateway", "monitoring", "training_operator", "gang_scheduler"]
    assert [(s["name"], s["requirements"]) for s in outcome["steps"]] == [
        ("gateway", ["ai_inference"]), ("monitoring", ["pod_autoscaling", "ai_service_metrics"]),
        ("training_operator", ["robust_controller"]), ("gang_scheduler", ["gang_scheduling"])]
    assert [(s["name"], s["requirements"]) for s in outcome["skipped"]] == [("gpu_operator", ["pod_autoscaling"])]
    assert "no NVIDIA accelerator node" in outcome["skipped"][0]["why"]
    assert outcome["lines"][0] == "run k8s_ai.conformance.gateway for ai_inference"
    by_id = {r["id"]: r for r in outcome["requirements"]}
    assert by_id["dra_support"]["why"] == "already Implemented" and by_id["cluster_autoscaling"]["action"] == "none"
    assert plan(PLAIN, AMD_CLUSTER)["roles"] == outcome["roles"]  # AMD accelerators: still no NVIDIA role


def test_a_met_cluster_plans_nothing_and_says_so():
    met = [result(r["id"], "Implemented" if r["status"] != "N/A" else "N/A", r["level"]) for r in PLAIN]
    outcome = plan(met, GPU_CLUSTER)
    assert outcome["roles"] == [] and outcome["skipped"] == []
    assert outcome["lines"] == ["nothing to install: every requirement is met or not applicable"]


def test_undecided_requirements_install_nothing_and_say_why():
    outcome = plan([result("gang_scheduling", "", outcome="error")], GPU_CLUSTER)
    assert outcome["roles"] == []
    assert outcome["requirements"][0]["why"].startswith("could not be decided (error)")
    assert outcome["lines"] == ["gang_scheduling stays error: could not be decided (error): fix what stopped the check, then run again"]


def test_shoulds_are_fixed_only_when_their_level_is_asked_for():
    results = [result("advanced_inference_ingress", "Not Implemented", "SHOULD"), result("gpu_sharing", "Not Implemented", "SHOULD")]
    assert plan(results, GPU_CLUSTER)["roles"] == []
    assert "ai_conformance_install_levels is MUST" in plan(results, GPU_CLUSTER)["requirements"][0]["why"]
    assert plan(results, GPU_CLUSTER, levels=["MUST", "SHOULD"])["roles"] == ["gateway", "gpu_operator"]


def test_accelerator_musts_on_a_gpu_cluster_run_the_operator_and_the_dra_driver_only_when_chosen():
    results = [result("secure_accelerator_access", "Not Implemented"), result("accelerator_metrics", "Not Implemented")]
    outcome = plan(results, GPU_CLUSTER)
    assert outcome["roles"] == ["gpu_operator"]
    assert outcome["steps"][0]["requirements"] == ["secure_accelerator_access", "accelerator_metrics"]
    assert [(s["name"], s["why"].split(":")[0]) for s in outcome["skipped"]] == [("dra_driver", "DRA for GPUs is a choice")]
    chosen = plan(results, GPU_CLUSTER, only=["gpu_operator", "dra_driver"])
    assert chosen["roles"] == ["gpu_operator", "dra_driver"]  # the operator first: the driver may run beside it


def test_allow_and_deny_lists_leave_roles_out_with_the_variable_named():
    outcome = plan(PLAIN, {}, only=["gateway", "monitoring"], skip=["monitoring"])
    assert outcome["roles"] == ["gateway"]
    why = {s["name"]: s["why"] for s in outcome["skipped"]}
    assert why["gang_scheduler"] == "not in ai_conformance_components (gateway, monitoring)"
    assert why["monitoring"] == "in ai_conformance_skip_components"
    robust = next(r for r in outcome["requirements"] if r["id"] == "robust_controller")
    assert robust["action"] == "none" and robust["why"].startswith("its roles were left out: training_operator (not in")


@pytest.mark.parametrize("kwargs, variable", [
    ({"install": "some"}, "ai_conformance_install"), ({"levels": ["MAY"]}, "ai_conformance_install_levels"),
    ({"only": ["gpu-operator"]}, "ai_conformance_components"), ({"skip": ["kueue"]}, "ai_conformance_skip_components")])
def test_bad_input_names_the_variable_and_the_valid_values(kwargs, variable):
    with pytest.raises(PlanError) as err:
        plan(PLAIN, {}, **kwargs)
    assert str(err.value).startswith(variable)


def test_install_all_and_none():
    assert plan(PLAIN, GPU_CLUSTER, install="all")["roles"] == [r for r in install_plan.ROLE_ORDER if r != "dra_driver"]
    assert plan(PLAIN, GPU_CLUSTER, install="all", only=list(install_plan.ROLE_ORDER))["roles"] == list(install_plan.ROLE_ORDER)
    assert plan(PLAIN, {}, install="all")["roles"] == ["gateway", "monitoring", "training_operator", "gang_scheduler"]
    none = plan(PLAIN, GPU_CLUSTER, install="none")
    assert none["roles"] == [] and {r["why"] for r in none["requirements"]} == {"ai_conformance_install is none"}


def test_a_requirement_no_shipped_role_fixes_says_how_by_hand():
    outcome = plan([result("workload_sandboxing", "Not Implemented", "SHOULD")], GPU_CLUSTER, levels=["SHOULD"])
    assert outcome["roles"] == []
    assert outcome["requirements"][0]["why"].startswith("this collection ships no role for it yet; by hand: Kata Containers")
    autoscaling = plan([result("cluster_autoscaling", "Not Implemented")], GPU_CLUSTER)
    assert autoscaling["requirements"][0]["why"].startswith("no install role fixes it: the node autoscaler")


def test_every_planned_role_is_a_component_role_and_ships_with_the_collection():
    roles = {c.role_name for c in components.COMPONENTS.values()}
    assert set(install_plan.ROLE_ORDER) <= roles
    for role in install_plan.ROLE_ORDER:
        assert components.role_available(next(c.name for c in components.COMPONENTS.values() if c.role_name == role)), role
