#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: install_guard
short_description: Stop an install role when its component is already installed by someone else
version_added: 0.1.0
author:
  - k8s_ai.conformance maintainers (@k8s-ai)
description:
  - Looks up the objects that mark a component as installed (its controller Deployment, for instance) and
    who installed each - the Helm release named by its C(meta.helm.sh/release-name) and
    C(meta.helm.sh/release-namespace) annotations, or nothing when it was not installed by Helm.
  - Fails, naming what it found and how to proceed, when one exists that is not the release the role is about to
    install or upgrade; a second copy of an operator would fight the first over CRDs, webhooks and nodes.
  - Read-only; supports check mode.
options:
  component:
    description: What the component is called in messages (V(NVIDIA GPU Operator)).
    type: str
    required: true
  role:
    description: The install role's short name (V(gpu_operator)); the message names C(<role>_release_name),
      C(<role>_namespace) and C(<role>_enabled) unless the C(*_variable) options name others.
    type: str
    required: true
  release_variable:
    description: The role variable that sets the release name, when it is not C(<role>_release_name).
    type: str
  namespace_variable:
    description: The role variable that sets the release namespace, when it is not C(<role>_namespace).
    type: str
  enabled_variable:
    description: The role variable that turns this install off, when it is not C(<role>_enabled).
    type: str
  release_name:
    description: The Helm release the role installs.
    type: str
    required: true
  release_namespace:
    description: The namespace of that release.
    type: str
    required: true
  markers:
    description:
      - The objects whose existence means the component is installed.
      - Each has C(api_version), C(kind), C(resource) (the plural, V(deployments)), and either C(name) (with
        C(namespace) when namespaced, or C(any_namespace=true) to look for the name in every namespace) or
        C(label_selector) (in C(namespace), else in every namespace).
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - k8s_ai.conformance.connection
requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
"""

EXAMPLES = r"""
- name: Stop when the GPU operator was installed by someone else
  k8s_ai.conformance.install_guard:
    component: NVIDIA GPU Operator
    role: gpu_operator
    release_name: gpu-operator
    release_namespace: gpu-operator
    markers:
      - {api_version: apps/v1, kind: Deployment, resource: deployments, name: gpu-operator, any_namespace: true}
      - {api_version: apps/v1, kind: Deployment, resource: deployments, label_selector: app.kubernetes.io/component=gpu-operator}
"""

RETURN = r"""
found:
  description: Each marker object that exists, with its C(kind), C(namespace), C(name), C(release) and C(release_namespace) ("" when not Helm).
  returned: success
  type: list
  elements: dict
  sample:
    - {kind: Deployment, namespace: gpu-operator, name: gpu-operator, release: gpu-operator, release_namespace: gpu-operator}
ours:
  description: Whether the component exists and all of it belongs to the role's release (an upgrade, not a first install).
  returned: success
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.k8s_ai.conformance.plugins.module_utils import install_guard, kube as kube_utils


def main():
    spec = kube_utils.connection_argspec()
    spec.update(component=dict(type="str", required=True), role=dict(type="str", required=True),
                release_variable=dict(type="str"), namespace_variable=dict(type="str"), enabled_variable=dict(type="str"),
                release_name=dict(type="str", required=True), release_namespace=dict(type="str", required=True),
                markers=dict(type="list", elements="dict", required=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not kube_utils.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(kube_utils.KUBERNETES_IMPORT_ERROR))
    kube_utils.hide_inline_kubeconfig(module)
    params = module.params
    try:
        outcome = install_guard.inspect(kube_utils.Kube.from_params(params, module=module), params["markers"],
                                        params["release_name"], params["release_namespace"])
    except (kube_utils.KubeError, install_guard.GuardError) as exc:
        module.fail_json(msg=str(exc))
    if outcome["foreign"]:
        module.fail_json(msg=install_guard.message(params["component"], params["role"], outcome["foreign"],
                                                   params["release_name"], params["release_namespace"], params["release_variable"] or "",
                                                   params["namespace_variable"] or "", params["enabled_variable"] or ""),
                         found=outcome["found"], ours=False)
    module.exit_json(changed=False, found=outcome["found"], ours=outcome["ours"])


if __name__ == "__main__":
    main()
