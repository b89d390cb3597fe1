# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scratch-namespace lifecycle every probe runs in, and what a probe may do there.

A probe gets a ``ProbeContext``: a namespace ``ai-conformance-<random>`` made for it alone, labelled as ours with
the run's id and the requirement, and annotated with the time after which a later run may sweep it (an
interrupted run that could not clean up). Every object the probe creates is labelled likewise and recorded as
evidence (the YAML applied, each wait with its condition and duration, each observation, the cleanup), in the
style of the official tests' logs. Once the probe is cancelled (its time is up, or the run was interrupted)
every write and wait raises ``Cancelled``: a probe whose thread outlived its timeout creates nothing more.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import random
import shlex
import string
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

try:
    import yaml
except ImportError:  # the verify module requires PyYAML and says so; JSON is YAML too
    yaml = None

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import CheckContext
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import KubeError, Predicate, WaitTimeout, observe

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "k8s-ai-conformance-probe"
RUN_LABEL = "probe.k8s-ai-conformance.io/run"
REQUIREMENT_LABEL = "probe.k8s-ai-conformance.io/requirement"
EXPIRES_ANNOTATION = "probe.k8s-ai-conformance.io/sweep-after"
OURS = "%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY)
# The probes' pods run as the official tests' do (root, device requests, no host access): the baseline level admits
# them where a cluster enforces restricted by default.
POD_SECURITY = {"pod-security.kubernetes.io/enforce": "baseline"}
NAMESPACE_PREFIX = "ai-conformance-"
CLEANUP_MARGIN = 120.0  # seconds after a probe's timeout before a later run may sweep its namespace
CLEANUP_TIMEOUT = 120.0  # seconds a probe waits for its namespace to be gone before it reports a leftover
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def manifest(body: Dict[str, Any]) -> str:
    """An object as the YAML a person would apply."""
    return yaml.safe_dump(body, sort_keys=False) if yaml else json.dumps(body, indent=2) + "\n"


class Cancelled(Exception):
    """The probe's time is up or the run was interrupted: it must stop creating objects."""


def new_run_id() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=8))


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(TIME_FORMAT)


def sweep(kube, now: Optional[datetime] = None) -> List[str]:
    """Delete the scratch namespaces of earlier runs whose sweep-after time has passed (a live run's are younger);
    the names deleted. Deletion is not awaited: it finishes while this run's probes work."""
    now = now or datetime.now(timezone.utc)
    swept = []
    for namespace in kube.list_all("", "v1", "namespaces", label_selector=OURS):
        meta = namespace.get("metadata") or {}
        expires = (meta.get("annotations") or {}).get(EXPIRES_ANNOTATION, "")
        try:
            due = datetime.strptime(expires, TIME_FORMAT).replace(tzinfo=timezone.utc) <= now
        except ValueError:
            due = True  # ours, with no readable time: an older release's
        if due and (namespace.get("status") or {}).get("phase") != "Terminating":
            kube.delete("", "v1", "namespaces", meta["name"])
            swept.append(meta["name"])
    return swept


class ProbeContext(CheckContext):
    """A CheckContext with a scratch namespace, labelled writes, bounded waits and a cancel switch."""

    def __init__(self, kube, options, checklist, req, run_id: str, timeout: float):
        super().__init__(kube, options, checklist, req)
        self.run_id = run_id
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.cancelled = threading.Event()
        self.namespace = ""
        self.cleanup_problem = ""
        self.checked = None  # the read-only check's Result, which the probe extends (set by the runner)
        self._closing = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def labels(self) -> Dict[str, str]:
        return {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: self.run_id, REQUIREMENT_LABEL: self.requirement.id.replace("_", "-")}

    def open(self) -> str:
        """Create the scratch namespace; its name."""
        sweep_after = datetime.now(timezone.utc) + timedelta(seconds=self.timeout + CLEANUP_MARGIN)
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"generateName": NAMESPACE_PREFIX, "labels": dict(self.labels, **POD_SECURITY),
                             "annotations": {EXPIRES_ANNOTATION: _utc(sweep_after)}}}
        created = self._checked_create("", "v1", "namespaces", body, None)
        self.namespace = created["metadata"]["name"]
        return self.namespace

    def close(self, wait_timeout: Optional[float] = None) -> None:
        """Delete the scratch namespace and wait (``CLEANUP_TIMEOUT``) until it is gone; a leftover is noted in
        ``cleanup_problem``."""
        wait_timeout = CLEANUP_TIMEOUT if wait_timeout is None else wait_timeout
        if not self.namespace or not self._closing.acquire(blocking=False):  # not opened, or closed already
            return
        started = time.monotonic()
        command = "kubectl delete namespace %s --wait=true" % self.namespace
        try:
            self.kube.delete("", "v1", "namespaces", self.namespace)
            self.kube.wait("", "v1", "namespaces", self.namespace, gone=True, timeout=wait_timeout, interval=0.5)
        except WaitTimeout as exc:
            self.cleanup_problem = "namespace %s was still %s %.0fs after its deletion" % (self.namespace, exc.observed, wait_timeout)
        except KubeError as exc:
            self.cleanup_problem = "namespace %s could not be deleted: %s" % (self.namespace, exc)
        self.record(command, self.cleanup_problem or "namespace %s gone after %.1fs" % (self.namespace, time.monotonic() - started),
                    api="DELETE /api/v1/namespaces/%s" % self.namespace, note="cleanup")

    def keep(self) -> None:
        """Leave the namespace for debugging (keep_probe_resources)."""
        if self.namespace:
            self.record("kubectl get all -n %s" % self.namespace, "kept for debugging (keep_probe_resources: true); "
                        "remove it with kubectl delete namespace %s" % self.namespace, note="cleanup")

    # -- what a probe does ----------------------------------------------------------------------
    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def hold_clock(self) -> None:
        """Stop the probe's time from running out before it starts (it waits for accelerator devices)."""
        self.deadline = math.inf

    def start_clock(self) -> None:
        """The probe's ``timeout`` starts now."""
        self.deadline = time.monotonic() + self.timeout

    def check_cancelled(self) -> None:
        """Raise Cancelled once the runner cancelled the probe or its time is up (nothing more may be created)."""
        if self.cancelled.is_set() or self.remaining() <= 0:
            raise Cancelled("the probe's %ss are up" % self.timeout)

    def _checked_create(self, group, version, plural, body, namespace):
        self.check_cancelled()
        return self.kube.create(group, version, plural, body, namespace=namespace)

    def _labelled(self, body: Dict[str, Any]) -> Dict[str, Any]:
        body = dict(body)
        meta = dict(body.get("metadata") or {})
        meta["labels"] = dict(meta.get("labels") or {}, **self.labels)
        body["metadata"] = meta
        return body

    def create(self, group: str, version: str, plural: str, body: Dict[str, Any], note: str = "") -> Dict[str, Any]:
        """Create ``body`` (labelled as ours) in the scratch namespace; recorded as the YAML applied."""
        body = self._labelled(body)
        created = self._checked_create(group, version, plural, body, self.namespace)
        self.record("kubectl apply -n %s -f - <<'EOF'\n%sEOF" % (self.namespace, manifest(body)),
                    "%s/%s created" % (body.get("kind", plural), created["metadata"]["name"]),
                    api="POST %s" % self.kube.path(group, version, plural, self.namespace), note=note)
        return created

    def patch(self, group: str, version: str, plural: str, name: str, body: Dict[str, Any], observed: str, note: str = "") -> Dict[str, Any]:
        """Merge-patch an object of the scratch namespace, or the namespace itself; recorded as ``kubectl patch``."""
        self.check_cancelled()
        own = (group, plural, name) == ("", "namespaces", self.namespace)
        if not own and not self.namespace:
            raise ValueError("a probe patches only what is in its scratch namespace")
        namespace = None if own else self.namespace
        patched = self.kube.patch(group, version, plural, name, body, namespace=namespace)
        self.record("kubectl patch %s%s %s --type=merge -p %s" % (
            self.resource(group, plural), "" if own else " -n %s" % self.namespace, name,
            shlex.quote(json.dumps(body, separators=(",", ":")))), observed,
            api="PATCH %s" % self.kube.path(group, version, plural, namespace, name), note=note)
        return patched

    def denied(self, group: str, version: str, plural: str, body: Dict[str, Any], note: str = "") -> Optional[str]:
        """Server-side dry-run create of ``body``: the server's refusal (admission or validation), None if allowed."""
        self.check_cancelled()
        body = self._labelled(body)
        try:
            self.kube.create(group, version, plural, body, namespace=self.namespace, dry_run=True)
            refusal = None
        except KubeError as exc:
            if exc.status not in (400, 403, 422):
                raise
            refusal = exc.message or str(exc)
        self.record("kubectl create --dry-run=server -n %s -f - <<'EOF'\n%sEOF" % (self.namespace, manifest(body)),
                    "denied: %s" % refusal if refusal else "accepted (dry run)",
                    api="POST %s?dryRun=All" % self.kube.path(group, version, plural, self.namespace), note=note)
        return refusal

    def wait_for(self, group: str, version: str, plural: str, name: str, predicate: Predicate, timeout: Optional[float] = None,
                 interval: float = 1.0, note: str = "") -> Dict[str, Any]:
        """Wait (at most ``timeout``, and never past the probe's deadline) until ``predicate`` holds for the object
        in the scratch namespace; recorded with the condition and how long it took. WaitTimeout when it does not (also
        when the probe's time ran out in the wait), Cancelled when the runner cancelled the probe meanwhile."""
        self.check_cancelled()
        limit = min(timeout if timeout is not None else self.remaining(), self.remaining())
        started = time.monotonic()
        resource = self.resource(group, plural)
        command = "kubectl wait -n %s %s/%s --for=%r --timeout=%ds" % (self.namespace, resource, name, predicate.description, limit)
        api = "GET %s, then GET %s?watch=true&fieldSelector=metadata.name=%s (polled where watch is refused)" % (
            self.kube.path(group, version, plural, self.namespace, name), self.kube.path(group, version, plural, self.namespace), name)
        try:
            obj = self.kube.wait(group, version, plural, name, self.namespace, predicate=predicate, timeout=limit, interval=interval)
        except WaitTimeout as exc:
            self.record(command, "not met after %.1fs: %s" % (time.monotonic() - started, exc.observed), api=api, note=note)
            if self.cancelled.is_set():  # the run was interrupted, or the runner gave up on the probe
                raise Cancelled("the probe was cancelled while it waited") from None
            raise  # it waited as long as it could: what it awaited did not happen
        self.record(command, "met after %.1fs: %s" % (time.monotonic() - started, observe(predicate, obj)), api=api, note=note)
        return obj

    def _looking(self, look: Callable[[], Any], stop: Callable[[Any], Optional[str]], limit: float,
                 interval: float) -> Tuple[Optional[str], Any, float, int]:
        """Look every ``interval`` until ``stop(seen)`` says something or ``limit`` seconds passed: (what it said or
        None, what was seen last, seconds taken, looks)."""
        started = time.monotonic()
        looks = 0
        while True:
            self.check_cancelled()
            seen = look()
            looks += 1
            said = stop(seen)
            elapsed = time.monotonic() - started
            if said or elapsed >= limit:
                return said, seen, elapsed, looks
            time.sleep(min(interval, max(0.0, limit - elapsed)))

    def hold(self, look: Callable[[], Any], broken: Callable[[Any], Optional[str]], window: float, command: str, api: str,
             interval: float = 1.0, note: str = "") -> Optional[str]:
        """Look every ``interval`` for ``window`` seconds; the first ``broken(seen)`` text (the promise broken), or None
        when it held all along. Recorded with what was seen last. The window is never shortened: a probe whose time
        ends inside it is cancelled (undecided), not passed on a shorter watch."""
        problem, _seen, elapsed, looks = self._looking(look, broken, window, interval)
        self.record(command, "%s after %.1fs (%d looks)" % ("broken: %s" % problem if problem else "held", elapsed, looks),
                    api=api, note=note)
        return problem

    def until(self, look: Callable[[], Any], met: Callable[[Any], Optional[str]], limit: float, show: Callable[[Any], str],
              command: str, api: str, interval: float = 1.0, note: str = "") -> Tuple[str, Any]:
        """Look every ``interval`` until ``met(seen)`` says what it saw, at most ``limit`` seconds: (that text, or ""
        when it never held; what was seen last). Recorded with the text, or what ``show`` makes of the last look."""
        text, seen, elapsed, _looks = self._looking(look, met, limit, interval)
        self.record(command, "met after %.1fs: %s" % (elapsed, text) if text else "not met after %.1fs: %s" % (elapsed, show(seen)),
                    api=api, note=note)
        return text or "", seen
