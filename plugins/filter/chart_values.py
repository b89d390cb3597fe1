# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chart_values filter: the Helm values an install role deploys a component with."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: chart_values
short_description: The Helm values an install role deploys a component with
description:
  - Renders the values of one component's chart from the role's settings and the cluster's distribution,
    then merges the user's C(values) overrides over them (the user wins).
  - The logic is in C(plugins/module_utils/chart_values/); each install role calls this filter once per chart.
version_added: 0.1.0
positional: component, distribution
options:
  _input:
    description: The role's settings (a mapping); its C(values) key holds the user's overrides.
    type: dict
    required: true
  component:
    description: The component, as the collection's components table names it (C(gpu_operator), C(kueue), ...).
    type: str
    required: true
  distribution:
    description: The cluster's distribution; C(rke2), C(k3s), C(kubeadm), anything else is C(generic).
    type: str
    default: generic
"""

EXAMPLES = r"""
- name: Values of the GPU operator on RKE2
  ansible.builtin.debug:
    msg: "{{ {'values': {}} | k8s_ai.conformance.chart_values('gpu_operator', 'rke2') }}"
"""

RETURN = r"""
_value:
  description: The Helm values.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, render


def chart_values(settings, component, distribution="generic"):
    """The values ``component`` is installed with on ``distribution``."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("chart_values expects the role's settings as a mapping, got %s" % type(settings).__name__)
    try:
        return render(component, settings, distribution)
    except ChartValuesError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    """k8s_ai.conformance filters."""

    def filters(self):
        return {"chart_values": chart_values}
