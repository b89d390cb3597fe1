"""docs/rbac-probes.md's ClusterRole against what the probes really do: a user bound only to it and to the read-only
role of docs/rbac.md runs every probe on the fixtures with the simulated controllers, is denied nothing, and
every grant of the probes' role is used by some probe."""

import re
import tempfile
from pathlib import Path

import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import SYSTEM_DISCOVERY_RULES, FakeKubeServer, load_cluster
from tests.fakeapi.rbac import rule_allows
from tests.integration.conftest import ROOT
from tests.integration.test_probe_operator import trainer_cluster
from tests.integration.test_rbac import doc_rules, grants

DOC = ROOT / "docs" / "rbac-probes.md"
# Between them every probe runs: Volcano and Traefik on RKE2 with the DRA driver and the training operator v1; Kueue;
# Kubeflow Trainer (added to kubeadm-plain: no fixture has it).
CLUSTERS = {"rke2-gpu": lambda: load_cluster("rke2-gpu"), "kueue-only": lambda: load_cluster("kueue-only"),
            "trainer": trainer_cluster}
# Needed where no cluster here needs it: the training operator v1 probe dry-runs a PyTorchJob when TFJobs are not served.
# pytorchjobs: the training operator's TFJob is tried first; namespaces patch: these clusters' Prometheus selects
# ServiceMonitors in every namespace; pods delete: the cluster_autoscaling probe runs only with autoscaler_node_pool_label;
# httproutes watch: the simulated controller has accepted the routes by the time their Gateway is Programmed, so their
# waits end at the first GET.
UNUSED_ON_THESE_CLUSTERS = {("kubeflow.org", "pytorchjobs", "create"), ("", "namespaces", "patch"), ("", "pods", "delete"),
                            ("gateway.networking.k8s.io", "httproutes", "watch")}


def probe_rules():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    roles = [d for block in blocks for d in yaml.safe_load_all(block) if d and d.get("kind") == "ClusterRole"]
    assert len(roles) == 1, "docs/rbac-probes.md must hold exactly one ClusterRole in a ```yaml block"
    return roles[0]["rules"]


def test_the_probes_need_no_more_than_the_two_roles_and_every_probe_grant_is_used():
    rules = list(doc_rules()) + list(probe_rules()) + list(SYSTEM_DISCOVERY_RULES)
    used, probed = set(), {}
    for name, cluster in CLUSTERS.items():
        with tempfile.TemporaryDirectory() as tmp, FakeKubeServer(cluster(), controller_delay=0.3, operators=True) as server:
            server.cluster.rbac_rules = rules
            server.store.namespace_termination_seconds = 0.5  # as a real namespace, which terminates a while: watched
            kube = Kube.from_params(dict(kubeconfig=str(server.write_kubeconfig(Path(tmp) / "kubeconfig"))))
            outcome = verify(kube, options=Options(probes=True, gang_negative_window=1, probe_timeout=60))
            denied = [(r.method, r.path) for r in server.requests if r.allowed is False]
            assert denied == [], (name, denied)
            probed.update({"%s %s" % (name, r["id"]): r["details"]["probe"]["outcome"] for r in outcome["results"] if "probe" in r["details"]})
            for grant in grants(probe_rules()):
                if any(r.attributes and r.attributes.resource_request and rule_allows(grant, r.attributes) for r in server.requests):
                    used.add((grant["apiGroups"][0], grant["resources"][0], grant["verbs"][0]))
    assert "error" not in probed.values(), probed
    unused = [(g["apiGroups"][0], g["resources"][0], g["verbs"][0]) for g in grants(probe_rules())
              if (g["apiGroups"][0], g["resources"][0], g["verbs"][0]) not in used | UNUSED_ON_THESE_CLUSTERS]
    assert unused == [], "grants of docs/rbac-probes.md no probe uses on %s: %s" % (", ".join(CLUSTERS), unused)
