"""Label and field selectors, parsed into predicates over stored objects."""

import re

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|!=|=)\s*(?P<value>[A-Za-z0-9_.-]*)"
    r"|\s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\))?\s*$"
)


def _split_outside_parens(text):
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _label_requirement(text):
    match = _REQUIREMENT.match(text)
    if not match or (match["neg"] and (match["op"] or match["setop"])):
        raise ValueError(f"unable to parse requirement: {text.strip()!r}")
    key, value = match["key"], match["value"]
    if match["neg"]:
        return lambda labels: key not in labels
    if match["op"] in ("=", "=="):
        return lambda labels: labels.get(key) == value
    if match["op"] == "!=":
        return lambda labels: labels.get(key) != value
    if match["setop"]:
        values = {v.strip() for v in match["values"].split(",") if v.strip()}
        if match["setop"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    return lambda labels: key in labels


def label_selector(text):
    """A predicate over an object's labels dict, or None for an empty selector."""
    requirements = [_label_requirement(part) for part in _split_outside_parens(text or "")]
    if not requirements:
        return None
    return lambda labels: all(req(labels) for req in requirements)


def field_value(obj, path):
    """The string form a field selector compares: ``true``/``false`` for booleans, "" when absent."""
    for part in path:
        if not isinstance(obj, dict):
            return ""
        obj = obj.get(part)
    if obj is None:
        return ""
    if isinstance(obj, bool):
        return "true" if obj else "false"
    return str(obj)


def parse_field_selector(text):
    """``"spec.nodeName=n1,status.phase!=Failed"`` -> [(("spec", "nodeName"), "=", "n1"), ...]."""
    terms = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not match:
            raise ValueError(f"invalid field selector: {part.strip()!r}")
        path, op, value = match.groups()
        terms.append((tuple(path.split(".")), "!=" if op == "!=" else "=", value))
    return terms


def field_predicate(terms):
    """A predicate over whole objects for parsed field selector terms, or None when there are none."""
    if not terms:
        return None
    return lambda obj: all((field_value(obj, path) == value) == (op == "=") for path, op, value in terms)
