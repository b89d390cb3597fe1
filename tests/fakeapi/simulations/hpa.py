"""The HorizontalPodAutoscaler controller, for ``autoscaling/v2`` HPAs created through the API that scale a Deployment
of their namespace on Pods metrics (AverageValue targets) or Object metrics (Value targets).

- Each delay (the controller's sync) it reads every metric where kube-controller-manager would, in the HPA's own
  namespace: ``/apis/custom.metrics.k8s.io/v1beta1/namespaces/<ns>/pods/*/<metric>`` (the average of the values), for
  an Object metric on a Namespace ``/namespaces/<ns>/metrics/<metric>`` (the HPA's namespace, whatever the name), on
  any other object ``/namespaces/<ns>/<kind>s/<name>/<metric>`` (the first value). The values are the cluster's canned
  aggregated responses at those paths: ``store.aggregated``, which whoever starts the server sets to
  ``Cluster.aggregated`` (path -> Canned); without it no metric has a value.
- The exporter and adapter for API-created pods: the pods of a Deployment whose template has an ``nvidia.com/gpu``
  limit (and their Namespace) read, where nothing is canned, the first value of any namespace's canned
  ``pods/*/<metric>`` list, as a pod on the fixture's first GPU would.
- The APIService ``v1beta1.custom.metrics.k8s.io`` annotated ``fakeapi.k8s-ai.io/unserved-metrics: "<metric>,..."``
  serves no value of those metrics (the adapter's 404) whatever is canned.
- Every metric read: ``ScalingActive=True`` (ValidMetricFound), ``status.currentMetrics``, and the HPA algorithm: per
  metric ceil(spec.replicas x value / target), kept within the 10 % tolerance; the largest; stabilized over the
  recommendations of ``spec.behavior``'s scaleUp and scaleDown stabilizationWindowSeconds (defaults 0 and 300 s); clamped
  to minReplicas/maxReplicas (``ScalingLimited``). A change is written to the Deployment's ``spec.replicas`` (its
  simulated status follows) with ``AbleToScale=True`` SucceededRescale and ``status.lastScaleTime``. Scaling policies
  (rate limits) are not simulated.
- A metric without a value: ``ScalingActive=False`` FailedGetPodsMetric or FailedGetObjectMetric, and no rescale. A
  missing Deployment: ``AbleToScale=False`` FailedGetScale.
"""

import json
import math
import re
import time

from ..controllers import DEPLOYMENTS, RETRY, metadata_of, now, quantity

HPAS = ("autoscaling", "horizontalpodautoscalers")
APISERVICES = ("apiregistration.k8s.io", "apiservices")
CUSTOM_METRICS = "/apis/custom.metrics.k8s.io/v1beta1"
CUSTOM_METRICS_APISERVICE = "v1beta1.custom.metrics.k8s.io"
UNSERVED = "fakeapi.k8s-ai.io/unserved-metrics"
GPU = "nvidia.com/gpu"
TOLERANCE = 0.1
DEFAULT_WINDOWS = {"scaleUp": 0, "scaleDown": 300}
_RECOMMENDATIONS = {}  # HPA uid -> [(time.monotonic(), replicas)]: the controller keeps them in memory too


def _aggregated(store):
    """The cluster's canned aggregated responses set on the store (path -> Canned); none when nobody set them."""
    return getattr(store, "aggregated", None) or {}


def _canned_items(store, path):
    canned = _aggregated(store).get(path)
    return (json.loads(canned.body).get("items") or []) if canned is not None and canned.status == 200 else []


def _unserved(store):
    service = store.sim_get(APISERVICES, "", CUSTOM_METRICS_APISERVICE) or {}
    return {m.strip() for m in (metadata_of(service).get("annotations") or {}).get(UNSERVED, "").split(",") if m.strip()}


def _holds_gpu(deployment):
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return any(((c.get("resources") or {}).get("limits") or {}).get(GPU) for c in template.get("containers") or [])


def _gpu_value(store, metric):
    """The first value of any namespace's canned pods/*/<metric> list."""
    pattern = re.compile(r"%s/namespaces/[^/]+/pods/\*/%s" % (re.escape(CUSTOM_METRICS), re.escape(metric)))
    for path in sorted(_aggregated(store)):
        items = _canned_items(store, path) if pattern.fullmatch(path) else []
        if items:
            return quantity(items[0]["value"])
    return None


def _source(metric):
    return (metric.get("pods") if metric.get("type") == "Pods" else metric.get("object")) or {}


def _metric_name(metric):
    return (_source(metric).get("metric") or {}).get("name", "")


def _value(store, hpa, deployment, metric):
    """The metric's value as the HPA controller reads it, or None when the custom metrics API has none."""
    namespace, name = metadata_of(hpa)["namespace"], _metric_name(metric)
    described = _source(metric).get("describedObject") or {}
    if metric.get("type") == "Pods":
        path = "%s/namespaces/%s/pods/*/%s" % (CUSTOM_METRICS, namespace, name)
    elif described.get("kind") == "Namespace":
        path = "%s/namespaces/%s/metrics/%s" % (CUSTOM_METRICS, namespace, name)
    else:
        path = "%s/namespaces/%s/%ss/%s/%s" % (CUSTOM_METRICS, namespace, str(described.get("kind")).lower(), described.get("name"), name)
    if name in _unserved(store):
        return None
    values = [quantity(item["value"]) for item in _canned_items(store, path)]
    if values:
        return sum(values) / len(values) if metric.get("type") == "Pods" else values[0]
    per_pod = metric.get("type") == "Pods" or described.get("kind") == "Namespace"
    return _gpu_value(store, name) if per_pod and _holds_gpu(deployment) else None


def _text(value):
    """A value as the canonical quantity the API writes (whole units or millis)."""
    milli = int(round(value * 1000))
    return str(milli // 1000) if milli % 1000 == 0 else "%dm" % milli


def _target(metric):
    target = _source(metric).get("target") or {}
    return quantity(target.get("averageValue") if metric.get("type") == "Pods" else target.get("value"))


def _status_entry(metric, value):
    source = _source(metric)
    entry = {key: source[key] for key in ("describedObject", "metric") if key in source}
    entry["current"] = {"averageValue" if metric.get("type") == "Pods" else "value": _text(value)}
    return {"type": metric["type"], metric["type"].lower(): entry}


def _proposal(metric, value, replicas):
    ratio = float(value / _target(metric))
    return replicas if abs(1.0 - ratio) <= TOLERANCE else math.ceil(ratio * replicas)


def _stabilized(hpa, current, proposal):
    """The recommendation after the stabilization windows (at least the lowest recommendation of the scale-up window, at
    most the highest of the scale-down window), this one remembered."""
    behavior = (hpa.get("spec") or {}).get("behavior") or {}
    windows = {way: (behavior.get(way) or {}).get("stabilizationWindowSeconds", DEFAULT_WINDOWS[way]) for way in DEFAULT_WINDOWS}
    now, uid = time.monotonic(), metadata_of(hpa)["uid"]
    history = [(at, r) for at, r in _RECOMMENDATIONS.get(uid, []) if now - at < max(windows.values())]
    up = min([r for at, r in history if now - at < windows["scaleUp"]] + [proposal])
    down = max([r for at, r in history if now - at < windows["scaleDown"]] + [proposal])
    _RECOMMENDATIONS[uid] = history + [(now, proposal)]
    return min(max(current, up), down)


def _write_status(ops, hpa, status, conditions):
    """Store ``status`` with ``conditions`` ((type, status, reason, message) each) set over the HPA's others."""
    previous = (hpa.get("status") or {}).get("conditions") or []
    new = {c[0]: {"type": c[0], "status": c[1], "reason": c[2], "message": c[3], "lastTransitionTime": next(
        (p["lastTransitionTime"] for p in previous if (p.get("type"), p.get("status")) == c[:2]), now())} for c in conditions}
    status["conditions"] = [new.pop(p.get("type"), p) for p in previous] + list(new.values())
    if hpa.get("status") != status:
        ops.store.sim_write(HPAS, {**hpa, "status": status})


def _scale(ops, deployment, replicas):
    """Write the Deployment's new spec.replicas; its simulated status follows."""
    store = ops.store
    new = store.sim_write(DEPLOYMENTS, {**deployment, "spec": {**deployment["spec"], "replicas": replicas}}, spec_changed=True)
    if store.is_api_created(new):
        store.schedule(DEPLOYMENTS, new, store.controller_delay)


def _limited(replicas, low, high):
    if replicas > high:
        return ("ScalingLimited", "True", "TooManyReplicas", "the desired replica count is more than the maximum replica count")
    if replicas < low:
        return ("ScalingLimited", "True", "TooFewReplicas", "the desired replica count is less than the minimum replica count")
    return ("ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range")


def _able(proposal, stabilized, rescaled):
    if rescaled is not None:
        return ("AbleToScale", "True", "SucceededRescale", "the HPA controller was able to update the target scale to %d" % rescaled)
    if stabilized > proposal:
        return ("AbleToScale", "True", "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the highest recent recommendation")
    if stabilized < proposal:
        return ("AbleToScale", "True", "ScaleUpStabilized",
                "recent recommendations were lower than current one, applying the lowest recent recommendation")
    return ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")


def sync(ops, _resource_key, obj):
    """One sync of an HPA: read its metrics, compute the replicas, rescale its Deployment."""
    spec, status = obj.get("spec") or {}, dict(obj.get("status") or {})
    ref = spec.get("scaleTargetRef") or {}
    if not spec.get("metrics") or ref.get("kind") != "Deployment":
        return None  # CPU HPAs (resource metrics) and other targets are not simulated
    deployment = ops.store.sim_get(DEPLOYMENTS, metadata_of(obj)["namespace"], ref.get("name"))
    if deployment is None:
        _write_status(ops, obj, status, [("AbleToScale", "False", "FailedGetScale", "the HPA controller was unable to get the target's "
                                          "current scale: deployments.apps \"%s\" not found" % ref.get("name"))])
        return RETRY
    current = int((deployment.get("spec") or {}).get("replicas", 1))
    status.update(currentReplicas=current, desiredReplicas=status.get("desiredReplicas", 0))
    values = [(metric, _value(ops.store, obj, deployment, metric)) for metric in spec["metrics"]]
    missing = [metric for metric, value in values if value is None]
    got_scale = ("AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale")
    if missing:
        status.pop("currentMetrics", None)
        kind, name = missing[0]["type"], _metric_name(missing[0])
        _write_status(ops, obj, status, [got_scale, (
            "ScalingActive", "False", "FailedGet%sMetric" % kind, "the HPA was unable to compute the replica count: unable to get "
            "metric %s: unable to fetch metrics from custom metrics API: the server could not find the metric %s for %s" % (
                name, name, "pods" if kind == "Pods" else "objects"))])
        return RETRY
    proposal = max(_proposal(metric, value, current) for metric, value in values)
    stabilized = _stabilized(obj, current, proposal)
    low, high = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
    desired = min(max(stabilized, low), high)
    if desired != current:
        _scale(ops, deployment, desired)
        status["lastScaleTime"] = now()
    status.update(desiredReplicas=desired, currentMetrics=[_status_entry(metric, value) for metric, value in values])
    _write_status(ops, obj, status, [
        _able(proposal, stabilized, desired if desired != current else None),
        ("ScalingActive", "True", "ValidMetricFound", "the HPA was able to successfully calculate a replica count from %s metric %s"
         % (spec["metrics"][0]["type"].lower(), _metric_name(spec["metrics"][0]))),
        _limited(stabilized, low, high)])
    return RETRY


RECONCILERS = {HPAS: sync}
