# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for k8s_ai.conformance.checklist: write the artifacts on the controller and validate them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.action import ActionBase

from ansible_collections.k8s_ai.conformance.plugins.module_utils import artifact_set, artifacts, checklists, submission
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import Result

ARGUMENT_SPEC = dict(
    results=dict(type="list", elements="dict"),
    checklist_version=dict(type="str"),
    output_dir=dict(type="path", required=True),
    preflight=dict(type="bool", default=False),
    metadata=dict(type="dict", default={}),
    evidence_urls=dict(type="dict", default={}),
    notes=dict(type="dict", default={}),
    cluster=dict(type="dict", default={}),
    submission_dir=dict(type="path"),
    product_dir=dict(type="str"),
    validate=dict(type="bool", default=True),
    check_urls=dict(type="bool", default=False),
    fail_on_violations=dict(type="bool", default=False),
    remediation=dict(type="dict", default={}),
)

RESULTS_HINT = "pass the `results` list that k8s_ai.conformance.verify returned (for example `results: \"{{ verify_out.results }}\"`)"


def parse_results(items):
    """Result objects from verify's result dicts; a clear error naming the bad item."""
    parsed = []
    for position, item in enumerate(items):
        try:
            parsed.append(Result.from_dict(item))
        except (KeyError, TypeError, ValueError) as exc:
            raise AnsibleActionFail("results[%d] is not a verify result (%s): %s" % (position, to_native(exc), RESULTS_HINT))
    return parsed


def absolute(path):
    """``path`` with ~ expanded, relative to the current working directory."""
    return os.path.abspath(os.path.expanduser(path)) if path else path


class ActionModule(ActionBase):
    """Render the filled-in checklist, reports and evidence; validate; write what changed."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        if self._task.args.get("preflight"):
            dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
            try:
                artifacts.preflight(absolute(args["output_dir"]), absolute(args["submission_dir"]))
            except (artifact_set.ArtifactSetError, OSError) as exc:
                raise AnsibleActionFail(to_text(exc))
            result.update(changed=False, msg="%s can take the artifacts" % absolute(args["output_dir"]))
            return result
        if not isinstance(self._task.args.get("results"), list):
            raise AnsibleActionFail("results must be a list, got %s: %s" % (type(self._task.args.get("results")).__name__, RESULTS_HINT))
        if not self._task.args.get("checklist_version"):
            raise AnsibleActionFail("checklist_version is required: pass the checklist_version that k8s_ai.conformance.verify returned")
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            outcome = self._write(args)
        except (checklists.ChecklistError, artifacts.ReportError, artifact_set.ArtifactSetError, OSError) as exc:
            raise AnsibleActionFail(to_text(exc))
        result.update(outcome)
        errors = [v for v in outcome["violations"] if v["severity"] == submission.ERROR]
        if args["fail_on_violations"] and errors:
            result["failed"] = True
            result["msg"] = "%d submission-rule violation(s): %s" % (
                len(errors), "; ".join("%s (%s)" % (v["message"], v["rule"]) for v in errors))
        return result

    def _write(self, args):
        checklist = checklists.load(args["checklist_version"])
        bundle = artifacts.Bundle.build(
            absolute(args["output_dir"]), checklist, parse_results(args["results"]), args["metadata"], args["evidence_urls"],
            args["notes"], args["cluster"], absolute(args["submission_dir"]), args["product_dir"])
        bundle.remediation = dict(args["remediation"])
        if args["validate"]:
            bundle.violations = submission.validate(
                bundle.checklist_text, checklist.version, base_dir=bundle.paths["checklist_dir"], check_urls=args["check_urls"],
                planned_files=artifacts.planned_evidence_files(checklist, bundle.ordered))
        written = artifacts.write_bundle(bundle, check_mode=self._task.check_mode)
        return dict(
            changed=written["changed"],
            paths=written["paths"],
            written=written["written"],
            violations=[v.to_dict() for v in bundle.violations],
            violation_count=len(bundle.violations),
            summary=bundle.summary,
        )
