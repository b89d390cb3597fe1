"""The built-in resources a Kubernetes v1.32-v1.36 API server serves.

Names, kinds, short names, categories, verbs and subresources follow the
discovery documents kubernetes/kubernetes publishes under ``api/discovery/``.
Alpha APIs are left out; beta APIs that are off by default are served only
when a cluster's ``runtimeConfig`` enables them, as with kube-apiserver's
``--runtime-config``.
"""

from dataclasses import dataclass, field

ALL = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
GPU = ("get", "patch", "update")
CREATE = ("create",)
PROXY_VERBS = ("create", "delete", "get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``status``; kind/group/version default to the parent's."""

    name: str
    verbs: tuple = GPU
    kind: str = ""
    group: str = ""
    version: str = ""


STATUS = Subresource("status")
SCALE = Subresource("scale", GPU, "Scale", "autoscaling", "v1")


@dataclass(frozen=True)
class Resource:
    """One resource of one API group version, as discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple = ()
    verbs: tuple = ALL
    subresources: tuple = ()
    categories: tuple = ()
    singular: str = ""
    custom: bool = False  # custom/aggregated resources keep apiVersion and kind on list items
    has_status: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not self.singular:
            object.__setattr__(self, "singular", self.kind.lower())
        object.__setattr__(self, "has_status", any(s.name == "status" for s in self.subresources))

    @property
    def api_version(self):
        """``v1`` for the core group, else ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):
        """``pods`` or ``deployments.apps``: the name used in API error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self):
        """Storage key: the same objects are served by every version of a group/resource."""
        return (self.group, self.plural)


def _sub(name, kind, verbs=GPU, group="", version=""):
    return Subresource(name, verbs, kind, group, version)


def _gv(group_version, *specs):
    group, version = group_version.rpartition("/")[::2]
    return [Resource(group, version, *spec[:3], **(spec[3] if len(spec) > 3 else {})) for spec in specs]


def _dra(group_version):
    return _gv(
        group_version,
        ("deviceclasses", "DeviceClass", False),
        ("resourceclaims", "ResourceClaim", True, {"subresources": (STATUS,)}),
        ("resourceclaimtemplates", "ResourceClaimTemplate", True),
        ("resourceslices", "ResourceSlice", False),
    )


def _hpa(group_version):
    return _gv(group_version, ("horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
                               {"short_names": ("hpa",), "categories": ("all",), "subresources": (STATUS,)}))


_ALL_CAT = {"categories": ("all",)}
_EXT_CAT = {"categories": ("api-extensions",)}

CORE = _gv(
    "v1",
    ("bindings", "Binding", True, {"verbs": CREATE}),
    ("componentstatuses", "ComponentStatus", False, {"short_names": ("cs",), "verbs": ("get", "list")}),
    ("configmaps", "ConfigMap", True, {"short_names": ("cm",)}),
    ("endpoints", "Endpoints", True, {"short_names": ("ep",), "singular": "endpoints"}),
    ("events", "Event", True, {"short_names": ("ev",)}),
    ("limitranges", "LimitRange", True, {"short_names": ("limits",)}),
    ("namespaces", "Namespace", False, {
        "short_names": ("ns",), "verbs": tuple(v for v in ALL if v != "deletecollection"),
        "subresources": (Subresource("finalize", ("update",)), STATUS)}),
    ("nodes", "Node", False, {"short_names": ("no",), "subresources": (
        _sub("proxy", "NodeProxyOptions", PROXY_VERBS), STATUS)}),
    ("persistentvolumeclaims", "PersistentVolumeClaim", True, {"short_names": ("pvc",), "subresources": (STATUS,)}),
    ("persistentvolumes", "PersistentVolume", False, {"short_names": ("pv",), "subresources": (STATUS,)}),
    ("pods", "Pod", True, {"short_names": ("po",), "categories": ("all",), "subresources": (
        _sub("attach", "PodAttachOptions", ("create", "get")),
        _sub("binding", "Binding", CREATE),
        _sub("ephemeralcontainers", "Pod"),
        _sub("eviction", "Eviction", CREATE, "policy", "v1"),
        _sub("exec", "PodExecOptions", ("create", "get")),
        _sub("log", "Pod", ("get",)),
        _sub("portforward", "PodPortForwardOptions", ("create", "get")),
        _sub("proxy", "PodProxyOptions", PROXY_VERBS),
        _sub("resize", "Pod"),
        STATUS)}),
    ("podtemplates", "PodTemplate", True),
    ("replicationcontrollers", "ReplicationController", True, {
        "short_names": ("rc",), "categories": ("all",), "subresources": (SCALE, STATUS)}),
    ("resourcequotas", "ResourceQuota", True, {"short_names": ("quota",), "subresources": (STATUS,)}),
    ("secrets", "Secret", True),
    ("serviceaccounts", "ServiceAccount", True, {"short_names": ("sa",), "subresources": (
        _sub("token", "TokenRequest", CREATE, "authentication.k8s.io", "v1"),)}),
    ("services", "Service", True, {"short_names": ("svc",), "categories": ("all",), "subresources": (
        _sub("proxy", "ServiceProxyOptions", PROXY_VERBS), STATUS)}),
)

GROUPS = [
    _gv("apiregistration.k8s.io/v1", ("apiservices", "APIService", False, {**_EXT_CAT, "subresources": (STATUS,)})),
    _gv("apps/v1",
        ("controllerrevisions", "ControllerRevision", True),
        ("daemonsets", "DaemonSet", True, {"short_names": ("ds",), **_ALL_CAT, "subresources": (STATUS,)}),
        ("deployments", "Deployment", True, {"short_names": ("deploy",), **_ALL_CAT, "subresources": (SCALE, STATUS)}),
        ("replicasets", "ReplicaSet", True, {"short_names": ("rs",), **_ALL_CAT, "subresources": (SCALE, STATUS)}),
        ("statefulsets", "StatefulSet", True, {"short_names": ("sts",), **_ALL_CAT, "subresources": (SCALE, STATUS)})),
    _gv("events.k8s.io/v1", ("events", "Event", True, {"short_names": ("ev",)})),
    _gv("authentication.k8s.io/v1",
        ("selfsubjectreviews", "SelfSubjectReview", False, {"verbs": CREATE}),
        ("tokenreviews", "TokenReview", False, {"verbs": CREATE})),
    _gv("authorization.k8s.io/v1",
        ("localsubjectaccessreviews", "LocalSubjectAccessReview", True, {"verbs": CREATE}),
        ("selfsubjectaccessreviews", "SelfSubjectAccessReview", False, {"verbs": CREATE}),
        ("selfsubjectrulesreviews", "SelfSubjectRulesReview", False, {"verbs": CREATE}),
        ("subjectaccessreviews", "SubjectAccessReview", False, {"verbs": CREATE})),
    _hpa("autoscaling/v2"),
    _hpa("autoscaling/v1"),
    _gv("batch/v1",
        ("cronjobs", "CronJob", True, {"short_names": ("cj",), **_ALL_CAT, "subresources": (STATUS,)}),
        ("jobs", "Job", True, {**_ALL_CAT, "subresources": (STATUS,)})),
    _gv("certificates.k8s.io/v1", ("certificatesigningrequests", "CertificateSigningRequest", False, {
        "short_names": ("csr",), "subresources": (Subresource("approval"), STATUS)})),
    _gv("networking.k8s.io/v1",
        ("ingressclasses", "IngressClass", False),
        ("ingresses", "Ingress", True, {"short_names": ("ing",), "subresources": (STATUS,)}),
        ("ipaddresses", "IPAddress", False, {"short_names": ("ip",)}),
        ("networkpolicies", "NetworkPolicy", True, {"short_names": ("netpol",)}),
        ("servicecidrs", "ServiceCIDR", False, {"subresources": (STATUS,)})),
    _gv("policy/v1", ("poddisruptionbudgets", "PodDisruptionBudget", True, {
        "short_names": ("pdb",), "subresources": (STATUS,)})),
    _gv("rbac.authorization.k8s.io/v1",
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("clusterroles", "ClusterRole", False),
        ("rolebindings", "RoleBinding", True),
        ("roles", "Role", True)),
    _gv("storage.k8s.io/v1",
        ("csidrivers", "CSIDriver", False),
        ("csinodes", "CSINode", False),
        ("csistoragecapacities", "CSIStorageCapacity", True),
        ("storageclasses", "StorageClass", False, {"short_names": ("sc",)}),
        ("volumeattachments", "VolumeAttachment", False, {"subresources": (STATUS,)})),
    _gv("admissionregistration.k8s.io/v1",
        ("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False, _EXT_CAT),
        ("validatingadmissionpolicies", "ValidatingAdmissionPolicy", False, {**_EXT_CAT, "subresources": (STATUS,)}),
        ("validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", False, _EXT_CAT),
        ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False, _EXT_CAT)),
    _gv("apiextensions.k8s.io/v1", ("customresourcedefinitions", "CustomResourceDefinition", False, {
        "short_names": ("crd", "crds"), **_EXT_CAT, "subresources": (STATUS,)})),
    _gv("scheduling.k8s.io/v1", ("priorityclasses", "PriorityClass", False, {"short_names": ("pc",)})),
    _gv("coordination.k8s.io/v1", ("leases", "Lease", True)),
    _gv("node.k8s.io/v1", ("runtimeclasses", "RuntimeClass", False)),
    _gv("discovery.k8s.io/v1", ("endpointslices", "EndpointSlice", True)),
    _gv("flowcontrol.apiserver.k8s.io/v1",
        ("flowschemas", "FlowSchema", False, {"subresources": (STATUS,)}),
        ("prioritylevelconfigurations", "PriorityLevelConfiguration", False, {"subresources": (STATUS,)})),
]

# Group versions that appeared after v1.32 (GA, on by default) or are off by default
# (served only when runtimeConfig enables them): group/version -> (first minor, on by default, resources).
GATED = {
    "storage.k8s.io/v1": (34, True, _gv("storage.k8s.io/v1", (
        "volumeattributesclasses", "VolumeAttributesClass", False, {"short_names": ("vac",)}))),
    "resource.k8s.io/v1": (34, True, _dra("resource.k8s.io/v1")),
    "resource.k8s.io/v1beta2": (33, False, _dra("resource.k8s.io/v1beta2")),
    "resource.k8s.io/v1beta1": (32, False, _dra("resource.k8s.io/v1beta1")),
}


def parse_runtime_config(entries):
    """``["resource.k8s.io/v1beta1", "x/v1=false"]`` -> {"resource.k8s.io/v1beta1": True, "x/v1": False}."""
    config = {}
    for entry in entries or ():
        gv, value = str(entry).partition("=")[::2]
        config[gv.strip()] = value.strip().lower() not in ("false", "0")
    return config


def builtin_resources(minor, runtime_config=None):
    """Built-in resources served by a server of minor version ``minor``, in discovery order."""
    config = parse_runtime_config(runtime_config)
    resources = list(CORE)
    for group_resources in GROUPS:
        gv = group_resources[0].api_version
        if config.get(gv, True):
            resources.extend(group_resources)
    for gv, (first_minor, default_on, group_resources) in GATED.items():
        if minor >= first_minor and config.get(gv, default_on):
            resources.extend(group_resources)
    return resources
