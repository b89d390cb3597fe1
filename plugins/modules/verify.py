#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: verify
short_description: Verify a Kubernetes cluster against the CNCF Kubernetes AI Conformance checklist
version_added: 0.1.0
author:
  - k8s_ai.conformance maintainers (@k8s-ai)
description:
  - Runs one check per requirement of the program's checklist against the live cluster and
    returns a result for each, with the evidence it collected.
  - The checklist version follows the API server's minor version unless O(checklist_version) is set.
  - Checks are read-only and run concurrently, each with its own timeout; an API error in one check
    makes only that requirement V(error), with a message naming the API call and the fix.
  - Never changes the cluster and never reports C(changed). Supports check mode.
  - Use M(k8s_ai.conformance.checklist) to turn the results into the filled-in checklist and reports.
options:
  checklist_version:
    description:
      - The checklist to verify against, such as V(1.35). Defaults to the cluster's minor version.
      - An unknown version is an error that lists the versions this collection ships.
    type: str
  requirements:
    description:
      - Only these requirement ids (for example V(ai_inference)). Default all.
    type: list
    elements: str
    default: []
  sections:
    description:
      - Only the requirements of these checklist sections (for example V(networking)). Default all.
    type: list
    elements: str
    default: []
  exclude_requirements:
    description:
      - Requirement ids to leave out.
    type: list
    elements: str
    default: []
  exclude_sections:
    description:
      - Checklist sections to leave out.
    type: list
    elements: str
    default: []
  probes:
    description:
      - Also run the functional probes of the requirements whose read-only check passed, concurrently, each in a
        scratch namespace C(ai-conformance-<random>) of its own (labelled C(app.kubernetes.io/managed-by=k8s-ai-conformance-probe)),
        which is deleted and awaited whatever happens (pass, fail, timeout, SIGINT, SIGTERM). A probe's failure
        makes its requirement Not Implemented even when the components are ready; one that cannot observe what
        it needs (container output on simulated kubelets) says so and keeps the check's verdict. Needs the
        grants of docs/rbac-probes.md. Never in check mode. Probes - gang_scheduling (Kueue, the official
        test's semantics; Volcano), pod_autoscaling, cluster_autoscaling (with O(autoscaler_node_pool_label)),
        ai_inference, robust_controller, dra_support, driver_runtime_management, secure_accelerator_access,
        accelerator_metrics (every node's exporter pod), ai_service_metrics (a ServiceMonitor'd stub, queried in
        Prometheus), workload_sandboxing (1.37); a requirement whose probe did not run says so in its notes.
    type: bool
    default: false
  probe_timeout:
    description:
      - Seconds each probe may take (its cleanup not included); past it the probe is cancelled and its
        requirement is undecided.
      - The cluster_autoscaling probe waits for a real node to be added and removed, which takes minutes (the
        official test allows 20 minutes for the scale-up and 30 for the scale-down); raise it, for example to
        V(3600), when O(autoscaler_node_pool_label) is set. A wait that the probe's time cuts short leaves the
        requirement undecided, not failed.
    type: float
    default: 300
  keep_probe_resources:
    description:
      - Leave the probes' scratch namespaces in place for debugging (the evidence names them). A later run
        sweeps them once their C(probe.k8s-ai-conformance.io/sweep-after) time has passed.
    type: bool
    default: false
  probe_image_registry:
    description:
      - A registry (host, optionally with a path) that mirrors the probes' images, for air-gapped clusters; the
        images keep their repository, tag and digest. M(k8s_ai.conformance.probe_images) lists them.
    type: str
  gang_negative_window:
    description:
      - Seconds a gang larger than the scheduler's capacity must stay without any pod Running or bound
        (the official test's C(-gang-negative-window)).
    type: float
    default: 30
  autoscaler_node_pool_label:
    description:
      - The node label C(key=value) naming the accelerator node pool the autoscaler scales (the official
        test's C(-autoscaler-node-pool-label)), for example V(nvidia.com/gpu.present=true),
        V(cloud.google.com/gke-nodepool=gpu-pool) or V(karpenter.sh/nodepool=gpu).
      - With it the cluster_autoscaling probe fills the pool's free accelerators (else CPU) with pause pods plus
        one, in its scratch namespace, and requires that pod to be Unschedulable, a new Ready node with the label
        to join the pool and run it, and, once its pods are deleted, the pool to return to its baseline nodes.
        The pool should be idle and at least one node big, and allow one node more than it has.
      - Unset, the cluster_autoscaling probe is skipped and the requirement keeps the check's verdict. A value
        that is not one label C(key=value) is an error before the cluster is asked anything.
    type: str
  audit_workloads:
    description:
      - Also stream the pods on accelerator nodes, page by page, and name each one that reaches
        accelerators outside the device plugin or DRA (device environment variables without a device
        request, C(/dev) accelerator hostPath volumes, privileged containers). Read-only; its cost
        grows with the number of pods on accelerator nodes, so it is off by default.
    type: bool
    default: false
  audit_strategy:
    description:
      - How O(audit_workloads) reads the pods. V(per-node) lists the pods of each accelerator node with a
        C(spec.nodeName) field selector (only those pods travel); V(stream) reads every unfinished pod
        of the cluster in one paginated stream and keeps those on accelerator nodes; V(auto) picks the
        cheaper from the accelerator-node and pod counts.
    type: str
    choices: [auto, per-node, stream]
    default: auto
  audit_exempt_namespaces:
    description:
      - Namespaces whose pods the audit does not flag, besides the GPU operator's and DRA driver's own
        and C(kube-system) (their privileged pods manage the devices).
    type: list
    elements: str
    default: []
  custom_metrics_namespace:
    description:
      - A namespace whose pods have an accelerator metric in the custom metrics API. When no
        HorizontalPodAutoscaler uses an accelerator metric yet, the C(pod_autoscaling) check reads that
        metric's values for the pods of this namespace, to show the adapter serves them. Unset, the
        metric's presence alone is reported.
    type: str
  check_timeout:
    description:
      - Seconds one check may take before its requirement is reported V(error).
    type: float
    default: 60.0
  concurrency:
    description:
      - How many checks run at the same time.
    type: int
    default: 8
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - k8s_ai.conformance.connection
requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
  - "PyYAML >= 3.11"
notes:
  - The identity used needs read access (get, list) to the API groups the checks look at; a
    forbidden resource makes its requirement V(error) with the RBAC fix, not a failure.
  - C(module_defaults) for C(group/kubernetes.core.k8s) apply here too (the connection options among
    them; this collection's action plugin adds them), and so do those for this collection's own group
    C(group/k8s_ai.conformance.k8s), which extends C(kubernetes.core.k8s) and wins over it.
  - On a local connection without C(ansible_python_interpreter), the module runs with the Python that
    runs ansible-playbook.
seealso:
  - module: k8s_ai.conformance.checklist
  - name: CNCF Kubernetes AI Conformance
    description: The program, its checklists and submission rules.
    link: https://github.com/cncf/k8s-ai-conformance
"""

EXAMPLES = r"""
- name: Verify the cluster of the current kubeconfig context
  k8s_ai.conformance.verify:
  register: conformance

- name: Verify only the networking section against the 1.35 checklist, in another context
  k8s_ai.conformance.verify:
    context: rke2-prod
    checklist_version: "1.35"
    sections:
      - networking

- name: Branch on one requirement
  ansible.builtin.debug:
    msg: "Gateway API is ready"
  when: >-
    conformance.results | selectattr('id', 'equalto', 'ai_inference')
    | map(attribute='outcome') | first == 'pass'
"""

RETURN = r"""
checklist_version:
  description: The checklist version verified against.
  returned: success
  type: str
  sample: "1.35"
kubernetes_version:
  description: The API server's version.
  returned: success
  type: str
  sample: v1.35.2+rke2r1
results:
  description: One result per selected requirement, in checklist order.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The requirement id as the program publishes it.
      type: str
      sample: ai_inference
    section:
      description: The checklist section.
      type: str
      sample: networking
    level:
      description: V(MUST) or V(SHOULD).
      type: str
      sample: MUST
    outcome:
      description:
        - V(pass), V(fail), V(not_applicable), V(unknown) (a person must check, for example an
          accelerator the checks do not recognise), V(error) (the check could not decide) or
          V(skipped).
      type: str
      sample: pass
    status:
      description:
        - The program's status for the outcome - V(Implemented), V(Not Implemented), V(N/A), or
          empty when the outcome does not decide it (unknown, error, skipped).
      type: str
      sample: Implemented
    notes:
      description: Why, in a sentence or two. A V(not_applicable) result always carries its justification here.
      type: str
    caveats:
      description:
        - What the verdict does not cover, for example a functional part that was not demonstrated.
          The reports always show caveats in full; the checklist's notes end with them.
      type: list
      elements: str
    remediation:
      description: What to install or change when the requirement is not met.
      type: str
    evidence:
      description: What the check looked at, as kubectl-equivalent commands and what they showed.
      type: list
      elements: dict
      contains:
        command:
          description: The kubectl-equivalent command.
          type: str
        observed:
          description: What it showed.
          type: str
        api:
          description: The API call(s) behind it.
          type: str
        note:
          description: What in the answer the check looked at, when the command alone does not say it.
          type: str
    details:
      description: Structured facts the check found (versions, names, counts).
      type: dict
    duration_s:
      description: Seconds the check took.
      type: float
cluster:
  description:
    - Facts about the cluster, as M(k8s_ai.conformance.cluster_info) returns them - version,
      distribution, node count, accelerator inventory per node and the AI components served.
  returned: success
  type: dict
  sample:
    kubernetes_version: v1.35.2+rke2r1
    distribution: rke2
    node_count: 3
    accelerator_node_count: 2
    accelerator_total: 4
    identity:
      server: https://10.0.0.10:6443
      context: rke2-prod
      kubeconfig: [/home/me/.kube/config]
      source: kubeconfig
      server_version: v1.35.2+rke2r1
      cluster_uid: 6c1a1d4e-2f0b-4c53-9e35-1d0c8c1d9a77
summary:
  description:
    - Counts by outcome and the verdict over the MUST requirements.
    - C(verdict) is V(conformant), V(not conformant), V(undecided) (no MUST failed, but one could not be
      decided - an API error, a timeout, a check that needs a person) or V(subset) (not every requirement
      of the checklist was run - a subset never has a conformance verdict, and C(conformant) is null).
    - C(passed) is true when no MUST among those run failed or was undecided; C(must_problems) says
      which did and why, one line each; C(headline) says it all in one sentence.
    - C(must_na_rejected) lists MUSTs written N/A that the program's validator rejects (it accepts N/A
      only on cluster_autoscaling, with a warning).
  returned: success
  type: dict
  sample:
    total: 12
    counts: {pass: 10, fail: 0, not_applicable: 1, unknown: 0, error: 0, skipped: 1}
    must_total: 9
    must_implemented: [dra_support, ai_inference]
    must_not_met: []
    must_undecided: []
    must_not_applicable: [cluster_autoscaling]
    must_na_rejected: []
    must_problems: []
    not_run: []
    complete: true
    verdict: conformant
    conformant: true
    passed: true
    headline: "Conformant: 9 of 9 MUST requirements met (1 N/A with justification); the program's validator accepts N/A on cluster_autoscaling with a warning."
api_requests:
  description: How many API calls the run made.
  returned: success
  type: int
  sample: 14
duration_s:
  description: Seconds the whole run took.
  returned: success
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.k8s_ai.conformance.plugins.module_utils import kube as kube_utils
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import HAS_YAML, ChecklistError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify


def argspec():
    spec = kube_utils.connection_argspec()
    spec.update(
        checklist_version=dict(type="str"),
        requirements=dict(type="list", elements="str", default=[]),
        sections=dict(type="list", elements="str", default=[]),
        exclude_requirements=dict(type="list", elements="str", default=[]),
        exclude_sections=dict(type="list", elements="str", default=[]),
        probes=dict(type="bool", default=False),
        probe_timeout=dict(type="float", default=300.0),
        keep_probe_resources=dict(type="bool", default=False),
        probe_image_registry=dict(type="str"),
        gang_negative_window=dict(type="float", default=30.0),
        autoscaler_node_pool_label=dict(type="str"),
        audit_workloads=dict(type="bool", default=False),
        audit_strategy=dict(type="str", default="auto", choices=["auto", "per-node", "stream"]),
        audit_exempt_namespaces=dict(type="list", elements="str", default=[]),
        custom_metrics_namespace=dict(type="str"),
        check_timeout=dict(type="float", default=60.0),
        concurrency=dict(type="int", default=8),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    if not kube_utils.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(kube_utils.KUBERNETES_IMPORT_ERROR))
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    kube_utils.hide_inline_kubeconfig(module)
    params = module.params
    try:
        options = Options(probes=params["probes"], audit_workloads=params["audit_workloads"],
                          check_timeout=params["check_timeout"], concurrency=params["concurrency"],
                          audit_strategy=params["audit_strategy"], audit_exempt_namespaces=params["audit_exempt_namespaces"],
                          custom_metrics_namespace=params["custom_metrics_namespace"], probe_timeout=params["probe_timeout"],
                          keep_probe_resources=params["keep_probe_resources"], probe_image_registry=params["probe_image_registry"],
                          gang_negative_window=params["gang_negative_window"],
                          autoscaler_node_pool_label=params["autoscaler_node_pool_label"] or "")
    except ValueError as exc:  # an option's form (autoscaler_node_pool_label), before the cluster is asked anything
        module.fail_json(msg=str(exc))
    try:
        kube = kube_utils.Kube.from_params(params, module=module)
        outcome = verify(
            kube, params["checklist_version"], params["requirements"], params["sections"],
            params["exclude_requirements"], params["exclude_sections"], options,
            probes_off="check mode" if module.check_mode else None,
        )
    except (kube_utils.KubeError, ChecklistError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **outcome)


if __name__ == "__main__":
    main()
