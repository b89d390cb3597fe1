"""Simulated controllers: the status a kube-controller-manager would give API-created workloads and CRDs.

Only objects created through the API are reconciled (fixture objects keep the status their file
says), and only when the store's ``controller_delay`` is not None: a Deployment, StatefulSet or
DaemonSet gets a status for its current generation that long after each spec change; a CRD is
Established (and served) ``crd_establish_delay`` after its creation. The annotation
NEVER_READY set to "true" on a workload makes its status say that no replica is ready (the
generation is still observed), for tests of waits that must time out. What the add-ons' own operators
would write (GatewayClass accepted, EndpointSlices, caBundles, queues, ...) is in operators.py.
"""

import hashlib
import json
from datetime import datetime, timezone
from decimal import Decimal


def now():
    """The current time as an API object's timestamps write it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_SUFFIXES = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
             "T": Decimal(10) ** 12, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
             "Ti": Decimal(2) ** 40}


def quantity(value):
    """A resource quantity ("250m", "16Mi", 2; absent: 0) as a Decimal of base units, as the simulated controllers
    read requests and allocatable (a parser of the fake's own: the collection's is what the tests check)."""
    text = str(value if value not in (None, "") else "0")
    suffix = text.lstrip("0123456789.")
    return Decimal(text[:len(text) - len(suffix)]) * _SUFFIXES[suffix]


def millicores(value):
    """A quantity in thousandths ("250m" -> 250, "2" -> 2000); 0 when absent."""
    return int(quantity(value) * 1000)


def metadata_of(obj):
    """An object's metadata ({} when it has none)."""
    return obj.get("metadata") or {}


RETRY = object()  # a simulated reconcile's answer: not yet, try again after the delay
PODS = ("", "pods")
NODES = ("", "nodes")
SERVICES = ("", "services")
NAMESPACES = ("", "namespaces")
DEPLOYMENTS = ("apps", "deployments")
STATEFULSETS = ("apps", "statefulsets")
DAEMONSETS = ("apps", "daemonsets")
WORKLOADS = (DEPLOYMENTS, STATEFULSETS, DAEMONSETS)
NEVER_READY = "fakeapi.k8s-ai.io/never-ready"


# What kube-apiserver fills in on apps/v1 workloads written through the API (fixture objects are
# stored as their files say). Clients rely on some of it (kubernetes.core reads
# spec.updateStrategy.type of a StatefulSet).
_ROLLING = {"type": "RollingUpdate"}
SPEC_DEFAULTS = {
    DEPLOYMENTS: {"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                  "strategy": {**_ROLLING, "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}},
    STATEFULSETS: {"replicas": 1, "revisionHistoryLimit": 10, "podManagementPolicy": "OrderedReady",
                   "updateStrategy": {**_ROLLING, "rollingUpdate": {"partition": 0}}},
    DAEMONSETS: {"revisionHistoryLimit": 10,
                 "updateStrategy": {**_ROLLING, "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}},
}


def apply_spec_defaults(resource_key, obj):
    """Fill in the server defaults of a workload's spec (in place; only missing fields)."""
    defaults = SPEC_DEFAULTS.get(resource_key)
    spec = obj.get("spec")
    if not defaults or not isinstance(spec, dict):
        return
    spec = obj["spec"] = dict(spec)
    for key, value in defaults.items():
        if key not in spec:
            spec[key] = value
        elif key in ("strategy", "updateStrategy") and isinstance(spec[key], dict) \
                and spec[key].get("type", "RollingUpdate") == "RollingUpdate":
            rolling = {**value["rollingUpdate"], **(spec[key].get("rollingUpdate") or {})}
            spec[key] = {**value, **spec[key], "rollingUpdate": rolling}


def initial_status(resource_key, controllers_on):
    """The status a new workload is stored with, as kube-apiserver serializes an empty one (its
    non-omitempty counts), or None. Without controllers only StatefulSets get one (tests rely on
    the others having no status at all then)."""
    if resource_key == STATEFULSETS:
        return {"replicas": 0, "availableReplicas": 0}
    if not controllers_on:
        return None
    if resource_key == DAEMONSETS:
        return {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}
    if resource_key == DEPLOYMENTS:
        return {}
    return None


def _never_ready(obj):
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(NEVER_READY, "")).lower() == "true"


def _revision(obj):
    template = json.dumps((obj.get("spec") or {}).get("template") or {}, sort_keys=True)
    return hashlib.sha256(template.encode()).hexdigest()[:10]


def _condition(kind, status, reason, message, moment):
    return {"type": kind, "status": status, "lastUpdateTime": moment, "lastTransitionTime": moment,
            "reason": reason, "message": message}


def tolerates(tolerations, taint):
    """Whether a pod with ``tolerations`` may run on a node with ``taint`` (NoSchedule/NoExecute only)."""
    if taint.get("effect") not in ("NoSchedule", "NoExecute"):
        return True
    for toleration in tolerations or ():
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if not toleration.get("key"):
            if toleration.get("operator") == "Exists":
                return True
            continue
        if toleration["key"] != taint.get("key"):
            continue
        if toleration.get("operator") == "Exists" or toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def daemon_nodes(daemonset, nodes):
    """The nodes a DaemonSet's pods would run on: nodeSelector labels match and every taint is tolerated."""
    pod_spec = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    selector = pod_spec.get("nodeSelector") or {}
    tolerations = pod_spec.get("tolerations") or ()
    chosen = []
    for node in nodes:
        labels = (node.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        if all(tolerates(tolerations, taint) for taint in (node.get("spec") or {}).get("taints") or ()):
            chosen.append(node)
    return chosen


def workload_status(resource_key, obj, nodes, moment):
    """The status a controller would write for ``obj``'s current generation."""
    spec = obj.get("spec") or {}
    generation = obj["metadata"].get("generation", 1)
    ready = not _never_ready(obj)
    if resource_key == DAEMONSETS:
        desired = len(daemon_nodes(obj, nodes))
        count = desired if ready else 0
        return {"observedGeneration": generation, "desiredNumberScheduled": desired,
                "currentNumberScheduled": desired, "updatedNumberScheduled": desired, "numberMisscheduled": 0,
                "numberReady": count, "numberAvailable": count,
                **({} if ready or not desired else {"numberUnavailable": desired})}
    replicas = spec.get("replicas", 1)
    count = replicas if ready else 0
    if resource_key == STATEFULSETS:
        revision = f"{obj['metadata']['name']}-{_revision(obj)}"
        return {"observedGeneration": generation, "replicas": replicas, "readyReplicas": count,
                "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": count,
                "currentRevision": revision, "updateRevision": revision, "collisionCount": 0}
    name = f"{obj['metadata']['name']}-{_revision(obj)}"
    if ready:
        available = _condition("Available", "True", "MinimumReplicasAvailable",
                               "Deployment has minimum availability.", moment)
        progressing = _condition("Progressing", "True", "NewReplicaSetAvailable",
                                 f'ReplicaSet "{name}" has successfully progressed.', moment)
    else:
        available = _condition("Available", "False", "MinimumReplicasUnavailable",
                               "Deployment does not have minimum availability.", moment)
        progressing = _condition("Progressing", "True", "ReplicaSetUpdated",
                                 f'ReplicaSet "{name}" is progressing.', moment)
    status = {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
              "readyReplicas": count, "availableReplicas": count, "conditions": [available, progressing]}
    if not ready and replicas:
        status["unavailableReplicas"] = replicas
    return status


def established_status(crd, moment):
    """A CRD's status once its names are accepted and it is Established."""
    spec = crd.get("spec") or {}
    stored = [v["name"] for v in spec.get("versions") or () if v.get("storage")]
    conditions = [{"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": moment}
                  for t, r, m in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                                  ("Established", "InitialNamesAccepted", "the initial names have been accepted"))]
    return {"acceptedNames": spec.get("names") or {}, "conditions": conditions, "storedVersions": stored}
