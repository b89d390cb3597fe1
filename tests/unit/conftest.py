"""Fixtures the unit tests share."""

import os

import pytest


@pytest.fixture
def kube_env_cleared(monkeypatch):
    """The developer's KUBECONFIG / K8S_AUTH_* must not steer a test that builds its own client."""
    for name in list(os.environ):
        if name.startswith("K8S_AUTH_") or name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
            monkeypatch.delenv(name)
