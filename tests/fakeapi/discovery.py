"""The served resources (built-in, CRDs, aggregated APIs) and the discovery documents describing them."""

import re

from .builtin import SCALE, STATUS, Resource, Subresource, builtin_resources

AGGREGATED_MEDIA = "application/json;g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList"


def version_priority(version):
    """Sort key putting versions in kube order: v2, v1, v1beta2, v1beta1, v1alpha1, then others by name."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0, version)
    stability = {None: 0, "beta": 1, "alpha": 2}[match[2]]
    return (stability, -int(match[1]), -int(match[3] or 0), version)


def crd_resources(crd):
    """One custom Resource per served version of a CustomResourceDefinition object."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    resources = []
    for version in spec.get("versions") or ():
        if not version.get("served", True):
            continue
        subresources = (version.get("subresources") or {})
        resources.append(Resource(
            group=spec.get("group", ""), version=version["name"], plural=names.get("plural", ""),
            kind=names.get("kind", ""), namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            singular=names.get("singular", ""), custom=True,
            subresources=tuple(s for s, on in ((SCALE, "scale" in subresources),
                                               (STATUS, "status" in subresources)) if on)))
    return resources


def _aggregated_resources(group, version, entries):
    """Resources of an aggregated group version, read from its APIResourceList ``resources``.

    A subresource whose parent is not listed (custom metrics: ``pods/<metric>``) gets a
    parent without verbs, as aggregated discovery shows it.
    """
    parents, subresources = {}, {}
    for entry in entries:
        name, sub = entry.get("name", "").partition("/")[::2]
        if sub:
            subresources.setdefault(name, []).append(
                Subresource(sub, tuple(entry.get("verbs") or ()), entry.get("kind", "")))
        else:
            parents[name] = entry
        parents.setdefault(name, {"name": name, "namespaced": entry.get("namespaced"), "verbs": []})
    return [Resource(group, version, name, e.get("kind", ""), bool(e.get("namespaced")),
                     short_names=tuple(e.get("shortNames") or ()), verbs=tuple(e.get("verbs") or ()),
                     categories=tuple(e.get("categories") or ()), singular=e.get("singularName", ""),
                     subresources=tuple(subresources.get(name, ())), custom=True)
            for name, e in parents.items()]


def _is_available(apiservice):
    conditions = (apiservice.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


class Registry:
    """What the server serves, rebuilt by the store whenever CRDs or APIServices change."""

    def __init__(self, minor, runtime_config=(), aggregated_discovery=None):
        self._builtin = builtin_resources(minor, runtime_config)
        self._aggregated_discovery = aggregated_discovery or {}
        self.refresh((), ())

    def refresh(self, crds, apiservices):
        """Recompute the served resources from CRD and APIService objects."""
        builtin_gvs = {r.api_version for r in self._builtin}
        stored = list(self._builtin)
        for crd in crds:
            stored.extend(r for r in crd_resources(crd) if r.api_version not in builtin_gvs)
        aggregated, availability = [], {}
        for apiservice in apiservices:
            spec = apiservice.get("spec") or {}
            gv = f"{spec.get('group', '')}/{spec.get('version', '')}"
            if not spec.get("service") or gv in builtin_gvs:
                continue  # a Local APIService stands for a built-in group
            availability[gv] = _is_available(apiservice)
            aggregated.extend(_aggregated_resources(
                spec.get("group", ""), spec.get("version", ""), self._aggregated_discovery.get(gv, ())))
        self._stored = {(r.group, r.version, r.plural): r for r in stored}
        self._by_kind = {(r.api_version, r.kind): r for r in stored}
        self._aggregated = aggregated
        self.aggregated_availability = availability
        self._groups = self._group_versions(stored, availability)
        self._served = stored + aggregated

    @staticmethod
    def _group_versions(resources, availability):
        """{group: [versions, preferred first]}: built-in groups in table order, then the others by name."""
        found = {}
        for r in resources:
            found.setdefault(r.group, set()).add(r.version)
        for gv in availability:
            group, version = gv.partition("/")[::2]
            found.setdefault(group, set()).add(version)
        builtin_order = list(dict.fromkeys(r.group for r in resources if not r.custom))
        order = builtin_order + sorted(set(found) - set(builtin_order))
        return {g: sorted(found[g], key=version_priority) for g in order}

    def resolve(self, group, version, plural):
        """The stored (built-in or custom) Resource at group/version/plural, or None."""
        return self._stored.get((group, version, plural))

    def by_kind(self, api_version, kind):
        return self._by_kind.get((api_version, kind))

    def versions(self, group):
        return self._groups.get(group)

    def is_aggregated(self, group, version):
        return f"{group}/{version}" in self.aggregated_availability

    # Legacy discovery documents.

    def api_versions(self, server_address):
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}

    def _api_group(self, group):
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self._groups[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def api_group_list(self):
        groups = [self._api_group(g) for g in self._groups if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group):
        return {"kind": "APIGroup", "apiVersion": "v1", **self._api_group(group)}

    def resource_list(self, group, version):
        """The APIResourceList of a group version (empty ``resources`` for an undescribed aggregated one)."""
        entries = []
        for r in self._served:
            if r.group != group or r.version != version:
                continue
            entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                     "kind": r.kind, "verbs": list(r.verbs)}
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            entries.append(entry)
            for sub in r.subresources:
                entry = {"name": f"{r.plural}/{sub.name}", "singularName": "", "namespaced": r.namespaced,
                         "kind": sub.kind or r.kind, "verbs": list(sub.verbs)}
                if sub.group or sub.version:
                    entry.update(group=sub.group, version=sub.version)
                entries.append(entry)
        entries.sort(key=lambda e: e["name"])
        group_version = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}

    # Aggregated discovery (apidiscovery.k8s.io).

    @staticmethod
    def _discovery_resource(r):
        entry = {"resource": r.plural, "responseKind": {"group": "", "version": "", "kind": r.kind},
                 "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular,
                 "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        if r.subresources:
            entry["subresources"] = [
                {"subresource": s.name, "responseKind": {"group": s.group, "version": s.version, "kind": s.kind or r.kind},
                 "verbs": list(s.verbs)} for s in r.subresources]
        return entry

    def aggregated_list(self, core, api_version):
        """The APIGroupDiscoveryList of ``/api`` (core=True) or ``/apis``; unavailable APIServices are left out."""
        items = []
        for group, versions in self._groups.items():
            if bool(group) == core:
                continue
            served = [v for v in versions if self.aggregated_availability.get(f"{group}/{v}", True)]
            if not served:
                continue
            metadata = {"name": group, "creationTimestamp": None} if group else {"creationTimestamp": None}
            items.append({"metadata": metadata, "versions": [
                {"version": v, "freshness": "Current", "resources": sorted(
                    (self._discovery_resource(r) for r in self._served if r.group == group and r.version == v),
                    key=lambda e: e["resource"])}
                for v in served]})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}
