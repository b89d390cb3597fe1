# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a component is already installed by someone other than the role about to install it.

An install role installs its component as one Helm release. When the component's workload already
exists under another release (another name or namespace, RKE2's helm-controller, a GitOps tool) or
outside Helm (kubectl apply, an operator), a second install would fight the first over CRDs, webhooks
and nodes. The role asks here first and stops with what it found and how to proceed: let the role
manage that release (its release name and namespace variables), or leave the component alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Dict, List

RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


class GuardError(ValueError):
    """A marker the guard cannot look up; the message names the field."""


def _split(api_version: str):
    group, version = api_version.rpartition("/")[::2]
    return group, version


def owner(obj: Dict[str, Any]) -> Dict[str, str]:
    """Who installed an object: its Helm release and namespace, or "" for both when not Helm."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return {"release": annotations.get(RELEASE_NAME, ""), "release_namespace": annotations.get(RELEASE_NAMESPACE, "")}


def inspect(kube, markers: List[Dict[str, Any]], release: str, namespace: str) -> Dict[str, Any]:
    """Each marker object that exists, with its owner; ``foreign`` those not of release/namespace."""
    found, foreign = [], []
    for position, marker in enumerate(markers):
        missing = [k for k in ("api_version", "kind", "resource") if not marker.get(k)]
        if not marker.get("name") and not marker.get("label_selector"):
            missing.append("name or label_selector")
        if missing:
            raise GuardError("markers[%d] needs %s" % (position, ", ".join(missing)))
        group, version = _split(marker["api_version"])
        where = marker.get("namespace") or None
        if marker.get("label_selector"):
            objs = list(kube.list_all(group, version, marker["resource"], namespace=where, label_selector=marker["label_selector"]))
        elif marker.get("any_namespace"):
            objs = [o for o in kube.list_all(group, version, marker["resource"]) if (o.get("metadata") or {}).get("name") == marker["name"]]
        else:
            obj = kube.get(group, version, marker["resource"], marker["name"], namespace=where)
            objs = [obj] if obj else []
        for obj in objs:
            meta = obj.get("metadata") or {}
            entry = dict(owner(obj), kind=marker["kind"], name=meta.get("name", ""),
                         namespace=meta.get("namespace", ""))
            found.append(entry)
            if any(e["namespace"] == entry["namespace"] and e["name"] == entry["name"] for e in found[:-1]):
                found.pop()  # two markers matched the same object
                continue
            if (entry["release"], entry["release_namespace"]) != (release, namespace):
                foreign.append(entry)
    return {"found": found, "foreign": foreign, "ours": bool(found) and not foreign}


def describe(entry: Dict[str, str]) -> str:
    where = "%s %s%s" % (entry["kind"], entry["namespace"] + "/" if entry["namespace"] else "", entry["name"])
    if entry["release"]:
        return "%s (Helm release %s in namespace %s)" % (where, entry["release"], entry["release_namespace"] or "?")
    return "%s (not installed by Helm)" % where


def message(component: str, role: str, foreign: List[Dict[str, str]], release: str, namespace: str,
            release_variable: str = "", namespace_variable: str = "", enabled_variable: str = "") -> str:
    """Why the role stops, and the two ways on, naming the role's own variables."""
    text = "%s is already installed, not as this role's release %s in namespace %s: %s. " % (
        component, release, namespace, "; ".join(describe(e) for e in foreign))
    helm = next((e for e in foreign if e["release"]), None)
    if helm:
        text += ("To let this role manage that release, set %s: %s and %s: %s; " % (
            release_variable or role + "_release_name", helm["release"], namespace_variable or role + "_namespace",
            helm["release_namespace"]))
    text += ("to leave it as it is, set %s: false (in a conform run: ai_conformance_skip_components: [%s]) "
             "and repair it where it was installed." % (enabled_variable or role + "_enabled", role))
    return text
