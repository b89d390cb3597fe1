"""A simulated Kubernetes API server for tests and demos (stdlib HTTP, fixtures in tests/fixtures/).

    from tests.fakeapi import FakeKubeServer, load_cluster
    with FakeKubeServer(load_cluster("rke2-gpu")) as srv:
        srv.write_kubeconfig(path)
"""

from .fixtures import Canned, Cluster, list_clusters, load_cluster
from .rbac import SYSTEM_DISCOVERY_RULES, Attributes
from .server import FakeKubeServer, Request
from .store import ObjectStore

__all__ = ["Attributes", "Canned", "Cluster", "FakeKubeServer", "ObjectStore", "Request", "SYSTEM_DISCOVERY_RULES",
           "list_clusters", "load_cluster"]
