"""module_defaults reach this collection's modules as the README says: one play, both collections'
modules, two fake clusters, and which cluster each module reached (by its kube-system namespace UID)."""

import json
import subprocess

import yaml

from tests.integration.conftest import BIN, ROOT

PLAY = """
- name: Both collections under module_defaults
  hosts: localhost
  gather_facts: false
  module_defaults: {defaults}
  tasks:
    - name: kubernetes.core reads kube-system
      kubernetes.core.k8s_info:
        kind: Namespace
        name: kube-system
      register: core
    - name: This collection identifies the cluster
      k8s_ai.conformance.cluster_info:
      register: ours
    - name: Keep both answers
      ansible.builtin.copy:
        content: "{{{{ {{'core': core.resources[0].metadata.uid, 'ours': ours.identity.cluster_uid,
                       'server': ours.identity.server}} | to_json }}}}"
        dest: "{{{{ answer }}}}"
        mode: "0644"
"""


def run_play(tmp_path, defaults):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(defaults=json.dumps(defaults)))
    answer = tmp_path / "answer.json"
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "PATH": str(BIN) + ":/usr/bin:/bin",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "atmp"), "HOME": str(tmp_path)}
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(playbook), "-e", "answer=%s" % answer],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads(answer.read_text())


def uid_of(server, tmp_path):
    """The kube-system namespace UID, read straight from the server."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
    kubeconfig = server.write_kubeconfig(str(tmp_path / ("uid-%d.yaml" % id(server))))
    uid = Kube.from_params(dict(kubeconfig=str(kubeconfig))).get("", "v1", "namespaces", "kube-system")["metadata"]["uid"]
    return uid


def test_kubernetes_core_group_defaults_reach_both_collections(fake_cluster, tmp_path):
    a, b = fake_cluster("rke2-gpu"), fake_cluster("kubeadm-plain")
    kubeconfig_a = a.write_kubeconfig(str(tmp_path / "a.yaml"), context="a")
    b.write_kubeconfig(str(tmp_path / "b.yaml"), context="b")
    answer = run_play(tmp_path, {"group/kubernetes.core.k8s": {"kubeconfig": str(kubeconfig_a), "namespace": "default"}})
    assert b.request_count == 0
    assert answer["core"] == answer["ours"] == uid_of(a, tmp_path) != uid_of(b, tmp_path)
    assert answer["server"] == a.url


def test_our_group_defaults_reach_both_and_win_over_kubernetes_core(fake_cluster, tmp_path):
    a, b = fake_cluster("rke2-gpu"), fake_cluster("kubeadm-plain")
    kubeconfig_a = a.write_kubeconfig(str(tmp_path / "a.yaml"), context="a")
    kubeconfig_b = b.write_kubeconfig(str(tmp_path / "b.yaml"), context="b")
    answer = run_play(tmp_path, {"group/k8s_ai.conformance.k8s": {"kubeconfig": str(kubeconfig_b)}})
    assert answer["core"] == answer["ours"] == uid_of(b, tmp_path)
    both = run_play(tmp_path, [{"group/kubernetes.core.k8s": {"kubeconfig": str(kubeconfig_a)}},
                               {"group/k8s_ai.conformance.k8s": {"kubeconfig": str(kubeconfig_b)}}])
    assert both["ours"] == uid_of(b, tmp_path), "this collection's own group wins for its modules"


def test_kubeconfig_paths_are_never_printed_with_credentials(fake_cluster, tmp_path):
    a = fake_cluster("rke2-gpu")
    kubeconfig = a.write_kubeconfig(str(tmp_path / "a.yaml"), context="a")
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    answer = run_play(tmp_path, {"group/kubernetes.core.k8s": {"kubeconfig": str(kubeconfig)}})
    assert token not in json.dumps(answer)
