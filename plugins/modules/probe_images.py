#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: probe_images
short_description: List every image the functional probes would pull
version_added: 0.1.0
author:
  - k8s_ai.conformance maintainers (@k8s-ai)
description:
  - "Names every container image the functional probes of M(k8s_ai.conformance.verify) may run, pinned by digest,
    as the probes' pods would reference them: with O(registry), as they would be pulled from a mirror. Mirror them
    before running the probes on an air-gapped cluster."
  - Talks to no cluster and changes nothing. Supports check mode.
options:
  registry:
    description:
      - The mirror the probes pull from (O(k8s_ai.conformance.verify#module:probe_image_registry) of the verify module),
        a host, optionally with a path. Unset, the upstream references.
    type: str
"""

EXAMPLES = r"""
- name: List the probe images as they would be pulled from the site's mirror
  k8s_ai.conformance.probe_images:
    registry: registry.example.internal/mirror
  register: probe_images

- name: Print them
  ansible.builtin.debug:
    var: probe_images.images
"""

RETURN = r"""
images:
  description: Every image a probe may pull, sorted.
  returned: always
  type: list
  elements: str
  sample: ["registry.k8s.io/e2e-test-images/busybox:1.36.1-1@sha256:a9155b13325b2abef48e71de77bb8ac015412a566829f621d06bfae5c699b1b9"]
upstream:
  description: The same images at their upstream registries (what to copy into the mirror).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.images import every_image


def main():
    module = AnsibleModule(argument_spec=dict(registry=dict(type="str")), supports_check_mode=True)
    module.exit_json(changed=False, images=every_image(module.params["registry"]), upstream=every_image())


if __name__ == "__main__":
    main()
