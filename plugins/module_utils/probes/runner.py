# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the probes of the requirements whose read-only check passed, all at once, and merge what they showed.

Each probe runs in its own thread and scratch namespace (scratch.py) with its own ``probe_timeout``; the run costs
about its slowest probe. Whatever ends a probe (pass, fail, timeout, an API error, a bug) its namespace is deleted
and awaited in its thread, so deletions overlap too; a probe still running past its timeout is cancelled and its
namespace removed from here. SIGINT or SIGTERM during the run cancels every probe and removes every namespace of
the run before the interrupt goes on. Earlier runs' expired namespaces are swept first.

How a probe's finding merges into its requirement's result: PASS keeps Implemented with the observation; FAIL or
ERROR replaces a readiness-only pass (a MUST is not Implemented on readiness once its probe failed); SKIPPED,
UNKNOWN or NOT_APPLICABLE (no probe for this implementation, nothing observable) keep the check's verdict and say
the functional part was not shown. A probe never runs in check mode or with ``probes: false``, and the result says so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Dict, List, Optional

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError, WaitTimeout
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import NO_SCRATCH, PROBES
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import (  # noqa: F401 pylint: disable=unused-import
    accelerators, networking, observability, operator, scheduling, security,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.scratch import (
    RUN_LABEL, Cancelled, ProbeContext, new_run_id, sweep,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import (
    ERROR, FAIL, NOT_APPLICABLE, PASS, Finding, Result,
)

NOT_SHOWN = "functional part not demonstrated"  # how a check's caveat about its missing probe begins
SLACK = 2.0  # seconds past its timeout before a probe is cancelled: its own last wait ends at the timeout, and fails
GRACE = 10.0  # seconds a probe past its timeout gets to notice its cancellation before its namespace is removed from here
INTERRUPT_CLEANUP = 60.0  # seconds an interrupted run waits for its namespaces to be gone


class Interrupted(BaseException):
    """SIGTERM during the probes (SIGINT arrives as KeyboardInterrupt)."""


def _probe_finding(ctx: ProbeContext) -> Finding:
    """Run one probe in its namespace and clean up, whatever happens."""
    if ctx.requirement.id in NO_SCRATCH:
        return _run_probe(ctx)
    try:
        ctx.open()
    except Cancelled:
        return Finding(ERROR, "the probe was cancelled before it started")
    except KubeError as exc:
        return Finding(ERROR, "the probe could not create its scratch namespace: %s" % exc,
                       remediation=exc.hint or "grant create/delete on namespaces, or run with probes: false")
    try:
        return _run_probe(ctx)
    finally:
        if ctx.options.keep_probe_resources:
            ctx.keep()
        else:
            ctx.close()


def _run_probe(ctx: ProbeContext) -> Finding:
    """The probe's finding; whatever it raised, as the finding it means."""
    try:
        return PROBES[ctx.requirement.id](ctx)
    except Cancelled:
        return Finding(ERROR, "the probe did not finish within probe_timeout=%ss" % ctx.timeout,
                       remediation="raise probe_timeout, or look at the objects in the evidence")
    except WaitTimeout as exc:
        return Finding(FAIL, "the probe's wait ended without the promised behaviour: %s" % exc, remediation=exc.hint)
    except KubeError as exc:
        return Finding(ERROR, "the probe could not finish: %s" % exc, remediation=exc.hint)
    except Exception as exc:  # a bug in a probe must not take the others down  # pylint: disable=broad-exception-caught
        return Finding(ERROR, "the probe raised %s: %s (a bug in k8s_ai.conformance; please report it)" % (exc.__class__.__name__, exc))


def _without_probe_caveats(result: Result) -> List[str]:
    return [c for c in result.caveats if not c.startswith(NOT_SHOWN)]


def not_run(result: Result, why: str) -> Result:
    """A result whose probe did not run: the check's verdict, saying why the functional part was not shown."""
    if result.id not in PROBES or result.outcome in (FAIL, NOT_APPLICABLE):
        return result
    caveat = "%s: its probe did not run (%s)" % (NOT_SHOWN, why)
    return replace(result, caveats=_without_probe_caveats(result) + [caveat])


def merge(result: Result, finding: Finding, ctx: ProbeContext, duration: float) -> Result:
    """The check's result with the probe's finding and transcript."""
    cleanup = ctx.cleanup_problem or ("done" if ctx.namespace else "nothing created")
    details = dict(result.details, probe={"outcome": finding.outcome, "notes": finding.notes, "namespace": ctx.namespace,
                                          "duration_s": round(duration, 3), "cleanup": cleanup})
    caveats = _without_probe_caveats(result) + list(finding.caveats)
    if ctx.cleanup_problem:
        caveats.append("probe cleanup failed: %s" % ctx.cleanup_problem)
    merged = replace(result, evidence=list(result.evidence) + ctx.evidence, details=details, caveats=caveats,
                     duration_s=result.duration_s + duration)
    if finding.outcome == PASS:
        return replace(merged, notes="%s Probe: %s" % (result.notes, finding.notes))
    if finding.outcome in (FAIL, ERROR):
        return replace(merged, outcome=finding.outcome,
                       notes="Probe %s: %s (The read-only check found: %s)" % (
                           "failed" if finding.outcome == FAIL else "could not decide", finding.notes, result.notes),
                       remediation=finding.remediation or result.remediation)
    return replace(merged, caveats=caveats + ["%s: %s" % (NOT_SHOWN, finding.notes)])


def _cleanup_run(kube, run_id: str) -> None:
    """Delete every namespace of the run and wait (bounded) until they are gone."""
    try:
        namespaces = kube.list_all("", "v1", "namespaces", label_selector="%s=%s" % (RUN_LABEL, run_id))
        for namespace in namespaces:
            kube.delete("", "v1", "namespaces", namespace["metadata"]["name"])
        deadline = time.monotonic() + INTERRUPT_CLEANUP
        for namespace in namespaces:
            kube.wait("", "v1", "namespaces", namespace["metadata"]["name"], gone=True,
                      timeout=max(0.0, deadline - time.monotonic()), interval=0.5)
    except KubeError:
        pass  # the next run sweeps what is left once it expires


def _terminate(_signum, _frame):
    raise Interrupted()


def run(kube, checklist, results: List[Result], options, off: Optional[str] = None) -> List[Result]:
    """``results`` with every probe of a passed requirement run and merged (``off``: why none runs)."""
    if off or not options.probes:
        return [not_run(r, off or "probes: false") for r in results]
    targets = [r for r in results if r.id in PROBES and r.outcome == PASS]
    merged: Dict[str, Result] = {r.id: not_run(r, "the read-only check did not pass") for r in results if r not in targets}
    if not targets:
        return [merged[r.id] for r in results]
    run_id = new_run_id()
    sweep(kube)
    contexts = {r.id: ProbeContext(kube, options, checklist, checklist.get(r.id), run_id, options.probe_timeout) for r in targets}
    for result in targets:
        contexts[result.id].checked = result
    started = {r.id: time.monotonic() for r in targets}
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    pool = ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="ai-conformance-probe")
    try:
        futures = {pool.submit(_probe_finding, contexts[r.id]): r for r in targets}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                result = futures[future]
                merged[result.id] = merge(result, future.result(), contexts[result.id], time.monotonic() - started[result.id])
            for future in list(pending):
                result, ctx = futures[future], contexts[futures[future].id]
                if time.monotonic() > ctx.deadline + SLACK:
                    ctx.cancelled.set()
                if time.monotonic() > ctx.deadline + GRACE:
                    pending.discard(future)
                    ctx.close()
                    merged[result.id] = merge(result, Finding(ERROR, "the probe did not finish within probe_timeout=%ss" % ctx.timeout,
                                                              remediation="raise probe_timeout"), ctx, time.monotonic() - started[result.id])
    except BaseException:
        for ctx in contexts.values():
            ctx.cancelled.set()
        if not options.keep_probe_resources:
            _cleanup_run(kube, run_id)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if main:
            signal.signal(signal.SIGTERM, previous)
    return [merged[r.id] for r in results]
