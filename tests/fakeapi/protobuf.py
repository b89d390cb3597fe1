"""Just enough of the Kubernetes protobuf encoding to read the request bodies clients send that way.

client-go's typed clients for built-in kinds may send ``application/vnd.kubernetes.protobuf``
bodies (helm stores its releases in Secrets this way). A body is the magic ``k8s\\0`` and an
envelope message (1: TypeMeta {1: apiVersion, 2: kind}, 2: the object's bytes, ...). Only the
kinds listed in SCHEMAS are understood: Secret, ConfigMap and DeleteOptions, with ObjectMeta
(managedFields are skipped). Answers are always JSON, which those clients accept as well.
"""

import base64
from datetime import datetime, timezone

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data):
    """[(field number, value)]: ints for varints, bytes for length-delimited fields."""
    pos, fields = 0, []
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, value))
    return fields


def _signed(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(data):
    values = dict(_fields(data))
    moment = datetime.fromtimestamp(_signed(values.get(1, 0)), timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Field number -> (JSON name, how to read it). Kinds: str, bytes (base64 in JSON), int, bool, time,
# map (string values), bmap (bytes values), strs (repeated string), or a schema dict (a message),
# a list holding one schema (repeated message), None (skipped).
OWNER_REFERENCE = {1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"), 5: ("apiVersion", "str"),
                   6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")}
OBJECT_META = {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"), 5: ("uid", "str"),
               6: ("resourceVersion", "str"), 7: ("generation", "int"), 8: ("creationTimestamp", "time"),
               9: ("deletionTimestamp", "time"), 10: ("deletionGracePeriodSeconds", "int"),
               11: ("labels", "map"), 12: ("annotations", "map"), 13: ("ownerReferences", [OWNER_REFERENCE]),
               14: ("finalizers", "strs"), 17: ("managedFields", None)}
PRECONDITIONS = {1: ("uid", "str"), 2: ("resourceVersion", "str")}
SCHEMAS = {
    "Secret": {1: ("metadata", OBJECT_META), 2: ("data", "bmap"), 3: ("type", "str"), 4: ("stringData", "map"),
               5: ("immutable", "bool")},
    "ConfigMap": {1: ("metadata", OBJECT_META), 2: ("data", "map"), 3: ("binaryData", "bmap"),
                  4: ("immutable", "bool")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int"), 2: ("preconditions", PRECONDITIONS),
                      3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "str"), 5: ("dryRun", "strs")},
}


def _message(data, schema):
    obj = {}
    for number, value in _fields(data):
        name, kind = schema.get(number, (None, None))
        if name is None or kind is None:
            continue
        if kind == "str":
            obj[name] = value.decode()
        elif kind == "bytes":
            obj[name] = base64.b64encode(value).decode()
        elif kind == "int":
            obj[name] = _signed(value)
        elif kind == "bool":
            obj[name] = bool(value)
        elif kind == "time":
            obj[name] = _time(value)
        elif kind in ("map", "bmap"):
            entry = dict(_fields(value))
            raw = entry.get(2, b"")
            obj.setdefault(name, {})[entry.get(1, b"").decode()] = (
                raw.decode() if kind == "map" else base64.b64encode(raw).decode())
        elif kind == "strs":
            obj.setdefault(name, []).append(value.decode())
        elif isinstance(kind, list):
            obj.setdefault(name, []).append(_message(value, kind[0]))
        else:
            obj[name] = _message(value, kind)
    return obj


def decode(body):
    """The JSON-shaped dict of a protobuf-encoded body; ValueError for anything it cannot read."""
    if not body.startswith(MAGIC):
        raise ValueError("a protobuf body must start with the k8s magic bytes")
    envelope = dict(_fields(body[len(MAGIC):]))
    type_meta = dict(_fields(envelope.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ValueError(f"protobuf bodies of kind {kind or '(none)'} are not understood by this simulated server")
    obj = _message(envelope.get(2, b""), schema)
    if kind != "DeleteOptions":
        obj = {"apiVersion": api_version, "kind": kind, **obj}
    return obj
