"""Every evidence command a check records is one kubectl command that runs as written.

A small parser of kubectl's command line (shlex words; ``kubectl`` first; a known subcommand; only flags that
subcommand knows, with the right number of values; resource arguments that look like resources) checks the
commands recorded on every fixture cluster, for every shipped checklist version, with the workload audit on.
The ``api=`` strings are checked too: a ``GET <path>`` they name is a request the run really made.
"""

import re
import shlex
from urllib.parse import unquote

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import checklists, engine
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify
from tests.fakeapi import FakeKubeServer, list_clusters, load_cluster


class NotKubectl(ValueError):
    """The text is not one kubectl command that runs as written."""


# Characters the shell treats specially when they are not quoted: pipes, lists, redirections, subshells,
# expansions and globs. A command whose argument needs one of them must quote that argument.
SHELL_SPECIAL = set("|;&<>()`$*?[]{}!")
PLACEHOLDER = re.compile(r"<[^<>\s]*>|\.\.\.")

# flag -> number of values (0: boolean, which also takes --flag=true|false).
GLOBAL_FLAGS = {"--context": 1, "--kubeconfig": 1, "--cluster": 1, "--user": 1, "--request-timeout": 1,
                "-s": 1, "--server": 1, "--as": 1, "--as-group": 1, "-v": 1, "--v": 1,
                "--insecure-skip-tls-verify": 0}
NAMESPACE_FLAGS = {"-n": 1, "--namespace": 1}
ALL_NAMESPACES = {"-A": 0, "--all-namespaces": 0}
SELECTOR = {"-l": 1, "--selector": 1}
SUBCOMMANDS = {
    "get": dict(NAMESPACE_FLAGS, **ALL_NAMESPACES, **SELECTOR, **{
        "--field-selector": 1, "-o": 1, "--output": 1, "-L": 1, "--label-columns": 1, "--show-labels": 0,
        "--raw": 1, "--sort-by": 1, "--chunk-size": 1, "--no-headers": 0, "--show-kind": 0, "--ignore-not-found": 0,
        "-w": 0, "--watch": 0, "--subresource": 1}),
    "describe": dict(NAMESPACE_FLAGS, **ALL_NAMESPACES, **SELECTOR, **{"--show-events": 0, "--chunk-size": 1}),
    "api-resources": {"--api-group": 1, "--namespaced": 0, "-o": 1, "--output": 1, "--verbs": 1, "--sort-by": 1,
                      "--no-headers": 0, "--cached": 0, "--categories": 1},
    "api-versions": {},
    "version": {"-o": 1, "--output": 1, "--client": 0},
    "auth": dict(NAMESPACE_FLAGS, **ALL_NAMESPACES, **{"--list": 0, "--subresource": 1, "-q": 0, "--quiet": 0}),
    "top": dict(NAMESPACE_FLAGS, **ALL_NAMESPACES, **SELECTOR, **{"--containers": 0, "--sort-by": 1, "--no-headers": 0}),
    "explain": {"--recursive": 0, "--api-version": 1, "-o": 1, "--output": 1},
    "logs": dict(NAMESPACE_FLAGS, **SELECTOR, **{"-c": 1, "--container": 1, "-p": 0, "--previous": 0, "--tail": 1,
                                                 "-f": 0, "--follow": 0, "--since": 1, "--timestamps": 0,
                                                 "--all-containers": 0, "--prefix": 0, "--limit-bytes": 1}),
    "config": {"--minify": 0, "--raw": 0, "-o": 1, "--output": 1},
}
OUTPUT_FORMATS = {
    "get": ("json", "yaml", "wide", "name"),
    "api-resources": ("wide", "name"),
    "version": ("json", "yaml"),
    "explain": ("plaintext", "plaintext-openapiv2"),
    "config": ("json", "yaml"),
}
RESOURCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
OBJECT_NAME = re.compile(r"^[a-zA-Z0-9]([-a-zA-Z0-9._:]*[a-zA-Z0-9])?$")
JSONPATH_FIELD = re.compile(r"^(\.[A-Za-z0-9_\\.\-]+|\[[^\]]+\]|\.\.[A-Za-z0-9_]+|\.\.)+$")


def _unquoted(command):
    """The characters of ``command`` outside single and double quotes (shell rules, backslash escapes)."""
    out, quote, escaped = [], None, False
    for char in command:
        if escaped:
            escaped = False
            continue
        if char == "\\" and quote != "'":
            escaped = True
            continue
        if quote:
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
            continue
        out.append(char)
    if quote:
        raise NotKubectl("unbalanced %s quote" % quote)
    return "".join(out)


def _check_jsonpath(template):
    if not template.startswith("{") or template.count("{") != template.count("}"):
        raise NotKubectl("jsonpath template %r is not a {...} expression" % template)
    for expression in re.findall(r"\{([^{}]*)\}", template):
        if not expression or expression.startswith(("range", "end", "\"", "'")) or expression in ("@",):
            continue
        if not JSONPATH_FIELD.match(expression) and "?(@" not in expression:
            raise NotKubectl("jsonpath expression {%s} is not a field path" % expression)


def _check_output(subcommand, value):
    for prefix in ("jsonpath=", "jsonpath-as-json=", "jsonpath-file="):
        if value.startswith(prefix) and subcommand == "get":
            return _check_jsonpath(value[len(prefix):])
    if value.startswith("custom-columns=") and subcommand == "get":
        columns = value[len("custom-columns="):].split(",")
        for column in columns:
            name, sep, path = column.partition(":")
            if not sep or not re.match(r"^[A-Z0-9_.-]+$", name) or not path.startswith("."):
                raise NotKubectl("custom-columns entry %r is not NAME:.field.path" % column)
            _check_jsonpath("{%s}" % path)
        return None
    if value not in OUTPUT_FORMATS.get(subcommand, ()):
        raise NotKubectl("-o %s is not an output format of kubectl %s" % (value, subcommand))
    return None


def _check_resources(subcommand, args, flags):
    """get/describe TYPE[,TYPE] [NAME...] | TYPE/NAME...; logs POD|TYPE/NAME; top node|pod [NAME]; ..."""
    if subcommand in ("get", "describe"):
        if "--raw" in flags:
            if args:
                raise NotKubectl("kubectl get --raw takes no resource arguments")
            path = flags["--raw"]
            if not path.startswith("/"):
                raise NotKubectl("--raw %r is not an absolute API path" % path)
            return
        if not args:
            raise NotKubectl("kubectl %s needs a resource type" % subcommand)
        if "/" in args[0]:
            for arg in args:
                kind, _sep, name = arg.partition("/")
                if not RESOURCE_TYPE.match(kind) or not OBJECT_NAME.match(name):
                    raise NotKubectl("%r is not TYPE/NAME" % arg)
            return
        types = args[0].split(",")
        for kind in types:
            if not RESOURCE_TYPE.match(kind):
                raise NotKubectl("%r is not a resource type" % kind)
        for name in args[1:]:
            if not OBJECT_NAME.match(name):
                raise NotKubectl("%r is not an object name" % name)
        if len(types) > 1 and len(args) > 1:
            raise NotKubectl("names given with several resource types")
    elif subcommand == "logs":
        if len(args) > 2 or (not args and not any(f in flags for f in ("-l", "--selector"))):
            raise NotKubectl("kubectl logs takes one pod (and an optional container)")
        for arg in args:
            if not OBJECT_NAME.match(arg.split("/", 1)[-1]):
                raise NotKubectl("%r is not a pod" % arg)
    elif subcommand == "top":
        if not args or args[0] not in ("node", "nodes", "no", "pod", "pods", "po") or len(args) > 2:
            raise NotKubectl("kubectl top node|pod [NAME]")
    elif subcommand == "auth":
        if not args or args[0] not in ("can-i", "whoami"):
            raise NotKubectl("kubectl auth can-i|whoami")
    elif subcommand == "config":
        if len(args) != 1 or args[0] not in ("view", "current-context", "get-contexts"):
            raise NotKubectl("kubectl config view|current-context|get-contexts")
    elif subcommand == "explain":
        if len(args) != 1 or not re.match(r"^[a-z][a-z0-9.-]*$", args[0]):
            raise NotKubectl("kubectl explain RESOURCE[.field]")
    elif args:
        raise NotKubectl("kubectl %s takes no arguments" % subcommand)


def parse_kubectl(command):
    """(subcommand, {flag: value}, [arguments]) of one kubectl command line; NotKubectl when it is not one."""
    special = SHELL_SPECIAL & set(_unquoted(command))
    if special:
        raise NotKubectl("shell metacharacter(s) %s outside quotes" % "".join(sorted(special)))
    if PLACEHOLDER.search(command):
        raise NotKubectl("placeholder %r" % PLACEHOLDER.search(command).group(0))
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise NotKubectl(str(exc))
    if not words or words[0] != "kubectl":
        raise NotKubectl("does not start with kubectl")
    words = words[1:]
    flags, args, subcommand = {}, [], None
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-") and word != "-":
            name, sep, value = word.partition("=") if word.startswith("--") or word[2:3] == "=" else (word, "", "")
            known = dict(GLOBAL_FLAGS, **(SUBCOMMANDS.get(subcommand) or {}))
            if subcommand is None:
                known.update(NAMESPACE_FLAGS)
            if name not in known:
                raise NotKubectl("unknown flag %s for kubectl %s" % (name, subcommand or ""))
            if known[name] == 0:
                if sep and value not in ("true", "false"):
                    raise NotKubectl("%s is a boolean flag" % name)
                flags[name] = value or "true"
            else:
                if not sep:
                    i += 1
                    if i >= len(words) or (words[i].startswith("-") and words[i] != "-"):
                        raise NotKubectl("%s needs a value" % name)
                    value = words[i]
                if not value:
                    raise NotKubectl("%s has an empty value" % name)
                flags[name] = value
        elif subcommand is None:
            if word not in SUBCOMMANDS:
                raise NotKubectl("unknown subcommand %r" % word)
            subcommand = word
        else:
            args.append(word)
        i += 1
    if subcommand is None:
        raise NotKubectl("no subcommand")
    for name in ("-o", "--output"):
        if name in flags:
            _check_output(subcommand, flags[name])
    for name in ("-l", "--selector", "--field-selector"):
        if name in flags and (" " in flags[name].strip() and "in (" not in flags[name]):
            raise NotKubectl("selector %r has spaces" % flags[name])
    if "--tail" in flags and not re.match(r"^-?\d+$", flags["--tail"]):
        raise NotKubectl("--tail takes a number")
    if ("-A" in flags or "--all-namespaces" in flags) and ("-n" in flags or "--namespace" in flags):
        raise NotKubectl("both -A and -n")
    _check_resources(subcommand, args, flags)
    return subcommand, flags, args


# ------------------------------------------------------------------------------------------------ the parser
GOOD = (
    "kubectl get nodes",
    "kubectl get nodes -l nvidia.com/gpu.present",
    "kubectl get nodes -l nvidia.com/gpu.present -L nvidia.com/gpu.product,nvidia.com/gpu.count",
    "kubectl get deployment/kueue-controller-manager -n kueue-system",
    "kubectl get deployments,statefulsets,daemonsets -A -l 'app.kubernetes.io/name in (prometheus,alloy)'",
    "kubectl get clusterpolicies.nvidia.com cluster-policy -o yaml",
    "kubectl get resourceslices -o custom-columns=NAME:.metadata.name,DRIVER:.spec.driver,NODE:.spec.nodeName",
    "kubectl get resourceslices --field-selector spec.driver=gpu.nvidia.com -o jsonpath='{..attributes.driverVersion}'",
    "kubectl get crd trainjobs.trainer.kubeflow.org -o jsonpath='{.status.conditions}'",
    "kubectl get pods -A --field-selector 'spec.nodeName=gpu-1,status.phase!=Succeeded'",
    "kubectl get --raw '/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy/api/v1/targets?state=active'",
    "kubectl get --raw /apis/custom.metrics.k8s.io/v1beta1",
    "kubectl api-resources --api-group=resource.k8s.io",
    "kubectl api-resources --api-group resource.k8s.io -o wide",
    "kubectl api-resources --namespaced=true",
    "kubectl api-versions",
    "kubectl version -o json",
    "kubectl auth can-i list nodes",
    "kubectl top node",
    "kubectl explain inferencepools.spec",
    "kubectl logs -n gpu-operator nvidia-dcgm-exporter-abcde --previous --tail 50",
    "kubectl logs -n gpu-operator pod/nvidia-dcgm-exporter-abcde -c exporter",
    "kubectl describe pod -n gpu-operator nvidia-dcgm-exporter-abcde",
    "kubectl config current-context",
    "kubectl get configmap -n kueue-system kueue-manager-config -o jsonpath='{.data.controller_manager_config\\.yaml}'",
)

# The shapes of pseudo-command the sections recorded before (taken from their git history).
BAD = (
    # trailing annotations
    "kubectl get httproutes -A  (rules with weighted backendRefs or header matches)",
    "kubectl get deviceclasses  (network drivers: dra.net, sriovnetwork.k8snetworkplumbingwg.io)",
    "kubectl get resourceslices -o yaml  (driver dra.net)",
    "kubectl get nodes -l feature.node.kubernetes.io/rdma.available=true  (allocatable RDMA/SR-IOV resources)",
    "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations -o json  (webhooks with rules for apiGroup x)",
    "kubectl get hpa -A -o yaml  (Pods/Object metrics)",
    "kubectl get nodepools.karpenter.sh -o yaml  (conditions, requirements, taints, limits)",
    "kubectl get node gpu-1 -o jsonpath='{.metadata.labels}{.metadata.annotations}'  (node-group keys)",
    "kubectl get nodes (no accelerator labels found: read every node's allocatable resources)",
    # placeholders
    "kubectl api-resources --api-group=<group>  (for kubeflow.org, trainer.kubeflow.org)",
    "kubectl get pods -A --field-selector spec.nodeName=<node>,status.phase!=Succeeded  (for each of 3 accelerator nodes)",
    "kubectl get configmap -n monitoring <alloy config>",
    "kubectl logs -n <ns> <pod>",
    # joined commands
    "kubectl get nodes -l nvidia.com/gpu.present; kubectl get nodes -l feature.node.kubernetes.io/pci-10de.present=true",
    "kubectl api-resources --api-group=inference.networking.k8s.io; kubectl api-resources --api-group=inference.networking.x-k8s.io",
    "kubectl get resourceslices -o jsonpath='{..devices[*].attributes.type}'; kubectl get deviceclass mig.nvidia.com",
    "kubectl get nodes && kubectl get pods",
    # pipelines
    "kubectl get daemonsets -A | grep -E 'dcgm-exporter|nvcr.io'",
    "kubectl get daemonsets -n kube-system | grep multus",
    "kubectl api-resources | grep -E 'dynamographdeployments|rolebasedgroups|production-stack.vllm.ai'",
    # shell syntax the command needs quoted
    "kubectl get pods -A -l app in (a,b)",
    "kubectl get resourceslices -o jsonpath={..attributes.driverVersion}",
    "kubectl get --raw /apis/custom.metrics.k8s.io/v1beta1/namespaces/ai/pods/*/DCGM_FI_DEV_GPU_UTIL",
    # not kubectl, unknown subcommand or flag, wrong arity, bad output
    "helm list -A",
    "kubectl",
    "kubectl frobnicate nodes",
    "kubectl get nodes --chunk-size",
    "kubectl get nodes --frobnicate",
    "kubectl api-resources --api-group",
    "kubectl get nodes -o table",
    "kubectl get nodes -o custom-columns=NAME",
    "kubectl get nodes -o jsonpath='.metadata.name'",
    "kubectl get nodes -A -n default",
    "kubectl get",
    "kubectl get 'nodes with gpus'",
    "kubectl get --raw apis/x",
    "kubectl logs --tail many pod-x",
)


@pytest.mark.parametrize("command", GOOD)
def test_parser_accepts_real_kubectl(command):
    parse_kubectl(command)


@pytest.mark.parametrize("command", BAD)
def test_parser_rejects_pseudo_commands(command):
    with pytest.raises(NotKubectl):
        parse_kubectl(command)


def test_parser_reads_flags_and_arguments():
    sub, flags, args = parse_kubectl("kubectl get deployment -n kueue-system kueue-controller-manager -o=yaml")
    assert (sub, args) == ("get", ["deployment", "kueue-controller-manager"])
    assert flags == {"-n": "kueue-system", "-o": "yaml"}


# ------------------------------------------------------------------------------------------------ every fixture
CLUSTERS = [name for name, _description in list_clusters()]
RUNS = [(name, version) for name in CLUSTERS for version in checklists.known_versions()]


def _run(name, version, tmp_path, **option_changes):
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube

    with FakeKubeServer(load_cluster(name)) as server:
        kubeconfig = tmp_path / "kubeconfig"
        server.write_kubeconfig(str(kubeconfig))
        kube = Kube.from_params({"kubeconfig": str(kubeconfig)})
        options = engine.Options(audit_workloads=True, check_timeout=120, **option_changes)
        report = verify(kube, checklist_version=version, options=options)
        return report, server.requests


def _problems(report, requests):
    problems = []
    requested = {r.path for r in requests}
    for result in report["results"]:
        for evidence in result["evidence"]:
            try:
                parse_kubectl(evidence["command"])
            except NotKubectl as exc:
                problems.append("%s: %r: %s" % (result["id"], evidence["command"], exc))
            for part in evidence.get("api", "").split(";"):
                match = re.match(r"^\s*GET (/[^\s?]*)", part)
                if not match or "<" in match.group(1) or "{" in match.group(1):
                    continue
                path = unquote(match.group(1))
                if path not in requested:
                    problems.append("%s: api %r names a request the run did not make" % (result["id"], part.strip()))
    return problems


@pytest.mark.parametrize("name,version", RUNS)
def test_every_evidence_command_parses_on_every_fixture(name, version, tmp_path):
    report, requests = _run(name, version, tmp_path)
    assert report["results"], "no results"
    problems = _problems(report, requests)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", CLUSTERS)
def test_evidence_commands_parse_with_the_streamed_audit(name, tmp_path):
    report, requests = _run(name, None, tmp_path,
                            audit_strategy="stream", custom_metrics_namespace="ai-workloads")
    problems = _problems(report, requests)
    assert not problems, "\n".join(problems)
