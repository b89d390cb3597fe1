"""kube.py builds its client with kubernetes.core's own, partly private, functions. If a kubernetes.core
release renames or reshapes them, this fails loudly here instead of quietly reaching the wrong cluster."""

import inspect
import json
from pathlib import Path

import yaml
from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.kubernetes.core.plugins.module_utils import args_common
from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_CORE = ROOT / ".collections" / "ansible_collections" / "kubernetes" / "core"


def pinned_range():
    spec = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]["kubernetes.core"]
    low, high = [part.strip() for part in spec.split(",")]
    assert low.startswith(">=") and high.startswith("<"), spec
    required = next(c for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"] if c["name"] == "kubernetes.core")
    assert required["version"] == spec, "galaxy.yml and requirements.yml pin the same range"
    return LooseVersion(low[2:]), LooseVersion(high[1:])


def test_the_installed_kubernetes_core_is_in_the_pinned_range():
    version = LooseVersion(json.loads((KUBERNETES_CORE / "MANIFEST.json").read_text())["collection_info"]["version"])
    low, high = pinned_range()
    assert low <= version < high, "kubernetes.core %s is outside the tested range [%s, %s)" % (version, low, high)


def test_the_private_client_functions_kube_py_calls_keep_their_shape():
    for name, parameters in (("_create_auth_spec", ["module", "kwargs"]), ("_create_configuration", ["auth"]),
                             ("_create_headers", ["module", "kwargs"])):
        function = getattr(client, name, None)
        assert callable(function), "kubernetes.core.plugins.module_utils.k8s.client.%s is gone" % name
        assert list(inspect.signature(function).parameters) == parameters, name


def test_the_connection_options_kube_py_reuses_are_there():
    for option in ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert", "client_key",
                   "proxy", "impersonate_user", "impersonate_groups"):
        assert option in args_common.AUTH_ARG_SPEC, option
    assert args_common.AUTH_ARG_SPEC["kubeconfig"]["type"] == "raw"


def test_explicit_credentials_still_build_a_configuration_without_a_kubeconfig():
    auth = client._create_auth_spec(None, host="https://203.0.113.7:6443", api_key="throwaway", validate_certs=False)
    configuration = client._create_configuration(auth)
    assert configuration.host == "https://203.0.113.7:6443"
    assert configuration.api_key == {"authorization": "Bearer throwaway"}
    assert client._create_headers(None, impersonate_user="auditor") == {"Impersonate-User": "auditor"}
