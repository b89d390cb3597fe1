"""Simulated operators: what the add-ons' own controllers (and cert-manager, the endpoint-slice controller and the
aggregator) would write once the install roles created their objects.

They run on the machinery of controllers.py: with the store's ``controller_delay`` not None and ``operators``
true, an object of a kind below **created through the API** (never a fixture object) is reconciled that long
after its creation and after each generation change (`ObjectStore.tick`). A reconcile that waits on another
object (a controller Deployment not ready yet, a CRD not served) is retried after the same delay; a change of
what it depends on (a workload's new status, a Service, an EndpointSlice) schedules it again.

Behaviours (each documented in tests/fixtures/README.md):

- GatewayClass whose controllerName is Envoy Gateway's or Traefik's: ``Accepted=True`` with observedGeneration.
- HelmChartConfig ``kube-system/rke2-traefik`` (with HelmChart ``kube-system/rke2-traefik``) enabling Traefik's
  kubernetesGateway provider and its gatewayClass: RKE2's helm-controller deploys Traefik, whose chart creates
  the GatewayClass (``gatewayClass.name``, default ``traefik``); Traefik then accepts it (above).
- Prometheus (monitoring.coreos.com): replicas available, ``Available`` and ``Reconciled`` True.
- APIService with a ``spec.service``: ``Available=True`` once that Service has a ready endpoint
  (else ``False``, ServiceNotFound / MissingEndpoints); one without a service is ``Available`` (Local).
- Service with a selector: EndpointSlice ``<service>-<hash>`` (discovery.k8s.io/v1, label
  ``kubernetes.io/service-name``, owned by the Service) with one endpoint per replica of every simulated
  Deployment/StatefulSet/DaemonSet of its namespace whose pod template labels match the selector; as many are
  ready as the workload's status says.
- Validating/MutatingWebhookConfiguration: ``caBundle`` (``CA_BUNDLE``) put into every webhook without one
  whose ``clientConfig.service`` names a Service that exists (cert-manager's cainjector or the operator's cert
  controller).
- Kueue ClusterQueue / LocalQueue: ``Active=True`` once a Deployment ``kueue-controller-manager`` is ready (and,
  for a LocalQueue, its ClusterQueue exists).
- Volcano: once a Deployment ``volcano-scheduler`` is ready, Queues ``root`` and ``default`` are created when
  missing (the scheduler does so at start-up); every Queue gets ``status.state: Open``.
- ClusterPolicy (nvidia.com): ``status.state: ready`` with the GPU operator's namespace and condition Ready.
"""

import functools
import hashlib
import json

import yaml

from . import simulations
from .controllers import DAEMONSETS, DEPLOYMENTS, RETRY, SERVICES, WORKLOADS, metadata_of, now

ENDPOINTSLICES = ("discovery.k8s.io", "endpointslices")
APISERVICES = ("apiregistration.k8s.io", "apiservices")
VALIDATING = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
MUTATING = ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
GATEWAYCLASSES = ("gateway.networking.k8s.io", "gatewayclasses")
HELMCHARTS = ("helm.cattle.io", "helmcharts")
HELMCHARTCONFIGS = ("helm.cattle.io", "helmchartconfigs")
PROMETHEUSES = ("monitoring.coreos.com", "prometheuses")
CLUSTERQUEUES = ("kueue.x-k8s.io", "clusterqueues")
LOCALQUEUES = ("kueue.x-k8s.io", "localqueues")
VOLCANO_QUEUES = ("scheduling.volcano.sh", "queues")
CLUSTERPOLICIES = ("nvidia.com", "clusterpolicies")
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")

GATEWAY_CONTROLLERS = {"gateway.envoyproxy.io/gatewayclass-controller": "Envoy Gateway",
                       "traefik.io/gateway-controller": "Traefik"}
CA_BUNDLE = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmZha2VhcGkgc2ltdWxhdGVkIENBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
KUEUE_CONTROLLER = "kueue-controller-manager"
VOLCANO_SCHEDULER = "volcano-scheduler"
GPU_OPERATOR = "gpu-operator"


def _condition(kind, status, reason, message, generation=None, previous=None):
    """A metav1.Condition; lastTransitionTime is kept from ``previous`` when the status did not change."""
    moment = now()
    for old in previous or ():
        if old.get("type") == kind and old.get("status") == status and old.get("lastTransitionTime"):
            moment = old["lastTransitionTime"]
    condition = {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": moment}
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def _without_times(conditions):
    return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions or ()]


def _same_conditions(old, new):
    return _without_times(old) == _without_times(new)


def workload_ready_count(resource_key, obj):
    """(pods, ready pods) a simulated workload's status says, or None before its current generation is observed."""
    status = obj.get("status") or {}
    if status.get("observedGeneration", 0) < metadata_of(obj).get("generation", 1):
        return None
    if resource_key == DAEMONSETS:
        return status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    return status.get("replicas", 0), status.get("readyReplicas", 0)


def _ready(resource_key, obj):
    counts = workload_ready_count(resource_key, obj)
    return counts is not None and counts[0] > 0 and counts[1] >= counts[0]


class Operators:
    """The simulated operators of one ObjectStore (which calls them with its lock held)."""

    def __init__(self, store):
        self.store = store
        self.reconcilers = {
            GATEWAYCLASSES: self._gateway_class, HELMCHARTCONFIGS: self._helm_chart_config,
            PROMETHEUSES: self._prometheus, APISERVICES: self._apiservice, SERVICES: self._service,
            VALIDATING: self._webhooks, MUTATING: self._webhooks, CLUSTERQUEUES: self._kueue_queue,
            LOCALQUEUES: self._kueue_queue, VOLCANO_QUEUES: self._volcano_queue,
            CLUSTERPOLICIES: self._cluster_policy,
        }
        for resource_key, reconcile in simulations.reconcilers().items():
            self.reconcilers[resource_key] = functools.partial(reconcile, self)
        self.admission = simulations.admission()
        self.logs = simulations.logs()
        self.proxies = simulations.proxies()

    @property
    def on(self):
        return self.store.controller_delay is not None and self.store.operators

    def handles(self, resource_key):
        return resource_key in self.reconcilers

    def pod_log(self, pod, container):
        """The log of ``container`` of an API-created pod from a simulated kubelet (simulations' LOGS), or None."""
        if not self.on or not self.store.is_api_created(pod):
            return None
        return next((text for text in (log(self.store, pod, container) for log in self.logs) if text is not None), None)

    def proxy(self, resource_key, namespace, name, path, query):
        """A simulated answer through the proxy of a Service or pod (simulations' PROXY), or None."""
        if not self.on:
            return None
        return next((answer for answer in (proxy(self.store, resource_key, namespace, name, path, query)
                                           for proxy in self.proxies) if answer is not None), None)

    def admit(self, resource_key, obj):
        """The denial message of a simulated validating webhook for creating ``obj``, or None."""
        if not self.on:
            return None
        for check in self.admission.get(resource_key, ()):
            message = check(self.store, obj)
            if message:
                return message
        return None

    # Hooks the store calls.

    def after_write(self, resource_key, obj):
        """An API-created object was created or its generation changed."""
        if self.on and resource_key in self.reconcilers:
            self.store.schedule(resource_key, obj, self.store.controller_delay)

    def after_status(self, resource_key, obj):
        """A simulated workload got a new status: what depends on it is reconciled again."""
        if not self.on:
            return
        namespace = metadata_of(obj).get("namespace", "")
        for service in self.store.sim_objects(SERVICES, namespace):
            self._schedule(SERVICES, service)
        name = metadata_of(obj).get("name")
        if resource_key == DEPLOYMENTS and name == VOLCANO_SCHEDULER and _ready(resource_key, obj):
            self._volcano_default_queues()

    def reconcile(self, resource_key, obj):
        """Run the reconciler of a due object (stored, current uid)."""
        if not self.on:
            return
        if self.reconcilers[resource_key](resource_key, obj) is RETRY:
            self.store.schedule(resource_key, obj, self.store.controller_delay)

    # Helpers.

    def _schedule(self, resource_key, obj):
        if self.store.is_api_created(obj):
            self.store.schedule(resource_key, obj, self.store.controller_delay)

    def _set_status(self, resource_key, obj, status):
        if obj.get("status") != status:
            self.store.sim_write(resource_key, {**obj, "status": status})

    def _ready_deployment(self, name):
        """Ready Deployments ``name``: API-created ones once the simulated controller made them ready, fixture ones
        as their status says (a probe's objects on a fixture cluster meet the add-on the fixture installed)."""
        return [d for d in self.store.sim_objects(DEPLOYMENTS) if metadata_of(d).get("name") == name and _ready(DEPLOYMENTS, d)]

    # Reconcilers: each returns RETRY to be called again after the delay.

    def _gateway_class(self, resource_key, obj):
        controller = (obj.get("spec") or {}).get("controllerName")
        if controller not in GATEWAY_CONTROLLERS:
            return None  # no simulated controller claims it: its status stays as written
        status = dict(obj.get("status") or {})
        previous = status.get("conditions") or []
        generation = metadata_of(obj).get("generation", 1)
        accepted = _condition("Accepted", "True", "Accepted",
                              f"GatewayClass is accepted by {GATEWAY_CONTROLLERS[controller]} (fakeapi)", generation,
                              previous)
        status["conditions"] = [accepted] + [c for c in previous if c.get("type") != "Accepted"]
        if not _same_conditions(previous, status["conditions"]):
            self._set_status(resource_key, obj, status)
        return None

    def _helm_chart_config(self, resource_key, obj):
        meta = metadata_of(obj)
        if (meta.get("namespace"), meta.get("name")) != ("kube-system", "rke2-traefik"):
            return None
        if self.store.sim_get(HELMCHARTS, "kube-system", "rke2-traefik") is None:
            return RETRY  # the helm-controller deploys the chart the HelmChart names
        try:
            values = yaml.safe_load((obj.get("spec") or {}).get("valuesContent") or "") or {}
        except yaml.YAMLError:
            return None
        provider = ((values.get("providers") or {}).get("kubernetesGateway") or {})
        gateway_class = values.get("gatewayClass") or {}
        if not provider.get("enabled") or not gateway_class.get("enabled", True):
            return None
        if not self.store.served(GATEWAYCLASSES):
            return RETRY
        name = gateway_class.get("name") or "traefik"
        if self.store.sim_get(GATEWAYCLASSES, "", name) is None:
            self.store.sim_create(GATEWAYCLASSES, {"metadata": {"name": name, "labels": {
                "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/name": "traefik"}},
                "spec": {"controllerName": "traefik.io/gateway-controller"}})
        return None

    def _prometheus(self, resource_key, obj):
        spec = obj.get("spec") or {}
        replicas = spec.get("replicas", 1)
        generation = metadata_of(obj).get("generation", 1)
        status = dict(obj.get("status") or {})
        previous = status.get("conditions") or []
        conditions = [_condition("Available", "True", "", "", generation, previous),
                      _condition("Reconciled", "True", "", "", generation, previous)]
        status.update(availableReplicas=replicas, replicas=replicas, updatedReplicas=replicas, unavailableReplicas=0,
                      paused=bool(spec.get("paused", False)), shards=spec.get("shards", 1))
        status["conditions"] = conditions if not _same_conditions(previous, conditions) else previous
        self._set_status(resource_key, obj, status)
        return None

    def _service_ready(self, namespace, name):
        """(the Service exists, it has a ready endpoint)."""
        if self.store.sim_get(SERVICES, namespace, name) is None:
            return False, False
        for slice_ in self.store.sim_objects(ENDPOINTSLICES, namespace):
            if (metadata_of(slice_).get("labels") or {}).get("kubernetes.io/service-name") != name:
                continue
            if any((e.get("conditions") or {}).get("ready") for e in slice_.get("endpoints") or ()):
                return True, True
        return True, False

    def _apiservice(self, resource_key, obj):
        service = (obj.get("spec") or {}).get("service")
        previous = (obj.get("status") or {}).get("conditions") or []
        if not service:
            condition = _condition("Available", "True", "Local", "Local APIServices are always available",
                                   previous=previous)
        else:
            namespace, name = service.get("namespace", ""), service.get("name", "")
            exists, ready = self._service_ready(namespace, name)
            if ready:
                condition = _condition("Available", "True", "Passed", "all checks passed", previous=previous)
            elif exists:
                condition = _condition("Available", "False", "MissingEndpoints",
                                       f"endpoints for service/{name} in \"{namespace}\" have no addresses with port name \"https\"",
                                       previous=previous)
            else:
                condition = _condition("Available", "False", "ServiceNotFound",
                                       f'service/{name} in "{namespace}" is not present', previous=previous)
        if not _same_conditions(previous, [condition]):
            self._set_status(resource_key, obj, {**(obj.get("status") or {}), "conditions": [condition]})
        return None

    def _service(self, resource_key, obj):
        meta, spec = metadata_of(obj), obj.get("spec") or {}
        namespace, name = meta.get("namespace", ""), meta["name"]
        for hooks_key in (VALIDATING, MUTATING):  # a webhook's Service now exists
            for config in self.store.sim_objects(hooks_key):
                if any(((h.get("clientConfig") or {}).get("service") or {}).get("name") == name
                       for h in config.get("webhooks") or ()):
                    self._schedule(hooks_key, config)
        selector = spec.get("selector")
        if not selector:
            return None  # no managed EndpointSlices for a Service without a selector
        endpoints = []
        for workload_key in WORKLOADS:
            for workload in self.store.sim_objects(workload_key, namespace):
                labels = metadata_of(((workload.get("spec") or {}).get("template") or {})).get("labels") or {}
                if not self.store.is_api_created(workload) or any(labels.get(k) != v for k, v in selector.items()):
                    continue
                counts = workload_ready_count(workload_key, workload) or (
                    (workload.get("spec") or {}).get("replicas", 1), 0)
                for index in range(counts[0]):
                    endpoints.append(_endpoint(workload, index, index < counts[1]))
        ports = [{"name": p.get("name", ""), "protocol": p.get("protocol", "TCP"),
                  "port": p["targetPort"] if isinstance(p.get("targetPort"), int) else p.get("port")}
                 for p in spec.get("ports") or ()]
        slice_name = f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:5]}"
        owner = {"apiVersion": "v1", "kind": "Service", "name": name, "uid": meta.get("uid"),
                 "controller": True, "blockOwnerDeletion": True}
        desired = {"metadata": {"name": slice_name, "namespace": namespace, "ownerReferences": [owner],
                                "labels": {"kubernetes.io/service-name": name,
                                           "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
                   "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        current = self.store.sim_get(ENDPOINTSLICES, namespace, slice_name)
        if current is None:
            current = self.store.sim_create(ENDPOINTSLICES, desired)
        elif {k: v for k, v in current.items() if k != "metadata"} != {k: v for k, v in desired.items() if k != "metadata"}:
            current = self.store.sim_write(ENDPOINTSLICES, {**current, **{k: v for k, v in desired.items() if k != "metadata"}},
                                           spec_changed=True)
        else:
            return None
        for apiservice in self.store.sim_objects(APISERVICES):  # APIServices served by this Service
            service = (apiservice.get("spec") or {}).get("service") or {}
            if (service.get("namespace"), service.get("name")) == (namespace, name):
                self._schedule(APISERVICES, apiservice)
        return None

    def _webhooks(self, resource_key, obj):
        hooks, changed = [], False
        for hook in obj.get("webhooks") or ():
            client = hook.get("clientConfig") or {}
            service = client.get("service")
            if service and not client.get("caBundle") and \
                    self.store.sim_get(SERVICES, service.get("namespace", ""), service.get("name", "")) is not None:
                hook = {**hook, "clientConfig": {**client, "caBundle": CA_BUNDLE}}
                changed = True
            hooks.append(hook)
        if changed:
            self.store.sim_write(resource_key, {**obj, "webhooks": hooks}, spec_changed=True)
        return None

    def _kueue_queue(self, resource_key, obj):
        if not self._ready_deployment(KUEUE_CONTROLLER):
            return RETRY
        if resource_key == LOCALQUEUES:
            cluster_queue = (obj.get("spec") or {}).get("clusterQueue", "")
            if self.store.sim_get(CLUSTERQUEUES, "", cluster_queue) is None:
                return RETRY
        status = dict(obj.get("status") or {})
        previous = status.get("conditions") or []
        message = "Can admit new workloads" if resource_key == CLUSTERQUEUES else "Can submit new workloads to localQueue"
        conditions = [_condition("Active", "True", "Ready", message, metadata_of(obj).get("generation", 1), previous)]
        if not _same_conditions(previous, conditions):
            status["conditions"] = conditions
            self._set_status(resource_key, obj, status)
        return None

    def _volcano_default_queues(self):
        if not self.store.served(VOLCANO_QUEUES):
            return
        for name, spec in (("root", {"weight": 1, "reclaimable": False}),
                           ("default", {"weight": 1, "reclaimable": True, "parent": "root"})):
            if self.store.sim_get(VOLCANO_QUEUES, "", name) is None:
                self.store.sim_create(VOLCANO_QUEUES, {"metadata": {"name": name}, "spec": spec})

    def _volcano_queue(self, resource_key, obj):
        status = {**(obj.get("status") or {}), "state": "Open"}
        status.setdefault("reservation", {})
        self._set_status(resource_key, obj, status)
        return None

    def _cluster_policy(self, resource_key, obj):
        operators = [d for d in self.store.sim_objects(DEPLOYMENTS) if metadata_of(d).get("name") == GPU_OPERATOR]
        namespace = metadata_of(operators[0]).get("namespace") if operators else GPU_OPERATOR
        previous = (obj.get("status") or {}).get("conditions") or []
        conditions = [_condition("Ready", "True", "Reconciled", "ClusterPolicy is ready as all resources have been "
                                 "successfully reconciled", previous=previous),
                      _condition("Error", "False", "Ready", "", previous=previous)]
        status = {**(obj.get("status") or {}), "state": "ready", "namespace": namespace}
        status["conditions"] = previous if _same_conditions(previous, conditions) else conditions
        self._set_status(resource_key, obj, status)
        return None


def _endpoint(workload, index, ready):
    """One pod of a simulated workload as an EndpointSlice endpoint (deterministic name and IP)."""
    meta = metadata_of(workload)
    digest = hashlib.sha256(json.dumps([meta.get("namespace"), meta.get("name")]).encode()).digest()
    pod = f"{meta['name']}-{digest.hex()[:10]}-{index}"
    return {"addresses": [f"10.244.{digest[0]}.{(digest[1] + index) % 254 + 1}"],
            "conditions": {"ready": ready, "serving": ready, "terminating": False},
            "targetRef": {"kind": "Pod", "name": pod, "namespace": meta.get("namespace", "")}}
