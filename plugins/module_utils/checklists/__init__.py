# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The program's checklists as data: parse a published version, choose one for a cluster.

The program's rules per version (metadata, artifacts, evidence paths, accepted N/A) are in ``program.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

try:
    import yaml
    HAS_YAML = True
except ImportError:  # the module reports it through missing_required_lib
    HAS_YAML = False

from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists.published import PUBLISHED

STATUSES = ("Implemented", "Not Implemented", "Partially Implemented", "N/A")
LEVELS = ("MUST", "SHOULD")


class ChecklistError(ValueError):
    """A checklist version that is unknown, malformed or does not fit the cluster."""


@dataclass(frozen=True)
class Requirement:
    """One checklist item exactly as the program publishes it."""

    id: str
    section: str
    description: str
    level: str


@dataclass(frozen=True)
class Checklist:
    """A published checklist: its version, metadata template and requirements in order."""

    version: str
    metadata: Dict[str, str]
    requirements: Tuple[Requirement, ...]
    text: str

    @property
    def sections(self) -> List[str]:
        seen: List[str] = []
        for req in self.requirements:
            if req.section not in seen:
                seen.append(req.section)
        return seen

    @property
    def header(self) -> str:
        """The comment lines the published file starts with."""
        lines = []
        for line in self.text.splitlines():
            if not line.startswith("#"):
                break
            lines.append(line)
        return "\n".join(lines)

    def get(self, requirement_id: str) -> Requirement:
        for req in self.requirements:
            if req.id == requirement_id:
                return req
        raise KeyError(requirement_id)

    @property
    def ids(self) -> List[str]:
        return [r.id for r in self.requirements]


def known_versions() -> List[str]:
    """Versions this collection ships, oldest first."""
    return sorted(PUBLISHED, key=lambda v: tuple(int(p) for p in v.split(".")))


def parse(version: str, text: str) -> Checklist:
    """Parse one published checklist text; fail loudly if it is not the program's shape."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or "metadata" not in doc or "spec" not in doc:
        raise ChecklistError("checklist %s: expected top-level 'metadata' and 'spec'" % version)
    requirements = []
    for section, items in doc["spec"].items():
        for item in items or []:
            missing = [k for k in ("id", "description", "level") if not item.get(k)]
            if missing:
                raise ChecklistError("checklist %s, section %s: item without %s" % (version, section, ", ".join(missing)))
            if item["level"] not in LEVELS:
                raise ChecklistError("checklist %s: %s has level %r" % (version, item["id"], item["level"]))
            requirements.append(Requirement(item["id"], section, item["description"], item["level"]))
    metadata = {k: ("" if v is None else str(v)) for k, v in doc["metadata"].items()}
    return Checklist(version=version, metadata=metadata, requirements=tuple(requirements), text=text)


def load(version: str) -> Checklist:
    """The published checklist for ``version`` ("1.35" or "v1.35")."""
    normalized = normalize_version(version)
    if normalized not in PUBLISHED:
        raise ChecklistError(
            "no AI conformance checklist for Kubernetes %s: this collection knows %s. "
            "Set checklist_version to one of them, or update the collection."
            % (normalized, ", ".join(known_versions()))
        )
    return parse(normalized, PUBLISHED[normalized])


def normalize_version(version: str) -> str:
    """'v1.35', '1.35', '1.35.2+rke2r1' -> '1.35'."""
    match = re.match(r"^v?(\d+)\.(\d+)", str(version).strip())
    if not match:
        raise ChecklistError("checklist_version %r is not a Kubernetes minor version such as '1.35'" % (version,))
    return "%s.%s" % (match.group(1), match.group(2))


def select_version(server_version: Optional[str], override: Optional[str] = None) -> str:
    """The checklist version to use: the override if given, else the server's minor version."""
    if override:
        return load(override).version
    if not server_version:
        raise ChecklistError("the API server did not report its version; set checklist_version, e.g. '1.35'")
    version = normalize_version(server_version)
    if version not in PUBLISHED:
        newest = known_versions()[-1]
        raise ChecklistError(
            "the cluster runs Kubernetes %s but this collection has checklists for %s only. "
            "Set checklist_version (for example '%s') to verify against a published checklist, "
            "or update the collection." % (version, ", ".join(known_versions()), newest)
        )
    return version
