# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The program's rules per checklist version, in one table: ``PROGRAM[<version>]`` is a ``Rules`` row.

What the program asks of a submission beyond the published checklist text: the metadata its
validator (cncf/k8s-ai-conformance ``scripts/validate.go``) requires, the official suite's
artifacts it parses and the tests it looks for in them, how evidence may point at files, the
MUSTs it lets be N/A, and the DRA API versions each checklist expects. The submission rules
(``submission.py``) read only this table and the checklist; a new checklist version needs its
row here as well as its published text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Tuple

K8S_CONFORMANCE_URL = "k8sConformanceUrl"
# What a filled-in checklist says for k8sConformanceUrl until the vendor sets it, where the template has no line.
K8S_CONFORMANCE_URL_PLACEHOLDER = (
    "[URL to k8s-conformance submission, e.g., https://github.com/cncf/k8s-conformance/tree/master/v%s/product-name]"
)

# The validator's metadata fields (camelCase or snake_case), in the order a filled-in checklist writes them.
METADATA_REQUIRED = (
    "kubernetesVersion", "platformName", "platformVersion", "vendorName", "websiteUrl", "documentationUrl",
    "productLogoUrl", "description", "contactEmailAddress", K8S_CONFORMANCE_URL,
)
METADATA_OPTIONAL = ("repoUrl",)  # optional for the validator; the instructions want it for open-source products
METADATA_URLS = ("websiteUrl", "repoUrl", "documentationUrl", "productLogoUrl")  # must be http(s) URLs (instructions)
# k8sConformanceUrl must be the product's folder in cncf/k8s-conformance (any Kubernetes version's)
K8S_CONFORMANCE_URL_PATTERN = re.compile(r"^https://github\.com/cncf/k8s-conformance/tree/(master|main)/v\d+\.\d+/[^/]+/?$")
LOGO_FORMATS = (".svg", ".ai", ".eps")  # productLogoUrl: SVG, AI or EPS (instructions; not PNG)

# The official suite's artifacts, recognised by file name (any directory, any case). A file of ours
# must never be named like them: the validator would parse it as the suite's results.
CANONICAL_ARTIFACTS = frozenset(("junit.xml", "results.json", "e2e.log"))
# How the validator reads each: JUnit XML (gotestsum, go-junit-report), `go test -json` events, `go test -v` text.
ARTIFACT_FORMATS = {"junit.xml": "junit", "results.json": "go-test-json", "e2e.log": "go-test-v"}
# The official suite's test of each requirement it covers (kubernetes-sigs/ai-conformance test/).
REQUIREMENT_TESTS = {
    "secure_accelerator_access": "TestSecureAcceleratorAccess",
    "gang_scheduling": "TestGangScheduling",
    "cluster_autoscaling": "TestAcceleratorClusterAutoscaling",
}
# Conditional MUSTs ("if the platform provides ..."): N/A with notes passes the validator with a warning.
CONDITIONAL_MUSTS = ("cluster_autoscaling",)

DRA_BETA = ("v1beta2", "v1beta1")  # Kubernetes 1.33 served resource.k8s.io beta only
DRA_GA = ("v1",)  # GA from Kubernetes 1.34


@dataclass(frozen=True)
class Rules:
    """One checklist version's program rules (a row of ``PROGRAM``)."""

    version: str
    # metadata: every field of METADATA_REQUIRED must be set and not a "[...]" placeholder
    metadata_required: Tuple[str, ...]
    metadata_optional: Tuple[str, ...]
    metadata_urls: Tuple[str, ...]
    # k8sConformanceUrl: the validator asks it of every version; missing it is an error from 1.35 on
    # (required by the instructions then, even where the template lacks the line: 1.36, 1.37) and a
    # warning where the checklist predates it (1.33, 1.34)
    k8s_conformance_url_required: bool
    # evidence: http(s) URLs, or paths relative to PRODUCT.yaml that stay inside the product directory;
    # from 1.37 also file://<path>[#TestName], with a leading v<version>/<product>/ stripped
    file_urls: bool
    # the canonical artifacts an evidence entry may name that are parsed: any failing test is an error,
    # the #TestName (else the requirement's test) must be present and pass, skipped only if not Implemented.
    # From 1.37 (the hybrid rules); before, citing one is a warning (validate.go's code itself parses them
    # whatever the version, but no earlier checklist or instruction speaks of them)
    parsed_artifacts: FrozenSet[str]
    requirement_tests: Dict[str, str]
    # MUSTs whose N/A (with notes) the validator accepts with a warning; N/A on any other MUST is an error
    must_na_accepted: Tuple[str, ...]
    # the resource.k8s.io versions the checklist's DRA expectations are stated in, preferred first
    # (dra_support is SHOULD in 1.33, MUST in 1.34 and 1.35, gone from 1.36 on, where base Kubernetes
    # conformance tests resource.k8s.io/v1; checks that lean on DRA still use these versions)
    dra_api_versions: Tuple[str, ...]


def _row(version: str, k8s_conformance_url_required: bool, file_urls: bool, parsed_artifacts: FrozenSet[str],
         dra_api_versions: Tuple[str, ...]) -> Rules:
    return Rules(version=version, metadata_required=METADATA_REQUIRED, metadata_optional=METADATA_OPTIONAL,
                 metadata_urls=METADATA_URLS, k8s_conformance_url_required=k8s_conformance_url_required,
                 file_urls=file_urls, parsed_artifacts=parsed_artifacts, requirement_tests=dict(REQUIREMENT_TESTS),
                 must_na_accepted=CONDITIONAL_MUSTS, dra_api_versions=dra_api_versions)


NOT_PARSED: FrozenSet[str] = frozenset()

# version: k8sConformanceUrl required, file:// evidence, artifacts parsed, DRA API versions
PROGRAM = {
    "1.33": _row("1.33", False, False, NOT_PARSED, DRA_BETA),
    "1.34": _row("1.34", False, False, NOT_PARSED, DRA_GA),
    "1.35": _row("1.35", True, False, NOT_PARSED, DRA_GA),
    "1.36": _row("1.36", True, False, NOT_PARSED, DRA_GA),
    "1.37": _row("1.37", True, True, CANONICAL_ARTIFACTS, DRA_GA),
}


def rules(version: str) -> Rules:
    """The row of checklist ``version`` ("1.37"); a ValueError naming the known versions otherwise."""
    try:
        return PROGRAM[version]
    except KeyError:
        raise ValueError("the program table (checklists/program.py) has no row for checklist %s; it has %s"
                         % (version, ", ".join(PROGRAM)))


def first_version(attribute: str) -> str:
    """The oldest version whose row has ``attribute`` set ("1.37" for file_urls); "" when none has."""
    return next((v for v, row in PROGRAM.items() if getattr(row, attribute)), "")


def must_na_accepted(version: str) -> Tuple[str, ...]:
    return rules(version).must_na_accepted


def metadata_fields(checklist: Any) -> List[str]:
    """The metadata keys a filled-in checklist carries: the template's, in its order, plus the validator's
    fields the template lacks (k8sConformanceUrl after contactEmailAddress in 1.33, 1.34, 1.36, 1.37)."""
    row = rules(checklist.version)
    keys = list(checklist.metadata)
    at = keys.index("contactEmailAddress") + 1 if "contactEmailAddress" in keys else len(keys)
    for name in row.metadata_required + row.metadata_optional:
        if name not in keys:
            keys.insert(at, name)
            at += 1
    return keys


def writes_k8s_conformance_url(checklist: Any, given: bool) -> bool:
    """Whether a filled-in checklist carries the k8sConformanceUrl line: when the template has it, the
    user gave it, or the version requires it (then as a placeholder the submission rules flag)."""
    return K8S_CONFORMANCE_URL in checklist.metadata or given or rules(checklist.version).k8s_conformance_url_required
