"""What an install role changed, named from the results its write tasks registered (the applied filter)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_ai.conformance.plugins.filter.applied import applied
from ansible_collections.k8s_ai.conformance.plugins.filter.helm_release import helm_release

CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "gateways.gateway.networking.k8s.io", "resourceVersion": "7"}, "spec": {"group": "x"}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kueue-system"}}
QUEUE = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue", "metadata": {"name": "default", "namespace": "default"}}
RELEASE = {"name": "eg", "namespace": "envoy-gateway-system", "revision": "2", "status": "deployed", "values": {"secret": "x"}}


def test_each_changed_object_and_release_is_named_once_in_task_order():
    results = [
        {"changed": True, "method": "apply", "result": CRD},
        {"changed": False, "method": "apply", "result": CRD},  # in place already
        {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"},
        {"changed": True, "result": {"results": [  # one task, several objects
            {"changed": True, "method": "create", "result": NAMESPACE},
            {"changed": False, "method": "patch", "result": QUEUE}]}},
        {"changed": True, "results": [  # a loop
            {"changed": True, "method": "patch", "result": QUEUE, "item": {}},
            {"changed": True, "method": "apply", "result": CRD, "item": {}}]},
        {"changed": True, "command": "helm upgrade ...", "status": RELEASE, "stdout": ""},
        {"changed": False, "command": "helm upgrade ...", "status": dict(RELEASE, revision="1")},
        {"failed": True, "msg": "the chart could not be read"},
    ]
    assert applied(results) == [
        "CustomResourceDefinition gateways.gateway.networking.k8s.io (applied)",
        "Namespace kueue-system (created)",
        "LocalQueue default/default (patched)",
        "Helm release envoy-gateway-system/eg (revision 2, deployed)",
    ]


def test_nothing_changed_names_nothing():
    assert applied([]) == []
    assert applied([{"changed": False, "method": "apply", "result": CRD}, {"changed": False, "skipped": True}]) == []


def test_a_release_reads_the_same_from_its_secret_and_from_the_helm_task():
    secret = {"name": "sh.helm.release.v1.eg.v2", "namespace": "envoy-gateway-system",
              "labels": {"owner": "helm", "name": "eg", "version": "2", "status": "deployed"}}
    assert helm_release(secret) == applied([{"changed": True, "command": "helm", "status": RELEASE}])[0]


def test_no_value_or_object_data_is_repeated():
    text = " ".join(applied([{"changed": True, "command": "helm", "status": RELEASE},
                             {"changed": True, "method": "apply", "result": CRD}]))
    assert "secret" not in text and "group" not in text


def test_a_wrong_input_is_an_error_naming_what_was_expected():
    with pytest.raises(AnsibleFilterError, match="list of registered task results"):
        applied({"changed": True})
