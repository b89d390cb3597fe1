#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cluster_info
short_description: Facts about a Kubernetes cluster relevant to AI conformance
version_added: 0.1.0
author:
  - k8s_ai.conformance maintainers (@k8s-ai)
description:
  - Reports the Kubernetes version, the distribution (RKE2, k3s, kubeadm, EKS, GKE, AKS, OpenShift...)
    and how it was recognised, the node count, the accelerator inventory per node (vendor, model,
    count, MIG and sharing mode, driver and CUDA versions) and the AI components whose APIs are served.
  - Uses a bounded number of API calls whatever the cluster's size (label selectors, never a list of
    every node or pod). Read-only; supports check mode.
  - M(k8s_ai.conformance.verify) returns the same facts as its C(cluster) result.
  - C(module_defaults) for C(group/kubernetes.core.k8s) (their connection options) and for
    C(group/k8s_ai.conformance.k8s) apply; the latter wins.
options: {}
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - k8s_ai.conformance.connection
requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
seealso:
  - module: k8s_ai.conformance.verify
"""

EXAMPLES = r"""
- name: Gather the cluster's AI facts
  k8s_ai.conformance.cluster_info:
  register: cluster

- name: Stop early on a cluster without accelerators
  ansible.builtin.fail:
    msg: "No accelerator nodes found"
  when: cluster.accelerator_node_count == 0
"""

RETURN = r"""
kubernetes_version:
  description: The API server's version.
  returned: success
  type: str
  sample: v1.35.2+rke2r1
platform:
  description: The API server's platform.
  returned: success
  type: str
  sample: linux/amd64
distribution:
  description: The distribution recognised, or V(unknown).
  returned: success
  type: str
  sample: rke2
distribution_evidence:
  description: What showed the distribution.
  returned: success
  type: str
  sample: server version v1.35.2+rke2r1
node_count:
  description: How many nodes the cluster has (from one list call's remaining-item count; null if the server does not say).
  returned: success
  type: int
  sample: 3
accelerator_node_count:
  description: How many nodes carry accelerators.
  returned: success
  type: int
  sample: 2
accelerator_total:
  description: Accelerators across those nodes.
  returned: success
  type: int
  sample: 4
accelerators:
  description: One entry per accelerator node.
  returned: success
  type: list
  elements: dict
  sample:
    - name: gpu-1
      vendor: nvidia
      product: NVIDIA-L40S
      count: 2
      ready: true
      schedulable: true
      resources: {nvidia.com/gpu: "2"}
      driver_version: 580.95.05
      cuda_version: "13.0"
      mig_strategy: ""
      sharing_strategy: none
      kubelet_version: v1.35.2+rke2r1
      container_runtime: containerd://2.1.4-k3s1
      os_image: SUSE Linux Enterprise Server 15 SP6
components:
  description: AI-relevant components whose APIs the cluster serves.
  returned: success
  type: list
  elements: dict
  sample:
    - name: Volcano
      api_group: scheduling.volcano.sh
      api_versions: [v1beta1]
identity:
  description:
    - Which cluster this is - the API server URL, the kubeconfig context and file(s) used (paths only), how the
      credentials were found (V(kubeconfig), V(explicit) or V(in-cluster)), the server version and the
      kube-system namespace UID, which stays the same for the cluster's life. Never a credential.
    - C(cluster_uid) is null (and C(cluster_uid_error) says why) when the identity may not read that namespace.
  returned: success
  type: dict
  sample:
    server: https://10.0.0.10:6443
    context: rke2-prod
    kubeconfig: [/home/me/.kube/config]
    source: kubeconfig
    server_version: v1.35.2+rke2r1
    cluster_uid: 6c1a1d4e-2f0b-4c53-9e35-1d0c8c1d9a77
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.k8s_ai.conformance.plugins.module_utils import kube as kube_utils
from ansible_collections.k8s_ai.conformance.plugins.module_utils.cluster_facts import gather


def main():
    module = AnsibleModule(argument_spec=kube_utils.connection_argspec(), supports_check_mode=True)
    if not kube_utils.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(kube_utils.KUBERNETES_IMPORT_ERROR))
    kube_utils.hide_inline_kubeconfig(module)
    try:
        facts = gather(kube_utils.Kube.from_params(module.params, module=module))
    except kube_utils.KubeError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
