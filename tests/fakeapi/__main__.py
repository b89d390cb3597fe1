"""Command line: ``python -m tests.fakeapi list`` and ``python -m tests.fakeapi serve --cluster NAME``."""

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .fixtures import list_clusters, load_cluster
from .server import DEFAULT_CONTROLLER_DELAY, FakeKubeServer


def _serve(args):
    cluster = load_cluster(args.cluster)
    kubeconfig = Path(args.kubeconfig or Path(tempfile.gettempdir()) / f"fakeapi-{cluster.name}.kubeconfig")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    delay = args.controller_delay if args.controllers else None
    with FakeKubeServer(cluster, host=args.host, port=args.port, controller_delay=delay,
                        crd_establish_delay=args.crd_establish_delay, operators=not args.no_operators) as server:
        server.write_kubeconfig(kubeconfig, context=args.context)
        print(f"Simulated cluster {cluster.name} (Kubernetes {cluster.version}) serving at {server.url}")
        print(f"kubeconfig: {kubeconfig}")
        print(f"  export KUBECONFIG={kubeconfig}")
        print("Press Ctrl-C to stop.", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


def _list(_args):
    clusters = list_clusters()
    if not clusters:
        print("no fixture clusters found")
    width = max((len(cluster[0]) for cluster in clusters), default=0)
    for name, description in clusters:
        print(f"{name:<{width}}  {description}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fakeapi", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a fixture cluster until Ctrl-C or SIGTERM")
    serve.add_argument("--cluster", required=True, help="fixture cluster name or directory")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 (default): an ephemeral port")
    serve.add_argument("--kubeconfig", help="where to write the kubeconfig (default: in the temp directory)")
    serve.add_argument("--context", help="kubeconfig context name (default: simulated-<cluster>)")
    serve.add_argument("--controllers", action="store_true",
                       help="simulate controllers: API-created Deployments/StatefulSets/DaemonSets become ready")
    serve.add_argument("--controller-delay", type=float, default=DEFAULT_CONTROLLER_DELAY,
                       help=f"seconds until a workload's status follows its spec (default {DEFAULT_CONTROLLER_DELAY})")
    serve.add_argument("--crd-establish-delay", type=float, default=0.0,
                       help="with --controllers: seconds until an API-created CRD is Established and served")
    serve.add_argument("--no-operators", action="store_true",
                       help="with --controllers: do not simulate the add-ons' operators (tests/fakeapi/operators.py)")
    serve.set_defaults(run=_serve)
    commands.add_parser("list", help="list the fixture clusters").set_defaults(run=_list)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
