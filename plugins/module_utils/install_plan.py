# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which install roles a verification calls for: the conform playbook's plan.

The plan reads the verify results and the cluster facts, and the one requirement -> component -> role
table of ``components.py``. For each requirement that is not met it names the roles whose components
satisfy it, in the order they must run (``ROLE_ORDER``). Everything left out is said with why:
a requirement already met or not applicable, one no shipped role fixes, one that could not be decided,
a role the site excluded, an accelerator role on a cluster without NVIDIA accelerator nodes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict, Iterable, List, Optional

from ansible_collections.k8s_ai.conformance.plugins.module_utils import components

# The install roles the collection ships, in the order a plan runs them: monitoring before the GPU operator (its DCGM
# exporter's ServiceMonitor needs the Prometheus Operator CRDs), the operator before the DRA driver, and the gang
# scheduler last: Kueue's admission webhooks (failurePolicy Fail on Pods and Deployments) would block every later
# install while Kueue is not ready.
ROLE_ORDER = ("gateway", "monitoring", "gpu_operator", "dra_driver", "training_operator", "gang_scheduler")
# Roles whose components only make sense on NVIDIA accelerator nodes.
ACCELERATOR_ROLES = ("gpu_operator", "dra_driver")
# Roles that run only when the site names them in ai_conformance_components: the DRA driver serves the same GPUs
# as the GPU operator's device plugin, so it needs a decision about that plugin (see roles/dra_driver/README.md).
CHOSEN_ONLY = {
    "dra_driver": ("DRA for GPUs is a choice: the GPU operator's device plugin serves them otherwise; list dra_driver in "
                   "ai_conformance_components, with gpu_operator_device_plugin_enabled: false (dra_driver_mode: standalone) "
                   "or gpu_operator_mode: gpucluster (dra_driver_mode: gpu_operator)"),
}
INSTALL_MODES = ("missing", "all", "none")
LEVELS = ("MUST", "SHOULD")
MET = ("Implemented",)
NOT_NEEDED = ("N/A",)
UNMET = ("Not Implemented", "Partially Implemented")


class PlanError(ValueError):
    """Input the plan cannot use; the message names the variable to fix."""


def requirement_roles(requirement_id: str) -> List[str]:
    """The shipped install roles whose components satisfy a requirement, in ROLE_ORDER."""
    wanted = {c.role_name for c in components.components_for(requirement_id)}
    return [r for r in ROLE_ORDER if r in wanted]


def _nvidia_nodes(cluster: Dict[str, Any]) -> int:
    return sum(1 for node in cluster.get("accelerators") or [] if node.get("vendor") == "nvidia")


def _check_names(names: Iterable[str], variable: str) -> List[str]:
    names = list(names or [])
    unknown = [n for n in names if n not in ROLE_ORDER]
    if unknown:
        raise PlanError("%s names %s, which %s not an install role; the roles are %s" % (
            variable, ", ".join(unknown), "is" if len(unknown) == 1 else "are", ", ".join(ROLE_ORDER)))
    return names


def plan(results: List[Dict[str, Any]], cluster: Optional[Dict[str, Any]] = None, install: str = "missing",
         levels: Iterable[str] = ("MUST",), only: Iterable[str] = (), skip: Iterable[str] = ()) -> Dict[str, Any]:
    """The roles to run and why, from verify ``results`` and ``cluster`` facts.

    ``install``: missing (roles for unmet requirements), all (every role, met or not) or none.
    ``levels``: the requirement levels a missing-mode plan fixes. ``only``/``skip``: allow- and deny-list of roles
    (ai_conformance_components / ai_conformance_skip_components)."""
    if install not in INSTALL_MODES:
        raise PlanError("ai_conformance_install is %r; use one of %s" % (install, ", ".join(INSTALL_MODES)))
    levels = list(levels)
    bad_levels = [lv for lv in levels if lv not in LEVELS]
    if bad_levels:
        raise PlanError("ai_conformance_install_levels has %s; use MUST and/or SHOULD" % ", ".join(bad_levels))
    only = _check_names(only, "ai_conformance_components")
    skip = _check_names(skip, "ai_conformance_skip_components")
    cluster = cluster or {}
    nvidia_nodes = _nvidia_nodes(cluster)

    wanted: Dict[str, List[str]] = {}  # role -> requirement ids it is run for
    requirements: List[Dict[str, Any]] = []
    for result in results:
        rid, status = result["id"], result.get("status") or ""
        roles = requirement_roles(rid)
        entry = {"id": rid, "level": result.get("level", ""), "status": status or result.get("outcome", ""),
                 "roles": roles, "action": "", "why": ""}
        requirements.append(entry)
        if install == "none":
            entry.update(action="none", why="ai_conformance_install is none")
        elif install == "all":
            entry.update(action="install" if roles else "none",
                         why="ai_conformance_install is all" if roles else _no_role_why(rid))
        elif status in MET:
            entry.update(action="none", why="already %s" % status)
        elif status in NOT_NEEDED:
            entry.update(action="none", why="not applicable on this cluster")
        elif status not in UNMET:
            entry.update(action="none", why="could not be decided (%s): fix what stopped the check, then run again"
                         % (result.get("outcome") or "no status"))
        elif entry["level"] not in levels:
            entry.update(action="none", why="a %s, and ai_conformance_install_levels is %s" % (entry["level"], ", ".join(levels)))
        elif not roles:
            entry.update(action="none", why=_no_role_why(rid))
        else:
            entry.update(action="install", why="%s %s" % (entry["level"], status))
        if entry["action"] == "install":
            for role in roles:
                wanted.setdefault(role, []).append(rid)

    steps, skipped = [], []
    for role in ROLE_ORDER:
        if role not in wanted and install != "all":
            continue
        reqs = wanted.get(role, [])
        why = ""
        if only and role not in only:
            why = "not in ai_conformance_components (%s)" % ", ".join(only)
        elif role in skip:
            why = "in ai_conformance_skip_components"
        elif role in ACCELERATOR_ROLES and not nvidia_nodes:
            why = "no NVIDIA accelerator node (nvidia.com/gpu.present or PCI vendor 10de) in the cluster"
        elif role in CHOSEN_ONLY and role not in only:
            why = CHOSEN_ONLY[role]
        entry = {"role": "%s.%s" % (components.COLLECTION, role), "name": role, "requirements": reqs,
                 "components": [c.name for c in components.COMPONENTS.values() if c.role_name == role]}
        if why:
            skipped.append(dict(entry, why=why))
        else:
            steps.append(entry)
    run = {s["name"] for s in steps}
    for entry in requirements:
        if entry["action"] == "install":
            left = [r for r in entry["roles"] if r not in run]
            if len(left) == len(entry["roles"]):
                entry.update(action="none", why="its roles were left out: " + "; ".join(
                    "%s (%s)" % (s["name"], s["why"]) for s in skipped if s["name"] in entry["roles"]))
    return {"install": install, "roles": [s["name"] for s in steps], "steps": steps, "skipped": skipped,
            "requirements": requirements, "lines": plan_lines(steps, skipped, requirements)}


def plan_lines(steps: List[Dict[str, Any]], skipped: List[Dict[str, Any]], requirements: List[Dict[str, Any]]) -> List[str]:
    """The plan for people: one line per role to run, per role left out, and per unmet requirement nothing fixes."""
    lines = ["run %s for %s" % (s["role"], ", ".join(s["requirements"]) or "ai_conformance_install=all") for s in steps]
    lines += ["not %s (for %s): %s" % (s["role"], ", ".join(s["requirements"]) or "ai_conformance_install=all", s["why"])
              for s in skipped]
    lines += ["%s stays %s: %s" % (r["id"], r["status"] or "undecided", r["why"]) for r in requirements
              if r["action"] == "none" and r["status"] not in MET + NOT_NEEDED and r["status"]]
    return lines or ["nothing to install: every requirement is met or not applicable"]


def _no_role_why(requirement_id: str) -> str:
    if requirement_id in components.NO_COMPONENT:
        return "no install role fixes it: " + components.NO_COMPONENT[requirement_id]
    names = components.REQUIREMENTS.get(requirement_id, ())
    if names:
        return "this collection ships no role for it yet; by hand: " + components.requirement_hint(requirement_id)
    return "no component in the collection's table satisfies it"
