# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check registry and the runner: selected checks run concurrently, each with its own timeout.

A check is a function of a CheckContext returning a Finding; it is registered under the
requirement id it decides with ``@requirement("<id>")`` in ``sections/<section>.py``. One check
failing (exception, API error, timeout) makes only its own requirement ``error``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import Checklist, ChecklistError, Requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import (
    ERROR, SKIPPED, Evidence, Finding, Result,
)

CheckFunc = Callable[["CheckContext"], Finding]
REGISTRY: Dict[str, CheckFunc] = {}
NOT_IMPLEMENTED_NOTE = "check not implemented yet"


def requirement(requirement_id: str) -> Callable[[CheckFunc], CheckFunc]:
    """Register the decorated function as the check deciding ``requirement_id``."""
    def register(func: CheckFunc) -> CheckFunc:
        if requirement_id in REGISTRY and REGISTRY[requirement_id] is not func:
            raise ValueError("two checks registered for %s" % requirement_id)
        REGISTRY[requirement_id] = func
        return func
    return register


@dataclass
class Options:
    """What a site tells the checks; defaults are read-only and safe."""

    probes: bool = False
    audit_workloads: bool = False
    check_timeout: float = 60.0
    concurrency: int = 8
    settings: Dict[str, Any] = field(default_factory=dict)


class CheckContext:
    """Everything one check may use: the API, the options, and a place to record evidence."""

    def __init__(self, kube, options: Options, checklist: Checklist, req: Requirement):
        self.kube = kube
        self.options = options
        self.checklist = checklist
        self.requirement = req
        self.evidence: List[Evidence] = []

    def record(self, command: str, observed: str, api: str = "", note: str = "") -> None:
        """Note what was looked at (one runnable kubectl command), what was seen, and what in it mattered."""
        self.evidence.append(Evidence(command=command, observed=observed.rstrip(), api=api, note=note))


def select(checklist: Checklist, requirements: Optional[Iterable[str]] = None, sections: Optional[Iterable[str]] = None,
           exclude_requirements: Optional[Iterable[str]] = None, exclude_sections: Optional[Iterable[str]] = None) -> List[Requirement]:
    """The checklist's requirements narrowed by include/exclude lists; unknown names are errors."""
    def checked(names, valid, what):
        names = list(names or [])
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise ChecklistError("unknown %s %s for checklist %s; valid: %s"
                                 % (what, ", ".join(unknown), checklist.version, ", ".join(valid)))
        return set(names)

    include_ids = checked(requirements, checklist.ids, "requirement")
    include_sections = checked(sections, checklist.sections, "section")
    exclude_ids = checked(exclude_requirements, checklist.ids, "requirement")
    exclude_secs = checked(exclude_sections, checklist.sections, "section")
    chosen = []
    for req in checklist.requirements:
        wanted = (not include_ids and not include_sections) or req.id in include_ids or req.section in include_sections
        if wanted and req.id not in exclude_ids and req.section not in exclude_secs:
            chosen.append(req)
    return chosen


def _run_one(kube, options: Options, checklist: Checklist, req: Requirement, started: Dict[str, float],
             checks: Dict[str, CheckFunc]) -> Result:
    started[req.id] = time.monotonic()
    ctx = CheckContext(kube, options, checklist, req)
    check = checks.get(req.id)
    if check is None:
        finding = Finding(SKIPPED, NOT_IMPLEMENTED_NOTE)
    else:
        try:
            finding = check(ctx)
        except KubeError as exc:
            finding = Finding(ERROR, "could not decide: %s" % exc, remediation=exc.hint)
        except Exception as exc:  # a bug in a check must not take the others down
            finding = Finding(ERROR, "the check raised %s: %s (a bug in k8s_ai.conformance; please report it)"
                              % (exc.__class__.__name__, exc))
    return Result(id=req.id, section=req.section, level=req.level, outcome=finding.outcome, notes=finding.notes,
                  remediation=finding.remediation, evidence=ctx.evidence, details=finding.details,
                  duration_s=time.monotonic() - started[req.id], caveats=list(finding.caveats))


def run(kube, checklist: Checklist, selected: List[Requirement], options: Optional[Options] = None,
        checks: Optional[Dict[str, CheckFunc]] = None) -> List[Result]:
    """Run the selected checks concurrently; results come back in checklist order."""
    options = options or Options()
    checks = REGISTRY if checks is None else checks
    started: Dict[str, float] = {}
    results: Dict[str, Result] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, options.concurrency), thread_name_prefix="ai-conformance")
    try:
        futures = {pool.submit(_run_one, kube, options, checklist, req, started, checks): req for req in selected}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
            for future in done:
                req = futures[future]
                results[req.id] = future.result()
            now = time.monotonic()
            for future in list(pending):
                req = futures[future]
                if req.id in started and now - started[req.id] > options.check_timeout:
                    future.cancel()
                    pending.discard(future)
                    results[req.id] = Result(
                        id=req.id, section=req.section, level=req.level, outcome=ERROR,
                        notes="the check did not finish within check_timeout=%ss" % options.check_timeout,
                        remediation="raise check_timeout, or look for a slow or overloaded API server",
                        duration_s=now - started[req.id])
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [results[req.id] for req in selected]
