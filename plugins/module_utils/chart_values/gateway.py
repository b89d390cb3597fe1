# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm values of the Gateway API implementations the ``gateway`` role deploys.

- ``envoy_gateway``: chart gateway-helm of envoyproxy/gateway (``oci://docker.io/envoyproxy/gateway-helm``, chart
  version = release tag). Its ``crds`` sub-chart (``crds.enabled``) carries Envoy Gateway's own CRDs
  (gateway.envoyproxy.io) and the Gateway API CRDs of the *experimental* channel in its ``crds/`` directory. As
  Envoy Gateway's install guide describes for CRDs managed separately, ``crds.enabled`` is false: the role applies
  Envoy Gateway's own CRDs rendered from chart gateway-crds-helm (same version) and the pinned *standard* channel
  (helm v4 server-side-applies a ``crds/`` directory over existing CRDs and fails on their other owner), so the
  gateway.networking.k8s.io CRDs stay standard at the role's pin. ``global.imageRegistry`` moves the control plane,
  the managed Envoy proxies and the rate limiter to another registry (values.tmpl.yaml of tag v1.9.0).
- ``traefik_gateway``: the valuesContent of the HelmChartConfig ``rke2-traefik`` that turns on the Gateway API
  provider of RKE2's bundled Traefik (traefik/traefik-helm-chart values.yaml: ``providers.kubernetesGateway.enabled``,
  ``gatewayClass.enabled``/``name``, ``gateway.enabled``). Only RKE2 bundles that chart.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Any, Dict

from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import ChartValuesError, renderer

# RFC 1123 subdomain: what a GatewayClass name must be.
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# host[:port][/path]: what an image registry setting may be (no scheme, no trailing slash).
REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._-]+)*$")
ENVOY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
TRAEFIK_CONTROLLER = "traefik.io/gateway-controller"
DEFAULT_CLASS = {"envoy": "eg", "traefik": "traefik"}


def image_registry(settings: Dict[str, Any], variable: str) -> str:
    """The image registry setting, checked ("" keeps the chart's registries)."""
    registry = settings.get("image_registry") or ""
    if not isinstance(registry, str):
        raise ChartValuesError("%s must be a string, not %s" % (variable, type(registry).__name__))
    registry = registry.strip()
    if registry and not REGISTRY.match(registry):
        raise ChartValuesError("%s must be host[:port][/path] without a scheme or a trailing slash, not %r"
                               % (variable, registry))
    return registry


def class_name(settings: Dict[str, Any], implementation: str) -> str:
    """The GatewayClass name: the setting, or the implementation's usual name."""
    name = settings.get("class_name") or DEFAULT_CLASS[implementation]
    if not isinstance(name, str) or len(name) > 253 or not NAME.match(name):
        raise ChartValuesError("gateway_class_name must be a lowercase RFC 1123 name (a-z, 0-9, '-', '.'), not %r" % (name,))
    return name


@renderer("envoy_gateway")
def envoy_gateway_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """Values of chart gateway-helm; the distribution changes nothing (Envoy Gateway runs the same everywhere)."""
    registry = image_registry(settings, "gateway_image_registry")
    values: Dict[str, Any] = {
        # The CRDs are applied by the role before the release (Envoy Gateway's own from chart gateway-crds-helm, the
        # standard-channel Gateway API ones from their release): helm v4 server-side-applies a chart's crds/ and would
        # conflict with them, and this sub-chart carries the experimental channel.
        "crds": {"enabled": False},
        "deployment": {"replicas": _replicas(settings)},
    }
    if registry:
        values["global"] = {"imageRegistry": registry}
    return values


@renderer("traefik_gateway")
def traefik_gateway_values(settings: Dict[str, Any], distribution: str) -> Dict[str, Any]:
    """valuesContent of HelmChartConfig kube-system/rke2-traefik: the Gateway API provider and its GatewayClass."""
    if distribution != "rke2":
        raise ChartValuesError("gateway_implementation traefik needs RKE2's bundled Traefik (chart rke2-traefik); the "
                               "cluster's distribution is %s: use gateway_implementation envoy" % distribution)
    return {
        "providers": {"kubernetesGateway": {"enabled": True}},
        "gatewayClass": {"enabled": True, "name": class_name(settings, "traefik")},
        # No default Gateway: one whose Service gets no address is never Programmed, and the verify check fails on it.
        "gateway": {"enabled": bool(settings.get("traefik_default_gateway", False))},
    }


def _replicas(settings: Dict[str, Any]) -> int:
    replicas = settings.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ChartValuesError("gateway_replicas must be a positive integer, not %r" % (replicas,))
    return replicas
