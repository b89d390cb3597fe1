# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What satisfies each checklist requirement, and how to install it.

One table: ``REQUIREMENTS`` maps every requirement id of the shipped checklists to the components that
satisfy it (``NO_COMPONENT`` names the ones no installable component satisfies, with why); ``COMPONENTS``
holds, per component, its pinned install as commands that run as written. Remediation texts read their
install text here through ``install_hint``: it names the collection role that installs the component when
that role exists under ``roles/`` of this collection, and the commands otherwise.

Each pin was confirmed in the project's upstream repository; ``source`` says where.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from dataclasses import dataclass
from typing import Dict, List, Tuple

COLLECTION = "k8s_ai.conformance"
# plugins/module_utils/components.py -> the collection root
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES_DIR = os.path.join(COLLECTION_ROOT, "roles")


@dataclass(frozen=True)
class Component:
    """One installable component: what it is, its pinned version and the commands that install it."""

    name: str  # key in COMPONENTS
    title: str  # what a person calls it
    role: str  # the collection role that will install it, k8s_ai.conformance.<role>
    version: str  # the pinned chart / release version
    namespace: str  # where it is installed
    install: Tuple[str, ...]  # commands, in order; each runs as written
    source: str  # where the pin was confirmed
    notes: str = ""  # what the install assumes or leaves to the site
    provides: Tuple[str, ...] = ()  # what a check looks for once it runs

    @property
    def role_name(self) -> str:
        """The role's short name (roles/<role_name>/ in the collection)."""
        return self.role.rsplit(".", 1)[-1]


def _c(**kwargs) -> Component:
    return Component(**kwargs)


COMPONENTS: Dict[str, Component] = {c.name: c for c in (
    _c(name="gpu_operator", title="NVIDIA GPU Operator", role=COLLECTION + ".gpu_operator", version="v26.7.0",
       namespace="gpu-operator",
       install=("helm repo add nvidia https://helm.ngc.nvidia.com/nvidia",
                "helm repo update",
                "helm install --wait gpu-operator nvidia/gpu-operator -n gpu-operator --create-namespace --version v26.7.0"),
       source="NVIDIA/gpu-operator tag v26.7.0: versions.mk VERSION, README (repo https://helm.ngc.nvidia.com/nvidia)",
       notes="deploys the driver, container toolkit (CDI on by default), device plugin, GPU feature discovery and the "
             "DCGM exporter, whose ServiceMonitor is on by default and skipped by the operator when the Prometheus "
             "Operator CRDs are missing; on RKE2 also set toolkit.env CONTAINERD_SOCKET=/run/k3s/containerd/containerd.sock; "
             "a GPUCluster (DRA mode) replaces the ClusterPolicy",
       provides=("ClusterPolicy cluster-policy", "DaemonSet gpu-operator/nvidia-dcgm-exporter")),
    _c(name="dra_driver", title="NVIDIA DRA driver for GPUs", role=COLLECTION + ".dra_driver", version="0.4.1",
       namespace="dra-driver-nvidia-gpu",
       install=("helm install --wait dra-driver-nvidia-gpu oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu "
                "-n dra-driver-nvidia-gpu --create-namespace --version 0.4.1 --set gpuResourcesEnabledOverride=true",),
       source="kubernetes-sigs/dra-driver-nvidia-gpu tag v0.4.1: deployments/helm/dra-driver-nvidia-gpu/Chart.yaml; "
              "install command from docs/install.md of NVIDIA/k8s-dra-driver-gpu",
       notes="with the GPU operator managing the driver add --set nvidiaDriverRoot=/run/nvidia/driver",
       provides=("DeviceClass gpu.nvidia.com", "ResourceSlices of driver gpu.nvidia.com")),
    _c(name="kueue", title="Kueue", role=COLLECTION + ".gang_scheduler", version="0.19.2", namespace="kueue-system",
       install=("helm install --wait kueue oci://registry.k8s.io/kueue/charts/kueue -n kueue-system --create-namespace "
                "--version 0.19.2",),
       source="kubernetes-sigs/kueue tag v0.19.2: charts/kueue/Chart.yaml and charts/kueue/README.md",
       notes="then create a ResourceFlavor, a ClusterQueue and a LocalQueue, and set a waitForPodsReady block (with a "
             "timeout) in the Configuration inside the kueue-manager-config ConfigMap for all-or-nothing admission "
             "(config.kueue.x-k8s.io/v1beta2 has no enable field and rejects one)",
       provides=("Deployment kueue-system/kueue-controller-manager",)),
    _c(name="volcano", title="Volcano", role=COLLECTION + ".gang_scheduler", version="1.15.1", namespace="volcano-system",
       install=("helm repo add volcano-sh https://volcano-sh.github.io/helm-charts",
                "helm repo update",
                "helm install --wait volcano volcano-sh/volcano -n volcano-system --create-namespace --version 1.15.1"),
       source="volcano-sh/volcano tag v1.15.1: installer/helm/chart/volcano/Chart.yaml and values.yaml; repository URL "
              "from volcano-sh/helm-charts README.md",
       provides=("Deployments volcano-scheduler, volcano-controllers, volcano-admission", "Queue default")),
    _c(name="gateway_api_crds", title="Gateway API standard CRDs", role=COLLECTION + ".gateway", version="v1.6.1",
       namespace="",
       install=("kubectl apply --server-side -f "
                "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml",),
       source="kubernetes-sigs/gateway-api tag v1.6.1 (release asset standard-install.yaml)",
       provides=("gateway.networking.k8s.io/v1 gatewayclasses, gateways, httproutes, grpcroutes",)),
    _c(name="envoy_gateway", title="Envoy Gateway", role=COLLECTION + ".gateway", version="v1.9.0",
       namespace="envoy-gateway-system",
       install=("helm install --wait eg oci://docker.io/envoyproxy/gateway-helm -n envoy-gateway-system --create-namespace "
                "--version v1.9.0",
                "kubectl apply -n default -f https://github.com/envoyproxy/gateway/releases/download/v1.9.0/quickstart.yaml"),
       source="envoyproxy/gateway tag v1.9.0: VERSION, tools/make/helm.mk (chart version = release), "
              "site/content/en/latest/install/install-helm.md; quickstart.yaml is a release asset (.github/workflows/release.yaml)",
       notes="the chart brings the Gateway API v1.6.1 CRDs of the experimental channel, created only where absent (the "
             "gateway role applies the standard channel first and creates only GatewayClass eg); by hand, quickstart.yaml "
             "creates GatewayClass eg, Gateway eg and a sample HTTPRoute",
       provides=("GatewayClass eg (controller gateway.envoyproxy.io/gatewayclass-controller)",)),
    _c(name="inference_extension", title="Gateway API Inference Extension CRDs", role=COLLECTION + ".gateway",
       version="v1.6.0", namespace="",
       install=("kubectl apply --server-side -f "
                "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/v1.6.0/manifests.yaml",),
       source="kubernetes-sigs/gateway-api-inference-extension tag v1.6.0: Makefile release target (artifacts/manifests.yaml)",
       notes="the CRDs only: the Gateway must be an implementation that supports InferencePool, such as kgateway, Istio, "
             "agentgateway, Envoy AI Gateway, GKE Gateway; each pool needs an endpoint picker",
       provides=("inference.networking.k8s.io/v1 inferencepools",)),
    _c(name="kata", title="Kata Containers (kata-deploy)", role=COLLECTION + ".sandbox_runtime", version="3.29.0",
       namespace="kata-system",
       install=("helm install --wait --timeout 10m kata-deploy oci://ghcr.io/kata-containers/kata-deploy-charts/kata-deploy "
                "-n kata-system --create-namespace --version 3.29.0",),
       source="chart location and version as NVIDIA's Confidential Containers quickstart pins them (docs.nvidia.com "
              "confidential-containers install-quickstart); chart tools/packaging/kata-deploy/helm-chart/kata-deploy of "
              "kata-containers/kata-containers (the stored snapshot is older, 3.19.1)",
       notes="kata-deploy installs the runtime on each node it runs on, labels those nodes katacontainers.io/kata-runtime=true "
             "and creates RuntimeClasses kata-* whose scheduling.nodeSelector is that label; nodes need hardware "
             "virtualisation (KVM); gVisor (runsc plus a RuntimeClass with handler runsc) is the alternative without it",
       provides=("RuntimeClass kata-qemu", "node label katacontainers.io/kata-runtime=true")),
    _c(name="dranet", title="DRANET", role=COLLECTION + ".dranet", version="v1.3.0", namespace="kube-system",
       install=("helm install --wait dranet oci://registry.k8s.io/networking/charts/dranet -n kube-system --version v1.3.0",),
       source="kubernetes-sigs/dranet tag v1.4.0: README.md (Installation, Helm chart)",
       notes="then create a DeviceClass whose CEL selector is device.driver == \"dra.net\"",
       provides=("DaemonSet kube-system/dranet", "ResourceSlices of driver dra.net")),
    _c(name="kube_prometheus_stack", title="kube-prometheus-stack", role=COLLECTION + ".monitoring", version="91.9.0",
       namespace="monitoring",
       install=("helm repo add prometheus-community https://prometheus-community.github.io/helm-charts",
                "helm repo update",
                "helm install --wait kube-prometheus-stack prometheus-community/kube-prometheus-stack -n monitoring "
                "--create-namespace --version 91.9.0 "
                "--set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false "
                "--set prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues=false"),
       source="kubernetes-sigs/ai-conformance test/e2e/setup.d/50-kube-prometheus-stack.sh (KUBE_PROMETHEUS_STACK_VERSION "
              "91.9.0); repo URL from prometheus-community/helm-charts README.md",
       notes="the two --set values make Prometheus select every ServiceMonitor and PodMonitor, not only the chart's own",
       provides=("Prometheus monitoring/kube-prometheus-stack-prometheus", "Service monitoring/prometheus-operated:9090")),
    _c(name="prometheus_adapter", title="prometheus-adapter", role=COLLECTION + ".monitoring", version="5.3.0",
       namespace="monitoring",
       install=("helm repo add prometheus-community https://prometheus-community.github.io/helm-charts",
                "helm repo update",
                "helm install --wait prometheus-adapter prometheus-community/prometheus-adapter -n monitoring "
                "--create-namespace --version 5.3.0 --set prometheus.url=http://prometheus-operated.monitoring.svc "
                "--set prometheus.port=9090"),
       source="prometheus-community/helm-charts tag prometheus-adapter-5.3.0: charts/prometheus-adapter/Chart.yaml, values.yaml",
       notes="serves custom.metrics.k8s.io; an accelerator metric needs a rule in the adapter's rules.custom",
       provides=("APIService v1beta1.custom.metrics.k8s.io",)),
    _c(name="kubeflow_trainer", title="Kubeflow Trainer", role=COLLECTION + ".training_operator", version="2.3.0",
       namespace="kubeflow-system",
       install=("helm install --wait kubeflow-trainer oci://ghcr.io/kubeflow/charts/kubeflow-trainer -n kubeflow-system "
                "--create-namespace --version 2.3.0 --set runtimes.defaultEnabled=true",),
       source="kubeflow/trainer tag v2.3.0: charts/kubeflow-trainer/Chart.yaml and README.md",
       notes="it installs JobSet too; set jobset.install=false when JobSet is already installed",
       provides=("Deployment kubeflow-system/kubeflow-trainer-controller-manager", "CRD trainjobs.trainer.kubeflow.org")),
    _c(name="training_operator_v1", title="Kubeflow Training Operator (v1)", role=COLLECTION + ".training_operator",
       version="v1.9.4", namespace="kubeflow",
       install=("kubectl apply --server-side -k 'github.com/kubeflow/trainer.git/manifests/overlays/standalone?ref=v1.9.4'",),
       source="kubeflow/trainer tag v1.9.4: manifests/overlays/standalone, README.md",
       notes="the legacy PyTorchJob/TFJob operator; prefer Kubeflow Trainer",
       provides=("Deployment kubeflow/training-operator",)),
)}

# Requirement id -> the components that satisfy it, preferred first.
REQUIREMENTS: Dict[str, Tuple[str, ...]] = {
    "dra_support": ("dra_driver",),
    "driver_runtime_management": ("gpu_operator", "dra_driver"),
    "gpu_sharing": ("gpu_operator",),
    "virtualized_accelerator": ("gpu_operator",),
    "ai_inference": ("envoy_gateway", "gateway_api_crds"),
    "advanced_inference_ingress": ("inference_extension", "gateway_api_crds"),
    "high_performance_networking": ("dranet",),
    "workload_sandboxing": ("kata",),
    "gang_scheduling": ("kueue", "volcano"),
    "pod_autoscaling": ("kube_prometheus_stack", "prometheus_adapter", "gpu_operator"),
    "accelerator_metrics": ("gpu_operator",),
    "ai_service_metrics": ("kube_prometheus_stack",),
    "secure_accelerator_access": ("gpu_operator", "dra_driver"),
    "robust_controller": ("kubeflow_trainer", "training_operator_v1"),
}

# Requirement id -> why no installable component satisfies it.
NO_COMPONENT: Dict[str, str] = {
    "cluster_autoscaling": (
        "the node autoscaler belongs to the platform's infrastructure (cloud node groups, Cluster API, Karpenter); "
        "a cluster without one reports N/A"),
    "disaggregated_inference": (
        "a prefill/decode serving stack (llm-d, NVIDIA Dynamo, SGLang on RoleBasedGroup) is the site's own model "
        "deployment, sized to its models and accelerators; nothing generic installs it"),
}


def component(name: str) -> Component:
    """The component called ``name``; KeyError names the known ones."""
    try:
        return COMPONENTS[name]
    except KeyError:
        raise KeyError("unknown component %r; known: %s" % (name, ", ".join(sorted(COMPONENTS))))


def components_for(requirement_id: str) -> List[Component]:
    """The components that satisfy a requirement, preferred first ([] for one in NO_COMPONENT)."""
    return [COMPONENTS[n] for n in REQUIREMENTS.get(requirement_id, ())]


def role_available(name: str, roles_dir: str = "") -> bool:
    """Whether the collection ships the role that installs component ``name`` (roles/<role>/ exists)."""
    return os.path.isdir(os.path.join(roles_dir or ROLES_DIR, component(name).role_name))


def install_commands(name: str) -> str:
    """The component's install as one line of commands joined with &&, runnable as written."""
    return " && ".join(component(name).install)


def install_hint(name: str, roles_dir: str = "") -> str:
    """How to install component ``name``: its role when the collection ships it, else its pinned commands."""
    comp = component(name)
    commands = install_commands(name)
    text = "%s %s: %s" % (comp.title, comp.version, commands)
    if role_available(name, roles_dir):
        text = "%s %s with role %s (by hand: %s)" % (comp.title, comp.version, comp.role, commands)
    if comp.notes:
        text += " (%s)" % comp.notes
    return text


def join_fixes(fixes) -> str:
    """Remediation steps as one sentence: joined with '; ', duplicates dropped, the first letter capitalised and a
    final period added."""
    steps = []
    for fix in fixes:
        fix = fix.strip().rstrip(".")
        if fix and fix not in steps:
            steps.append(fix)
    text = "; ".join(steps)
    return text[:1].upper() + text[1:] + "." if text else ""


def requirement_hint(requirement_id: str, roles_dir: str = "") -> str:
    """The install hints of every component satisfying a requirement, joined with '; or '."""
    return "; or ".join(install_hint(c.name, roles_dir) for c in components_for(requirement_id))
