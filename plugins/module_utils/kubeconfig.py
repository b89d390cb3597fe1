# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubeconfig files found, loaded and merged exactly as kubectl does it.

Sources (first that applies): the ``kubeconfig`` option (a path, a list of paths, a string of
paths joined by os.pathsep, or an inline dict), ``K8S_AUTH_KUBECONFIG``, ``KUBECONFIG`` (split on
os.pathsep), ``~/.kube/config``. The files merge like client-go's ClientConfigLoadingRules: the
first file that defines a named cluster, user or context wins (the whole entry), the first file
that sets current-context wins, relative file references resolve against the directory of the
file that holds them. Errors are KubeconfigError, a message a person can act on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

try:
    import yaml
    HAS_YAML = True
except ImportError:  # the module reports it
    HAS_YAML = False

DEFAULT_KUBECONFIG = os.path.join("~", ".kube", "config")
SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))
SECTION_NAMES = tuple(section for section, key in SECTIONS)
CLUSTER_FILES = ("certificate-authority",)
USER_FILES = ("client-certificate", "client-key", "tokenFile")


class KubeconfigError(Exception):
    """A kubeconfig that cannot be used, with what to do about it."""


class Source:
    """Where the kubeconfig comes from: paths (or an inline dict) and what named them."""

    def __init__(self, paths: List[str], named_by: str, explicit: bool, inline: Optional[Dict[str, Any]] = None):
        self.paths, self.named_by, self.explicit, self.inline = paths, named_by, explicit, inline


class Kubeconfig:
    """The merged configuration, which file defined each entry, and the selected context."""

    def __init__(self, config: Dict[str, Any], files: List[str], origins: Dict[str, Dict[str, str]],
                 current_context_from: Optional[str], named_by: str):
        self.config = config
        self.files = files
        self.origins = origins
        self.current_context_from = current_context_from
        self.named_by = named_by
        self.context: Optional[str] = None

    def names(self, section: str) -> List[str]:
        return [entry["name"] for entry in self.config.get(section) or []]

    def entry(self, section: str, name: str) -> Optional[Dict[str, Any]]:
        key = dict(SECTIONS)[section]
        for item in self.config.get(section) or []:
            if item["name"] == name:
                return item.get(key) or {}
        return None

    def where(self, section: str, name: str) -> str:
        return self.origins.get(section, {}).get(name) or "the inline kubeconfig"

    def describe_files(self) -> str:
        return ", ".join(self.files) if self.files else "the inline kubeconfig"

    @property
    def server(self) -> str:
        context = self.entry("contexts", self.context or "") or {}
        return str((self.entry("clusters", context.get("cluster") or "") or {}).get("server") or "")


def _split(value: str) -> List[str]:
    return [p for p in value.split(os.pathsep) if p]


def _dedupe(paths: List[str]) -> List[str]:
    seen: List[str] = []
    for path in paths:
        if path not in seen:
            seen.append(path)
    return seen


def sources(option: Any = None, environ: Optional[Mapping[str, str]] = None) -> Source:
    """Which kubeconfig files to read, in kubectl's order of precedence."""
    env = os.environ if environ is None else environ
    if isinstance(option, dict):
        return Source([], "option kubeconfig (inline)", True, inline=option)
    if isinstance(option, (list, tuple)):
        paths = [os.path.expanduser(str(p)) for p in option if p not in (None, "")]
        if not paths:
            raise KubeconfigError("option kubeconfig is an empty list; give one or more kubeconfig file paths")
        return Source(_dedupe(paths), "option kubeconfig", True)
    if option not in (None, ""):
        if not isinstance(option, str):
            raise KubeconfigError("option kubeconfig must be a path, a list of paths or a dict, not %s" % type(option).__name__)
        return Source(_dedupe([os.path.expanduser(p) for p in _split(option)]), "option kubeconfig", True)
    value = env.get("K8S_AUTH_KUBECONFIG")
    if value:
        paths = _dedupe([os.path.expanduser(p) for p in _split(value)])
        return Source(paths, "K8S_AUTH_KUBECONFIG", len(paths) == 1)
    value = env.get("KUBECONFIG")
    if value and _split(value):
        return Source(_dedupe(_split(value)), "KUBECONFIG", False)
    return Source([os.path.expanduser(DEFAULT_KUBECONFIG)], "the default location %s" % DEFAULT_KUBECONFIG, False)


def _resolve(base: str, value: Any) -> Any:
    if isinstance(value, str) and value and not os.path.isabs(value):
        return os.path.normpath(os.path.join(base, value))  # filepath.Join cleans the same way
    return value


def _resolve_paths(doc: Dict[str, Any], path: str) -> None:
    """Make the file references of one kubeconfig absolute, relative to its directory (as kubectl)."""
    base = os.path.dirname(os.path.abspath(path))
    for item in doc.get("clusters") or []:
        cluster = item.get("cluster") or {}
        for key in CLUSTER_FILES:
            if key in cluster:
                cluster[key] = _resolve(base, cluster[key])
    for item in doc.get("users") or []:
        user = item.get("user") or {}
        for key in USER_FILES:
            if key in user:
                user[key] = _resolve(base, user[key])
        exec_ = user.get("exec")
        if isinstance(exec_, dict) and isinstance(exec_.get("command"), str) and os.sep in exec_["command"]:
            exec_["command"] = _resolve(base, exec_["command"])


def _validate(doc: Dict[str, Any], where: str) -> None:
    for section, key in SECTIONS:
        items = doc.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            raise KubeconfigError("%s: '%s' must be a list of {name: ..., %s: {...}} entries, not %s"
                                  % (where, section, key, type(items).__name__))
        seen = set()
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise KubeconfigError("%s: entry %d of '%s' has no name" % (where, index + 1, section))
            if item.get(key) is not None and not isinstance(item[key], dict):
                raise KubeconfigError("%s: '%s' of %s '%s' must be a mapping" % (where, key, key, item["name"]))
            if item["name"] in seen:  # kubectl refuses such a file too
                raise KubeconfigError("%s: duplicate %s name '%s' in '%s'; each name may appear once per file"
                                      % (where, key, item["name"], section))
            seen.add(item["name"])
    current = doc.get("current-context")
    if current is not None and not isinstance(current, str):
        raise KubeconfigError("%s: current-context must be a context name (a string)" % where)


def load_file(path: str, named_by: str) -> Dict[str, Any]:
    """One kubeconfig file as a dict, its file references made absolute."""
    where = "kubeconfig file %s (named by %s)" % (path, named_by)
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError as exc:
        raise KubeconfigError("%s cannot be read: %s" % (where, exc.strerror or exc)) from None
    if not HAS_YAML:
        raise KubeconfigError("PyYAML is needed to read %s; pip install PyYAML" % where)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise KubeconfigError("%s is not valid YAML%s: %s" % (where, line, problem)) from None
    if doc is None:  # an empty file is an empty kubeconfig, as for kubectl
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigError("%s is not a kubeconfig: its top level is a %s, not a mapping (apiVersion, clusters, users, contexts, ...)"
                              % (where, "list" if isinstance(doc, list) else type(doc).__name__))
    _validate(doc, where)
    _resolve_paths(doc, path)
    return doc


def merge(docs: List[Tuple[str, Dict[str, Any]]], named_by: str = "") -> Kubeconfig:
    """Merge loaded files as kubectl does: first definition of a name wins, first current-context wins."""
    merged: Dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    origins: Dict[str, Dict[str, str]] = {section: {} for section in SECTION_NAMES}
    current_from = None
    for path, doc in docs:
        for section in SECTION_NAMES:
            for item in doc.get(section) or []:
                if item["name"] not in origins[section]:
                    origins[section][item["name"]] = path
                    merged[section].append(copy.deepcopy(item))
        if doc.get("current-context") and current_from is None:
            merged["current-context"] = doc["current-context"]
            current_from = path
        if isinstance(doc.get("preferences"), dict) and "preferences" not in merged:
            merged["preferences"] = copy.deepcopy(doc["preferences"])
    return Kubeconfig(merged, [entry[0] for entry in docs], origins, current_from, named_by)


def _inline(doc: Dict[str, Any]) -> Kubeconfig:
    doc = copy.deepcopy(doc)
    _validate(doc, "the inline kubeconfig (option kubeconfig)")
    config = merge([("", doc)], "option kubeconfig (inline)")
    config.files, config.origins = [], {}
    config.current_context_from = "the inline kubeconfig" if config.config.get("current-context") else None
    return config


def load(source: Source) -> Optional[Kubeconfig]:
    """Read and merge the files of a source; None when none exists and the source allows that."""
    if source.inline is not None:
        return _inline(source.inline)
    present = []
    for path in source.paths:
        if os.path.exists(path):
            present.append(path)
        elif source.explicit:
            raise KubeconfigError("kubeconfig file %s (named by %s) does not exist; fix the path or drop it"
                                  % (path, source.named_by))
    if not present:
        return None
    return merge([(path, load_file(path, source.named_by)) for path in present], source.named_by)


def _listed(names: List[str]) -> str:
    return ", ".join(sorted(names)) if names else "none"


def select(config: Kubeconfig, context: Optional[str] = None, context_named_by: str = "option context") -> Kubeconfig:
    """Pick the context (given, else current-context) and check what it references."""
    contexts = config.names("contexts")
    if context:
        chosen, by = context, context_named_by
    elif config.config.get("current-context"):
        chosen, by = config.config["current-context"], "current-context of %s" % config.current_context_from
    else:
        raise KubeconfigError("no context to use: none of the kubeconfig files (%s) sets current-context, and neither option "
                              "context nor K8S_AUTH_CONTEXT is set; set one of them to a defined context (%s)"
                              % (config.describe_files(), _listed(contexts)))
    entry = config.entry("contexts", chosen)
    if entry is None:
        raise KubeconfigError("context '%s' (from %s) is not defined in %s; defined contexts: %s"
                              % (chosen, by, config.describe_files(), _listed(contexts)))
    context_file = config.where("contexts", chosen)
    cluster_name = entry.get("cluster")
    if not cluster_name:
        raise KubeconfigError("context '%s' (defined in %s) names no cluster" % (chosen, context_file))
    cluster = config.entry("clusters", cluster_name)
    if cluster is None:
        raise KubeconfigError("context '%s' (defined in %s) names cluster '%s', which no kubeconfig file defines (%s); "
                              "defined clusters: %s" % (chosen, context_file, cluster_name, config.describe_files(),
                                                        _listed(config.names("clusters"))))
    if not cluster.get("server"):
        raise KubeconfigError("cluster '%s' (defined in %s) has no server" % (cluster_name, config.where("clusters", cluster_name)))
    user_name = entry.get("user")
    user = config.entry("users", user_name) if user_name else {}
    if user is None:
        raise KubeconfigError("context '%s' (defined in %s) names user '%s', which no kubeconfig file defines (%s); "
                              "defined users: %s" % (chosen, context_file, user_name, config.describe_files(),
                                                     _listed(config.names("users"))))
    _check_file_refs(cluster, CLUSTER_FILES, "cluster '%s'" % cluster_name, config.where("clusters", cluster_name))
    _check_file_refs(user, USER_FILES, "user '%s'" % user_name, config.where("users", user_name or ""))
    config.context = chosen
    return config


def _check_file_refs(entry: Dict[str, Any], keys: Tuple[str, ...], what: str, where: str) -> None:
    for key in keys:
        path = entry.get(key)
        if not path or entry.get(key + "-data") or (key == "tokenFile" and entry.get("token")):
            continue  # inline data takes precedence over the file
        problem = None
        if not os.path.exists(path):
            problem = "does not exist"
        elif os.path.isdir(path):
            problem = "is a directory"
        else:
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                problem = "cannot be read (%s)" % (exc.strerror or exc.__class__.__name__)
        if problem:
            raise KubeconfigError("%s file %s of %s (referenced by kubeconfig %s) %s" % (key, path, what, where, problem))


def resolve(option: Any = None, context: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> Optional[Kubeconfig]:
    """The merged kubeconfig and its selected context, or None for in-cluster configuration.

    ``context`` None means K8S_AUTH_CONTEXT, then current-context.
    """
    env = os.environ if environ is None else environ
    source = sources(option, env)
    config = load(source)
    if config is None:
        if env.get("KUBERNETES_SERVICE_HOST"):
            return None
        raise KubeconfigError("no kubeconfig file found: %s (named by %s) %s; set option kubeconfig, K8S_AUTH_KUBECONFIG or "
                              "KUBECONFIG to a kubeconfig file, give host and api_key, or run inside a cluster"
                              % (", ".join(source.paths), source.named_by,
                                 "does not exist" if len(source.paths) == 1 else "do not exist"))
    if context:
        named_by = "option context"
    else:
        context, named_by = env.get("K8S_AUTH_CONTEXT") or None, "K8S_AUTH_CONTEXT"
    return select(config, context, named_by)
