"""Repo-root pytest setup for k8s_ai.conformance.

* ``.collections`` goes on sys.path so tests import the collection the way Ansible does:
  ``ansible_collections.k8s_ai.conformance.plugins.module_utils...`` (via the committed symlink
  ``.collections/ansible_collections/k8s_ai/conformance -> ../../..``) and
  ``ansible_collections.kubernetes.core...`` (unpacked there by ``make install``).
* The repo root goes on sys.path so ``import tests.fakeapi`` works.
* Tests marked ``cluster`` (and everything under tests/cluster) are skipped unless KUBECONFIG is set;
  every other test runs with KUBECONFIG and K8S_AUTH_* removed from the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent
COLLECTIONS_DIR = REPO_ROOT / ".collections"
CLUSTER_DIR = REPO_ROOT / "tests" / "cluster"

for _p in (str(COLLECTIONS_DIR), str(REPO_ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# Subprocesses (ansible-playbook, ansible-doc, modules) find the same collections.
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS_DIR))


@pytest.fixture(autouse=True)
def _no_cluster_settings_from_the_shell(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's KUBECONFIG and K8S_AUTH_* never reach a test (nor the ansible-playbook and module
    processes it starts); only the live tier, marked ``cluster``, uses them on purpose."""
    if request.node.get_closest_marker("cluster") is not None:
        return
    for name in list(os.environ):
        if name == "KUBECONFIG" or name.startswith("K8S_AUTH_"):
            monkeypatch.delenv(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kubeconfig = os.environ.get("KUBECONFIG")
    skip = pytest.mark.skip(reason="cluster test: set KUBECONFIG to run it against a real cluster")
    for item in items:
        path = Path(str(item.path)).resolve()
        if CLUSTER_DIR in path.parents:
            item.add_marker(pytest.mark.cluster)
        if not kubeconfig and item.get_closest_marker("cluster") is not None:
            item.add_marker(skip)
