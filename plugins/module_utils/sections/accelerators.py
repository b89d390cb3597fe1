# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist section `accelerators`: DRA, driver/runtime management, GPU sharing, vGPU."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import requirement
from ansible_collections.k8s_ai.conformance.plugins.module_utils.objects import api_resources_table
from ansible_collections.k8s_ai.conformance.plugins.module_utils.result import FAIL, PASS, Finding

DRA_GROUP = "resource.k8s.io"
DRA_RESOURCES = ("deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices")
# The DRA API version each checklist asks for: GA resource.k8s.io/v1 from Kubernetes 1.34;
# 1.33 (dra_support was a SHOULD) served the beta versions.
DRA_VERSIONS = {"1.33": ("v1beta2", "v1beta1")}
DRA_GA = ("v1",)


@requirement("dra_support")
def dra_support(ctx):
    """All four resource.k8s.io resources served at the version the checklist needs."""
    discovery = ctx.kube.discovery()
    wanted = DRA_VERSIONS.get(ctx.checklist.version, DRA_GA)
    served_versions = discovery.versions(DRA_GROUP)
    ctx.record("kubectl api-resources --api-group=%s" % DRA_GROUP,
               api_resources_table(discovery, DRA_GROUP, served_versions), api="GET /apis (aggregated discovery)")
    for version in wanted:
        missing = [r for r in DRA_RESOURCES if not discovery.served(DRA_GROUP, version, r)]
        if not missing:
            return Finding(PASS, "%s/%s serves %s." % (DRA_GROUP, version, ", ".join(DRA_RESOURCES)),
                           details={"api_version": "%s/%s" % (DRA_GROUP, version), "served_versions": served_versions})
    version = wanted[0]
    missing = [r for r in DRA_RESOURCES if not discovery.served(DRA_GROUP, version, r)]
    return Finding(
        FAIL,
        "%s/%s is not fully served: missing %s (served versions: %s)."
        % (DRA_GROUP, version, ", ".join(missing), ", ".join(served_versions) or "none"),
        remediation="Enable the DRA API: on Kubernetes 1.34+ resource.k8s.io/v1 is on by default unless disabled with "
                    "--runtime-config; on RKE2 remove any 'runtime-config=resource.k8s.io/v1=false' from "
                    "kube-apiserver-arg and restart the servers.",
        details={"missing": missing, "served_versions": served_versions})
