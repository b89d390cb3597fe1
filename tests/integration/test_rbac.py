"""docs/rbac.md's ClusterRole against what the checks really read.

Every fixture cluster (and one built here that serves the optional APIs no fixture has) is served
twice per run: without RBAC, and as a user bound only to the doc's ClusterRole (plus the
discovery URLs every authenticated user may read). verify (plain, and with audit_workloads and each
audit_strategy) and cluster_info must decide the same way under both; the doc's grants must be
exactly what the recorded requests needed (none missing, none unused), and its table must name,
per resource, the requirements that read it (from one run per requirement).
"""

import copy
import functools
import json
import re
import tempfile
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists, cluster_facts, engine
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube, KubeError
from ansible_collections.k8s_ai.conformance.plugins.module_utils import sections  # noqa: F401 pylint: disable=unused-import
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import SYSTEM_DISCOVERY_RULES, FakeKubeServer, list_clusters, load_cluster
from tests.fakeapi.fixtures import read_objects
from tests.fakeapi.rbac import allows, rule_allows

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "rbac.md"
COMPONENTS = ROOT / "tests" / "fixtures" / "components"
ROLE_NAME = "ai-conformance-verify"
FACTS = "cluster facts"  # the report's cluster facts (verify) and the cluster_info module
OPTIONAL = "optional-apis"
# One check at a time: with several, a check's own request count (the pod audit's) takes in the others'.
RUNS = {"default": engine.Options(concurrency=1),
        **{"audit_workloads %s" % s: engine.Options(audit_workloads=True, concurrency=1, audit_strategy=s)
           for s in ("auto", "per-node", "stream")}}
ATTRIBUTION_RUN = "audit_workloads auto"


# ------------------------------------------------------------------------------------------ the doc
def _doc_objects():
    text = DOC.read_text(encoding="utf-8")
    return [doc for block in re.findall(r"```yaml\n(.*?)```", text, re.S) for doc in yaml.safe_load_all(block) if doc]


def doc_role():
    roles = [d for d in _doc_objects() if d.get("kind") == "ClusterRole"]
    assert len(roles) == 1, "docs/rbac.md must hold exactly one ClusterRole in a ```yaml block"
    return roles[0]


def doc_rules():
    return tuple(doc_role()["rules"])


def grants(rules):
    """Each rule split into single apiGroup/resource/verb rules: what 'unused' is judged on."""
    return [{**rule, "apiGroups": [g], "resources": [r], "verbs": [v]}
            for rule in rules for g in rule.get("apiGroups") or [] for r in rule.get("resources") or []
            for v in rule.get("verbs") or []]


def doc_table():
    """{(group, resource): (verbs, readers)} from the table under '## What each check reads'."""
    section = DOC.read_text(encoding="utf-8").split("## What each check reads", 1)[-1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 4 or cells[0] in ("API group", "") or set(cells[0]) <= set("-: "):
            continue
        group = "" if cells[0].startswith('""') else cells[0]
        rows[(group, cells[1])] = (frozenset(v.strip() for v in cells[2].split(",")),
                                   frozenset(r.strip() for r in cells[3].split(",")))
    return rows


def _granted(rules=None):
    return tuple(rules if rules is not None else doc_rules()) + SYSTEM_DISCOVERY_RULES


# ------------------------------------------------------------------------------------------ the clusters
def _crd(group, plural, kind, version, scope="Namespaced"):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "scope": scope, "names": {"plural": plural, "kind": kind, "singular": kind.lower()},
                     "versions": [{"name": version, "served": True, "storage": True}]},
            "status": {"conditions": [{"type": "Established", "status": "True"}]}}


def optional_apis_cluster():
    """kubeadm-plain plus what some check reads only when present and no fixture has: Multus, Karpenter, the
    SR-IOV and NVIDIA network operators, Dynamo, RBG, OpenTelemetry, GAIE's x-k8s.io InferencePools, a JobSet
    webhook whose Service has no EndpointSlice (the Endpoints fallback), a Grafana Alloy with its ConfigMap."""
    cluster = load_cluster("kubeadm-plain")
    cluster.name = OPTIONAL
    cluster.objects = copy.deepcopy(list(cluster.objects) + read_objects(COMPONENTS / "multus.yaml")
                                    + read_objects(COMPONENTS / "karpenter.yaml")) + [
        _crd("sriovnetwork.openshift.io", "sriovnetworks", "SriovNetwork", "v1"),
        _crd("mellanox.com", "nicclusterpolicies", "NicClusterPolicy", "v1alpha1", "Cluster"),
        _crd("nvidia.com", "dynamographdeployments", "DynamoGraphDeployment", "v1alpha1"),
        _crd("workloads.x-k8s.io", "rolebasedgroups", "RoleBasedGroup", "v1alpha1"),
        _crd("opentelemetry.io", "opentelemetrycollectors", "OpenTelemetryCollector", "v1beta1"),
        _crd("inference.networking.x-k8s.io", "inferencepools", "InferencePool", "v1alpha2"),
        _crd("jobset.x-k8s.io", "jobsets", "JobSet", "v1alpha2"),
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "jobset-validating-webhook-configuration"},
         "webhooks": [{"name": "vjobset.kb.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                       "clientConfig": {"service": {"namespace": "jobset-system", "name": "jobset-webhook-service",
                                                    "path": "/validate-jobset-x-k8s-io-v1alpha2-jobset"}},
                       "rules": [{"apiGroups": ["jobset.x-k8s.io"], "apiVersions": ["v1alpha2"],
                                  "operations": ["CREATE", "UPDATE"], "resources": ["jobsets"]}]}]},
        {"apiVersion": "apps/v1", "kind": "DaemonSet",
         "metadata": {"name": "alloy", "namespace": "monitoring", "labels": {"app.kubernetes.io/name": "alloy"}},
         "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "alloy"}},
                  "template": {"metadata": {"labels": {"app.kubernetes.io/name": "alloy"}},
                               "spec": {"containers": [{"name": "alloy", "image": "grafana/alloy:v1.11.0"}],
                                        "volumes": [{"name": "config", "configMap": {"name": "alloy"}}]}}},
         "status": {"desiredNumberScheduled": 3, "numberReady": 3}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "alloy", "namespace": "monitoring"},
         "data": {"config.alloy": 'logging { level = "info" }'}},
    ]
    return cluster


# (cluster, checklist_version): every fixture at its own checklist, the optional APIs at 1.35 and 1.36.
CASES = [(cluster[0], None) for cluster in list_clusters()] + [(OPTIONAL, None), (OPTIONAL, "1.36")]
CASE_IDS = ["%s@%s" % case if case[1] else case[0] for case in CASES]


def _without_durations(results):
    return [{k: v for k, v in r.items() if k != "duration_s"} for r in results]


def observe(name, checklist_version, rules):
    """Serve one case; run everything unrestricted and restricted to ``rules``; run each requirement alone
    (once per case and rules: the tests share the runs)."""
    return _observe(name, checklist_version, json.dumps(rules, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _observe(name, checklist_version, rules_json):
    rules = json.loads(rules_json)
    cluster = optional_apis_cluster() if name == OPTIONAL else load_cluster(name)
    seen = {"runs": {}, "denied": [], "requests": [], "readers": {}}
    with tempfile.TemporaryDirectory() as tmp, FakeKubeServer(cluster) as server:
        kubeconfig = str(server.write_kubeconfig(Path(tmp) / "kubeconfig"))

        def fresh(restricted, prime=False):
            server.cluster.rbac_rules = rules if restricted else None
            kube = Kube.from_params(dict(kubeconfig=kubeconfig))
            if prime:
                kube.version()
                kube.discovery()
            server.reset_requests()
            return kube

        def collect():
            requests = server.requests
            seen["requests"].extend(r.attributes for r in requests)
            seen["denied"].extend(r for r in requests if r.allowed is False)

        for label, options in list(RUNS.items()) + [("cluster_info", None)]:
            outcome = {}
            for restricted in (False, True):
                kube = fresh(restricted)
                try:
                    if options is None:
                        outcome[restricted] = cluster_facts.gather(kube)
                    else:
                        run = verify(kube, checklist_version, options=options)
                        outcome[restricted] = {"cluster": run["cluster"], "summary": run["summary"],
                                               "results": _without_durations(run["results"])}
                except KubeError as exc:  # the run failed as a whole (cluster_info, verify's discovery)
                    outcome[restricted] = {"failed": str(exc)}
                collect()
            seen["runs"][label] = outcome
        # Who reads what: each requirement alone, then the cluster facts alone, on a client that has discovered.
        checklist = checklists.load(checklists.select_version(cluster.version, checklist_version))
        for req in engine.select(checklist):
            kube = fresh(False, prime=True)
            engine.run(kube, checklist, [req], RUNS[ATTRIBUTION_RUN], checks=engine.REGISTRY)
            for r in server.requests:
                seen["readers"].setdefault(r.attributes, set()).add(req.id)
            collect()
        cluster_facts.gather(fresh(False, prime=True))
        for r in server.requests:
            seen["readers"].setdefault(r.attributes, set()).add(FACTS)
        collect()
    return seen


def observe_all(rules=None):
    rules = _granted(rules)
    return {case_id: observe(name, version, rules) for case_id, (name, version) in zip(CASE_IDS, CASES)}


# ------------------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("name, checklist_version", CASES, ids=CASE_IDS)
def test_doc_role_decides_every_requirement(name, checklist_version):
    seen = observe(name, checklist_version, _granted())
    denied = dict.fromkeys("%s  (%s %s)" % (r.attributes, r.method, r.path) for r in seen["denied"])
    assert not denied, "docs/rbac.md's ClusterRole does not allow:\n  " + "\n  ".join(denied)
    for label, outcome in seen["runs"].items():
        restricted, unrestricted = outcome[True], outcome[False]
        assert "failed" not in restricted, "%s failed as %s: %s" % (label, ROLE_NAME, restricted["failed"])
        if label != "cluster_info":
            errors = [r for r in restricted["results"] if r["outcome"] == "error" and "403" in (r["notes"] or "")]
            assert not errors, "%s: %s" % (label, [(r["id"], r["notes"]) for r in errors])
            assert [(r["id"], r["outcome"]) for r in restricted["results"]] == \
                [(r["id"], r["outcome"]) for r in unrestricted["results"]], label
        assert restricted == unrestricted, "%s: the run as %s differs from the unrestricted run" % (label, ROLE_NAME)


def test_doc_role_grants_exactly_what_the_checks_read():
    rules = doc_rules()
    granted = _granted(rules)
    where = {}
    for case_id, seen in observe_all(rules).items():
        for attributes in seen["requests"]:
            where.setdefault(attributes, set()).add(case_id)
    missing = sorted("%s  (on %s)" % (a, ", ".join(sorted(c))) for a, c in where.items() if not allows(granted, a))
    assert not missing, "reads docs/rbac.md's ClusterRole does not grant:\n  " + "\n  ".join(missing)
    unused = [g for g in grants(rules) if not any(rule_allows(g, a) for a in where)]
    assert not unused, "grants in docs/rbac.md no check exercises on any fixture (stale):\n  " + "\n  ".join(
        "%s %s/%s" % (g["verbs"][0], g["apiGroups"][0] or "core", g["resources"][0]) for g in unused)


def test_doc_table_lists_each_grant_and_its_readers():
    rules = doc_rules()
    readers = {}
    for seen in observe_all(rules).values():
        for attributes, ids in seen["readers"].items():
            for g in grants(rules):
                if rule_allows(g, attributes):
                    readers.setdefault((g["apiGroups"][0], g["resources"][0]), set()).update(ids)
    expected = {}
    for g in grants(rules):
        key = (g["apiGroups"][0], g["resources"][0])
        verbs = expected.get(key, (frozenset(),))[0] | {g["verbs"][0]}
        expected[key] = (verbs, frozenset(readers.get(key, ())))
    table = doc_table()

    def row(key, value):
        readers = ", ".join(sorted(value[1], key=lambda r: (r != FACTS, r)))
        return "| `%s` | `%s` | %s | %s |" % ('""' if not key[0] else key[0], key[1], ", ".join(sorted(value[0])), readers)
    wrong = [row(k, v) for k, v in sorted(expected.items()) if table.get(k) != v]
    extra = sorted(set(table) - set(expected))
    assert not wrong and not extra, ("docs/rbac.md's table is out of step with its ClusterRole and the checks; "
                                     "expected rows:\n" + "\n".join(wrong) + "\nrows for resources the role does not "
                                     "grant: %s" % extra)


def test_doc_role_is_read_only_and_bound():
    role = doc_role()
    assert role["metadata"]["name"] == ROLE_NAME
    assert {v for rule in role["rules"] for v in rule["verbs"]} <= {"get", "list"}
    assert not any(rule.get("nonResourceURLs") for rule in role["rules"]), \
        "non-resource URLs come from system:discovery; keep the role to resource rules"
    bindings = [d for d in _doc_objects() if d.get("kind") == "ClusterRoleBinding"]
    assert bindings and all(b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                             "name": ROLE_NAME} for b in bindings)
