#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: checklist
short_description: Write the filled-in AI conformance checklist, reports and evidence, and check the submission rules
version_added: 0.1.0
author:
  - k8s_ai.conformance maintainers (@k8s-ai)
description:
  - Turns the results of M(k8s_ai.conformance.verify) into files in O(output_dir) on the controller -
    C(AIConformance-<version>.yaml) (the program's checklist with C(status), C(evidence) and C(notes)
    filled in; C(id), C(description) and C(level) exactly as published), C(report.md) (the verdict and
    one table with the reason and the fix per requirement), C(ai-conformance-results.json) (everything,
    machine-readable), C(ai-conformance-checks.junit.xml) (one test case per requirement) and
    C(evidence/<id>.md) (per requirement, the kubectl-equivalent commands and what they showed).
  - The JUnit file is deliberately not named C(junit.xml), and nothing is named C(results.json) or
    C(e2e.log) - those are the official suite's artifacts, which the program's validator parses when
    evidence cites them and fails a submission on any failing test in them.
  - With O(submission_dir), also lays out C(<submission_dir>/v<version>/<product>/PRODUCT.yaml) with the
    evidence files beside it, as a pull request to cncf/k8s-ai-conformance expects.
  - Checks the checklist against the program's submission rules (the checks of its C(scripts/validate.go)
    plus the written rules) and returns every violation with its fix; C(report.md) lists them too.
  - From checklist 1.37 on, evidence citing the official suite's C(junit.xml), C(results.json) (C(go test -json))
    or C(e2e.log) (C(go test -v)) in the submission's product directory is parsed as the validator parses
    it - any failing test is an error, and the entry's C(#TestName), else the requirement's own test
    (C(TestSecureAcceleratorAccess), C(TestGangScheduling), C(TestAcceleratorClusterAutoscaling)), must be
    present and pass; a skipped one is an error only when the item is C(Implemented).
  - Each directory's files are written as one set - rendered into a fresh temporary directory and
    swapped into place - so an interruption at any instant (Ctrl-C, a full disk) leaves either the
    complete previous set or the complete new one. Files an earlier run wrote that this run does not
    produce (the evidence of a requirement no longer run) are removed. When nothing but times and
    durations would change, nothing is written and the task reports C(changed=false).
  - O(output_dir) must be empty, new or hold only this collection's artifacts (it refuses to replace a
    directory with other files in it). In the submission's product directory, files this collection
    did not write (a README, the official suite's results) are kept.
  - Every artifact names the cluster it describes - the API server URL, the kubeconfig context and
    path(s), the server version and the kube-system namespace UID (never credentials) - from O(cluster),
    and the time it was written.
  - Anything in the output that looks like a bearer token, JWT, private key or a C(token:),
    C(password:) or C(client-key-data:) value is redacted.
options:
  results:
    description:
      - The C(results) list that M(k8s_ai.conformance.verify) returned. Required unless O(preflight).
    type: list
    elements: dict
  checklist_version:
    description:
      - The checklist version the results were verified against - the C(checklist_version) that
        M(k8s_ai.conformance.verify) returned. Required unless O(preflight).
    type: str
  output_dir:
    description:
      - Directory to write the artifacts to; created if missing. A relative path is relative to the
        current working directory of C(ansible-playbook).
    type: path
    required: true
  preflight:
    description:
      - Only check that O(output_dir) (and O(submission_dir)) can take the artifacts - not a file, writable,
        not full, holding no foreign files - and write nothing. The verify playbook does this before it
        verifies the cluster, so a bad directory fails in a second, not after the run.
      - O(results) and O(checklist_version) are not needed then.
    type: bool
    default: false
  metadata:
    description:
      - The product's metadata for the checklist - C(platformName), C(platformVersion), C(vendorName)
        (exactly as the CNCF landscape lists the member), C(websiteUrl), C(repoUrl) (optional; required
        if open source; set it to an empty string otherwise), C(documentationUrl), C(productLogoUrl)
        (SVG, AI or EPS), C(description), C(contactEmailAddress) and C(k8sConformanceUrl)
        (C(https://github.com/cncf/k8s-conformance/tree/master/vX.Y/<product>)).
      - snake_case keys such as C(website_url) are accepted. Fields not given keep the template's
        C([placeholder]), which the submission rules flag. C(kubernetesVersion) defaults to C(v<version>).
      - The 1.36 and 1.37 templates have no C(k8sConformanceUrl) although the program's validator requires
        it; it is written after C(contactEmailAddress) for 1.35 and later (for 1.33 and 1.34 only when given;
        missing, it is a warning there).
    type: dict
    default: {}
  evidence_urls:
    description:
      - Extra evidence per requirement id - public URLs (or paths relative to the checklist file) listed
        after the C(evidence/<id>.md) transcript.
      - From 1.37 on also C(file://<path>[#TestName]), such as C(file://junit.xml#TestGangScheduling) for the
        official suite's results put in the submission's product directory (files there are kept).
    type: dict
    default: {}
  notes:
    description:
      - Notes per requirement id that replace the check's own notes in the checklist.
    type: dict
    default: {}
  cluster:
    description:
      - Facts about the cluster to show in the reports, such as the C(cluster) result of
        M(k8s_ai.conformance.verify).
    type: dict
    default: {}
  submission_dir:
    description:
      - A checkout of (or folder for) cncf/k8s-ai-conformance; the submission goes to
        C(v<version>/<product_dir>/) below it.
    type: path
  product_dir:
    description:
      - The submission's directory name below C(v<version>/). Defaults to the slug of the C(platformName)
        metadata; an error if that is still the placeholder.
    type: str
  validate:
    description:
      - Check the checklist against the program's submission rules.
    type: bool
    default: true
  check_urls:
    description:
      - Also check that every URL in the metadata and evidence answers (HEAD, then GET, with the
        program's validator's User-Agent). Off by default so air-gapped runs stay offline.
    type: bool
    default: false
  fail_on_violations:
    description:
      - Fail the task when a submission rule is broken (severity V(error); warnings never fail).
    type: bool
    default: false
  remediation:
    description:
      - What a C(conform) run did, for the reports' before/after table - C(before) (the C(results) of the
        verification before any install), C(steps) and C(skipped) (from M(k8s_ai.conformance.install_plan)) and
        C(install) (the install mode). Empty for a verify run.
    type: dict
    default: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Renders and validates everything, writes nothing, and reports C(changed) if it would write.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - "PyYAML >= 3.11 (on the controller)"
notes:
  - Runs on the controller; the host it is called for only decides the task's variables.
  - Landscape membership of C(vendorName) is not checked (it needs the network); the program's validator does.
  - A status left blank (the check's outcome was unknown, error or skipped) gets no evidence in the
    checklist, because the program's validator rejects a SHOULD item with evidence but no status.
seealso:
  - module: k8s_ai.conformance.verify
  - name: Submission instructions
    description: What a submission to the CNCF Kubernetes AI Conformance program contains.
    link: https://github.com/cncf/k8s-ai-conformance/blob/main/instructions.md
"""

EXAMPLES = r"""
- name: Verify the cluster
  k8s_ai.conformance.verify:
  register: conformance

- name: Write the checklist, reports and evidence
  k8s_ai.conformance.checklist:
    results: "{{ conformance.results }}"
    checklist_version: "{{ conformance.checklist_version }}"
    cluster: "{{ conformance.cluster }}"
    output_dir: ai-conformance-report

- name: Prepare a CNCF submission and fail on any broken submission rule
  k8s_ai.conformance.checklist:
    results: "{{ conformance.results }}"
    checklist_version: "{{ conformance.checklist_version }}"
    output_dir: ai-conformance-report
    submission_dir: ~/src/k8s-ai-conformance
    product_dir: turbo-encabulator
    metadata:
      platform_name: Turbo Encabulator
      platform_version: v1.7.4
      vendor_name: Yoyodyne
      website_url: https://yoyo.dyne/turbo-encabulator
      repo_url: https://github.com/yoyodyne/turbo-encabulator
      documentation_url: https://yoyo.dyne/turbo-encabulator/docs
      product_logo_url: https://yoyo.dyne/assets/turbo-encabulator.svg
      description: The Yoyodyne Turbo Encabulator is a Kubernetes distribution for all your encabulating needs.
      contact_email_address: yoyodyne@turbo-encabulator.org
      k8s_conformance_url: https://github.com/cncf/k8s-conformance/tree/master/v1.35/turbo-encabulator
    evidence_urls:
      ai_inference:
        - https://yoyo.dyne/turbo-encabulator/docs/gateway-api
    notes:
      cluster_autoscaling: Bare-metal product without node provisioning; no autoscaler applies.
    check_urls: true
    fail_on_violations: true
"""

RETURN = r"""
changed:
  description: Whether a file was (or, in check mode, would be) written.
  returned: always
  type: bool
paths:
  description: Where each artifact is.
  returned: success
  type: dict
  contains:
    directory:
      description: The output directory.
      type: str
    checklist:
      description: The filled-in C(AIConformance-<version>.yaml).
      type: str
    json:
      description: C(ai-conformance-results.json).
      type: str
    report:
      description: C(report.md).
      type: str
    junit:
      description: C(ai-conformance-checks.junit.xml).
      type: str
    evidence:
      description: Transcript path per requirement id.
      type: dict
    checklist_dir:
      description: The directory the checklist's relative evidence resolves against (the submission's product directory when there is one).
      type: str
    submission:
      description: The submission's C(directory), C(product) (PRODUCT.yaml) and C(evidence) paths.
      type: dict
      returned: when O(submission_dir) is set
  sample:
    directory: /home/me/ai-conformance-report
    checklist: /home/me/ai-conformance-report/AIConformance-1.35.yaml
    report: /home/me/ai-conformance-report/report.md
written:
  description: The files written this time (in check mode, the files that would be).
  returned: success
  type: list
  elements: str
violations:
  description: The submission-rule violations of the checklist, empty when it passes.
  returned: success
  type: list
  elements: dict
  contains:
    rule:
      description:
        - A stable id such as V(metadata.placeholder), V(metadata.required), V(metadata.k8s_conformance_url),
          V(spec.missing_item), V(spec.changed_field), V(status.must_not_implemented),
          V(status.must_not_applicable), V(status.na_without_notes), V(evidence.file_missing),
          V(artifact.canonical_name), or for the official suite's artifacts (1.37 on) V(artifact.unparsable),
          V(artifact.failing_tests), V(artifact.test_missing), V(artifact.test_failed) and V(artifact.test_skipped).
      type: str
    path:
      description: Where in the checklist, such as V(spec.networking[0].status).
      type: str
    message:
      description: What is wrong.
      type: str
    fix:
      description: How to fix it.
      type: str
    severity:
      description: V(error) (the program's validator or reviewers reject it) or V(warning).
      type: str
  sample:
    - rule: metadata.placeholder
      path: metadata.vendorName
      message: vendorName still has the placeholder [Vendor Name]
      fix: replace the template placeholder with the real value
      severity: error
violation_count:
  description: How many violations (errors and warnings).
  returned: success
  type: int
summary:
  description:
    - Counts by outcome and the verdict over the MUST requirements, as M(k8s_ai.conformance.verify) returns it
      (C(verdict) is V(subset) and C(conformant) null when not every requirement of the checklist has a result).
  returned: success
  type: dict
  sample:
    total: 12
    counts: {pass: 10, fail: 0, not_applicable: 1, unknown: 0, error: 0, skipped: 1}
    must_total: 9
    must_not_met: []
    must_undecided: []
    verdict: conformant
    conformant: true
    passed: true
"""
