"""A minimal OpenAPI v3 surface (``/openapi/v3``), generated from the Registry.

Clients such as helm and kubectl validate manifests on the client side unless the server's
OpenAPI v3 document says that the PATCH operation of the kind takes the ``fieldValidation``
query parameter (then they leave validation to the server). These documents say exactly that,
for every served group version, and carry no schemas: the fake does no field validation.
"""

import hashlib
import json


def gv_path(group, version):
    """``api/v1`` or ``apis/<group>/<version>``: the key of a group version in the root document."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _served_group_versions(registry):
    for group, versions in registry._groups.items():
        for version in versions:
            if registry.aggregated_availability.get(f"{group}/{version}", True):
                yield group, version


def group_version_document(registry, group, version):
    """The OpenAPI v3 document of one group version, or None when it is not served."""
    if version not in (registry.versions(group) or ()):
        return None
    prefix = "/" + gv_path(group, version)
    parameter = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    paths = {}
    for r in registry._served:
        if r.group != group or r.version != version:
            continue
        gvk = {"group": group, "version": version, "kind": r.kind}
        scope = f"{prefix}/namespaces/{{namespace}}" if r.namespaced else prefix
        item = f"{scope}/{r.plural}/{{name}}"
        operation = {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
                     "x-kubernetes-group-version-kind": gvk, "parameters": [parameter],
                     "responses": {"200": {"description": "OK"}}}
        paths[item] = {"patch": operation}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": paths,
            "components": {"schemas": {}}}


def root_document(registry):
    """``/openapi/v3``: every served group version with its document's URL (hashed by content)."""
    paths = {}
    for group, version in _served_group_versions(registry):
        document = group_version_document(registry, group, version)
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32].upper()
        key = gv_path(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
