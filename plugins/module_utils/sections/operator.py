# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist section `operator`: at least one complex AI operator whose CRDs, controller and webhooks work."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils import components, lookups
from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import (
    condition_true, conditions_line, deployment_ready, deployment_summary, name_of,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, PASS, Finding

CRD_GROUP, CRD_VERSION, CRD_PLURAL = "apiextensions.k8s.io", "v1", "customresourcedefinitions"

# Operators in order of preference. Names and labels from the projects' own manifests and charts:
# kubeflow/training-operator v1.9 (manifests/overlays/standalone), kubeflow/trainer v2 (chart kubeflow-trainer and
# manifests/overlays/manager), ray-project/kuberay (helm-chart/kuberay-operator, no webhooks), kubernetes-sigs/jobset
# and kubernetes-sigs/lws (config/default: namePrefix jobset-/lws-, namespace jobset-system/lws-system).
OPERATORS = (
    {"name": "Kubeflow Training Operator (v1)", "component": "training_operator_v1", "group": "kubeflow.org", "primary": "pytorchjobs",
     "resources": ("pytorchjobs", "tfjobs", "mpijobs", "xgboostjobs", "paddlejobs", "jaxjobs", "mxjobs"),
     "deployments": (("kubeflow", "training-operator"),), "selector": "control-plane=kubeflow-training-operator"},
    {"name": "Kubeflow Trainer (v2)", "component": "kubeflow_trainer", "group": "trainer.kubeflow.org", "primary": "trainjobs",
     "resources": ("trainjobs", "trainingruntimes", "clustertrainingruntimes"),
     "deployments": (("kubeflow-system", "kubeflow-trainer-controller-manager"),),
     "selector": "app.kubernetes.io/part-of=kubeflow,app.kubernetes.io/component=manager"},
    {"name": "KubeRay", "group": "ray.io", "primary": "rayclusters",
     "resources": ("rayclusters", "rayjobs", "rayservices", "raycronjobs"),
     "deployments": (), "selector": "app.kubernetes.io/name=kuberay-operator"},
    {"name": "JobSet", "group": "jobset.x-k8s.io", "primary": "jobsets", "resources": ("jobsets",),
     "deployments": (("jobset-system", "jobset-controller-manager"),), "selector": "app.kubernetes.io/name=jobset"},
    {"name": "LeaderWorkerSet", "group": "leaderworkerset.x-k8s.io", "primary": "leaderworkersets",
     "resources": ("leaderworkersets",),
     "deployments": (("lws-system", "lws-controller-manager"),), "selector": "app.kubernetes.io/name=lws"},
)
PROBE_CAVEAT = ("functional part not demonstrated: an invalid custom resource rejected by the admission webhook and a "
                "valid one reconciled are shown by the robust_controller probe (probes: true)")


def install_operator() -> str:
    return "Install a training operator: %s" % components.requirement_hint("robust_controller")


def _served(discovery, op) -> Tuple[Optional[str], List[str]]:
    """(version serving the primary resource, the operator's resources served) from discovery."""
    version = discovery.serving_version(op["group"], op["primary"])
    if not version:
        return None, []
    table = discovery.resources(op["group"], version)
    return version, [r for r in op["resources"] if r in table]


def _deployment(ctx, op) -> Optional[Dict[str, Any]]:
    for namespace, name in op["deployments"]:
        dep = ctx.get("apps", "v1", "deployments", name, namespace, show=deployment_summary)
        if dep:
            return dep
    found = ctx.list("apps", "v1", "deployments", label_selector=op["selector"],
                     show=lambda items: "\n".join(deployment_summary(d) for d in items) or "No resources found")
    ready = [d for d in found if deployment_ready(d)]
    return (ready or found or [None])[0]


def _endpoints_ready(ctx, namespace: str, service: str) -> Tuple[int, int]:
    """(ready, total) endpoints of a Service, from its EndpointSlices (Endpoints when no slice exists)."""
    ready, total, lines, slices = lookups.endpoint_slices_ready(ctx.kube, namespace, service)
    if slices:
        ctx.record_list("discovery.k8s.io", "v1", "endpointslices", "%d/%d endpoints ready: %s" % (ready, total, "; ".join(lines) or "none"),
                        namespace=namespace, label_selector=lookups.service_selector(service))
        return ready, total
    endpoints = ctx.get("", "v1", "endpoints", service, namespace, missing="NotFound (and no EndpointSlices)",
                        show=lambda found: "%d/%d addresses ready" % _addresses(found)) or {}
    return _addresses(endpoints)


def _addresses(endpoints: Dict[str, Any]) -> Tuple[int, int]:
    """(ready, total) addresses of an Endpoints object."""
    ready = total = 0
    for subset in endpoints.get("subsets") or []:
        ready += len(subset.get("addresses") or [])
        total += len(subset.get("addresses") or []) + len(subset.get("notReadyAddresses") or [])
    return ready, total


def _evaluate(ctx, op, version: str, served: List[str]) -> Dict[str, Any]:
    kube = ctx.kube
    problems: List[str] = []
    fixes: List[str] = []
    crd_name = "%s.%s" % (op["primary"], op["group"])
    crd = ctx.get(CRD_GROUP, CRD_VERSION, CRD_PLURAL, crd_name, show=conditions_line, args="-o jsonpath='{.status.conditions}'")
    if not crd or not condition_true(crd, "Established"):
        problems.append("CRD %s is not Established" % crd_name)
        if crd:
            fixes.append("read why CRD %s is not Established: kubectl describe crd %s" % (crd_name, crd_name))

    dep = _deployment(ctx, op)
    if dep is None:
        problems.append("no controller Deployment found (looked for %s and label %s)" % (
            ", ".join("%s/%s" % d for d in op["deployments"]) or "-", op["selector"]))
        fixes.append("install %s's controller: %s" % (op["name"], components.install_hint(op["component"]))
                     if op.get("component") else "install %s's controller (its CRDs are there without it)" % op["name"])
    elif not deployment_ready(dep):
        problems.append("controller %s is not ready" % deployment_summary(dep))
        namespace, name = dep["metadata"].get("namespace", ""), dep["metadata"]["name"]
        fixes.append("read why controller %s/%s is not ready: kubectl describe deployment -n %s %s; kubectl logs -n %s "
                     "deployment/%s" % (namespace, name, namespace, name, namespace, name))

    hooks = lookups.webhooks_for(kube, (op["group"],))
    services: Dict[Tuple[str, str], List[str]] = {}
    hook_lines = []
    for kind, config, hook in hooks:
        client = hook.get("clientConfig") or {}
        svc = client.get("service")
        target = ("service %s/%s:%s" % (svc.get("namespace"), svc.get("name"), svc.get("port", 443)) if svc
                  else "url %s" % client.get("url", "?"))
        hook_lines.append("%s %s webhook %s -> %s (failurePolicy %s)" % (
            kind, name_of(config), hook.get("name"), target, hook.get("failurePolicy", "Fail")))
        if svc:
            services.setdefault((svc.get("namespace"), svc.get("name")), []).append(hook.get("name"))
            if not client.get("caBundle"):
                problems.append("webhook %s in %s has no caBundle, so the API server cannot verify it"
                                % (hook.get("name"), name_of(config)))
                fixes.append("get the caBundle of %s %s injected: it comes from cert-manager's cainjector or the "
                             "operator's own certificate controller, whose log says why (kubectl get %s %s -o yaml shows "
                             "the annotation naming the certificate)" % (kind, name_of(config), kind.lower(), name_of(config)))
    lookups.record_webhooks(ctx, "\n".join(hook_lines) or "none registered", args="-o yaml",
                            note="webhooks with a rule for apiGroup %s, their Service and caBundle" % op["group"])
    endpoints = {}
    for (namespace, service), names in sorted(services.items()):
        ready, total = _endpoints_ready(ctx, namespace, service)
        endpoints["%s/%s" % (namespace, service)] = {"ready": ready, "total": total, "webhooks": names}
        if not ready:
            problems.append("webhook service %s/%s has no ready endpoints (%d total), so admission of %s fails" % (
                namespace, service, total, ", ".join(sorted({r for r in op["resources"] if r in served})) or op["group"]))
            fixes.append("make webhook Service %s/%s select ready pods: kubectl describe service -n %s %s (its selector "
                         "must match the controller's ready pods)" % (namespace, service, namespace, service))
    return {
        "operator": op["name"], "api_version": "%s/%s" % (op["group"], version), "resources": served,
        "crd": crd_name, "crd_established": bool(crd and condition_true(crd, "Established")),
        "controller": name_of(dep) if dep else None, "controller_ready": bool(dep and deployment_ready(dep)),
        "webhooks": [hook.get("name") for _k, _c, hook in hooks], "webhook_endpoints": endpoints,
        "problems": problems, "fixes": fixes,
    }


@requirement("robust_controller")
def robust_controller(ctx):
    """A complex AI operator: CRDs Established, controller ready, webhooks registered with ready endpoints."""
    discovery = ctx.kube.discovery()
    found = []
    for op in OPERATORS:
        version, served = _served(discovery, op)
        if version:
            found.append((op, version, served))
    ctx.record_discovery("\n".join("%s/%s: %s" % (op["group"], version, ", ".join(served)) for op, version, served in found)
                         or "none of these API groups is served",
                         note="the API groups of the operators these checks know: %s" % ", ".join(op["group"] for op in OPERATORS))
    if not found:
        return Finding(FAIL, "No complex AI operator found: none of %s is served (%s)." % (
            ", ".join(op["name"] for op in OPERATORS), ", ".join(op["group"] for op in OPERATORS)),
            remediation=install_operator() + ".", details={"operators": []})
    evaluated, fixes = [], []
    for op, version, served in found:
        result = _evaluate(ctx, op, version, served)
        fixes += [f for f in result.pop("fixes") if f not in fixes]
        evaluated.append(result)
        if not result["problems"]:
            hooks = result["webhook_endpoints"]
            webhook_text = ("%d webhook(s) registered, service(s) %s with ready endpoints" % (
                len(result["webhooks"]), ", ".join("%s (%d ready)" % (k, v["ready"]) for k, v in hooks.items()))
                if result["webhooks"] else "no admission webhooks registered for %s" % op["group"])
            return Finding(PASS, "%s: CRDs of %s served and Established (%s; discovery lists only Established CRDs), "
                           "controller %s ready, %s." % (
                               op["name"], result["api_version"], ", ".join(served), result["controller"], webhook_text),
                           details={"operators": evaluated}, caveats=[PROBE_CAVEAT])
    summary = "; ".join("%s: %s" % (r["operator"], "; ".join(r["problems"])) for r in evaluated)
    return Finding(FAIL, "No AI operator is fully working: %s." % summary,
                   remediation=components.join_fixes(fixes or [install_operator()]),
                   details={"operators": evaluated})
