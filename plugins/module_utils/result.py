# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The result model: one Result per requirement, and how an outcome maps to the program's status."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

PASS = "pass"
FAIL = "fail"
NOT_APPLICABLE = "not_applicable"
UNKNOWN = "unknown"
ERROR = "error"
SKIPPED = "skipped"
OUTCOMES = (PASS, FAIL, NOT_APPLICABLE, UNKNOWN, ERROR, SKIPPED)

# The program's `status` for each outcome. Only collected evidence makes "Implemented";
# what we could not decide (unknown: a person must check; error; skipped) stays blank, so a
# person fills it in and the submission rules flag a MUST left blank.
STATUS_BY_OUTCOME = {
    PASS: "Implemented",
    FAIL: "Not Implemented",
    NOT_APPLICABLE: "N/A",
    UNKNOWN: "",
    ERROR: "",
    SKIPPED: "",
}


@dataclass
class Evidence:
    """What a check looked at, in a form a reviewer can reproduce by hand."""

    command: str  # one kubectl command that runs as written, e.g. "kubectl api-resources --api-group=resource.k8s.io"
    observed: str  # our summary of what the API answered, short and literal
    api: str = ""  # the API call(s) behind it, e.g. "GET /apis/resource.k8s.io/v1"
    note: str = ""  # what in the answer the check looked at, when the command alone does not say it


@dataclass
class Finding:
    """What a check returns: the outcome and why. The engine turns it into a Result."""

    outcome: str
    notes: str
    remediation: str = ""
    details: Dict[str, Any] = field(default_factory=dict)
    caveats: List[str] = field(default_factory=list)  # what the verdict does not cover; always shown in full

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError("outcome %r is not one of %s" % (self.outcome, ", ".join(OUTCOMES)))
        if self.outcome == NOT_APPLICABLE and not self.notes:
            raise ValueError("a not_applicable finding needs its justification in notes")


@dataclass
class Result:
    """The verdict on one requirement, with the evidence behind it."""

    id: str
    section: str
    level: str
    outcome: str
    notes: str = ""
    remediation: str = ""
    evidence: List[Evidence] = field(default_factory=list)
    details: Dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    caveats: List[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return STATUS_BY_OUTCOME[self.outcome]

    @property
    def full_notes(self) -> str:
        """The notes with every caveat, as the checklist's ``notes`` carries them."""
        return " ".join([self.notes] + [c for c in self.caveats if c not in self.notes]).strip()

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        data["duration_s"] = round(self.duration_s, 3)
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Result":
        known = {k: data[k] for k in ("id", "section", "level", "outcome", "notes", "remediation", "details", "duration_s", "caveats") if k in data}
        evidence = [e if isinstance(e, Evidence) else Evidence(**e) for e in data.get("evidence") or []]
        result = cls(evidence=evidence, **known)
        if result.outcome not in OUTCOMES:
            raise ValueError("result %s has outcome %r, expected one of %s" % (result.id, result.outcome, ", ".join(OUTCOMES)))
        return result


UNDECIDED = (ERROR, UNKNOWN, SKIPPED)
# summary["verdict"]: a conformance verdict exists only for a run of every requirement of the checklist.
CONFORMANT = "conformant"
NOT_CONFORMANT = "not conformant"
UNDECIDED_VERDICT = "undecided"
SUBSET = "subset"
NOT_RUN_NOTE = "not run in this subset"


def summarize(results: List[Result], checklist_ids: Optional[List[str]] = None,
              na_accepted: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """Counts by outcome and the verdict over the MUSTs.

    A MUST is met when it passed, or when it is conditional and the cluster shows its condition does
    not hold (not_applicable, with the justification in notes, as the program's FAQ allows); it is
    undecided when its check hit an error, needs a person (unknown) or did not run (skipped).
    ``checklist_ids`` are every requirement of the checklist: when some were not run the run is a
    subset and has no conformance verdict (``conformant`` is None). ``na_accepted`` are the MUSTs
    the program's validator lets be N/A; N/A on any other MUST is listed in ``must_na_rejected``.
    """
    counts = {outcome: 0 for outcome in OUTCOMES}
    for res in results:
        counts[res.outcome] += 1
    musts = [r for r in results if r.level == "MUST"]
    not_met = [r.id for r in musts if r.outcome == FAIL]
    undecided = [{"id": r.id, "outcome": r.outcome, "why": first_line(r.notes)} for r in musts if r.outcome in UNDECIDED]
    not_applicable = [r.id for r in musts if r.outcome == NOT_APPLICABLE]
    ran = [r.id for r in results]
    not_run = [i for i in (checklist_ids if checklist_ids is not None else ran) if i not in ran]
    if not_run:
        verdict = SUBSET
    elif not_met:
        verdict = NOT_CONFORMANT
    elif undecided:
        verdict = UNDECIDED_VERDICT
    else:
        verdict = CONFORMANT
    return {
        "total": len(results),
        "counts": counts,
        "must_total": len(musts),
        "must_implemented": [r.id for r in musts if r.outcome == PASS],
        "must_not_met": not_met,
        "must_undecided": undecided,
        "must_not_applicable": not_applicable,
        "must_na_rejected": [i for i in not_applicable if i not in na_accepted],
        "not_run": not_run,
        "complete": not not_run,
        "verdict": verdict,
        "conformant": None if not_run else verdict == CONFORMANT,
        "passed": not not_met and not undecided,
        "must_problems": ["%s: not met: %s" % (r.id, _short(first_line(r.notes)).rstrip(".")) for r in musts if r.outcome == FAIL]
        + ["%s: could not decide (%s): %s" % (u["id"], u["outcome"], _short(u["why"]).rstrip(".")) for u in undecided],
        "headline": headline(verdict, len(musts), not_met, undecided, not_applicable, na_accepted, len(ran), len(ran) + len(not_run)),
    }


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def headline(verdict: str, must_total: int, not_met: List[str], undecided: List[Dict[str, str]], not_applicable: List[str],
             na_accepted: Tuple[str, ...], ran: int, total: int) -> str:
    """The verdict in one plain sentence (report.md bolds its first words)."""
    met = must_total - len(not_met) - len(undecided)
    counted = "%d of %d MUST requirements met" % (met, must_total)
    if not_applicable:
        counted += " (%d N/A with justification)" % len(not_applicable)
    parts = []
    if not_met:
        parts.append("not met: %s" % ", ".join(not_met))
    if undecided:
        parts.append("could not decide: %s" % ", ".join("%s (%s)" % (u["id"], u["outcome"]) for u in undecided))
    rejected = [i for i in not_applicable if i not in na_accepted]
    accepted = [i for i in not_applicable if i in na_accepted]
    if rejected:
        parts.append("the program's validator rejects N/A on %s" % ", ".join(rejected))
    if accepted:
        parts.append("the program's validator accepts N/A on %s with a warning" % ", ".join(accepted))
    detail = "; ".join(parts)
    if verdict == SUBSET:
        text = "Subset run, no conformance verdict: %d of %d requirements run; among them %s" % (ran, total, counted)
    else:
        text = {CONFORMANT: "Conformant", NOT_CONFORMANT: "Not conformant", UNDECIDED_VERDICT: "Undecided"}[verdict] + ": " + counted
    return text + ("; " + detail if detail else "") + "."


def first_line(text: Optional[str]) -> str:
    """The first non-empty line, for one-line summaries."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""
