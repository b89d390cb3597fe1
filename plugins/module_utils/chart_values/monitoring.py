# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm values of the monitoring stack the ``monitoring`` role deploys.

- ``kube_prometheus_stack`` (prometheus-community/helm-charts charts/kube-prometheus-stack): Prometheus selects every
  ServiceMonitor and PodMonitor in every namespace (``prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues``
  and ``podMonitorSelectorNilUsesHelmValues`` false: the template then renders ``serviceMonitorSelector: {}``), which
  is what the ai_service_metrics check reads. Per distribution:

  - rke2: node-exporter moves from 9100 to 9110 (``prometheus-node-exporter.service.port``/``targetPort``; NVIDIA
    AICR's recipes/overlays/rke2.yaml: some RKE2 host images run a host node_exporter on 9100 and the hostNetwork
    DaemonSet then crash-loops). RKE2 binds kube-controller-manager, kube-scheduler, etcd metrics and kube-proxy
    metrics to 127.0.0.1, so their scrapers are off unless ``control_plane_metrics`` is set (then the site has set
    the bind addresses: https 10257/10259 with the serving certificate not verified, etcd 2381, kube-proxy 10249).
  - k3s: those components run inside the k3s process (no pods for the chart's Services to select), so the scrapers
    are off; with ``control_plane_metrics`` they scrape ``control_plane_endpoints`` (the server nodes' IPs) with
    job name k3s-server, as the chart's values.yaml describes for k3s.
  - kubeadm/generic: the chart's defaults.
- ``prometheus_adapter`` (charts/prometheus-adapter): ``prometheus.url``/``port`` point at the operator's
  ``prometheus-operated`` Service of the stack, and ``rules.custom`` serves each accelerator metric as a Pods metric
  of custom.metrics.k8s.io (the series' exported_namespace/exported_pod labels mapped to namespace/pod: the labels
  dcgm-exporter's pod attribution gets when Prometheus scrapes it through a ServiceMonitor), which is what
  pod_autoscaling checks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict, List

from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, renderer
from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values.gateway import image_registry

METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
URL = re.compile(r"^https?://[^\s/:]+(/\S*)?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IP_OR_HOST = re.compile(r"^[A-Za-z0-9.:-]+$")

NODE_EXPORTER_PORT = {"rke2": 9110}  # else the chart's 9100
CONTROL_PLANE = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
# component -> (port, https) once the site exposes it beyond 127.0.0.1
CONTROL_PLANE_PORTS = {"kubeControllerManager": (10257, True), "kubeScheduler": (10259, True),
                       "kubeEtcd": (2381, False), "kubeProxy": (10249, False)}
K3S_JOB = "k3s-server"
OPERATED_SERVICE = "prometheus-operated"
ACCELERATOR_METRICS = ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_FB_USED",
                       "DCGM_FI_DEV_FB_FREE")
METRICS_QUERY = "avg(max_over_time(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)"


def _bool(settings: Dict[str, Any], key: str, variable: str, default: bool) -> bool:
    value = settings.get(key, default)
    if not isinstance(value, bool):
        raise ChartValuesError("%s must be true or false, not %r" % (variable, value))
    return value


def _port(value: Any, variable: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ChartValuesError("%s must be a port number (0 for the default), not %r" % (variable, value))
    return value


def _endpoints(settings: Dict[str, Any]) -> List[str]:
    endpoints = settings.get("control_plane_endpoints") or []
    if not isinstance(endpoints, list) or not all(isinstance(e, str) and IP_OR_HOST.match(e) for e in endpoints):
        raise ChartValuesError("monitoring_control_plane_endpoints must be a list of server node IPs, not %r" % (endpoints,))
    return list(endpoints)


@renderer("kube_prometheus_stack")
def kube_prometheus_stack_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """Values of chart kube-prometheus-stack."""
    registry = image_registry(settings, "monitoring_image_registry")
    select_all = _bool(settings, "select_all_monitors", "monitoring_select_all_monitors", True)
    values: Dict[str, Any] = {
        "prometheus": {"prometheusSpec": {
            "serviceMonitorSelectorNilUsesHelmValues": not select_all,
            "podMonitorSelectorNilUsesHelmValues": not select_all,
        }},
        "grafana": {"enabled": _bool(settings, "grafana_enabled", "monitoring_grafana_enabled", False)},
        "alertmanager": {"enabled": _bool(settings, "alertmanager_enabled", "monitoring_alertmanager_enabled", False)},
    }
    if registry:
        # every image of the stack and its sub-charts (global.* reaches the sub-charts too)
        values["global"] = {"imageRegistry": registry}

    port = _port(settings.get("node_exporter_port", 0), "monitoring_node_exporter_port") or NODE_EXPORTER_PORT.get(distribution)
    if port:
        values["prometheus-node-exporter"] = {"service": {"port": port, "targetPort": port}}

    control_plane = _bool(settings, "control_plane_metrics", "monitoring_control_plane_metrics", False)
    endpoints = _endpoints(settings)
    if distribution in ("rke2", "k3s") and not control_plane:
        for key in CONTROL_PLANE:
            values[key] = {"enabled": False}
    elif distribution == "rke2":
        for key in CONTROL_PLANE:
            values[key] = _scraper(key, endpoints)
    elif distribution == "k3s":
        if not endpoints:
            raise ChartValuesError("monitoring_control_plane_metrics on k3s needs monitoring_control_plane_endpoints (the "
                                   "server nodes' IPs): k3s runs the control plane inside its own process, not as pods")
        for key in CONTROL_PLANE:
            values[key] = _scraper(key, endpoints)
            if key != "kubeEtcd":
                values[key]["jobNameOverride"] = K3S_JOB
    return values


def _scraper(key: str, endpoints: List[str]) -> Dict[str, Any]:
    port, https = CONTROL_PLANE_PORTS[key]
    scraper: Dict[str, Any] = {"enabled": True, "service": {"enabled": True, "port": port, "targetPort": port}}
    if https:
        # the components' serving certificates are self-signed for 127.0.0.1 / localhost
        scraper["serviceMonitor"] = {"https": True, "insecureSkipVerify": True}
    if endpoints:
        scraper["endpoints"] = endpoints
    return scraper


def adapter_rules(settings: Dict[str, Any]) -> List[Dict[str, Any]]:
    """rules.custom: each accelerator metric as a Pods metric of custom.metrics.k8s.io."""
    metrics = settings.get("accelerator_metrics", list(ACCELERATOR_METRICS))
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) and METRIC.match(m) for m in metrics):
        raise ChartValuesError("monitoring_adapter_accelerator_metrics must be a non-empty list of Prometheus metric "
                               "names, not %r" % (metrics,))
    labels = {}
    for key, resource in (("namespace_label", "namespace"), ("pod_label", "pod")):
        label = settings.get(key) or "exported_" + resource
        if not isinstance(label, str) or not LABEL.match(label):
            raise ChartValuesError("monitoring_adapter_%s must be a Prometheus label name, not %r" % (key, label))
        labels[resource] = label
    rules = []
    for metric in dict.fromkeys(metrics):
        rules.append({
            "seriesQuery": '%s{%s!="",%s!=""}' % (metric, labels["namespace"], labels["pod"]),
            "resources": {"overrides": {labels["namespace"]: {"resource": "namespace"},
                                        labels["pod"]: {"resource": "pod"}}},
            "name": {"matches": "^%s$" % metric, "as": metric},
            "metricsQuery": METRICS_QUERY,
        })
    return rules


@renderer("prometheus_adapter")
def prometheus_adapter_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """Values of chart prometheus-adapter; the distribution changes nothing."""
    registry = image_registry(settings, "monitoring_image_registry")
    url = settings.get("prometheus_url") or ""
    if not url:
        namespace = settings.get("namespace") or "monitoring"
        if not isinstance(namespace, str) or not DNS_LABEL.match(namespace):
            raise ChartValuesError("monitoring_namespace must be a DNS label, not %r" % (namespace,))
        url = "http://%s.%s.svc" % (OPERATED_SERVICE, namespace)
    if not isinstance(url, str) or not URL.match(url):
        raise ChartValuesError("monitoring_adapter_prometheus_url must be an http(s) URL without a port "
                               "(the port is monitoring_adapter_prometheus_port), not %r" % (url,))
    port = _port(settings.get("prometheus_port", 9090), "monitoring_adapter_prometheus_port") or 9090
    values: Dict[str, Any] = {
        "prometheus": {"url": url.rstrip("/"), "port": port},
        "rules": {"default": _bool(settings, "default_rules", "monitoring_adapter_default_rules", True),
                  "custom": adapter_rules(settings)},
    }
    if registry:
        values["image"] = {"repository": "%s/prometheus-adapter/prometheus-adapter" % registry}
    return values
