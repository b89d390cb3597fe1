# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for k8s_ai.conformance.install_guard: kubernetes.core's group defaults, then the module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.k8s_ai.conformance.plugins.plugin_utils.kubernetes_defaults import KubernetesAction


class ActionModule(KubernetesAction):
    """See plugins/plugin_utils/kubernetes_defaults.py."""
