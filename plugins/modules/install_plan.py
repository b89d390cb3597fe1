#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: install_plan
short_description: Decide which install roles a verification calls for
version_added: 0.1.0
author:
  - k8s_ai.conformance maintainers (@k8s-ai)
description:
  - Reads the results of M(k8s_ai.conformance.verify) and names, for each requirement that is not met, the
    collection's install roles whose components satisfy it, in the order they must run.
  - Says for every requirement and every role left out why (met, not applicable, undecided, no role fixes it,
    excluded by the site, no NVIDIA accelerator node for an accelerator role).
  - Talks to no cluster and changes nothing; the C(conform) playbook runs the roles it names. Supports check mode.
options:
  results:
    description: The C(results) of M(k8s_ai.conformance.verify).
    type: list
    elements: dict
    required: true
  cluster:
    description: The C(cluster) facts of M(k8s_ai.conformance.verify) (its C(accelerators) gate the accelerator roles).
    type: dict
    default: {}
  install:
    description:
      - V(missing) plans the roles of the requirements that are not met; V(all) every install role whatever the
        results; V(none) no role.
    type: str
    choices: [missing, all, none]
    default: missing
  levels:
    description: The requirement levels a V(missing) plan fixes.
    type: list
    elements: str
    choices: [MUST, SHOULD]
    default: [MUST]
  components:
    description: Only these install roles (an allow-list; empty allows all).
    type: list
    elements: str
    default: []
  skip_components:
    description: Never these install roles (a deny-list).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Verify the cluster
  k8s_ai.conformance.verify:
  register: before

- name: Plan the roles that fix what is not met
  k8s_ai.conformance.install_plan:
    results: "{{ before.results }}"
    cluster: "{{ before.cluster }}"
    skip_components: [gpu_operator]
  register: plan

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ plan.roles }}"
"""

RETURN = r"""
install:
  description: The install mode the plan was made for.
  returned: always
  type: str
  sample: missing
roles:
  description: The install roles to run, in order (short names).
  returned: always
  type: list
  elements: str
  sample: [gateway, monitoring, training_operator, gang_scheduler]
steps:
  description: One entry per role to run - its name, fully qualified role, components and the requirements it is run for.
  returned: always
  type: list
  elements: dict
  sample:
    - name: gateway
      role: k8s_ai.conformance.gateway
      components: [gateway_api_crds, envoy_gateway, inference_extension]
      requirements: [ai_inference]
skipped:
  description: The roles a requirement called for that will not run, each with why.
  returned: always
  type: list
  elements: dict
  sample:
    - name: gpu_operator
      role: k8s_ai.conformance.gpu_operator
      requirements: [pod_autoscaling]
      why: no NVIDIA accelerator node (nvidia.com/gpu.present or PCI vendor 10de) in the cluster
lines:
  description: The plan for people - one line per role to run, per role left out and per unmet requirement nothing fixes.
  returned: always
  type: list
  elements: str
  sample:
    - run k8s_ai.conformance.gateway for ai_inference
    - "not k8s_ai.conformance.gpu_operator (for pod_autoscaling): no NVIDIA accelerator node (nvidia.com/gpu.present or PCI vendor 10de) in the cluster"
requirements:
  description: Per requirement - its status, the roles that satisfy it, the action (V(install) or V(none)) and why.
  returned: always
  type: list
  elements: dict
  sample:
    - id: ai_inference
      level: MUST
      status: Not Implemented
      roles: [gateway]
      action: install
      why: MUST Not Implemented
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8s_ai.conformance.plugins.module_utils.install_plan import PlanError, plan


def main():
    module = AnsibleModule(argument_spec=dict(
        results=dict(type="list", elements="dict", required=True),
        cluster=dict(type="dict", default={}),
        install=dict(type="str", choices=["missing", "all", "none"], default="missing"),
        levels=dict(type="list", elements="str", choices=["MUST", "SHOULD"], default=["MUST"]),
        components=dict(type="list", elements="str", default=[]),
        skip_components=dict(type="list", elements="str", default=[]),
    ), supports_check_mode=True)
    params = module.params
    try:
        outcome = plan(params["results"], params["cluster"], install=params["install"], levels=params["levels"],
                       only=params["components"], skip=params["skip_components"])
    except PlanError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **outcome)


if __name__ == "__main__":
    main()
