# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm values for each component the install roles deploy, as data.

``render(component, settings, distribution)`` returns the values one chart is installed with: what the
role needs for the checklist requirement it fixes, what the distribution needs (RKE2 and k3s run their
own containerd, for instance), the site's image registry, then the user's ``values`` overrides merged
over all of it (the user wins). One module per install area registers its renderers in ``RENDERERS``;
the ``k8s_ai.conformance.chart_values`` filter is how roles call this.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from typing import Any, Callable, Dict

DISTRIBUTIONS = ("rke2", "k3s", "kubeadm", "generic")
# component name (as in components.COMPONENTS) -> renderer(settings, distribution) -> values
RENDERERS: Dict[str, Callable[[Dict[str, Any], str], Dict[str, Any]]] = {}


class ChartValuesError(ValueError):
    """A setting a renderer cannot turn into values; the message names the role variable."""


def renderer(component: str):
    """Register ``fn(settings, distribution) -> values`` as the renderer of ``component``."""
    def register(fn):
        RENDERERS[component] = fn
        return fn
    return register


def merge(base: Dict[str, Any], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """``overrides`` merged into a copy of ``base``: mappings recursively, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def normalize_distribution(distribution: str) -> str:
    """The distribution as renderers know it: rke2, k3s, kubeadm or generic (anything else)."""
    name = (distribution or "").strip().lower()
    return name if name in DISTRIBUTIONS else "generic"


def render(component: str, settings: Dict[str, Any], distribution: str = "generic") -> Dict[str, Any]:
    """The values ``component`` is installed with; ``settings['values']`` (the user's overrides) merged last."""
    _load()
    try:
        fn = RENDERERS[component]
    except KeyError:
        raise ChartValuesError("no chart values for component %r; known: %s" % (component, ", ".join(sorted(RENDERERS))))
    settings = dict(settings or {})
    overrides = settings.pop("values", None) or {}
    if not isinstance(overrides, dict):
        raise ChartValuesError("the values override for %s must be a mapping, not %s" % (component, type(overrides).__name__))
    return merge(fn(settings, normalize_distribution(distribution)), overrides)


def _load() -> None:
    """Import the renderer modules (they register themselves)."""
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.chart_values import (  # noqa: F401 pylint: disable=unused-import
        gateway, monitoring, nvidia, scheduling, training,
    )
