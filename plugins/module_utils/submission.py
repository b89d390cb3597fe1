# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The program's submission rules, offline: what cncf/k8s-ai-conformance ``scripts/validate.go``
checks on a ``vX.Y/<product>/PRODUCT.yaml``, plus the written rules it leaves to reviewers.

``validate()`` returns one Violation per broken rule, each with a stable ``rule`` id, where it is,
what is wrong and how to fix it. What differs between checklist versions is read from the program
table (``checklists/program.py``) and nowhere else. From 1.37 on, evidence that names the official
suite's artifacts (junit.xml, results.json, e2e.log) is parsed as the validator parses it: a failing
test in one is an error, and the entry's ``#TestName`` (else the requirement's test) must be present
and pass. URL reachability is checked only with ``check_urls=True``; the landscape membership of
vendorName cannot be checked offline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import posixpath
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.error import HTTPError, URLError
from xml.etree import ElementTree

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists import program
from ansible_collections.k8s_ai.conformance.plugins.module_utils.checklists.program import (
    ARTIFACT_FORMATS, CANONICAL_ARTIFACTS, K8S_CONFORMANCE_URL, K8S_CONFORMANCE_URL_PATTERN, LOGO_FORMATS, metadata_fields,
)

ERROR = "error"
WARNING = "warning"

# The validator's own User-Agent, so sites that allowlist it answer us the same way.
USER_AGENT = "CNCF-K8s-AI-Conformance-Validator/1.0 (+https://github.com/cncf/k8s-ai-conformance)"
URL_TIMEOUT = 10.0
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PRODUCT_DIR_PREFIX = re.compile(r"^v\d+\.\d+/[^/]+/")


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
    row = program.rules(version)
    if field_name in row.metadata_optional:
        return None
    if field_name == K8S_CONFORMANCE_URL and not row.k8s_conformance_url_required:
        return Violation("metadata.required", path, "k8sConformanceUrl is missing; the program's validator asks "
                         "every submission for it, though the %s checklist predates it" % version,
                         "set k8sConformanceUrl to the product's cncf/k8s-conformance folder", WARNING)
    return Violation("metadata.required", path, "%s is missing or empty" % field_name,
                     "set %s (or %s) in the metadata" % (field_name, _snake(field_name)))


def _field_violations(field_name: str, value: str, version: str) -> List[Violation]:
    path = "metadata.%s" % field_name
    row = program.rules(version)
    if _is_placeholder(value):
        fix = "replace the template placeholder with the real value"
        if field_name in row.metadata_optional:
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
    if field_name in row.metadata_urls and not re.match(r"^https?://[^/\s]+", value):
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
            violations += check_item(req, section, position, item, checklist.version)
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


def check_item(req: checklists.Requirement, section: str, position: int, item: Dict[str, Any], version: str) -> List[Violation]:
    """Status and evidence rules for one item (the published level decides MUST/SHOULD)."""
    accepted = program.must_na_accepted(version)
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
    if req.level == "MUST" and status == "N/A" and req.id in accepted:
        violations.append(Violation(
            "status.must_not_applicable", path + ".status",
            "%s is a MUST marked N/A: the program's validator accepts it with a warning" % req.id,
            "keep N/A only where the requirement's context does not apply, justified in notes", WARNING))
    elif req.level == "MUST" and status == "N/A":
        violations.append(Violation(
            "status.must_not_applicable", path + ".status",
            "%s is a MUST marked N/A: the program's validator rejects it (only %s may be N/A)"
            % (req.id, ", ".join(accepted)),
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


def evidence_reference(entry: str, version: str, product_dir_name: str = "") -> Tuple[Optional[str], str, str]:
    """(relative path to check, #fragment, problem) of an evidence entry; URLs give (None, "", "").

    Relative paths must stay inside the product directory (no absolute paths, no ``..`` escape).
    Where the program table allows file:// (1.37 on), ``file://<path>[#TestName]`` and ``<path>#TestName``
    are accepted as the validator reads them: one leading ``/`` dropped, the product's own
    ``v<ver>/<product>/`` prefix stripped, another product's refused.
    """
    if re.match(r"^https?://", entry):
        return None, "", ""
    row = program.rules(version)
    if entry.startswith("file://") and not row.file_urls:
        return None, "", "file:// references are accepted from checklist %s on; write the relative path" % program.first_version("file_urls")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", entry) and not entry.startswith("file://"):
        return None, "", "only http(s) URLs and relative file paths are accepted"
    fragment = ""
    if row.file_urls:
        entry, dummy, fragment = entry.strip().partition("#")
        if entry.startswith("file://"):
            entry = entry[len("file://"):]
            entry = entry[1:] if entry.startswith("/") else entry
        if not entry.strip():
            return None, fragment, "the reference names no file"
        own = "v%s/%s/" % (version, product_dir_name)
        if product_dir_name and entry.startswith(own):
            entry = entry[len(own):]
        elif product_dir_name and PRODUCT_DIR_PREFIX.match(entry):
            return None, fragment, "it names another product's directory; evidence must live in this product's directory"
    if entry.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", entry):
        return None, fragment, "absolute paths are not accepted; write a path relative to PRODUCT.yaml"
    normalized = posixpath.normpath(entry.replace("\\", "/"))
    if normalized == ".." or normalized.startswith("../"):
        return None, fragment, "the path escapes the product directory"
    return normalized, fragment, ""


def evidence_file(entry: str, version: str, product_dir_name: str = "") -> Tuple[Optional[str], str]:
    """(relative path to check, problem): ``evidence_reference`` without the fragment."""
    relative, dummy, problem = evidence_reference(entry, version, product_dir_name)
    return relative, problem


def _entries(spec: Any, checklist: checklists.Checklist) -> Iterable[Tuple[str, str, str, Any]]:
    """(requirement id, its status, path, entry) of every evidence entry of the published items."""
    published = set(checklist.ids)
    for section, items in (spec.items() if isinstance(spec, dict) else []):
        for position, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or item.get("id") not in published:
                continue
            evidence = item.get("evidence") or []
            for number, entry in enumerate(evidence if isinstance(evidence, list) else []):
                yield item["id"], item.get("status") or "", "%s.evidence[%d]" % (_item_path(section, position), number), entry


def check_evidence(spec: Any, checklist: checklists.Checklist, base_dir: Optional[str] = None,
                   planned_files: Iterable[str] = ()) -> List[Violation]:
    """Each evidence entry is an http(s) URL or a relative file that exists under base_dir (or is about
    to be written: ``planned_files``). A file named like the official suite's artifacts is parsed where
    the program table says the validator does (see ``check_artifact``), and gets a warning elsewhere."""
    planned = {posixpath.normpath(p) for p in planned_files}
    product_dir_name = os.path.basename(os.path.normpath(base_dir)) if base_dir else ""
    parsed = program.rules(checklist.version).parsed_artifacts
    reports: Dict[str, Optional[TestReport]] = {}
    violations: List[Violation] = []
    for req_id, status, path, entry in _entries(spec, checklist):
        if not isinstance(entry, str):
            violations.append(Violation("evidence.bad_reference", path, "evidence entry %r of %s is not a string" % (entry, req_id),
                                        "write each evidence entry as a URL or relative path"))
            continue
        if entry == "":
            continue
        relative, fragment, problem = evidence_reference(entry, checklist.version, product_dir_name)
        if problem:
            violations.append(Violation("evidence.bad_reference", path, "%s: %s" % (entry, problem),
                                        "use an http(s) URL or a path relative to the checklist file, inside its directory"))
            continue
        if relative is None:
            continue
        on_disk = bool(base_dir) and os.path.isfile(os.path.join(base_dir, relative))
        if base_dir and relative not in planned and not on_disk:
            violations.append(Violation("evidence.file_missing", path,
                                        "%s of %s does not exist under %s" % (entry, req_id, base_dir),
                                        "put the file beside the checklist (PRODUCT.yaml) or fix the path"))
            continue
        name = posixpath.basename(relative).lower()
        if name in parsed and on_disk:
            violations += check_artifact(os.path.join(base_dir, relative), entry.split("#", 1)[0], fragment, req_id, status,
                                         checklist.version, path, reports)
        elif name in CANONICAL_ARTIFACTS:
            violations.append(Violation(
                "artifact.canonical_name", path,
                "%s is named like the official suite's artifacts; the program's validator parses files so named and "
                "fails the submission on any failing test in them%s" % (
                    entry, " (not parsed here: no directory to read it from)" if name in parsed else ""),
                "reference it only if it is the upstream suite's output with every test passing; this collection's "
                "own report is ai-conformance-checks.junit.xml", WARNING))
    return violations


# ---------------------------------------------------------------------------- the official suite's artifacts


PASSED, FAILED, SKIPPED, NOT_FOUND = "passed", "failed", "skipped", "not found"
GO_TEST_V_RESULT = re.compile(r"^[\t\n\f\r ]*--- (PASS|FAIL|SKIP): (\S+)")
GO_TEST_ACTIONS = {"pass": PASSED, "fail": FAILED, "skip": SKIPPED}
FAILURES_SHOWN = 10  # failing tests named in a message; the rest are counted


class ArtifactError(ValueError):
    """A canonical artifact that cannot be read in its format."""


@dataclass
class TestReport:
    """The tests one artifact records: name -> passed/failed/skipped, and what failed (tests, or packages)."""

    tests: Dict[str, str] = field(default_factory=dict)
    failures: List[str] = field(default_factory=list)

    def record(self, name: str, outcome: str) -> None:
        """A later outcome replaces an earlier one, except that a failure is never undone."""
        if self.tests.get(name) == FAILED:
            return
        self.tests[name] = outcome
        if outcome == FAILED:
            self.failures.append(name)

    def outcome(self, name: str) -> str:
        """The test's outcome; without an entry of its own, its subtests' (any failed: failed; all skipped: skipped)."""
        if name in self.tests:
            return self.tests[name]
        subtests = [o for n, o in self.tests.items() if n.startswith(name + "/")]
        if not subtests:
            return NOT_FOUND
        if FAILED in subtests:
            return FAILED
        return SKIPPED if all(o == SKIPPED for o in subtests) else PASSED


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_junit(data: bytes) -> TestReport:
    """JUnit XML as gotestsum and go-junit-report write it (<testsuites> or a bare <testsuite> root)."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ArtifactError("parsing JUnit XML: %s" % exc)
    report = TestReport()

    def walk(node: Any) -> None:
        for child in node:
            if _local(child.tag) == "testcase":
                kinds = {_local(c.tag) for c in child}
                report.record(child.get("name", ""), FAILED if kinds & {"failure", "error"} else SKIPPED if "skipped" in kinds else PASSED)
            elif _local(child.tag) == "testsuite":
                walk(child)
    walk(root)
    if not report.tests:
        raise ArtifactError("parsing JUnit XML: no <testcase> elements found")
    return report


def parse_go_test_json(data: bytes) -> TestReport:
    """``go test -json`` events, one JSON object a line (the official suite's results.json)."""
    report = TestReport()
    package_failures: List[str] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise ArtifactError("parsing go test JSON at line %d: %s" % (number, exc))
        if not isinstance(event, dict):
            raise ArtifactError("parsing go test JSON at line %d: not an event object" % number)
        outcome = GO_TEST_ACTIONS.get(event.get("Action"))
        if outcome is None:
            continue
        if not event.get("Test"):
            if outcome == FAILED:
                package_failures.append("package %s" % event.get("Package", ""))
            continue
        report.record(str(event["Test"]), outcome)
    if not report.failures:  # a package that failed with no failing test: a build failure or a panic
        report.failures.extend(package_failures)
    if not report.tests and not report.failures:
        raise ArtifactError("parsing go test JSON: no test events found")
    return report


def parse_go_test_v(data: bytes) -> TestReport:
    """``go test -v`` output (e2e.log): its ``--- PASS/FAIL/SKIP: <name>`` lines, subtests indented."""
    report = TestReport()
    for line in data.decode("utf-8", "replace").splitlines():
        match = GO_TEST_V_RESULT.match(line)
        if match:
            report.record(match.group(2), {"PASS": PASSED, "FAIL": FAILED, "SKIP": SKIPPED}[match.group(1)])
    if not report.tests:
        raise ArtifactError("parsing e2e log: no '--- PASS/FAIL/SKIP:' result lines found")
    return report


PARSERS = {"junit": parse_junit, "go-test-json": parse_go_test_json, "go-test-v": parse_go_test_v}


def read_artifact(path: str) -> TestReport:
    """The tests a canonical artifact records, parsed by its file name; ArtifactError when unreadable."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ArtifactError("reading %s: %s" % (path, exc.strerror or exc))
    return PARSERS[ARTIFACT_FORMATS[os.path.basename(path).lower()]](data)


def check_artifact(full_path: str, shown: str, fragment: str, req_id: str, status: str, version: str, path: str,
                   reports: Dict[str, Optional[TestReport]]) -> List[Violation]:
    """One evidence entry naming a canonical artifact: the file parses, holds no failing test (said once per
    file), and the entry's #TestName, else the requirement's test in the program table, is present and passed
    (skipped is an error only when the item is Implemented). ``reports`` keeps each file's parse."""
    out: List[Violation] = []
    key = os.path.normpath(full_path)
    if key not in reports:
        try:
            reports[key] = read_artifact(full_path)
        except ArtifactError as exc:
            reports[key] = None
            return [Violation("artifact.unparsable", path, "%s (evidence of %s) cannot be read as the official suite's %s: %s"
                              % (shown, req_id, os.path.basename(key), exc),
                              "reference the suite's own output (go test -json > results.json, go test -v | tee e2e.log, "
                              "gotestsum --junitfile junit.xml), or rename a file of yours so it is not parsed")]
        if reports[key].failures:
            failing = sorted(set(reports[key].failures))
            listed = ", ".join(failing[:FAILURES_SHOWN]) + (" and %d more" % (len(failing) - FAILURES_SHOWN) if len(failing) > FAILURES_SHOWN else "")
            out.append(Violation("artifact.failing_tests", path, "test artifact %s contains failing tests: %s" % (shown, listed),
                                 "fix what failed and re-run the official suite: the program's validator fails a submission "
                                 "on any failing test in a file named %s" % os.path.basename(key)))
    report = reports[key]
    test = fragment or program.rules(version).requirement_tests.get(req_id, "")
    if report is None or not test:
        return out
    outcome = report.outcome(test)
    if outcome == NOT_FOUND:
        out.append(Violation("artifact.test_missing", path, "test %s referenced by %s was not found in %s" % (test, req_id, shown),
                             "name a test the file holds after '#', or run the official suite with %s" % test))
    elif outcome == FAILED:
        out.append(Violation("artifact.test_failed", path, "test %s referenced by %s failed in %s" % (test, req_id, shown),
                             "fix what %s reports and re-run the official suite" % test))
    elif outcome == SKIPPED and status == "Implemented":
        out.append(Violation("artifact.test_skipped", path, "%s is Implemented but test %s was skipped in %s" % (req_id, test, shown),
                             "run %s with the flags it needs so it runs and passes, or, where the requirement does not "
                             "apply, set N/A with the justification in notes" % test))
    return out


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
    for dummy, dummy_status, path, entry in _entries(doc.get("spec"), checklist):
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
