# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small readers of Kubernetes objects (metadata, spec, conditions, readiness, image tags, resource quantities), tables
and discovery, shared by the section checks, the probes and the chart values."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Dict, Iterable, List, Optional

try:  # the verify module requires PyYAML and says so; the guard keeps this module importable without it
    import yaml
except ImportError:
    yaml = None


def condition(obj: Dict[str, Any], cond_type: str) -> Optional[Dict[str, Any]]:
    """The status condition of ``cond_type``, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == cond_type:
            return cond
    return None


def condition_true(obj: Dict[str, Any], cond_type: str) -> bool:
    cond = condition(obj, cond_type)
    return bool(cond) and str(cond.get("status")) == "True"


def name_of(obj: Dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return "%s/%s" % (meta["namespace"], meta["name"]) if meta.get("namespace") else meta.get("name", "")


def deployment_ready(obj: Dict[str, Any]) -> bool:
    """Every desired replica ready and available (a scaled-to-zero Deployment is not ready)."""
    desired = (obj.get("spec") or {}).get("replicas", 1)
    status = obj.get("status") or {}
    return desired > 0 and status.get("readyReplicas", 0) >= desired and status.get("availableReplicas", 0) >= desired


def deployment_summary(obj: Dict[str, Any]) -> str:
    status = obj.get("status") or {}
    return "%s %s/%s ready" % (name_of(obj), status.get("readyReplicas", 0), (obj.get("spec") or {}).get("replicas", 1))


def daemonset_ready(obj: Dict[str, Any]) -> bool:
    """Scheduled on at least one node and ready and available everywhere it is scheduled."""
    status = obj.get("status") or {}
    desired = status.get("desiredNumberScheduled", 0)
    return desired > 0 and status.get("numberReady", 0) >= desired and status.get("numberAvailable", 0) >= desired


def daemonset_summary(obj: Dict[str, Any]) -> str:
    status = obj.get("status") or {}
    return "%s %s/%s ready" % (name_of(obj), status.get("numberReady", 0), status.get("desiredNumberScheduled", 0))


def api_resources_table(discovery, group: str, versions: Iterable[str]) -> str:
    """What `kubectl api-resources --api-group=<group>` prints, for the versions given."""
    rows: List[List[str]] = [["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]]
    for version in versions:
        for plural, info in sorted(discovery.resources(group, version).items()):
            rows.append([plural, ",".join(info.get("short_names") or []), discovery.group_version(group, version),
                         str(info.get("namespaced")).lower(), info.get("kind", "")])
    if len(rows) == 1:
        return "(no resources served in API group %s)" % (group or "core")
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def conditions_line(obj: Dict[str, Any]) -> str:
    """'Accepted=True (reason), Programmed=False (reason)' for an object's conditions."""
    parts = []
    for cond in (obj.get("status") or {}).get("conditions") or []:
        text = "%s=%s" % (cond.get("type"), cond.get("status"))
        if cond.get("reason"):
            text += " (%s)" % cond["reason"]
        parts.append(text)
    return ", ".join(parts) or "no conditions reported"


def meta_of(obj: Dict[str, Any]) -> Dict[str, Any]:
    return obj.get("metadata") or {}


def spec_of(obj: Dict[str, Any]) -> Dict[str, Any]:
    return obj.get("spec") or {}


def status_of(obj: Dict[str, Any]) -> Dict[str, Any]:
    return obj.get("status") or {}


def truthy(value: Any, default: bool) -> bool:
    """A setting's truth ('true', '1', 'yes', 'on'), or ``default`` when unset."""
    if value is None:
        return default
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def pod_ready(pod: Dict[str, Any], running: bool = False) -> bool:
    """The pod's Ready condition is True (and, with ``running``, its phase is Running)."""
    return (not running or status_of(pod).get("phase") == "Running") and condition_true(pod, "Ready")


def image_tag(dep: Optional[Dict[str, Any]]) -> str:
    """The version of a Deployment: label app.kubernetes.io/version, else its first container's image tag."""
    if not dep:
        return ""
    labels = meta_of(dep).get("labels") or {}
    if labels.get("app.kubernetes.io/version"):
        return labels["app.kubernetes.io/version"]
    for container in (spec_of(dep).get("template") or {}).get("spec", {}).get("containers") or []:
        image = container.get("image") or ""
        tail = image.rsplit("/", 1)[-1]
        if "@" in tail:
            tail = tail.split("@", 1)[0]
        if ":" in tail:
            return tail.rsplit(":", 1)[1]
    return ""


def table(rows: List[List[str]], max_rows: int = 20) -> str:
    """Rows (the first a header) as aligned columns; long tables cut to ``max_rows`` with a count."""
    extra = len(rows) - 1 - max_rows
    rows = rows[:max_rows + 1]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    text = "\n".join("   ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)
    return text + ("\n... %d more" % extra if extra > 0 else "")


def yaml_doc(text: str) -> Any:
    """The YAML document in ``text`` (a ConfigMap value), or None when it does not parse."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9]*\.?[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]|)$")


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes resource quantity ("3800m", "15Gi", "1e3", 4) as a Decimal of base units."""
    if isinstance(value, bool):
        raise ValueError("not a quantity: %r" % (value,))
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError("not a quantity: %r" % (value,))
    number, suffix = match.groups()
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIXES[suffix]
    except (InvalidOperation, KeyError):
        raise ValueError("not a quantity: %r" % (value,))
