# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check registry and the runner: selected checks run concurrently, each with its own timeout.

A check is a function of a CheckContext returning a Finding; it is registered under the
requirement id it decides with ``@requirement("<id>")`` in ``sections/<section>.py``. One check
failing (exception, API error, timeout) makes only its own requirement ``error``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional
from urllib.parse import urlencode

from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import Checklist, ChecklistError, Requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube, KubeError
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import api_resources_table, name_of
from ansible_collections.k8s_ai.conformance.plugins.module_utils.redact import redact
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import (
    ERROR, SKIPPED, Evidence, Finding, Result,
)

CheckFunc = Callable[["CheckContext"], Finding]
Show = Callable[[Any], str]
REGISTRY: Dict[str, CheckFunc] = {}
NOT_IMPLEMENTED_NOTE = "check not implemented yet"
# What evidence read from discovery cites: verification reads it once, before any check.
DISCOVERY_API = "GET /apis (aggregated discovery)"


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
    """What a site tells the checks (the verify module's options); defaults are read-only and safe."""

    probes: bool = False
    audit_workloads: bool = False
    check_timeout: float = 60.0
    concurrency: int = 8
    audit_strategy: str = "auto"  # how audit_workloads reads pods: auto | per-node | stream
    audit_exempt_namespaces: List[str] = field(default_factory=list)  # pods there are not flagged by the audit
    custom_metrics_namespace: Optional[str] = None  # where pod_autoscaling reads an accelerator metric when no HPA uses one
    probe_timeout: float = 300.0  # seconds each probe may take, cleanup not included
    keep_probe_resources: bool = False  # leave the probes' scratch namespaces for debugging
    probe_image_registry: Optional[str] = None  # a mirror the probes' pods pull their images from
    gang_negative_window: float = 30.0  # seconds an oversized gang must stay without a pod Running or bound
    autoscaler_node_pool_label: str = ""  # key=value naming the accelerator node pool cluster_autoscaling's probe scales

    # A label key (an optional DNS-subdomain prefix and "/", then a name) and value, as the API server validates them.
    _LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
    _LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

    def __post_init__(self):
        if self.autoscaler_node_pool_label:
            self.node_pool_label()

    def node_pool_label(self):
        """(key, value) of ``autoscaler_node_pool_label``; ValueError naming the option when it is not one label key=value."""
        text = self.autoscaler_node_pool_label
        key, _equals, value = text.partition("=")
        prefix, slash, name = key.rpartition("/")
        if text.count("=") != 1 or not key or not value:
            why = "it must hold exactly one '=' between a non-empty key and value"
        elif (slash and not (len(prefix) <= 253 and self._LABEL_PREFIX.match(prefix))) or not self._LABEL_NAME.match(name):
            why = "%r is not a label key (an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' " \
                  "or '.', beginning and ending with a letter or digit)" % key
        elif not self._LABEL_NAME.match(value):
            why = "%r is not a label value (at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or " \
                  "digit)" % value
        else:
            return key, value
        raise ValueError("autoscaler_node_pool_label must be the one node label key=value that names the accelerator node pool "
                         "the autoscaler scales, such as nvidia.com/gpu.present=true or cloud.google.com/gke-nodepool=gpu-pool; "
                         "got %r: %s" % (text, why))


class CheckContext:
    """Everything one check may use: the API, the options, and a place to record evidence."""

    def __init__(self, kube, options: Options, checklist: Checklist, req: Requirement):
        self.kube = kube
        self.options = options
        self.checklist = checklist
        self.requirement = req
        self.evidence: List[Evidence] = []

    def record(self, command: str, observed: str, api: str = "", note: str = "") -> None:
        """Note what was looked at (one runnable kubectl command), what was seen, and what in it mattered;
        secrets in any of them are redacted here, where the evidence is made."""
        self.evidence.append(Evidence(command=redact(command), observed=redact(observed.rstrip()), api=redact(api),
                                      note=redact(note)))

    # -- calls that record themselves: the kubectl command and the api string come from the call's own arguments
    @staticmethod
    def resource(group: str, plural: str) -> str:
        """The kubectl resource name: ``plural`` for the core group, ``plural.group`` otherwise."""
        return "%s.%s" % (plural, group) if group else plural

    @staticmethod
    def api(path: str, query: Optional[Dict[str, Any]] = None, api_note: str = "") -> str:
        """'GET <path>[?k=v&...] [(api_note)]' for a call kube.py makes to ``path`` (its Kube.path) with ``query``."""
        pairs = ["%s=%s" % (k, v) for k, v in (query or {}).items() if v not in (None, "")]
        return "GET %s%s%s" % (path, "?" + "&".join(pairs) if pairs else "", " (%s)" % api_note if api_note else "")

    @classmethod
    def api_for(cls, group: str, version: str, plural: str, namespace: Optional[str] = None, name: Optional[str] = None,
                query: Optional[Dict[str, Any]] = None, api_note: str = "") -> str:
        """The api string of a call to a resource (or one object of it), for evidence summing up several calls."""
        return cls.api(Kube.path(group, version, plural, namespace, name), query, api_note)

    def list_command(self, group: str, version: str, plural: str, namespace: Optional[str] = None,
                     label_selector: Optional[str] = None, field_selector: Optional[str] = None, args: str = "") -> str:
        """``kubectl get`` for a list: ``-n NS``, or ``-A`` for a namespaced resource across namespaces."""
        parts = ["kubectl", "get", self.resource(group, plural)]
        if namespace:
            parts += ["-n", shlex.quote(namespace)]
        elif ((self.kube.discovery().resources(group, version) or {}).get(plural) or {}).get("namespaced"):
            parts.append("-A")
        if label_selector:
            parts += ["-l", shlex.quote(label_selector)]
        if field_selector:
            parts += ["--field-selector", shlex.quote(field_selector)]
        return " ".join(parts + ([args] if args else []))

    def get_command(self, group: str, plural: str, names: Iterable[str], namespace: Optional[str] = None, args: str = "") -> str:
        """``kubectl get <resource> [-n NS] <name>...``."""
        parts = ["kubectl", "get", self.resource(group, plural)] + (["-n", shlex.quote(namespace)] if namespace else [])
        return " ".join(parts + [shlex.quote(n) for n in names] + ([args] if args else []))

    def record_list(self, group: str, version: str, plural: str, observed: str, namespace: Optional[str] = None,
                    label_selector: Optional[str] = None, field_selector: Optional[str] = None, args: str = "",
                    note: str = "", limit: Optional[int] = None, api_note: str = "") -> None:
        """Evidence of a list call made elsewhere (a shared lookup), built from the same arguments as the call;
        ``limit``: the call read one page of that size; ``api_note``: how the call was made (paginated, shared...)."""
        self.record(self.list_command(group, version, plural, namespace, label_selector, field_selector, args), observed,
                    api=self.api_for(group, version, plural, namespace,
                                     query={"labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit},
                                     api_note=api_note), note=note)

    def _failed(self, exc: KubeError, on_error: Optional[Callable[[KubeError], Optional[str]]], command: str, api: str,
                note: str) -> None:
        """Record a failed call when ``on_error`` says what to show for it (None: not recorded)."""
        observed = on_error(exc) if on_error else None
        if observed is not None:
            self.record(command, observed, api=api, note=note)

    def get(self, group: str, version: str, plural: str, name: str, namespace: Optional[str] = None,
            show: Optional[Show] = None, note: str = "", args: str = "", missing: str = "NotFound",
            on_error: Optional[Callable[[KubeError], Optional[str]]] = None) -> Optional[Dict[str, Any]]:
        """One object (None when it does not exist, shown as ``missing``), recorded as ``kubectl get <resource> [-n NS]
        <name>``. A failed call is recorded with what ``on_error`` shows for it (when not None), then raised."""
        command = self.get_command(group, plural, [name], namespace, args)
        api = self.api_for(group, version, plural, namespace, name)
        try:
            obj = self.kube.get(group, version, plural, name, namespace)
        except KubeError as exc:
            self._failed(exc, on_error, command, api, note)
            raise
        self.record(command, missing if obj is None else (show(obj) if show else name), api=api, note=note)
        return obj

    def list(self, group: str, version: str, plural: str, namespace: Optional[str] = None,
             label_selector: Optional[str] = None, field_selector: Optional[str] = None,
             show: Optional[Show] = None, note: str = "", args: str = "", page_size: int = 500) -> List[Dict[str, Any]]:
        """Every object of a (paginated) list, recorded as the ``kubectl get`` that lists the same."""
        items = self.kube.list_all(group, version, plural, namespace=namespace, label_selector=label_selector,
                                   field_selector=field_selector, page_size=page_size)
        if show:
            observed = show(items)
        else:
            observed = "\n".join(name_of(i) for i in items) or "No resources found"
        self.record_list(group, version, plural, observed, namespace, label_selector, field_selector, args, note)
        return items

    def page(self, group: str, version: str, plural: str, limit: int, namespace: Optional[str] = None,
             label_selector: Optional[str] = None, field_selector: Optional[str] = None,
             show: Optional[Show] = None, note: str = "", args: str = "") -> Dict[str, Any]:
        """The first page (at most ``limit`` objects) of a list: the list object, its items and metadata.continue;
        recorded as the ``kubectl get`` of the same list, the api naming the limit."""
        page = self.kube.request("GET", Kube.path(group, version, plural, namespace), query={
            "labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit})
        items = page.get("items") or []
        observed = show(page) if show else "\n".join(name_of(i) for i in items) or "No resources found"
        self.record_list(group, version, plural, observed, namespace, label_selector, field_selector, args, note, limit=limit)
        return page

    def raw(self, path: str, query: Optional[Dict[str, Any]] = None, show: Optional[Show] = None, note: str = "",
            on_error: Optional[Callable[[KubeError], Optional[str]]] = None) -> Any:
        """``kubectl get --raw <path>``: the JSON body of a GET (its query URL-encoded in the command, as sent).
        A failed call is recorded with what ``on_error`` shows for it (when not None), then raised."""
        query = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        api = self.api(path, query)
        command = "kubectl get --raw %s" % shlex.quote(path + ("?" + urlencode(query, safe="/,=!") if query else ""))
        try:
            body = self.kube.request("GET", path, query=query)
        except KubeError as exc:
            self._failed(exc, on_error, command, api, note)
            raise
        self.record(command, show(body) if show else str(body), api=api, note=note)
        return body

    @staticmethod
    def proxy_path(namespace: str, service: str, port: Any, path: str, scheme: str = "") -> str:
        """The service-proxy path kube.proxy_get requests."""
        target = "%s%s:%s" % (scheme + ":" if scheme else "", service, port)
        return "/api/v1/namespaces/%s/services/%s/proxy/%s" % (namespace, target, path.lstrip("/"))

    def proxy_get(self, namespace: str, service: str, port: Any, path: str, scheme: str = "",
                  show: Optional[Show] = None, note: str = "",
                  on_error: Optional[Callable[[KubeError], Optional[str]]] = None) -> str:
        """A GET through the service proxy, recorded as the ``kubectl get --raw`` of the same proxy path.
        A failed call is recorded with what ``on_error`` shows for it (when not None), then raised."""
        full = self.proxy_path(namespace, service, port, path, scheme)
        command, api = "kubectl get --raw %s" % shlex.quote(full), "GET %s" % full
        try:
            text = self.kube.proxy_get(namespace, service, port, path, scheme)
        except KubeError as exc:
            self._failed(exc, on_error, command, api, note)
            raise
        self.record(command, show(text) if show else text, api=api, note=note)
        return text

    def record_discovery(self, observed: str, group: Optional[str] = None, note: str = "") -> None:
        """Evidence read from the run's one aggregated discovery: ``kubectl api-resources [--api-group=<group>]``."""
        command = "kubectl api-resources" + (" --api-group=%s" % shlex.quote(group or "''") if group is not None else "")
        self.record(command, observed, api=DISCOVERY_API, note=note)

    def api_resources(self, group: str, show: Optional[Show] = None, note: str = "") -> List[str]:
        """The versions of ``group`` served (preferred first), recorded as ``kubectl api-resources --api-group=<group>``
        (read from the run's one aggregated discovery)."""
        discovery = self.kube.discovery()
        versions = discovery.versions(group)
        self.record_discovery(show(versions) if show else api_resources_table(discovery, group, versions), group, note)
        return versions


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
