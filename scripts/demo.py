"""See k8s_ai.conformance work without a cluster: verify a SIMULATED cluster and show the report.

Starts the project's fake Kubernetes API server (tests/fakeapi) with a fixture cluster, runs the
real `playbooks/verify.yml` against it with a throwaway kubeconfig, prints report.md and stops
the server. Only this demo and the tests ever use the simulated cluster.

    .venv/bin/python scripts/demo.py [--cluster rke2-gpu] [--output-dir ai-conformance-report/demo]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakeapi import FakeKubeServer, load_cluster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", default="rke2-gpu", help="fixture cluster to simulate (python -m tests.fakeapi list)")
    parser.add_argument("--output-dir", default="ai-conformance-report/demo", help="where the artifacts are written")
    parser.add_argument("ansible_args", nargs="*", help="extra ansible-playbook arguments, after --")
    args = parser.parse_args()

    bin_dir = Path(sys.executable).parent
    playbook = str(bin_dir / "ansible-playbook") if (bin_dir / "ansible-playbook").exists() else "ansible-playbook"
    output_dir = Path(args.output_dir).resolve()
    # Connection settings from the caller's environment must not leak into the demo's run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_") and k != "KUBECONFIG"}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")

    cluster = load_cluster(args.cluster)
    with tempfile.TemporaryDirectory(prefix="ai-conformance-demo-") as tmp, FakeKubeServer(cluster) as server:
        kubeconfig = Path(tmp) / "kubeconfig"
        server.write_kubeconfig(str(kubeconfig), context="simulated-%s" % args.cluster)
        print("== SIMULATED cluster '%s' at %s (not a real cluster)" % (args.cluster, server.url), flush=True)
        command = [playbook, "playbooks/verify.yml", "-i", "inventories/example/hosts.yml",
                   "-e", "ai_conformance_kubeconfig=%s" % kubeconfig,
                   "-e", "ai_conformance_output_dir=%s" % output_dir, *args.ansible_args]
        rc = subprocess.call(command, cwd=str(ROOT), env=env)
        requests = server.request_count
    report = output_dir / "report.md"
    if report.exists():
        print("\n" + report.read_text())
    print("== %d API requests; artifacts in %s" % (requests, output_dir))
    print("== ansible-playbook exited %d%s" % (rc, "" if rc == 0 else " (the simulated cluster does not meet every MUST)"))
    return rc


if __name__ == "__main__":
    sys.exit(main())
