# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The images probe pods run, pinned by digest; ``probe_image_registry`` moves them to a site's mirror."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from typing import Dict, List, Optional

# name -> reference (registry/repository:tag@digest); the digests are the multi-arch image indexes.
IMAGES: Dict[str, str] = {
    # a shell, sleep and true: Jobs that complete
    "busybox": "registry.k8s.io/e2e-test-images/busybox:1.36.1-1@sha256:a9155b13325b2abef48e71de77bb8ac015412a566829f621d06bfae5c699b1b9",
    # pods that only need to exist and run
    "pause": "registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
    # a Python 3 interpreter with nothing else: the stub inference server whose metrics a monitoring system must collect
    # (index digest as docker-library/repo-info repos/python/remote/3.13-alpine3.24.md lists it, Python 3.13.15)
    "python": "docker.io/library/python:3.13-alpine3.24@sha256:79e7a9b9ff1cbceff819f856fb374477792a5967759d94df266de7b7b4120e6f",
    # a vanilla glibc userland without NVIDIA tools: nvidia-smi in it was injected by the container runtime
    # (index digest as docker-library/repo-info repos/ubuntu/remote/jammy-20260901.2.md lists it)
    "ubuntu": "docker.io/library/ubuntu:jammy-20260901.2@sha256:b8b6ee6aa931ecd9d0d952abc34dc0e5f7c6a30c6bb71b079fe399fde0329c02",
}


def image(name: str, registry: Optional[str] = None) -> str:
    """The reference of image ``name``, its registry host replaced by ``registry`` (a mirror, path allowed)."""
    reference = IMAGES[name]
    if not registry:
        return reference
    return "%s/%s" % (registry.rstrip("/"), reference.split("/", 1)[1])


def every_image(registry: Optional[str] = None) -> List[str]:
    """Every image a probe may pull, as pods would name it."""
    return sorted(image(name, registry) for name in IMAGES)
