"""Benchmark: a full probe run costs about its slowest probe, not the sum of the probes.

Serves a fixture with the simulated controllers (tests/fakeapi), runs verify with every probe on, and prints each
probe's own duration, the sum, the slowest, the wall time of the probe phase (the run with probes minus the same
run without) and its ratio to the slowest; the bar is wall <= 1.3 x slowest. Also counts the scratch namespaces
created and left (must be 0).

    .venv/bin/python bench/probes.py [--cluster rke2-gpu] [--window 5]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".collections"))
sys.path.insert(0, str(ROOT))

from ansible_collections.k8s_ai.conformance.plugins.module_utils.engine import Options  # noqa: E402
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube  # noqa: E402
from ansible_collections.k8s_ai.conformance.plugins.module_utils.probes import scratch  # noqa: E402
from ansible_collections.k8s_ai.conformance.plugins.module_utils.verification import verify  # noqa: E402
from tests.fakeapi import FakeKubeServer, load_cluster  # noqa: E402
from tests.fakeapi.server import DEFAULT_CONTROLLER_DELAY  # noqa: E402

BAR = 1.3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", default="rke2-gpu")
    parser.add_argument("--window", type=float, default=5.0, help="gang_negative_window (the official 30 s is for clusters)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            FakeKubeServer(load_cluster(args.cluster), controller_delay=DEFAULT_CONTROLLER_DELAY, operators=True) as server:
        kube = Kube.from_params(dict(kubeconfig=str(server.write_kubeconfig(Path(tmp) / "kubeconfig"))))
        started = time.monotonic()
        verify(kube, options=Options(probes=False))
        read_only = time.monotonic() - started
        started = time.monotonic()
        outcome = verify(kube, options=Options(probes=True, gang_negative_window=args.window))
        with_probes = time.monotonic() - started
        probes = {r["id"]: r["details"]["probe"] for r in outcome["results"] if "probe" in r["details"]}
        created = len([r for r in server.requests if r.method == "POST" and r.path == "/api/v1/namespaces"])
        left = kube.list_all("", "v1", "namespaces", label_selector=scratch.OURS)
    for requirement, probe in sorted(probes.items(), key=lambda item: -item[1]["duration_s"]):
        print("%-28s %-8s %6.2fs" % (requirement, probe["outcome"], probe["duration_s"]))
    durations = [p["duration_s"] for p in probes.values()]
    wall = with_probes - read_only
    slowest = max(durations) if durations else 0.0
    print("probes: %d, sum %.2fs, slowest %.2fs, probe phase wall %.2fs (run %.2fs - read-only %.2fs)"
          % (len(durations), sum(durations), slowest, wall, with_probes, read_only))
    ratio = wall / slowest if slowest else float("inf")
    print("wall / slowest = %.2f (bar <= %.1f: %s); wall / sum = %.2f" % (
        ratio, BAR, "holds" if ratio <= BAR else "BROKEN", wall / sum(durations) if durations else 0.0))
    print("scratch namespaces created %d, left %d" % (created, len(left)))
    return 0 if ratio <= BAR and not left else 1


if __name__ == "__main__":
    sys.exit(main())
