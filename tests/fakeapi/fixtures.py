"""Simulated clusters: loaded from tests/fixtures/ or built in code."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"
DEFAULT_USER = "system:serviceaccount:ci:auditor"
CLUSTER_KEYS = {"description", "kubernetesVersion", "components", "forbidden", "proxy", "aggregated",
                "runtimeConfig", "user", "rbacRules", "namespaceTerminationSeconds"}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Canned:
    """A fixed response served at an exact path (proxy targets, aggregated APIs)."""

    body: bytes
    content_type: str = "application/json"
    status: int = 200

    @classmethod
    def from_spec(cls, spec, base_dirs=()):
        """Build from a Canned, a str/bytes text body, or a dict with one of ``file``, ``json``, ``body``
        plus optional ``contentType`` and ``status``; ``file`` is looked up in ``base_dirs`` in order."""
        if isinstance(spec, Canned):
            return spec
        if isinstance(spec, (str, bytes)):
            return cls(spec.encode() if isinstance(spec, str) else spec, "text/plain; charset=utf-8")
        if not isinstance(spec, dict) or len({"file", "json", "body"} & set(spec)) != 1:
            raise ValueError(f"a canned response needs exactly one of file, json, body: {spec!r}")
        content_type = "application/json"
        if "file" in spec:
            path = next((Path(d) / spec["file"] for d in base_dirs if (Path(d) / spec["file"]).is_file()), None)
            if path is None:
                raise FileNotFoundError(f"canned response file {spec['file']!r} not found in "
                                        f"{', '.join(str(d) for d in base_dirs) or 'no directory'}")
            body = path.read_bytes()
            if path.suffix != ".json":
                content_type = "text/plain; charset=utf-8"
        elif "json" in spec:
            body = json.dumps(spec["json"]).encode()
        else:
            body = spec["body"].encode() if isinstance(spec["body"], str) else spec["body"]
            content_type = "text/plain; charset=utf-8"
        return cls(body, spec.get("contentType", content_type), int(spec.get("status", 200)))


@dataclass
class Cluster:
    """Everything a FakeKubeServer serves: version, objects, RBAC denials and canned responses.

    ``forbidden`` denies every verb on the listed group/version/plurals. ``rbac_rules``, when not
    None, is the ClusterRole rules (dicts with apiGroups, resources, verbs, resourceNames,
    nonResourceURLs) bound to ``user``: every request, discovery included, that no rule allows
    is answered 403 Forbidden (add ``rbac.SYSTEM_DISCOVERY_RULES`` for what every authenticated
    user may read on a real cluster). ``namespace_termination_seconds`` keeps a deleted namespace
    Terminating that long before it and its objects are gone (0: at once).
    """

    name: str = "custom"
    version: str = "v1.35.2"
    objects: list = field(default_factory=list)
    description: str = ""
    forbidden: tuple = ()
    proxy: dict = field(default_factory=dict)
    aggregated: dict = field(default_factory=dict)
    runtime_config: tuple = ()
    user: str = DEFAULT_USER
    rbac_rules: Optional[tuple] = None
    namespace_termination_seconds: float = 0.0

    @classmethod
    def from_objects(cls, version="v1.35.2", objects=(), forbidden=(), proxy=None, aggregated=None, *,
                     name="custom", description="", runtime_config=(), user=DEFAULT_USER, rbac_rules=None,
                     namespace_termination_seconds=0.0):
        """A cluster built in code; proxy/aggregated values are anything ``Canned.from_spec`` takes."""
        return cls(name=name, version=version, objects=list(objects), description=description,
                   forbidden=tuple(forbidden), runtime_config=tuple(runtime_config), user=user,
                   rbac_rules=None if rbac_rules is None else tuple(rbac_rules),
                   namespace_termination_seconds=float(namespace_termination_seconds),
                   proxy={p: Canned.from_spec(s) for p, s in (proxy or {}).items()},
                   aggregated={p: Canned.from_spec(s) for p, s in (aggregated or {}).items()})

    def aggregated_discovery(self):
        """{"group/version": [APIResource dicts]} from the canned ``/apis/<group>/<version>`` documents."""
        found = {}
        for path, canned in self.aggregated.items():
            match = re.fullmatch(r"/apis/([^/]+)/([^/]+)/?", path)
            if match:
                found[f"{match[1]}/{match[2]}"] = json.loads(canned.body).get("resources") or []
        return found


def read_objects(path):
    """The Kubernetes objects of a multi-document YAML file (``kind: *List`` documents are expanded)."""
    objects = []
    with open(path, encoding="utf-8") as stream:
        documents = list(yaml.load_all(stream, Loader=_LOADER))
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        items = doc["items"] if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") \
            and isinstance(doc.get("items"), list) else [doc]
        for obj in items:
            if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind") \
                    or not (obj.get("metadata") or {}).get("name"):
                raise ValueError(f"{path}: document {index + 1} is not an object with apiVersion, kind "
                                 "and metadata.name")
            objects.append(obj)
    return objects


def _identity(obj):
    meta = obj["metadata"]
    return (obj["apiVersion"].rpartition("/")[0], obj["kind"], meta.get("namespace", ""), meta["name"])


def _cluster_dir(name_or_path, fixtures_dir):
    path = Path(name_or_path)
    if path.is_dir():
        return path
    cluster_dir = Path(fixtures_dir) / "clusters" / str(name_or_path)
    if not cluster_dir.is_dir():
        known = ", ".join(cluster[0] for cluster in list_clusters(fixtures_dir)) or "none"
        raise FileNotFoundError(f"no fixture cluster {name_or_path!r}: {cluster_dir} does not exist "
                                f"(known clusters: {known})")
    return cluster_dir


def load_cluster(name_or_path, fixtures_dir=FIXTURES_DIR):
    """Load ``tests/fixtures/clusters/<name>/`` (or a cluster directory path) into a Cluster.

    Objects come from the listed components in order, then from the cluster directory's
    other ``*.yaml`` files by name; an object with the same group, kind, namespace and
    name as an earlier one replaces it.
    """
    cluster_dir = _cluster_dir(name_or_path, fixtures_dir)
    config_file = cluster_dir / "cluster.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"fixture cluster {cluster_dir.name!r} has no {config_file}")
    config = yaml.load(config_file.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    unknown = set(config) - CLUSTER_KEYS
    if unknown:
        raise ValueError(f"{config_file}: unknown keys {sorted(unknown)} (known: {sorted(CLUSTER_KEYS)})")
    components_dir = cluster_dir.parent.parent / "components"
    files = []
    for component in config.get("components") or ():
        component_file = components_dir / f"{component}.yaml"
        if not component_file.is_file():
            raise FileNotFoundError(f"fixture cluster {cluster_dir.name!r}: component {component!r} not found "
                                    f"({component_file})")
        files.append(component_file)
    files.extend(p for p in sorted(cluster_dir.glob("*.yaml")) if p.name != "cluster.yaml")
    objects = {}
    for path in files:
        for obj in read_objects(path):
            objects[_identity(obj)] = obj
    base_dirs = (cluster_dir, components_dir)
    return Cluster(
        name=cluster_dir.name, version=str(config.get("kubernetesVersion", "v1.35.2")),
        objects=list(objects.values()), description=config.get("description", ""),
        forbidden=tuple(config.get("forbidden") or ()), runtime_config=tuple(config.get("runtimeConfig") or ()),
        user=config.get("user", DEFAULT_USER),
        rbac_rules=None if config.get("rbacRules") is None else tuple(config["rbacRules"]),
        namespace_termination_seconds=float(config.get("namespaceTerminationSeconds") or 0),
        proxy={p: Canned.from_spec(s, base_dirs) for p, s in (config.get("proxy") or {}).items()},
        aggregated={p: Canned.from_spec(s, base_dirs) for p, s in (config.get("aggregated") or {}).items()})


def list_clusters(fixtures_dir=FIXTURES_DIR):
    """[(name, description)] of the fixture clusters, by name."""
    clusters = []
    for config_file in sorted((Path(fixtures_dir) / "clusters").glob("*/cluster.yaml")):
        config = yaml.load(config_file.read_text(encoding="utf-8"), Loader=_LOADER) or {}
        clusters.append((config_file.parent.name, config.get("description", "")))
    return clusters
