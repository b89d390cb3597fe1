# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an install role wrote to the cluster, read from the results its write tasks registered.

Every write task of an install role registers ``<role>__applied_<what>``; the conform role reads those of the
role it just ran (also after a failure, when only the tasks that ran are defined) and names each object that a
``kubernetes.core.k8s`` task created or changed and each Helm release a ``kubernetes.core.helm`` task installed or
upgraded. Only kinds, names, namespaces and revisions are read: never an object's data or a release's values.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Any, Iterable, List

METHOD_WORDS = {"create": "created", "apply": "applied", "patch": "patched", "replace": "replaced", "update": "updated",
                "delete": "deleted"}


def _named(kind: str, metadata: Any) -> str:
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name", "?")
    return "%s %s/%s" % (kind, metadata["namespace"], name) if metadata.get("namespace") else "%s %s" % (kind, name)


def _one(result: Any) -> List[str]:
    if not isinstance(result, dict):
        return []
    if isinstance(result.get("results"), list):  # a loop
        return applied(result["results"])
    if not result.get("changed"):
        return []
    status = result.get("status")
    if isinstance(status, dict) and "revision" in status:  # kubernetes.core.helm
        state = str(status.get("status", "unknown")).lower()
        return ["Helm release %s (revision %s, %s)" % (_named("", status).strip(), status.get("revision", "?"), state)]
    if "command" in result and "status" in result:  # kubernetes.core.helm that uninstalled
        return ["a Helm release (uninstalled)"]
    obj = result.get("result")
    if isinstance(obj, dict) and isinstance(obj.get("results"), list):  # kubernetes.core.k8s with several objects
        return applied(obj["results"])
    if isinstance(obj, dict) and obj.get("kind"):
        return ["%s (%s)" % (_named(obj["kind"], obj.get("metadata")), METHOD_WORDS.get(result.get("method"), "changed"))]
    return ["an object (%s)" % METHOD_WORDS.get(result.get("method"), "changed")]


def applied(results: Iterable[Any]) -> List[str]:
    """One line per object or release the registered ``results`` created or changed, in task order."""
    lines: List[str] = []
    for result in results or []:
        lines.extend(line for line in _one(result) if line not in lines)
    return lines
