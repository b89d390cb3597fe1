# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the probes of the requirements whose read-only check passed, all at once, and merge what they showed.

Each probe runs in its own thread and scratch namespace (scratch.py) with its own ``probe_timeout``; the run costs
about its slowest probe. Probes that hold accelerators (``@probe(devices=)``) take them from a DeviceBudget of the
devices free at the start, so on a cluster with fewer free devices than they hold together some wait their turn
(their time starts when they have their devices) instead of starving each other into a false failure. Whatever ends
a probe (pass, fail, timeout, an API error, a bug) its namespace is deleted and awaited in its thread, so deletions
overlap too; a probe still running past its timeout is cancelled and its namespace removed from here. SIGINT or
SIGTERM during the run cancels every probe and removes every namespace of the run before the interrupt goes on.
Earlier runs' expired namespaces are swept first.

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
from typing import Dict, List, Optional, Tuple

from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError, WaitTimeout
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import (
    ALL_DEVICES, DRA_POOL, GRANTED_POOL, NO_SCRATCH, PLUGIN_POOL, PROBES, devices_of,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import (  # noqa: F401 pylint: disable=unused-import
    accelerators, networking, observability, operator, scheduling, security,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes.accelerators import free_devices
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


class DeviceBudget:
    """The accelerator devices free when the probes start, lent to the probes that hold some (``@probe(devices=)``)
    so that they do not starve each other: a probe waits for its share before its time starts, and gives it back once
    its namespace (with the pods holding the devices) is gone. A probe asking for more than there is gets all there
    is; ALL_DEVICES waits until no other probe holds any."""

    def __init__(self, pool: str, free: int, counted: str):
        self.pool, self.capacity, self.free, self.counted = pool, free, free, counted
        self._changed = threading.Condition()

    def share(self, wanted: int) -> int:
        return self.capacity if wanted == ALL_DEVICES else min(wanted, self.capacity)

    def take(self, wanted: int, cancelled: threading.Event) -> float:
        """Wait until ``wanted`` devices are free and take them; the seconds waited. Cancelled once the run is."""
        share, started = self.share(wanted), time.monotonic()
        with self._changed:
            while self.free < share:
                if cancelled.is_set():
                    raise Cancelled("the probe was cancelled while it waited for accelerator devices")
                self._changed.wait(0.2)
            self.free -= share
        return time.monotonic() - started

    def give_back(self, wanted: int) -> None:
        with self._changed:
            self.free += self.share(wanted)
            self._changed.notify_all()


def _probe_finding(ctx: ProbeContext, budget: Optional[DeviceBudget] = None, wanted: int = 0) -> Finding:
    """Run one probe in its namespace and clean up, whatever happens; with its devices from ``budget`` first."""
    if wanted and budget is not None:
        try:
            waited = budget.take(wanted, ctx.cancelled)
        except Cancelled:
            return Finding(ERROR, "the probe was cancelled before it started")
        ctx.start_clock()
        ctx.record("# accelerator devices for this probe (%s)" % budget.pool, "%d of %d taken after %.1fs (free when the probes "
                   "started: %s)" % (budget.share(wanted), budget.capacity, waited, budget.counted),
                   note="probes holding accelerators take them from one budget, so that they do not starve each other")
        try:
            return _probe_finding(ctx)
        finally:
            budget.give_back(wanted)
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


def _budgets(kube, wanted: Dict[str, Tuple[int, str]]) -> Dict[str, DeviceBudget]:
    """requirement id -> the budget of its probe's pool (GRANTED_POOL: DRA when an NVIDIA DRA driver publishes devices,
    as pick_grant chooses) for the probes that hold devices; when the devices cannot be counted, each pool holds as
    many as its probes ask for (none waits)."""
    try:
        counted = free_devices(kube)
    except KubeError as exc:
        counted = {pool: (sum(n for n, p in wanted.values() if p == pool and n != ALL_DEVICES) or 1, 0,
                          "not counted (%s), so each probe got what it asked" % exc) for pool in (DRA_POOL, PLUGIN_POOL)}
    granted = DRA_POOL if counted[DRA_POOL][1] else PLUGIN_POOL
    pools = {pool: DeviceBudget(pool, free, text) for pool, (free, _total, text) in counted.items()}
    return {rid: pools[granted if pool == GRANTED_POOL else pool] for rid, (devices, pool) in wanted.items() if devices}


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
    wanted = {r.id: devices_of(r.id, options) for r in targets}
    budgets = _budgets(kube, wanted) if any(devices for devices, _pool in wanted.values()) else {}
    for rid in budgets:
        contexts[rid].hold_clock()  # its time starts once it has its devices
    started = {r.id: time.monotonic() for r in targets}
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    pool = ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="ai-conformance-probe")
    try:
        futures = {pool.submit(_probe_finding, contexts[r.id], budgets.get(r.id), wanted[r.id][0]): r for r in targets}
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
