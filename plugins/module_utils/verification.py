# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One verification run: reach the cluster, choose the checklist, run the selected checks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from typing import Any, Dict, Iterable, Optional

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists, cluster_facts, engine
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import program
from ansible_collections.k8s_ai.conformance.plugins.module_utils import sections  # noqa: F401 pylint: disable=unused-import
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import runner as probes
from ansible_collections.k8s_ai.conformance.plugins.module_utils.redact import redact_data
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import summarize


def _cluster_facts(kube, server: Dict[str, Any]) -> Dict[str, Any]:
    """The cluster facts for the report; a fact the identity may not read is noted, not fatal
    (the checks that need it report their own error). Which cluster it is, is always there."""
    try:
        return cluster_facts.gather(kube)
    except KubeError as exc:
        return {"kubernetes_version": server.get("gitVersion", ""), "distribution": "unknown",
                "node_count": None, "accelerator_node_count": None, "accelerator_total": None,
                "accelerators": [], "components": [], "identity": cluster_facts.identity(kube), "error": str(exc)}


def verify(kube, checklist_version: Optional[str] = None, requirements: Optional[Iterable[str]] = None,
           sections: Optional[Iterable[str]] = None, exclude_requirements: Optional[Iterable[str]] = None,
           exclude_sections: Optional[Iterable[str]] = None, options: Optional[engine.Options] = None,
           probes_off: Optional[str] = None) -> Dict[str, Any]:
    """Verify the cluster behind ``kube``; raises KubeError when the API cannot be reached or read,
    ChecklistError for an unknown version or requirement name. With ``options.probes`` (and no ``probes_off``
    reason, such as check mode) the probes of the requirements whose check passed run and merge into their results.
    Results and cluster facts come back redacted
    (module results and play output are as clean as the files written from them)."""
    started = time.monotonic()
    server = kube.version()
    version = checklists.select_version(server.get("gitVersion"), checklist_version)
    checklist = checklists.load(version)
    selected = engine.select(checklist, requirements, sections, exclude_requirements, exclude_sections)
    kube.discovery()  # once, up front: an unreadable discovery is a run-level error, not one per check
    options = options or engine.Options()
    results = engine.run(kube, checklist, selected, options)  # engine.REGISTRY: importing sections registered every check
    results = probes.run(kube, checklist, results, options, off=probes_off)  # the passed requirements' probes, merged
    return {
        "checklist_version": checklist.version,
        "kubernetes_version": server.get("gitVersion", ""),
        "cluster": redact_data(_cluster_facts(kube, server)),
        "results": redact_data([r.to_dict() for r in results]),
        "summary": summarize(results, checklist.ids, program.must_na_accepted(checklist.version)),
        "api_requests": kube.request_count,
        "duration_s": round(time.monotonic() - started, 3),
    }
