# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the collection's API modules (verify, cluster_info).

Two things Ansible does not do by itself:

* ``module_defaults`` for ``group/kubernetes.core.k8s`` reach these modules. The collection's own
  group ``group/k8s_ai.conformance.k8s`` extends kubernetes.core's (so its defaults reach
  kubernetes.core's modules too), but a collection cannot add its modules to another collection's
  group; this action takes the connection options of that group's defaults, after the task's own
  arguments and this collection's group defaults, which win.
* On a local connection with no ``ansible_python_interpreter`` set, the module runs with the
  Python that runs ansible-playbook (where ``pip install kubernetes`` put the client), as Ansible
  already does for the implicit localhost, also when ``-i localhost,`` names localhost explicitly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

from ansible.plugins.action import ActionBase

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import connection_argspec

KUBERNETES_CORE_GROUP = "group/kubernetes.core.k8s"


def connection_option_names():
    """Every name (and alias) of a connection option the modules accept."""
    names = set()
    for name, spec in connection_argspec().items():
        names.add(name)
        names.update(spec.get("aliases") or [])
    return names


def kubernetes_core_defaults(module_defaults):
    """The connection options set for ``group/kubernetes.core.k8s``, latest definition winning."""
    merged = {}
    for entry in module_defaults or []:
        merged.update((entry or {}).get(KUBERNETES_CORE_GROUP) or {})
    accepted = connection_option_names()
    return dict((key, value) for key, value in merged.items() if key in accepted)


def with_kubernetes_core_defaults(args, defaults):
    """``args`` plus the defaults it does not set itself (under any alias of the same option)."""
    spec = connection_argspec()
    given = set()
    for name, option in spec.items():
        aliases = [name] + list(option.get("aliases") or [])
        if any(alias in args for alias in aliases):
            given.update(aliases)
    merged = dict(args)
    for key, value in defaults.items():
        if key not in given:
            merged[key] = value
    return merged


class KubernetesAction(ActionBase):
    """Run the module of the same name with kubernetes.core's group defaults applied."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(KubernetesAction, self).run(tmp, task_vars)
        del tmp
        task_vars = dict(task_vars or {})
        defaults = self._templar.template(kubernetes_core_defaults(self._task.module_defaults))
        args = with_kubernetes_core_defaults(self._task.args, defaults)
        if self._connection.transport in ("local", "ansible.builtin.local") and not task_vars.get("ansible_python_interpreter"):
            task_vars["ansible_python_interpreter"] = sys.executable
        result.update(self._execute_module(module_name=self._task.resolved_action, module_args=args, task_vars=task_vars))
        return result
