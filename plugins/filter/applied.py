# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The applied filter: what an install role's write tasks created or changed on the cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: applied
short_description: Name the objects and Helm releases that registered write results created or changed
description:
  - Takes the registered results of C(kubernetes.core.k8s) and C(kubernetes.core.helm) tasks (single, with several
    objects, or from a loop) and returns one line per object or release each changed, such as
    V(CustomResourceDefinition gateways.gateway.networking.k8s.io (applied)) or
    V(Helm release envoy-gateway-system/eg (revision 2, deployed)). Results that changed nothing, or were skipped,
    give nothing.
  - The conform role reads it over the C(<role>__applied_*) results of the install role it ran, to say what the
    role changed and, when it failed, exactly what it left.
  - Reads kinds, names, namespaces and revisions only; never an object's data or a release's values.
version_added: 0.1.0
options:
  _input:
    description: Registered task results.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Say what the gateway role changed
  ansible.builtin.debug:
    msg: "{{ query('ansible.builtin.vars', *query('ansible.builtin.varnames', '^gateway__applied_')) | k8s_ai.conformance.applied }}"
"""

RETURN = r"""
_value:
  description: One line per object or release created or changed, in task order, without repeats.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_ai.conformance.plugins.module_utils.applied import applied as _applied


def applied(results):
    """The objects and releases ``results`` created or changed."""
    if not isinstance(results, (list, tuple)):
        raise AnsibleFilterError("applied expects a list of registered task results, got %s" % type(results).__name__)
    return _applied(results)


class FilterModule(object):
    """k8s_ai.conformance filters."""

    def filters(self):
        return {"applied": applied}
