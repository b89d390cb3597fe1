"""RBAC for the simulated API server: request attributes and ClusterRole rule matching.

``request_attributes`` resolves a request the way kube-apiserver's RequestInfoFactory does
(k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): ``/api/v1/...`` and
``/apis/<group>/<version>/...`` with at least a resource are resource requests (GET on a
collection is ``list``, or ``watch`` with ``watch=true``; on one object ``get``); everything
else (``/version``, ``/api``, ``/apis``, ``/apis/<group>[/<version>]``, ``/openapi/...``,
``/healthz``) is a non-resource request whose verb is the lower-cased HTTP method.

``rule_allows`` is the RBAC authorizer's ``RuleAllows``
(plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/apis/rbac/v1/evaluation_helpers.go): verbs
and apiGroups match exactly or by ``*``; resources exactly, by ``*``, or ``*/<subresource>``;
a non-empty resourceNames must contain the request's name (so it never allows a list);
nonResourceURLs match exactly, by ``*``, or by a trailing-``*`` prefix.
"""

from typing import NamedTuple
from urllib.parse import parse_qs

from .errors import ApiError

# What kube-apiserver grants every authenticated user through the default system:discovery
# and system:public-info-viewer ClusterRoles (ClusterRoleBindings to system:authenticated).
SYSTEM_DISCOVERY_RULES = (
    {"verbs": ["get"], "nonResourceURLs": ["/livez", "/readyz", "/healthz", "/version", "/version/",
                                           "/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"]},
)
# system:basic-user, also bound to system:authenticated: a user may ask what it may do.
SYSTEM_BASIC_USER_RULES = (
    {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
     "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
    {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
)

API_PREFIXES = ("api", "apis")
NAMESPACE_SUBRESOURCES = ("status", "finalize")
SPECIAL_VERBS = ("proxy", "watch")
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class Attributes(NamedTuple):
    """The authorizer attributes of one request (kube-apiserver's authorizer.Attributes).

    A resource request has ``resource_request`` True and verb, api_group, resource, subresource,
    namespace, name; a non-resource request has ``resource_request`` False, verb and ``path``.
    """

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True
    api_version: str = ""

    @classmethod
    def non_resource(cls, verb, path):
        return cls(verb=verb, path=path, resource_request=False)

    @property
    def combined_resource(self):
        """``pods`` or ``services/proxy``: what a rule's ``resources`` are matched against."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def __str__(self):
        if not self.resource_request:
            return f"{self.verb} {self.path}"
        scope = f" -n {self.namespace}" if self.namespace else ""
        name = f" {self.name}" if self.name else ""
        return f"{self.verb} {self.api_group or 'core'}/{self.combined_resource}{name}{scope}"


def _split_path(path):
    path = path.strip("/")
    return path.split("/") if path else []


def request_attributes(method, path, query=""):
    """The Attributes of ``method path?query`` (``path`` URL-decoded, ``query`` raw)."""
    method = method.upper()
    parts = _split_path(path)
    non_resource = Attributes.non_resource(method.lower(), path)
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return non_resource
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix != "api":  # /apis/<group>/<version>/<resource>: four parts at least
        if len(parts) < 3:
            return non_resource
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in SPECIAL_VERBS:  # the deprecated /api/v1/watch/..., /api/v1/proxy/... forms
        if len(parts) < 2:
            return non_resource._replace(verb="")  # kube-apiserver rejects these; nothing to allow
        verb, parts = parts[0], parts[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if parts[0] == "namespaces":
        if len(parts) > 1:
            namespace = parts[1]
            if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
                parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    subresource = parts[2] if len(parts) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        params = {k: v[0] for k, v in parse_qs(query or "").items()}
        verb = "watch" if params.get("watch", "") in ("1", "t", "T", "true", "TRUE", "True") else "list"  # ParseBool
        name = _exact_name(params.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(verb, group, resource, subresource, namespace, name, "", True, version)


def _exact_name(field_selector):
    """A list/watch with ``fieldSelector=metadata.name=<name>`` is authorized as being for that name."""
    for term in (t.strip() for t in field_selector.split(",") if t.strip()):
        if "!=" in term:
            continue
        key, sep, value = term.replace("==", "=", 1).partition("=")
        if sep and key.strip() == "metadata.name":
            value = value.strip()
            return value if value not in (".", "..") and "/" not in value and "%" not in value else ""
    return ""


def _field(rule, *names):
    for name in names:
        value = rule.get(name)
        if value is not None:
            return list(value)
    return []


def verb_matches(rule, verb):
    return any(v == "*" or v == verb for v in _field(rule, "verbs"))


def api_group_matches(rule, group):
    return any(g == "*" or g == group for g in _field(rule, "apiGroups", "api_groups"))


def resource_matches(rule, combined_resource, subresource):
    for ruled in _field(rule, "resources"):
        if ruled == "*" or ruled == combined_resource:
            return True
        if subresource and len(ruled) == len(subresource) + 2 and ruled.startswith("*/") \
                and ruled.endswith(subresource):
            return True
    return False


def resource_name_matches(rule, name):
    names = _field(rule, "resourceNames", "resource_names")
    return not names or name in names


def non_resource_url_matches(rule, path):
    for url in _field(rule, "nonResourceURLs", "non_resource_urls"):
        if url == "*" or url == path:
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(rule, attributes):
    """Whether one PolicyRule (a dict with ClusterRole field names) allows the request."""
    if attributes.resource_request:
        return (verb_matches(rule, attributes.verb) and api_group_matches(rule, attributes.api_group)
                and resource_matches(rule, attributes.combined_resource, attributes.subresource)
                and resource_name_matches(rule, attributes.name))
    return verb_matches(rule, attributes.verb) and non_resource_url_matches(rule, attributes.path)


def allows(rules, attributes):
    """Whether any of ``rules`` allows the request."""
    return any(rule_allows(rule, attributes) for rule in rules)


def allowing_rules(rules, attributes):
    """The indexes of the rules that allow the request."""
    return [index for index, rule in enumerate(rules) if rule_allows(rule, attributes)]


def forbidden_message(attributes, user):
    """kube-apiserver's forbiddenMessage plus apierrors.NewForbidden's prefix."""
    if not attributes.resource_request:
        return f'forbidden: User "{user}" cannot {attributes.verb} path "{attributes.path}"'
    group, resource = attributes.api_group, attributes.resource
    qualified = f"{resource}.{group}" if group else resource
    subject = f'{qualified} "{attributes.name}"' if attributes.name else qualified
    if attributes.namespace:
        scope = f'in the namespace "{attributes.namespace}"'
    else:
        scope = "at the cluster scope"
    return (f'{subject} is forbidden: User "{user}" cannot {attributes.verb} resource '
            f'"{attributes.combined_resource}" in API group "{group}" {scope}')


def forbidden(attributes, user):
    """The ApiError (403 Forbidden Status) kube-apiserver answers when no rule allows the request."""
    details = {}
    if attributes.resource_request:
        if attributes.name:
            details["name"] = attributes.name
        if attributes.api_group:
            details["group"] = attributes.api_group
        if attributes.resource:
            details["kind"] = attributes.resource
    return ApiError(403, "Forbidden", forbidden_message(attributes, user), details)
