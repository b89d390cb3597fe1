# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The program's submission rules, offline: what cncf/k8s-ai-conformance ``scripts/validate.go``
checks on a ``vX.Y/<product>/PRODUCT.yaml``, plus the written rules it leaves to reviewers.

``validate()`` returns one Violation per broken rule, each with a stable ``rule`` id, where it is,
what is wrong and how to fix it. URL reachability is checked only with ``check_urls=True``; the
landscape membership of vendorName cannot be checked offline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists
from ansible_collections.k8s_ai.conformance.plugins.module_utils.report import (
    CANONICAL_ARTIFACTS, K8S_CONFORMANCE_URL, K8S_CONFORMANCE_URL_SINCE, metadata_fields,
)

ERROR = "error"
WARNING = "warning"

# The validator's own User-Agent, so sites that allowlist it answer us the same way.
USER_AGENT = "CNCF-K8s-AI-Conformance-Validator/1.0 (+https://github.com/cncf/k8s-ai-conformance)"
URL_TIMEOUT = 10.0
K8S_CONFORMANCE_URL_PATTERN = re.compile(r"^https://github\.com/cncf/k8s-conformance/tree/(master|main)/v\d+\.\d+/[^/]+/?$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_FIELDS = ("websiteUrl", "repoUrl", "documentationUrl", "productLogoUrl")
OPTIONAL_FIELDS = ("repoUrl",)
LOGO_FORMATS = (".svg", ".ai", ".eps")
FILE_URLS_SINCE = (1, 37)


@dataclass
class Violation:
    """One broken submission rule."""

    rule: str
    path: str
    message: str
    fix: str
    severity: str = ERROR

    def to_dict(self) -> Dict[str, str]:
        return asdict(self)


def _version_tuple(version: str) -> Tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _is_placeholder(value: str) -> bool:
    return value.startswith("[") and value.endswith("]")


# ---------------------------------------------------------------------------- metadata


def _metadata_value(metadata: Dict[str, Any], field_name: str) -> Tuple[bool, Any]:
    for key in (field_name, _snake(field_name)):
        if key in metadata and metadata[key] is not None:
            return True, metadata[key]
    return False, None


def _missing_field(field_name: str, version: str) -> Optional[Violation]:
    path = "metadata.%s" % field_name
    if field_name in OPTIONAL_FIELDS:
        return None
    if field_name == K8S_CONFORMANCE_URL and _version_tuple(version) < K8S_CONFORMANCE_URL_SINCE:
        return Violation("metadata.required", path, "k8sConformanceUrl is missing; the program's validator asks "
                         "every submission for it, though the %s checklist predates it" % version,
                         "set k8sConformanceUrl to the product's cncf/k8s-conformance folder", WARNING)
    return Violation("metadata.required", path, "%s is missing or empty" % field_name,
                     "set %s (or %s) in the metadata" % (field_name, _snake(field_name)))


def _field_violations(field_name: str, value: str, version: str) -> List[Violation]:
    path = "metadata.%s" % field_name
    if _is_placeholder(value):
        fix = "replace the template placeholder with the real value"
        if field_name in OPTIONAL_FIELDS:
            fix += ", or set it to an empty string (it is optional; required for open-source products)"
        return [Violation("metadata.placeholder", path, "%s still has the placeholder %s" % (field_name, value), fix)]
    if field_name == "kubernetesVersion":
        match = re.match(r"^v(\d+)\.(\d+)(\.\d+)?$", value)
        if not match or "%s.%s" % match.groups()[:2] != version:
            return [Violation("metadata.kubernetes_version", path,
                              "kubernetesVersion is %r; the %s checklist is for v%s" % (value, version, version),
                              "set kubernetesVersion to v%s (or the cluster's v%s.<patch>)" % (version, version))]
    if field_name == K8S_CONFORMANCE_URL and not K8S_CONFORMANCE_URL_PATTERN.match(value):
        return [Violation("metadata.k8s_conformance_url", path, "k8sConformanceUrl %r is not a cncf/k8s-conformance folder" % value,
                          "use https://github.com/cncf/k8s-conformance/tree/master/v%s/<product>" % version)]
    if field_name in URL_FIELDS and not re.match(r"^https?://[^/\s]+", value):
        return [Violation("metadata.url", path, "%s %r is not an http(s) URL" % (field_name, value),
                          "give a full URL starting with https://")]
    if field_name == "productLogoUrl" and not value.lower().split("?")[0].endswith(LOGO_FORMATS):
        return [Violation("metadata.logo_format", path, "productLogoUrl does not look like an SVG, AI or EPS file",
                          "link the logo in SVG, AI or EPS format (not PNG), including the product name", WARNING)]
    if field_name == "contactEmailAddress" and not EMAIL_PATTERN.match(value):
        return [Violation("metadata.email", path, "contactEmailAddress %r is not an email address" % value,
                          "give an address maintainers can be reached at, such as team@example.com")]
    return []


def check_metadata(metadata: Any, checklist: checklists.Checklist) -> List[Violation]:
    """Required fields present, strings, no placeholders, well-formed version, URLs and email."""
    if not isinstance(metadata, dict):
        return [Violation("document.invalid", "metadata", "the document has no 'metadata' mapping",
                          "start from the published checklist template")]
    violations: List[Violation] = []
    for field_name in metadata_fields(checklist):
        present, value = _metadata_value(metadata, field_name)
        if not isinstance(value, str) and present:
            violations.append(Violation("metadata.not_string", "metadata.%s" % field_name,
                                        "%s is %r, not a string" % (field_name, value), "quote the value"))
        elif not present or value == "":
            missing = _missing_field(field_name, checklist.version)
            violations += [missing] if missing else []
        else:
            violations.extend(_field_violations(field_name, value, checklist.version))
    return violations


# ---------------------------------------------------------------------------- spec


def _item_path(section: str, position: int, key: str = "") -> str:
    return "spec.%s[%d]%s" % (section, position, "." + key if key else "")


def _index_section(section: str, items: Any) -> Tuple[Dict[str, Tuple[int, Dict[str, Any]]], List[Violation]]:
    indexed: Dict[str, Tuple[int, Dict[str, Any]]] = {}
    violations = []
    for position, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            violations.append(Violation("document.invalid", _item_path(section, position), "item is not a mapping with an id",
                                        "restore the item from the published checklist"))
        elif item["id"] in indexed:
            violations.append(Violation("spec.duplicate_item", _item_path(section, position, "id"),
                                        "%s appears twice in %s" % (item["id"], section), "keep one entry per requirement"))
        else:
            indexed[item["id"]] = (position, item)
    return indexed, violations


def check_spec(spec: Any, checklist: checklists.Checklist) -> List[Violation]:
    """Every published section and item present once, nothing extra, id/description/level unchanged,
    then each item's status and evidence rules."""
    if not isinstance(spec, dict):
        return [Violation("document.invalid", "spec", "the document has no 'spec' mapping", "start from the published checklist template")]
    violations: List[Violation] = []
    for section in checklist.sections:
        if section not in spec:
            violations.append(Violation("spec.missing_section", "spec.%s" % section, "section %s is missing" % section,
                                        "restore section %s with all its items from the published checklist" % section))
            continue
        if not isinstance(spec[section], list):
            violations.append(Violation("document.invalid", "spec.%s" % section, "section %s is not a list of items" % section,
                                        "restore section %s from the published checklist" % section))
            continue
        indexed, problems = _index_section(section, spec[section])
        violations += problems
        published = [r for r in checklist.requirements if r.section == section]
        for req in published:
            if req.id not in indexed:
                violations.append(Violation("spec.missing_item", "spec.%s" % section, "requirement %s is missing from %s" % (req.id, section),
                                            "restore %s from the published %s checklist" % (req.id, checklist.version)))
                continue
            position, item = indexed[req.id]
            violations += _changed_fields(req, section, position, item)
            violations += check_item(req, section, position, item)
        for req_id, (position, dummy) in indexed.items():
            if req_id not in [r.id for r in published]:
                violations.append(Violation("spec.unknown_item", _item_path(section, position, "id"),
                                            "%s is not a requirement of %s in the %s checklist" % (req_id, section, checklist.version),
                                            "remove it; ids may not be added or renamed"))
    for section in spec:
        if section not in checklist.sections:
            violations.append(Violation("spec.unknown_item", "spec.%s" % section,
                                        "section %s is not in the %s checklist" % (section, checklist.version), "remove it"))
    return violations


def _changed_fields(req: checklists.Requirement, section: str, position: int, item: Dict[str, Any]) -> List[Violation]:
    return [
        Violation("spec.changed_field", _item_path(section, position, key), "%s of %s differs from the published text" % (key, req.id),
                  "restore it verbatim: %s" % getattr(req, key))
        for key in ("description", "level") if item.get(key) != getattr(req, key)
    ]


def _status_problem(req: checklists.Requirement, status: Any) -> str:
    """What is wrong with a status value itself ('' when nothing; a blank MUST is reported as not Implemented)."""
    if status == "":
        return "" if req.level == "MUST" else "has evidence but no status"
    if not isinstance(status, str) or status not in checklists.STATUSES:
        return "has status %r, which is not a valid status" % (status,)
    return ""


def check_item(req: checklists.Requirement, section: str, position: int, item: Dict[str, Any]) -> List[Violation]:
    """Status and evidence rules for one item (the published level decides MUST/SHOULD)."""
    status = item.get("status") or ""
    evidence = item.get("evidence") or []
    notes = item.get("notes") or ""
    path = _item_path(section, position)
    if req.level == "SHOULD" and status == "" and not evidence:
        return []
    violations: List[Violation] = []
    problem = _status_problem(req, status)
    if problem:
        violations.append(Violation("status.invalid", path + ".status", "%s %s" % (req.id, problem),
                                    "use one of %s, or leave both status and evidence empty on a SHOULD item"
                                    % ", ".join(checklists.STATUSES)))
    if req.level == "MUST" and status == "N/A" and req.id in checklists.MUST_NOT_APPLICABLE_ACCEPTED:
        violations.append(Violation(
            "status.must_not_applicable", path + ".status",
            "%s is a MUST marked N/A: the program's validator accepts it with a warning" % req.id,
            "keep N/A only where the requirement's context does not apply, justified in notes", WARNING))
    elif req.level == "MUST" and status == "N/A":
        violations.append(Violation(
            "status.must_not_applicable", path + ".status",
            "%s is a MUST marked N/A: the program's validator rejects it (only %s may be N/A)"
            % (req.id, ", ".join(checklists.MUST_NOT_APPLICABLE_ACCEPTED)),
            "implement it so its status is Implemented (see report.md for the fix) and re-run"))
    elif req.level == "MUST" and status != "Implemented" and (status in checklists.STATUSES or status == ""):
        violations.append(Violation("status.must_not_implemented", path + ".status",
                                    "%s is a MUST and its status is %s, not Implemented" % (req.id, repr(status) if status else "blank"),
                                    "implement it (see report.md for the fix) and re-run, so the status becomes Implemented"))
    if status == "N/A" and not str(notes).strip():
        violations.append(Violation("status.na_without_notes", path + ".notes", "%s is N/A without a justification" % req.id,
                                    "say in notes why the requirement's context does not apply to this platform"))
    if req.level == "MUST" and not evidence and status != "N/A":
        violations.append(Violation("evidence.missing_for_must", path + ".evidence", "%s is a MUST without evidence" % req.id,
                                    "link public documentation or test results, or the evidence/<id>.md transcript"))
    if not isinstance(evidence, list):
        violations.append(Violation("evidence.bad_reference", path + ".evidence", "evidence of %s is not a list" % req.id,
                                    "write evidence as a list of URLs or relative file paths"))
    return violations


# ---------------------------------------------------------------------------- evidence references


def evidence_file(entry: str, version: str, product_dir_name: str = "") -> Tuple[Optional[str], str]:
    """(relative path to check, problem): the file an evidence entry names, or why it is unusable.

    URLs give (None, ""). ``file://<name>[#TestName]`` is accepted from 1.37 on, with a leading
    ``v<ver>/<product>/`` prefix stripped; absolute paths and ``..`` escapes never are.
    """
    if re.match(r"^https?://", entry):
        return None, ""
    if entry.startswith("file://"):
        if _version_tuple(version) < FILE_URLS_SINCE:
            return None, "file:// references are accepted from checklist 1.37 on; write the relative path"
        entry = entry[len("file://"):].split("#", 1)[0]
        prefix = "v%s/%s/" % (version, product_dir_name)
        if product_dir_name and entry.startswith(prefix):
            entry = entry[len(prefix):]
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", entry):
        return None, "only http(s) URLs and relative file paths are accepted"
    if entry.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", entry):
        return None, "absolute paths are not accepted; write a path relative to PRODUCT.yaml"
    normalized = posixpath.normpath(entry.replace("\\", "/"))
    if normalized == ".." or normalized.startswith("../"):
        return None, "the path escapes the product directory"
    return normalized, ""


def _entries(spec: Any, checklist: checklists.Checklist) -> Iterable[Tuple[str, str, Any]]:
    """(requirement id, path, entry) of every evidence entry of the published items."""
    published = set(checklist.ids)
    for section, items in (spec.items() if isinstance(spec, dict) else []):
        for position, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or item.get("id") not in published:
                continue
            evidence = item.get("evidence") or []
            for number, entry in enumerate(evidence if isinstance(evidence, list) else []):
                yield item["id"], "%s.evidence[%d]" % (_item_path(section, position), number), entry


def check_evidence(spec: Any, checklist: checklists.Checklist, base_dir: Optional[str] = None,
                   planned_files: Iterable[str] = ()) -> List[Violation]:
    """Each evidence entry is an http(s) URL or a relative file that exists under base_dir
    (or is about to be written: ``planned_files``); canonical test artifacts get a warning."""
    planned = {posixpath.normpath(p) for p in planned_files}
    product_dir_name = os.path.basename(os.path.normpath(base_dir)) if base_dir else ""
    violations: List[Violation] = []
    for req_id, path, entry in _entries(spec, checklist):
        if not isinstance(entry, str):
            violations.append(Violation("evidence.bad_reference", path, "evidence entry %r of %s is not a string" % (entry, req_id),
                                        "write each evidence entry as a URL or relative path"))
            continue
        if entry == "":
            continue
        relative, problem = evidence_file(entry, checklist.version, product_dir_name)
        if problem:
            violations.append(Violation("evidence.bad_reference", path, "%s: %s" % (entry, problem),
                                        "use an http(s) URL or a path relative to the checklist file, inside its directory"))
            continue
        if relative is None:
            continue
        if posixpath.basename(relative).lower() in CANONICAL_ARTIFACTS:
            violations.append(Violation(
                "artifact.canonical_name", path,
                "%s is named like the official suite's artifacts; from 1.37 on the program's validator parses it and "
                "fails the submission on any failing test in it" % entry,
                "reference it only if it is the upstream suite's output with every test passing; this collection's "
                "own report is ai-conformance-checks.junit.xml", WARNING))
        if base_dir and relative not in planned and not os.path.isfile(os.path.join(base_dir, relative)):
            violations.append(Violation("evidence.file_missing", path,
                                        "%s of %s does not exist under %s" % (entry, req_id, base_dir),
                                        "put the file beside the checklist (PRODUCT.yaml) or fix the path"))
    return violations


# ---------------------------------------------------------------------------- reachability


def url_problem(url: str, timeout: float = URL_TIMEOUT) -> str:
    """Why ``url`` does not answer below 400 to HEAD, then GET (as the validator tries); '' if it does."""
    problem = ""
    headers = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language": "en-US,en;q=0.5"}
    for method in ("HEAD", "GET"):
        try:
            with open_url(url, method=method, headers=headers, http_agent=USER_AGENT, timeout=timeout,
                          follow_redirects="all") as response:
                if response.status < 400:
                    return ""
                problem = "status code %d" % response.status
        except HTTPError as exc:
            problem = "status code %d" % exc.code
        except (URLError, UrlConnectionError, OSError, ValueError) as exc:
            problem = str(getattr(exc, "reason", exc))
    return problem


def _urls(doc: Dict[str, Any], checklist: checklists.Checklist) -> List[Tuple[str, str, str]]:
    """(rule, path, url) of every http(s) value the validator fetches."""
    found = []
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    for field_name in metadata_fields(checklist):
        present, value = _metadata_value(metadata, field_name)
        if present and isinstance(value, str) and value.startswith("http"):
            if field_name != K8S_CONFORMANCE_URL or K8S_CONFORMANCE_URL_PATTERN.match(value):
                found.append(("metadata.unreachable", "metadata.%s" % field_name, value))
    for dummy, path, entry in _entries(doc.get("spec"), checklist):
        if isinstance(entry, str) and re.match(r"^https?://", entry):
            found.append(("evidence.unreachable", path, entry))
    return found


def check_reachability(doc: Dict[str, Any], checklist: checklists.Checklist, timeout: float = URL_TIMEOUT) -> List[Violation]:
    """Every URL answers below 400 (each distinct URL fetched once, a few at a time)."""
    targets = _urls(doc, checklist)
    distinct = sorted({target[2] for target in targets})
    with ThreadPoolExecutor(max_workers=8) as pool:
        problems = dict(zip(distinct, pool.map(lambda u: url_problem(u, timeout), distinct)))
    return [
        Violation(rule, path, "%s is not reachable (%s)" % (url, problems[url]),
                  "make the page public, or allowlist the User-Agent %r" % USER_AGENT)
        for rule, path, url in targets if problems[url]
    ]


# ---------------------------------------------------------------------------- entry point


def _load(text_or_doc: Any) -> Tuple[Optional[Dict[str, Any]], List[Violation]]:
    if isinstance(text_or_doc, dict):
        return text_or_doc, []
    try:
        doc = yaml.safe_load(text_or_doc)
    except yaml.YAMLError as exc:
        return None, [Violation("document.invalid", "", "not valid YAML: %s" % exc, "fix the YAML syntax")]
    if not isinstance(doc, dict):
        return None, [Violation("document.invalid", "", "the document is not a mapping with metadata and spec",
                                "start from the published checklist template")]
    return doc, []


def validate(text_or_doc: Any, version: str, base_dir: Optional[str] = None, check_urls: bool = False,
             planned_files: Iterable[str] = ()) -> List[Violation]:
    """Every submission-rule violation of a filled-in checklist for ``version``.

    ``base_dir`` is the directory of the checklist file (relative evidence resolves there; without it
    file existence is not checked); ``planned_files`` are relative paths about to be written there.
    """
    checklist = checklists.load(version)
    doc, violations = _load(text_or_doc)
    if doc is None:
        return violations
    violations += check_metadata(doc.get("metadata"), checklist)
    violations += check_spec(doc.get("spec"), checklist)
    violations += check_evidence(doc.get("spec"), checklist, base_dir, planned_files)
    if check_urls:
        violations += check_reachability(doc, checklist)
    return violations
