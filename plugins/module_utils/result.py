# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The result model: one Result per requirement, and how an outcome maps to the program's status."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

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

    command: str  # kubectl-equivalent, e.g. "kubectl api-resources --api-group=resource.k8s.io"
    observed: str  # what it saw, short and literal
    api: str = ""  # the API call(s) behind it, e.g. "GET /apis/resource.k8s.io/v1"


@dataclass
class Finding:
    """What a check returns: the outcome and why. The engine turns it into a Result."""

    outcome: str
    notes: str
    remediation: str = ""
    details: Dict[str, Any] = field(default_factory=dict)

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

    @property
    def status(self) -> str:
        return STATUS_BY_OUTCOME[self.outcome]

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        data["duration_s"] = round(self.duration_s, 3)
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Result":
        known = {k: data[k] for k in ("id", "section", "level", "outcome", "notes", "remediation", "details", "duration_s") if k in data}
        evidence = [e if isinstance(e, Evidence) else Evidence(**e) for e in data.get("evidence") or []]
        result = cls(evidence=evidence, **known)
        if result.outcome not in OUTCOMES:
            raise ValueError("result %s has outcome %r, expected one of %s" % (result.id, result.outcome, ", ".join(OUTCOMES)))
        return result


def summarize(results: List[Result]) -> Dict[str, Any]:
    """Counts by outcome, and whether every MUST is met.

    A MUST is met when it passed, or when it is conditional and the cluster shows its condition
    does not hold (not_applicable, with the justification in notes, as the program's FAQ allows).
    """
    counts = {outcome: 0 for outcome in OUTCOMES}
    for res in results:
        counts[res.outcome] += 1
    failing_must = [r.id for r in results if r.level == "MUST" and r.outcome not in (PASS, NOT_APPLICABLE)]
    return {
        "total": len(results),
        "counts": counts,
        "must_total": sum(1 for r in results if r.level == "MUST"),
        "must_not_implemented": failing_must,
        "conformant": not failing_must,
    }


def first_line(text: Optional[str]) -> str:
    """The first non-empty line, for one-line summaries."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""
