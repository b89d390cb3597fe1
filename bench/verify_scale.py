"""Benchmark: the read-only verification on a large simulated cluster, side by side by pod count.

For each pod count a simulated cluster (the rke2-gpu fixture + 5,000 nodes of which 500 carry GPUs +
N pods, objects of realistic size) is served by the fake API server in its own process; the
verification runs through the engine in a fresh process (so its peak RSS is its own), without and
with the workload audit. Prints wall time, API requests and peak RSS per run, the growth ratios
from the smallest to the largest pod count, and whether the bars hold:
engine <= 2 s and <= 60 requests, neither growing with pods; the audit's stream strategy processes
>= 20,000 pods/s (pods streamed / the duration of the secure_accelerator_access check that runs it)
with bounded memory.

    .venv/bin/python bench/verify_scale.py [--pods 1000,10000,100000] [--playbook]

`--playbook` also times `ansible-playbook playbooks/verify.yml` end to end on the largest cluster
(reported separately: it adds Ansible's own start-up).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARS = {"wall_s": 2.0, "requests": 60, "audit_pods_per_s": 20000}


def client(kubeconfig, audit, strategy="auto"):
    """One verification run; prints its measurements as JSON."""
    sys.path[:0] = [str(ROOT / ".collections"), str(ROOT)]
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube
    from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify

    kube = Kube.from_params(dict(kubeconfig=kubeconfig))
    started = time.perf_counter()
    outcome = verify(kube, options=Options(audit_workloads=audit, audit_strategy=strategy))
    wall = time.perf_counter() - started
    audit_result = next((r for r in outcome["results"] if r["id"] == "secure_accelerator_access"), {})
    print(json.dumps({
        "wall_s": wall, "requests": outcome["api_requests"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pods_audited": (audit_result.get("details") or {}).get("audit", {}).get("pods_examined"),
        "pods_streamed": (audit_result.get("details") or {}).get("audit", {}).get("pods_streamed"),
        "audit_check_s": audit_result.get("duration_s"),
        "outcomes": outcome["summary"]["counts"],
    }))


def start_server(tmp, nodes, gpu_nodes, pods):
    kubeconfig = str(Path(tmp) / ("kc-%d" % pods))
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "scaled_cluster.py"), "--nodes", str(nodes),
                             "--gpu-nodes", str(gpu_nodes), "--pods", str(pods), "--kubeconfig", kubeconfig])
    deadline = time.time() + 600
    while not Path(kubeconfig + ".ready").exists():
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit("the simulated cluster with %d pods did not start" % pods)
        time.sleep(0.2)
    return proc, kubeconfig


def measure(kubeconfig, audit, strategy="auto"):
    out = subprocess.run([sys.executable, __file__, "--client", kubeconfig, "--strategy", strategy] + (["--audit"] if audit else []),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def playbook(kubeconfig):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/verify.yml",
                               "-i", "inventories/example/hosts.yml", "-e", "ai_conformance_kubeconfig=" + kubeconfig,
                               "-e", "ai_conformance_output_dir=" + out, "-e", "ai_conformance_fail_on_must=false"],
                              cwd=str(ROOT), env=env, capture_output=True, text=True, check=False)
        return time.perf_counter() - started, proc.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", default="1000,10000,100000")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--gpu-nodes", type=int, default=500)
    parser.add_argument("--playbook", action="store_true")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--audit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client(args.client, args.audit, args.strategy)

    counts = [int(p) for p in args.pods.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pods in counts:
            proc, kubeconfig = start_server(tmp, args.nodes, args.gpu_nodes, pods)
            try:
                engine = measure(kubeconfig, audit=False)
                audit = measure(kubeconfig, audit=True)
                audit["stream"] = measure(kubeconfig, audit=True, strategy="stream")
                pb = playbook(kubeconfig) if args.playbook and pods == counts[-1] else None
            finally:
                proc.terminate()
                proc.wait()
            rows.append((pods, engine, audit, pb))

    print("\n%d nodes (%d with GPUs)" % (args.nodes, args.gpu_nodes))
    print("%9s | %-24s | %-33s | %-33s" % ("", "engine (no audit)", "audit, auto strategy", "audit, stream strategy"))
    print("%9s | %6s %8s %8s | %6s %8s %8s %8s | %6s %8s %8s %8s" % (
        "pods", "wall s", "requests", "RSS MB", "wall s", "requests", "RSS MB", "examined", "wall s", "requests", "RSS MB", "pods/s"))
    for pods, engine, audit, _playbook in rows:
        stream = audit["stream"]
        rate = (stream.get("pods_streamed") or 0) / stream["audit_check_s"] if stream.get("audit_check_s") else 0
        print("%9d | %6.2f %8d %8.0f | %6.2f %8d %8.0f %8d | %6.2f %8d %8.0f %8.0f" % (
            pods, engine["wall_s"], engine["requests"], engine["peak_rss_mb"],
            audit["wall_s"], audit["requests"], audit["peak_rss_mb"], audit.get("pods_audited") or 0,
            stream["wall_s"], stream["requests"], stream["peak_rss_mb"], rate))
    first, last = rows[0], rows[-1]
    print("\ngrowth %dx pods -> engine wall x%.2f, requests x%.2f, RSS x%.2f" % (
        last[0] // first[0], last[1]["wall_s"] / first[1]["wall_s"], last[1]["requests"] / first[1]["requests"],
        last[1]["peak_rss_mb"] / first[1]["peak_rss_mb"]))
    streamed = last[2]["stream"].get("pods_streamed") or 0
    checks = [
        ("engine wall <= %.0f s at every size" % BARS["wall_s"], all(r[1]["wall_s"] <= BARS["wall_s"] for r in rows)),
        ("engine requests <= %d at every size" % BARS["requests"], all(r[1]["requests"] <= BARS["requests"] for r in rows)),
        ("engine requests do not grow with pods", len({r[1]["requests"] for r in rows}) == 1),
        ("audit stream >= %d pods/s at %d pods" % (BARS["audit_pods_per_s"], last[0]),
         bool(streamed) and streamed / last[2]["stream"]["audit_check_s"] >= BARS["audit_pods_per_s"]),
        ("audit RSS bounded (x%.2f from %d to %d pods)" % (
            last[2]["stream"]["peak_rss_mb"] / first[2]["stream"]["peak_rss_mb"], first[0], last[0]),
         last[2]["stream"]["peak_rss_mb"] <= 2 * first[2]["stream"]["peak_rss_mb"]),
    ]
    for label, ok in checks:
        print("%-45s %s" % (label, "ok" if ok else "NOT MET"))
    if last[3]:
        print("\nend to end: ansible-playbook verify.yml on %d pods: %.2f s (rc %d)" % (last[0], last[3][0], last[3][1]))
    print("outcomes at %d pods: %s" % (last[0], last[1]["outcomes"]))
    return 0 if all(ok for _label, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
