"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902); both return new objects."""

import copy


def merge_patch(target, patch):
    """Apply a merge patch without mutating ``target`` (nested dicts are shared, never changed)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc, parts):
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc, parts[-1]


def _get(doc, parts):
    for part in parts:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def _add(doc, parts, value):
    if not parts:
        return value
    parent, key = _container(doc, parts)
    if isinstance(parent, list):
        parent.insert(len(parent) if key == "-" else int(key), value)
    else:
        parent[key] = value
    return doc


def _remove(doc, parts):
    parent, key = _container(doc, parts)
    value = parent[int(key) if isinstance(parent, list) else key]
    del parent[int(key) if isinstance(parent, list) else key]
    return value


def json_patch(target, operations):
    """Apply a list of RFC 6902 operations to a deep copy of ``target``."""
    if not isinstance(operations, list):
        raise ValueError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    try:
        for operation in operations:
            op, parts = operation["op"], _pointer(operation["path"])
            if op == "add":
                doc = _add(doc, parts, copy.deepcopy(operation["value"]))
            elif op == "remove":
                _remove(doc, parts)
            elif op == "replace":
                _get(doc, parts)  # the target must exist
                if parts:
                    _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(operation["value"]))
            elif op in ("move", "copy"):
                source = _pointer(operation["from"])
                value = _remove(doc, source) if op == "move" else copy.deepcopy(_get(doc, source))
                doc = _add(doc, parts, value)
            elif op == "test":
                if _get(doc, parts) != operation["value"]:
                    raise ValueError(f"test operation failed at {operation['path']!r}")
            else:
                raise ValueError(f"unknown JSON patch operation {op!r}")
    except (KeyError, IndexError, TypeError) as err:
        raise ValueError(f"JSON patch could not be applied: {err!r}") from err
    return doc
