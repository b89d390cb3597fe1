"""Cluster facts and the cluster_info module against fixture clusters."""

import json

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils.cluster_facts import (
    distribution_from_node, distribution_from_version, gather,
)
from tests.integration.conftest import run_playbook


@pytest.mark.parametrize("cluster, distribution, nodes, accel_nodes, accelerators", [
    ("rke2-gpu", "rke2", 3, 2, 4),
    ("kubeadm-plain", "kubeadm", 3, 0, 0),
])
def test_facts_from_fixture_clusters(fake_cluster, kube_for, tmp_path, cluster, distribution, nodes, accel_nodes, accelerators):
    server = fake_cluster(cluster)
    kube = kube_for(server, tmp_path)
    facts = gather(kube)
    assert facts["distribution"] == distribution, facts["distribution_evidence"]
    assert facts["node_count"] == nodes
    assert facts["accelerator_node_count"] == accel_nodes and facts["accelerator_total"] == accelerators
    assert server.request_count <= 12


def test_rke2_gpu_inventory_and_components(fake_cluster, kube_for, tmp_path):
    facts = gather(kube_for(fake_cluster("rke2-gpu"), tmp_path))
    node = facts["accelerators"][0]
    assert node["vendor"] == "nvidia" and node["product"] and node["driver_version"].startswith("580.")
    assert node["cuda_version"] == "13.0"
    names = {c["name"] for c in facts["components"]}
    assert {"Volcano", "Gateway API", "NVIDIA GPU Operator", "Kubeflow training operator"} <= names


def test_distribution_signals():
    assert distribution_from_version("v1.35.7+rke2r1") == "rke2"
    assert distribution_from_version("v1.34.2-eks-113cf36") == "eks"
    assert distribution_from_version("v1.35.2") is None
    assert distribution_from_node({"metadata": {"labels": {"kubernetes.azure.com/cluster": "x"}}}) == "aks"
    assert distribution_from_node({"metadata": {"labels": {}}, "spec": {"providerID": "k3s://n1"}}) == "k3s"


def test_cluster_info_module_runs_through_ansible(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    kubeconfig = tmp_path / "kubeconfig"
    server.write_kubeconfig(str(kubeconfig))
    out = tmp_path / "facts.json"
    playbook = tmp_path / "facts.yml"
    playbook.write_text("""
- hosts: k8s_api
  gather_facts: false
  tasks:
    - k8s_ai.conformance.cluster_info:
        kubeconfig: "%s"
      register: facts
      check_mode: true
    - ansible.builtin.copy:
        content: "{{ facts | to_json }}"
        dest: "%s"
      check_mode: false
""" % (kubeconfig, out))
    proc = run_playbook(str(playbook), tmp_path, {})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["changed"] is False and result["distribution"] == "rke2" and result["accelerator_total"] == 4
    assert result["identity"]["kubeconfig"] == [str(kubeconfig)], "the path is shown, not masked"
    assert result["identity"]["server"] == server.url and result["identity"]["cluster_uid"]


def test_an_inline_kubeconfig_keeps_its_credentials_out_of_the_output(fake_cluster, tmp_path):
    server = fake_cluster("rke2-gpu")
    kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"), context="inline")
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    out = tmp_path / "facts.json"
    playbook = tmp_path / "facts.yml"
    playbook.write_text("""
- hosts: k8s_api
  gather_facts: false
  tasks:
    - k8s_ai.conformance.cluster_info:
        kubeconfig: "{{ lookup('ansible.builtin.file', '%s') | from_yaml }}"
      register: facts
    - ansible.builtin.copy:
        content: "{{ facts | to_json }}"
        dest: "%s"
""" % (kubeconfig, out))
    proc = run_playbook(str(playbook), tmp_path, {}, verbosity=3)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert token not in proc.stdout + proc.stderr + out.read_text()
    identity = json.loads(out.read_text())["identity"]
    assert identity["context"] == "inline" and identity["server"] == server.url
