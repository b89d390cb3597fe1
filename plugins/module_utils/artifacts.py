# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The artifacts of a run: the filled-in checklist, JSON, Markdown, JUnit and evidence transcripts.

Every ``render_*`` function is pure and deterministic (same input, same bytes; the only time in
them is the ``generated_at`` they are given). A run's artifacts are built once as a ``Bundle`` and
each directory's files are written as one set by ``artifact_set``: replaced whole when anything but
times and durations changed, untouched otherwise, so an Ansible task reports ``changed`` honestly
and Ctrl-C never leaves a mix. Everything written passes through ``redact()`` first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.k8s_ai.conformance.plugins.module_utils import artifact_set
from ansible_collections.k8s_ai.conformance.plugins.module_utils.components import COLLECTION
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import scratch
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import Checklist, Requirement, program
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists.program import (
    CANONICAL_ARTIFACTS, K8S_CONFORMANCE_URL, K8S_CONFORMANCE_URL_PLACEHOLDER, metadata_fields,
)
from ansible_collections.k8s_ai.conformance.plugins.module_utils.redact import redact, redact_data
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import (
    ERROR, FAIL, NOT_APPLICABLE, NOT_RUN_NOTE, PASS, SKIPPED, UNKNOWN, Evidence, Result, first_line, summarize,
)

TOOL_NAME = "k8s_ai.conformance"
TOOL_VERSION = "0.1.0"  # keep equal to galaxy.yml's version (a unit test checks it)

JSON_FILE = "ai-conformance-results.json"
REPORT_FILE = "report.md"
JUNIT_FILE = "ai-conformance-checks.junit.xml"
EVIDENCE_DIR = "evidence"
PRODUCT_FILE = "PRODUCT.yaml"
# CANONICAL_ARTIFACTS (program.py) are the official suite's artifacts, which the program's validator
# parses (any failing test in them fails the submission): our own files are never named like them.

NOT_VERIFIED = NOT_RUN_NOTE
# Fields that differ between two runs on an unchanged cluster; they never make a file "changed".
VOLATILE_JSON_KEYS = ("generated_at", "duration_s")
VOLATILE_XML_ATTRIBUTE = re.compile(r' time="[^"]*"|<property name="generated_at" value="[^"]*"/>')
VOLATILE_MARKDOWN_LINE = re.compile(r"^- Generated at: .*$", re.M)
VOLATILE_PROBE_TEXT = (
    (re.compile(re.escape(scratch.NAMESPACE_PREFIX) + r"[a-z0-9]{5}\b"), scratch.NAMESPACE_PREFIX + "*"),
    (re.compile(r"(%s[\"']?:\s*[\"']?)[a-z0-9]+" % re.escape(scratch.RUN_LABEL)), r"\1*"),
    (re.compile(r"(%s[\"']?:\s*[\"']?)[0-9TZ:-]+" % re.escape(scratch.EXPIRES_ANNOTATION)), r"\1*"),
    (re.compile(r"(after |--timeout=)\d+(?:\.\d+)?s\b"), r"\1*s"),
    (re.compile(r"\(\d+ looks\)"), "(* looks)"),
)

WHY_LIMIT = 200  # characters of notes in the report's table
FIX_LIMIT = 160  # characters of a fix there; the section below the table has it whole

OUTCOME_WORDS = {
    UNKNOWN: "unknown: needs a person",
    ERROR: "error: could not decide",
    SKIPPED: "skipped",
}


class ReportError(ValueError):
    """Artifacts cannot be produced as asked (bad input, unsafe name, unknown metadata field)."""


# ---------------------------------------------------------------------------- redaction


def _redacted_result(result: Result) -> Result:
    return Result(
        id=result.id, section=result.section, level=result.level, outcome=result.outcome,
        notes=redact(result.notes), remediation=redact(result.remediation),
        evidence=[Evidence(redact(e.command), redact(e.observed), redact(e.api), redact(e.note)) for e in result.evidence],
        details=redact_data(result.details), duration_s=result.duration_s, caveats=[redact(c) for c in result.caveats],
    )


def index_results(checklist: Checklist, results: Iterable[Any]) -> Dict[str, Result]:
    """Results (Result objects or their dicts) by id, redacted; each id must be in the checklist."""
    indexed: Dict[str, Result] = {}
    for position, item in enumerate(results or []):
        result = item if isinstance(item, Result) else Result.from_dict(item)
        if result.id not in checklist.ids:
            raise ReportError(
                "results[%d] has id %r, which checklist %s does not have (it has %s): pass the checklist "
                "version the results were verified against" % (position, result.id, checklist.version, ", ".join(checklist.ids)))
        if result.id in indexed:
            raise ReportError("results has two results for %r; pass one result per requirement" % result.id)
        indexed[result.id] = _redacted_result(result)
    return indexed


def _ordered(checklist: Checklist, indexed: Dict[str, Result]) -> List[Result]:
    return [indexed[req_id] for req_id in checklist.ids if req_id in indexed]


# ---------------------------------------------------------------------------- checklist YAML


def quote(text: str) -> str:
    """``text`` as a YAML double-quoted scalar, as the published templates write strings."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char.isprintable():
            out.append(char)
        elif ord(char) > 0xFFFF:
            out.append("\\U%08x" % ord(char))
        else:
            out.append("\\u%04x" % ord(char))
    return '"%s"' % "".join(out)


def _version_scalar(text: str) -> str:
    """A Kubernetes version plain, as the template writes ``v1.35``; anything else quoted."""
    return text if re.match(r"^v\d+(\.\d+)*$", text) else quote(text)


def _snake(name: str) -> str:
    """camelCase -> snake_case the way the program's validator spells the alternative keys."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _template_value(checklist: Checklist, key: str) -> str:
    if key == "kubernetesVersion":
        return "v" + checklist.version
    if key == K8S_CONFORMANCE_URL and key not in checklist.metadata:
        return K8S_CONFORMANCE_URL_PLACEHOLDER % checklist.version  # the template line 1.35 has, for versions without it
    return checklist.metadata.get(key, "")


def user_metadata(checklist: Checklist, metadata: Optional[Dict[str, Any]]) -> Dict[str, str]:
    """The user's metadata keyed by the checklist's camelCase names (snake_case accepted)."""
    by_snake = {_snake(key): key for key in metadata_fields(checklist)}
    given: Dict[str, str] = {}
    for key, value in (metadata or {}).items():
        field_name = by_snake.get(_snake(str(key)))
        if field_name is None:
            raise ReportError("metadata has %r, which is not a checklist metadata field; known fields: %s"
                              % (key, ", ".join(metadata_fields(checklist))))
        text = "" if value is None else redact(value)
        if field_name in given and given[field_name] != text:
            raise ReportError("metadata gives %s twice with different values (camelCase and snake_case)" % field_name)
        given[field_name] = text
    return given


def filled_metadata(checklist: Checklist, metadata: Optional[Dict[str, Any]] = None) -> List[Tuple[str, str]]:
    """(key, value) pairs in template order: the user's values, template placeholders elsewhere."""
    given = user_metadata(checklist, metadata)
    pairs = []
    for key in metadata_fields(checklist):
        if key == K8S_CONFORMANCE_URL and not program.writes_k8s_conformance_url(checklist, key in given):
            continue
        pairs.append((key, given.get(key, _template_value(checklist, key))))
    return pairs


def transcript_path(requirement_id: str) -> str:
    """Where a requirement's evidence transcript lives, relative to the checklist file."""
    return "%s/%s.md" % (EVIDENCE_DIR, requirement_id)


def _as_list(value: Any, what: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ReportError("%s must be a list of strings, got %r" % (what, value))


def checklist_entry(req: Requirement, result: Optional[Result], evidence_urls: Optional[Dict[str, Any]] = None,
                    notes: Optional[Dict[str, str]] = None,
                    evidence_paths: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The status, evidence and notes one item gets.

    Our transcript is listed only when the status is set: the program's validator rejects a
    SHOULD item that has evidence but no status.
    """
    user_urls = _as_list((evidence_urls or {}).get(req.id), "evidence_urls[%s]" % req.id)
    user_note = (notes or {}).get(req.id)
    if result is None:
        status, ours, note = "", [], NOT_VERIFIED
    else:
        status, note = result.status, result.full_notes
        default = [transcript_path(req.id)]
        ours = _as_list((evidence_paths or {}).get(req.id, default), "evidence_paths[%s]" % req.id) if status else []
    evidence = []
    for entry in ours + [redact(u) for u in user_urls]:
        if entry not in evidence:
            evidence.append(entry)
    return {"status": status, "evidence": evidence, "notes": redact(user_note) if user_note else note}


def _known_ids(checklist: Checklist, by_id: Optional[Dict[str, Any]], option: str) -> None:
    unknown = sorted(set(by_id or {}) - set(checklist.ids))
    if unknown:
        raise ReportError("%s names %s, not requirement ids of checklist %s (%s)"
                          % (option, ", ".join(unknown), checklist.version, ", ".join(checklist.ids)))


def _item_lines(req: Requirement, entry: Dict[str, Any]) -> List[str]:
    lines = [
        "    - id: %s" % req.id,
        "      description: %s" % quote(req.description),
        "      level: %s" % req.level,
        "      status: %s" % quote(entry["status"]),
    ]
    if entry["evidence"]:
        lines.append("      evidence:")
        lines.extend("        - %s" % quote(e) for e in entry["evidence"])
    else:
        lines.append("      evidence: []")
    lines.append("      notes: %s" % quote(entry["notes"]))
    return lines


def render_checklist(checklist: Checklist, results: Iterable[Any], metadata: Optional[Dict[str, Any]] = None,
                     evidence_urls: Optional[Dict[str, Any]] = None, notes: Optional[Dict[str, str]] = None,
                     evidence_paths: Optional[Dict[str, Any]] = None) -> str:
    """``AIConformance-<ver>.yaml``: the published checklist with status, evidence and notes filled in."""
    indexed = index_results(checklist, results)
    for option, by_id in (("evidence_urls", evidence_urls), ("notes", notes), ("evidence_paths", evidence_paths)):
        _known_ids(checklist, by_id, option)
    lines = checklist.header.splitlines() + ["", "metadata:"]
    for key, value in filled_metadata(checklist, metadata):
        lines.append("  %s: %s" % (key, _version_scalar(value) if key == "kubernetesVersion" else quote(value)))
    lines += ["", "spec:"]
    for section in checklist.sections:
        lines.append("  %s:" % section)
        for req in checklist.requirements:
            if req.section == section:
                entry = checklist_entry(req, indexed.get(req.id), evidence_urls, notes, evidence_paths)
                lines += _item_lines(req, entry)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- the run's summary and cluster


def run_summary(checklist: Checklist, indexed: Dict[str, Result]) -> Dict[str, Any]:
    """The verdict over the results, knowing the whole checklist (so a subset is never 'Conformant')."""
    return summarize(_ordered(checklist, indexed), checklist.ids, program.must_na_accepted(checklist.version))


IDENTITY_FIELDS = (
    ("server", "API server"), ("context", "kubeconfig context"), ("kubeconfig", "kubeconfig"),
    ("server_version", "server version"), ("cluster_uid", "cluster identity (kube-system namespace UID)"),
)


def identity_values(cluster: Optional[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(key, value) naming the cluster the run verified: URL, context, kubeconfig path(s), version, UID, source."""
    identity = (cluster or {}).get("identity") or {}
    values = []
    for key in [f[0] for f in IDENTITY_FIELDS] + ["source"]:
        value = identity.get(key)
        if isinstance(value, (list, tuple)):
            value = os.pathsep.join(str(v) for v in value)
        if value:
            values.append((key, redact(value)))
    return values


def identity_pairs(cluster: Optional[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(label, value) of identity_values, for people."""
    labels = dict(IDENTITY_FIELDS, source="credentials from")
    return [(labels[key], value) for key, value in identity_values(cluster)]


# ---------------------------------------------------------------------------- JSON


def remediation_record(checklist: Checklist, indexed: Dict[str, Result], remediation: Dict[str, Any], at: str) -> Dict[str, Any]:
    """What a conform run did, as the artifacts keep it: the install mode, the roles run and left out, and per
    requirement its status before, after, and the roles run for it."""
    before = {item.get("id"): item.get("status") or "— (%s)" % OUTCOME_WORDS.get(item.get("outcome"), item.get("outcome") or "not run")
              for item in remediation.get("before") or []}
    steps = remediation.get("steps") or []
    roles_for: Dict[str, List[str]] = {}
    for step in steps:
        for req_id in step.get("requirements") or []:
            roles_for.setdefault(req_id, []).append(step.get("name", ""))
    rows = []
    for req in checklist.requirements:
        after = indexed.get(req.id)
        rows.append({"id": req.id, "level": req.level, "before": before.get(req.id, "(not run)"),
                     "after": _status_label(after) if after is not None else "(not run)", "roles": roles_for.get(req.id, [])})
    applied = remediation.get("applied") or {}
    return {"at": at, "checklist_version": checklist.version, "install": remediation.get("install", ""),
            "roles": [s.get("name") for s in steps], "skipped": redact_data(remediation.get("skipped") or []),
            "applied": {name: [str(line) for line in applied.get(name) or []] for name in sorted(applied)},
            "requirements": rows}


def kept_remediation(fresh: Dict[str, Any], previous: Any) -> Dict[str, Any]:
    """The record a run's artifacts keep: the previous one when this run changed nothing on the cluster and left
    out the same roles for the same reasons, or recorded the same apart from its time; otherwise this run's.
    So a re-run that changes nothing writes nothing, and the record stays that of the run that last changed something."""
    if not isinstance(previous, dict) or previous.get("checklist_version") != fresh["checklist_version"]:
        return fresh
    idle = not any(fresh["applied"].values()) and fresh["skipped"] == previous.get("skipped")
    same = {k: v for k, v in previous.items() if k != "at"} == {k: v for k, v in fresh.items() if k != "at"}
    return previous if idle or same else fresh


def render_json(checklist: Checklist, results: Iterable[Any], cluster: Optional[Dict[str, Any]] = None,
                generated_at: Optional[str] = None, remediation: Optional[Dict[str, Any]] = None) -> str:
    """``ai-conformance-results.json``: everything, machine-readable; ``remediation`` is a remediation_record."""
    indexed = index_results(checklist, results)
    ordered = _ordered(checklist, indexed)
    doc: Dict[str, Any] = {"tool": {"name": TOOL_NAME, "version": TOOL_VERSION}, "checklist_version": checklist.version}
    if generated_at:
        doc["generated_at"] = generated_at
    doc["cluster"] = redact_data(cluster or {})
    doc["summary"] = run_summary(checklist, indexed)
    doc["not_run"] = doc["summary"]["not_run"]
    doc["results"] = [r.to_dict() for r in ordered]
    if remediation:
        doc["remediation"] = remediation
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- Markdown


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _status_label(result: Optional[Result]) -> str:
    if result is None:
        return "— (%s)" % NOT_RUN_NOTE
    return result.status or "— (%s)" % OUTCOME_WORDS[result.outcome]


def _shortened(text: str, limit: int = WHY_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _why(result: Optional[Result]) -> str:
    """The table's reason: the notes' first line (shortened; the transcript has it all), every caveat
    in full (a caveat changes what the status means), and the fix."""
    if result is None:
        return NOT_RUN_NOTE
    why = _shortened(first_line(result.notes))
    for caveat in result.caveats:
        why = why.rstrip(".") + ". **Caveat:** " + caveat
    if result.outcome in (FAIL, ERROR, UNKNOWN) and result.remediation:
        fix = first_line(result.remediation)
        short = _shortened(fix, FIX_LIMIT)
        why = why.rstrip(".") + ". Fix: " + (short if short == fix else short + " (the whole fix is below)")
    return why


def cluster_line(cluster: Optional[Dict[str, Any]]) -> str:
    """One line describing the cluster, from the facts cluster_info returns."""
    cluster = cluster or {}
    parts = []
    if cluster.get("kubernetes_version"):
        parts.append("Kubernetes %s" % cluster["kubernetes_version"])
    if cluster.get("distribution"):
        parts.append(str(cluster["distribution"]))
    if cluster.get("node_count") is not None:
        parts.append("%s nodes" % cluster["node_count"])
    if cluster.get("accelerator_total") is not None:
        parts.append("%s accelerators on %s nodes" % (cluster["accelerator_total"], cluster.get("accelerator_node_count", "?")))
    if cluster.get("error"):
        parts.append("facts incomplete (%s)" % cluster["error"])
    return redact(", ".join(parts)) or "not given"


def verdict(checklist: Checklist, indexed: Dict[str, Result]) -> str:
    """The headline of report.md: the summary's verdict sentence with its first words in bold."""
    text = run_summary(checklist, indexed)["headline"]
    lead, rest = text.split(":", 1)
    return "**%s**:%s" % (lead, rest)


def _na_on_must(req: Requirement, version: str) -> str:
    """What the program's validator does with N/A on this MUST, said once."""
    accepted = program.must_na_accepted(version)
    if req.id in accepted:
        return ("N/A on this MUST: the program's FAQ allows it when the requirement's context does not apply, and its "
                "validator accepts it with a warning; the reviewer weighs the justification above.")
    return ("N/A on this MUST: the program's validator rejects it (only %s may be N/A); the checklist will not pass "
            "submission until it is Implemented." % ", ".join(accepted))


def _requirement_section(req: Requirement, result: Result, version: str) -> List[str]:
    lines = ["### `%s` (%s): %s" % (req.id, req.level, _status_label(result)), "", result.notes or "(no notes)", ""]
    for caveat in result.caveats:
        lines += ["**Caveat:** " + caveat, ""]
    if result.remediation:
        lines += ["**Fix:** " + result.remediation, ""]
    if req.level == "MUST" and result.outcome == NOT_APPLICABLE:
        lines += [_na_on_must(req, version), ""]
    lines += ["Evidence: [%s](%s)" % (transcript_path(req.id), transcript_path(req.id)), ""]
    return lines


def _violation_dict(violation: Any) -> Dict[str, Any]:
    return violation.to_dict() if hasattr(violation, "to_dict") else dict(violation)


HOW_TO_READ = (
    "Each check has an *outcome*; the checklist's *status* follows from it: pass is `Implemented`, fail is "
    "`Not Implemented`, not_applicable is `N/A` (always with its justification), and the undecided outcomes "
    "leave the status blank: unknown (a person must decide), error (the run could not decide: read the notes, "
    "fix the cause, re-run) and skipped (the check did not run). A requirement not run in a subset run is "
    "neither met nor not met, and a subset run has no conformance verdict. The transcripts in `evidence/` "
    "show every command and what the API answered, so a reviewer can reproduce them by hand."
)


def identity_lines(cluster: Optional[Dict[str, Any]], generated_at: Optional[str] = None) -> List[str]:
    """Markdown bullets naming the cluster verified and when the files were written."""
    lines = ["- Cluster: %s" % cluster_line(cluster)]
    lines += ["- %s%s: `%s`" % (label[0].upper(), label[1:], value.replace("`", "'")) for label, value in identity_pairs(cluster)]
    if generated_at:
        lines.append("- Generated at: %s by %s %s" % (generated_at, TOOL_NAME, TOOL_VERSION))
    return lines


def _remediation_section(record: Dict[str, Any]) -> List[str]:
    ran = ", ".join("`%s.%s`" % (COLLECTION, name) for name in record.get("roles") or []) or "none"
    lines = ["## Before and after (conform run at %s)" % record.get("at", "?"), "",
             "The last conform run that changed the cluster or left out other roles; later runs that change nothing keep it.", "",
             "Install roles run (ai_conformance_install=%s): %s." % (record.get("install") or "missing", ran), ""]
    applied = record.get("applied") or {}
    for name in record.get("roles") or []:
        lines.append("- `%s` changed: %s" % (name, "; ".join(applied.get(name) or []) or "nothing (all was in place)"))
    lines += [""] if record.get("roles") else []
    lines += ["| Requirement | Level | Before | After | Roles run for it |", "|---|---|---|---|---|"]
    for row in record.get("requirements") or []:
        lines.append("| `%s` | %s | %s | %s | %s |" % (row["id"], row["level"], _cell(row["before"]), _cell(row["after"]),
                                                       ", ".join(row["roles"]) or "—"))
    for skipped in record.get("skipped") or []:
        lines.append("")
        lines.append("- Not run: `%s` for %s: %s" % (skipped.get("name"), ", ".join(skipped.get("requirements") or []) or "—",
                                                     _cell(redact(skipped.get("why", "")))))
    return lines + [""]


def render_markdown(checklist: Checklist, results: Iterable[Any], cluster: Optional[Dict[str, Any]] = None,
                    violations: Optional[Sequence[Any]] = None, generated_at: Optional[str] = None,
                    remediation: Optional[Dict[str, Any]] = None) -> str:
    """``report.md``: the verdict and one table a person reads in ten seconds, then what to fix."""
    indexed = index_results(checklist, results)
    lines = ["# Kubernetes AI Conformance report: checklist v%s" % checklist.version, ""]
    lines += identity_lines(cluster, generated_at) + [""]
    lines += [
        verdict(checklist, indexed), "",
        "| Requirement | Level | Status | Why |",
        "|---|---|---|---|",
    ]
    for req in checklist.requirements:
        result = indexed.get(req.id)
        lines.append("| `%s` | %s | %s | %s |" % (req.id, req.level, _status_label(result), _cell(_why(result))))
    lines.append("")
    if remediation:
        lines += _remediation_section(remediation)
    to_fix = [(req, indexed[req.id]) for req in checklist.requirements
              if req.id in indexed and (indexed[req.id].outcome != PASS or indexed[req.id].caveats)]
    if to_fix:
        lines += ["## Not Implemented, N/A, undecided or with caveats", ""]
        for req, result in to_fix:
            lines += _requirement_section(req, result, checklist.version)
    if violations:
        lines += ["## Submission-rule violations", "",
                  "| Severity | Rule | Where | Problem | Fix |", "|---|---|---|---|---|"]
        for violation in (_violation_dict(v) for v in violations):
            lines.append("| %s | `%s` | `%s` | %s | %s |" % (
                violation["severity"], violation["rule"], violation["path"], _cell(redact(violation["message"])),
                _cell(redact(violation["fix"]))))
        lines.append("")
    lines += ["## How to read this", "", HOW_TO_READ, ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- JUnit


def _junit_outcome(req: Requirement, result: Optional[Result]) -> str:
    """The testcase's child: a failing SHOULD is <skipped> (it must not fail a gate that counts failures),
    every undecided outcome is <error>, N/A and not-run are <skipped>."""
    if result is None:
        return '      <skipped message=%s/>' % quoteattr(NOT_RUN_NOTE)
    message = quoteattr(first_line(result.notes) or result.outcome)
    body = escape("\n".join(t for t in [result.full_notes, "Fix: " + result.remediation if result.remediation else ""] if t))
    if result.outcome == FAIL and req.level == "MUST":
        return '      <failure message=%s type="Not Implemented">%s</failure>' % (message, body)
    if result.outcome == FAIL:
        return '      <skipped message=%s/>' % quoteattr("SHOULD not implemented (does not fail conformance): %s" % first_line(result.notes))
    if result.outcome in (ERROR, UNKNOWN, SKIPPED):
        return '      <error message=%s type="could not decide: %s">%s</error>' % (message, result.outcome, body)
    if result.outcome == NOT_APPLICABLE:
        return '      <skipped message=%s/>' % quoteattr("N/A: %s" % first_line(result.notes))
    return ""


def _junit_counts(checklist: Checklist, indexed: Dict[str, Result], level: str) -> str:
    reqs = [r for r in checklist.requirements if r.level == level]
    outcomes = [indexed[r.id].outcome if r.id in indexed else None for r in reqs]
    failures = outcomes.count(FAIL) if level == "MUST" else 0
    errors = sum(outcomes.count(o) for o in (ERROR, UNKNOWN, SKIPPED))
    skipped = outcomes.count(None) + outcomes.count(NOT_APPLICABLE) + (outcomes.count(FAIL) if level != "MUST" else 0)
    return 'tests="%d" failures="%d" errors="%d" skipped="%d"' % (len(reqs), failures, errors, skipped)


def render_junit(checklist: Checklist, results: Iterable[Any], cluster: Optional[Dict[str, Any]] = None,
                 generated_at: Optional[str] = None) -> str:
    """JUnit XML for CI dashboards: one testsuite per level (MUST, SHOULD), one testcase per requirement."""
    indexed = index_results(checklist, results)
    summary = run_summary(checklist, indexed)
    properties = [("checklist_version", checklist.version), ("verdict", summary["verdict"])]
    properties += [("cluster_%s" % key, value) for key, value in identity_values(cluster)]
    if generated_at:
        properties.append(("generated_at", generated_at))
    totals = [_junit_counts(checklist, indexed, level) for level in ("MUST", "SHOULD")]
    numbers = [[int(n) for n in re.findall(r'"(\d+)"', t)] for t in totals]
    overall = 'tests="%d" failures="%d" errors="%d" skipped="%d"' % tuple(a + b for a, b in zip(*numbers))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<testsuites name="%s" %s>' % (TOOL_NAME, overall)]
    for level, counts in zip(("MUST", "SHOULD"), totals):
        lines += ['  <testsuite name="%s.%s" %s>' % (TOOL_NAME, level, counts), '    <properties>']
        lines += ['      <property name=%s value=%s/>' % (quoteattr(k), quoteattr(v)) for k, v in properties + [("level", level)]]
        lines.append('    </properties>')
        for req in (r for r in checklist.requirements if r.level == level):
            result = indexed.get(req.id)
            time_attr = ' time="%.3f"' % result.duration_s if result is not None else ""
            lines += [
                '    <testcase classname=%s name=%s%s>' % (quoteattr("%s.%s" % (TOOL_NAME, req.section)), quoteattr(req.id), time_attr),
                '      <properties>',
                '        <property name="level" value=%s/>' % quoteattr(req.level),
                '        <property name="status" value=%s/>' % quoteattr(result.status if result else ""),
                '        <property name="outcome" value=%s/>' % quoteattr(result.outcome if result else "not_run"),
                '      </properties>',
            ]
            outcome = _junit_outcome(req, result)
            if outcome:
                lines.append(outcome)
            lines.append('    </testcase>')
        lines.append('  </testsuite>')
    lines.append('</testsuites>')
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- evidence transcripts


def _fence(text: str) -> str:
    longest = max([len(run) for run in re.findall(r"`+", text)] + [2])
    return "`" * (longest + 1)


def render_evidence(req: Requirement, result: Result, cluster: Optional[Dict[str, Any]] = None,
                    generated_at: Optional[str] = None) -> str:
    """``evidence/<id>.md``: what was looked at and what it showed, reproducible by hand."""
    result = _redacted_result(result if isinstance(result, Result) else Result.from_dict(result))
    lines = ["# %s: evidence" % req.id, ""] + identity_lines(cluster, generated_at) + [
        "",
        "**Requirement** (%s, section `%s`): %s" % (req.level, req.section, req.description), "",
        "- Outcome: `%s`" % result.outcome,
        "- Status: %s" % (result.status or "(blank: %s)" % OUTCOME_WORDS[result.outcome]), "",
        "## Notes", "", result.notes or "(none)", "",
    ]
    for caveat in result.caveats:
        lines += ["**Caveat:** " + caveat, ""]
    if result.remediation:
        lines += ["## Remediation", "", result.remediation, ""]
    lines += ["## What was checked", ""]
    if not result.evidence:
        lines += ["No API observations were recorded for this requirement.", ""]
    for number, item in enumerate(result.evidence, 1):
        observed = item.observed or "(nothing)"
        fence = _fence(observed)
        lines += ["### %d. `%s`" % (number, item.command.replace("`", "'")), ""]
        if item.note:
            lines += ["Looked at: %s" % item.note, ""]
        source = "our summary of the API answer to `%s`" % item.api.replace("`", "'") if item.api else "our summary of the API answer"
        lines += ["What it showed (%s):" % source, "", fence + "text", observed, fence, ""]
    lines += [
        "---", "",
        "To reproduce by hand: run each command above with kubectl against the same cluster (the API server and "
        "context named at the top) and compare its output with the summary shown under it. Written by %s %s."
        % (TOOL_NAME, TOOL_VERSION),
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- files


def product_slug(name: str) -> str:
    """A directory name for a product: lower case, words joined by '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _is_placeholder(value: str) -> bool:
    return not value or (value.startswith("[") and value.endswith("]"))


def product_directory(checklist: Checklist, metadata: Optional[Dict[str, Any]], product_dir: Optional[str]) -> str:
    """The submission's ``<product>`` directory name: product_dir, else the slug of platformName."""
    if product_dir:
        name = str(product_dir)
        if name in (".", "..") or "/" in name or "\\" in name:
            raise ReportError("product_dir %r must be a single directory name such as 'rke2'" % name)
        return name
    platform = dict(filled_metadata(checklist, metadata)).get("platformName", "")
    slug = product_slug(platform) if not _is_placeholder(platform) else ""
    if not slug:
        raise ReportError(
            "submission_dir needs the product's directory name: set metadata platformName (now %r) or product_dir "
            "(for example 'rke2'); the program expects v%s/<product>/PRODUCT.yaml" % (platform, checklist.version))
    return slug


def artifact_paths(output_dir: str, checklist: Checklist, results: Iterable[Any], metadata: Optional[Dict[str, Any]] = None,
                   submission_dir: Optional[str] = None, product_dir: Optional[str] = None) -> Dict[str, Any]:
    """Where every artifact goes; ``checklist_dir`` is where the checklist's relative evidence resolves."""
    ids = list(index_results(checklist, results))
    ordered_ids = [i for i in checklist.ids if i in ids]
    paths: Dict[str, Any] = {
        "directory": output_dir,
        "checklist": os.path.join(output_dir, "AIConformance-%s.yaml" % checklist.version),
        "json": os.path.join(output_dir, JSON_FILE),
        "report": os.path.join(output_dir, REPORT_FILE),
        "junit": os.path.join(output_dir, JUNIT_FILE),
        "evidence": {i: os.path.join(output_dir, transcript_path(i)) for i in ordered_ids},
        "checklist_dir": output_dir,
    }
    if submission_dir:
        product = os.path.join(submission_dir, "v" + checklist.version, product_directory(checklist, metadata, product_dir))
        paths["submission"] = {
            "directory": product,
            "product": os.path.join(product, PRODUCT_FILE),
            "evidence": {i: os.path.join(product, transcript_path(i)) for i in ordered_ids},
        }
        paths["checklist_dir"] = product
    return paths


def planned_evidence_files(checklist: Checklist, results: Iterable[Any]) -> List[str]:
    """The transcripts write_artifacts writes, relative to the checklist file."""
    indexed = index_results(checklist, results)
    return [transcript_path(i) for i in checklist.ids if i in indexed]


def _without_probe_run(content: str) -> str:
    """A probe transcript without what differs between two runs that observed the same: the scratch namespace's
    random name, the run id, the sweep-after time and measured waits (scratch.py writes them so)."""
    for pattern, replacement in VOLATILE_PROBE_TEXT:
        content = pattern.sub(replacement, content)
    return content


def comparable(path: str, content: str) -> str:
    """The content without what changes between runs on an unchanged cluster (times, durations, probe run ids)."""
    content = _without_probe_run(content)
    if path.endswith(".json"):
        try:
            return json.dumps(_without_keys(json.loads(content), VOLATILE_JSON_KEYS), sort_keys=True)
        except ValueError:
            return content
    if path.endswith(".xml"):
        return VOLATILE_XML_ATTRIBUTE.sub("", content)
    if path.endswith(".md"):
        return VOLATILE_MARKDOWN_LINE.sub("", content)
    return content


def _without_keys(data: Any, keys: Sequence[str]) -> Any:
    if isinstance(data, dict):
        return {k: _without_keys(v, keys) for k, v in data.items() if k not in keys}
    if isinstance(data, list):
        return [_without_keys(v, keys) for v in data]
    return data


def guard_name(path: str) -> None:
    """Refuse to write a file named like the official suite's artifacts."""
    if os.path.basename(path).lower() in CANONICAL_ARTIFACTS:
        raise ReportError(
            "refusing to write %s: the program's validator parses files named %s as the official suite's "
            "results and fails a submission on any failing test in them"
            % (path, ", ".join(sorted(CANONICAL_ARTIFACTS))))


def utc_now() -> str:
    """The time a run writes its artifacts, as every artifact states it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Bundle:
    """Everything one run's artifacts are made from, built once: every file is rendered from it, and
    each directory's files are then written as one set (see artifact_set)."""

    checklist: Checklist
    results: Dict[str, Result]  # by id, redacted
    output_dir: str
    cluster: Dict[str, Any] = field(default_factory=dict)
    metadata: Dict[str, Any] = field(default_factory=dict)
    evidence_urls: Dict[str, Any] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)
    submission_dir: Optional[str] = None
    product_dir: Optional[str] = None
    generated_at: str = ""
    violations: List[Any] = field(default_factory=list)
    remediation: Dict[str, Any] = field(default_factory=dict)  # a conform run's install mode, before, plan steps and skipped roles

    @classmethod
    def build(cls, output_dir: str, checklist: Checklist, results: Iterable[Any], metadata: Optional[Dict[str, Any]] = None,
              evidence_urls: Optional[Dict[str, Any]] = None, notes: Optional[Dict[str, str]] = None,
              cluster: Optional[Dict[str, Any]] = None, submission_dir: Optional[str] = None,
              product_dir: Optional[str] = None, generated_at: Optional[str] = None) -> "Bundle":
        """Check every input once (ids, metadata, names) and keep it; raises ReportError."""
        bundle = cls(checklist, index_results(checklist, results), output_dir, dict(cluster or {}), dict(metadata or {}),
                     dict(evidence_urls or {}), dict(notes or {}), submission_dir, product_dir, generated_at or utc_now())
        for option, by_id in (("evidence_urls", bundle.evidence_urls), ("notes", bundle.notes)):
            _known_ids(checklist, by_id, option)
        user_metadata(checklist, bundle.metadata)
        paths = bundle.paths  # a submission without a product name fails here, before anything is rendered
        if "submission" in paths:
            inner, outer = os.path.abspath(paths["submission"]["directory"]), os.path.abspath(output_dir)
            if os.path.commonpath([inner, outer]) in (inner, outer):
                raise ReportError("submission_dir's product directory %s and output_dir %s must not contain one another: each is "
                                  "written as a set of its own; put them side by side" % (inner, outer))
        return bundle

    @property
    def ordered(self) -> List[Result]:
        return _ordered(self.checklist, self.results)

    @property
    def summary(self) -> Dict[str, Any]:
        return run_summary(self.checklist, self.results)

    @property
    def paths(self) -> Dict[str, Any]:
        return artifact_paths(self.output_dir, self.checklist, self.ordered, self.metadata, self.submission_dir, self.product_dir)

    @property
    def checklist_text(self) -> str:
        return render_checklist(self.checklist, self.ordered, self.metadata, self.evidence_urls, self.notes)

    def remediation_record(self) -> Optional[Dict[str, Any]]:
        """The conform record the output directory keeps (see kept_remediation); None for a verify run."""
        if not self.remediation:
            return None
        try:
            previous = json.loads(artifact_set.read(self.output_dir, JSON_FILE, adopt=earlier_artifact) or "{}")
        except (OSError, ValueError):
            previous = {}
        fresh = remediation_record(self.checklist, self.results, self.remediation, self.generated_at)
        return kept_remediation(fresh, previous.get("remediation") if isinstance(previous, dict) else None)

    def directories(self) -> List[Tuple[str, Dict[str, str], bool]]:
        """(directory, {relative path: content}, keep foreign files) for every artifact set of the run:
        the output directory, and the submission's product directory when one is asked for (where a
        vendor's own files, such as a README or the official suite's results, are kept)."""
        checklist_name = os.path.basename(self.paths["checklist"])
        transcripts = {transcript_path(r.id): render_evidence(self.checklist.get(r.id), r, self.cluster, self.generated_at)
                       for r in self.ordered}
        text = self.checklist_text
        record = self.remediation_record()
        output = {
            checklist_name: text,
            JSON_FILE: render_json(self.checklist, self.ordered, self.cluster, self.generated_at, record),
            REPORT_FILE: render_markdown(self.checklist, self.ordered, self.cluster, self.violations, self.generated_at, record),
            JUNIT_FILE: render_junit(self.checklist, self.ordered, self.cluster, self.generated_at),
        }
        output.update(transcripts)
        sets = [(self.output_dir, output, False)]
        if "submission" in self.paths:
            product = {PRODUCT_FILE: text}
            product.update(transcripts)
            sets.append((self.paths["submission"]["directory"], product, True))
        for directory, files, dummy in sets:
            for relative in files:
                guard_name(os.path.join(directory, relative))
        return sets


# What releases before artifact manifests wrote: adopted as ours when a directory has no manifest.
EARLIER_ARTIFACT = re.compile(r"^(?:AIConformance-\d+\.\d+\.yaml|%s|%s|%s|%s|%s/[a-z0-9_]+\.md)$" % tuple(
    re.escape(n) for n in (JSON_FILE, REPORT_FILE, JUNIT_FILE, PRODUCT_FILE, EVIDENCE_DIR)))


def earlier_artifact(relative: str) -> bool:
    return bool(EARLIER_ARTIFACT.match(relative))


def preflight(output_dir: str, submission_dir: Optional[str] = None) -> None:
    """Before any cluster work: the directories can take the artifacts (raises artifact_set.ArtifactSetError)."""
    artifact_set.preflight(output_dir, adopt=earlier_artifact)
    if submission_dir:
        artifact_set.preflight(submission_dir, keep_foreign=True)


def write_bundle(bundle: Bundle, check_mode: bool = False) -> Dict[str, Any]:
    """Write each directory's set whole (or leave it as it was); with check_mode only say what would change.

    Returns ``changed``, ``written`` (paths added, changed or removed, or that would be) and ``paths``.
    """
    sets = bundle.directories()
    for directory, dummy, keep_foreign in sets:
        artifact_set.preflight(directory, keep_foreign=keep_foreign, check_mode=check_mode, adopt=earlier_artifact)
    written: List[str] = []
    for directory, files, keep_foreign in sets:
        outcome = artifact_set.replace(directory, files, comparable=comparable, keep_foreign=keep_foreign, check_mode=check_mode,
                                       adopt=earlier_artifact)
        written += [os.path.join(directory, relative) for relative in outcome["written"]]
    return {"changed": bool(written), "written": written, "paths": bundle.paths}


def write_artifacts(output_dir: str, checklist: Checklist, results: Iterable[Any], metadata: Optional[Dict[str, Any]] = None,
                    evidence_urls: Optional[Dict[str, Any]] = None, notes: Optional[Dict[str, str]] = None,
                    cluster: Optional[Dict[str, Any]] = None, submission_dir: Optional[str] = None,
                    product_dir: Optional[str] = None, violations: Optional[Sequence[Any]] = None,
                    check_mode: bool = False) -> Dict[str, Any]:
    """Build the bundle and write it (see write_bundle)."""
    bundle = Bundle.build(output_dir, checklist, results, metadata, evidence_urls, notes, cluster, submission_dir, product_dir)
    bundle.violations = list(violations or [])
    return write_bundle(bundle, check_mode=check_mode)
