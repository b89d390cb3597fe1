# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kueue_quota filter: a Kueue ClusterQueue's nominal quota from the cluster's nodes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: kueue_quota
short_description: A Kueue ClusterQueue's nominal quota from the nodes' allocatable resources
description:
  - Sums C(status.allocatable) cpu, memory and nvidia.com/gpu over the nodes given (as C(kubernetes.core.k8s_info)
    returns them), leaving out cordoned nodes and control-plane nodes tainted C(NoSchedule) or C(NoExecute).
  - Returns the C(resources) list of one ClusterQueue flavor, C([{name, nominalQuota}, ...]); cpu and memory are
    always there, nvidia.com/gpu only when a node offers it.
  - The arithmetic is in C(plugins/module_utils/chart_values/scheduling.py) (C(kueue_quota)).
version_added: 0.2.0
positional: overrides
options:
  _input:
    description: The nodes (the C(resources) of C(kubernetes.core.k8s_info) for kind Node).
    type: list
    elements: dict
    required: true
  overrides:
    description: Resource name to quantity; replaces the sum of that resource, or adds a resource.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Read the nodes
  kubernetes.core.k8s_info:
    kind: Node
  register: nodes

- name: The quota
  ansible.builtin.debug:
    msg: "{{ nodes.resources | k8s_ai.conformance.kueue_quota({'nvidia.com/gpu': 4}) }}"
"""

RETURN = r"""
_value:
  description:
    - "The flavor's resources, such as C([{name: cpu, nominalQuota: 15500m}, {name: memory, nominalQuota: 60Gi}])."
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values.scheduling import kueue_quota as _kueue_quota


def kueue_quota(nodes, overrides=None):
    """The nominal quota of a ClusterQueue covering ``nodes``."""
    if not isinstance(nodes, list):
        raise AnsibleFilterError("kueue_quota expects the list of nodes, got %s" % type(nodes).__name__)
    try:
        return _kueue_quota(nodes, overrides or {})
    except ChartValuesError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    """k8s_ai.conformance filters."""

    def filters(self):
        return {"kueue_quota": kueue_quota}
