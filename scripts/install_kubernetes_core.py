"""Put the kubernetes.core collection into .collections/ from PyPI alone.

Galaxy is not reachable on every machine this project runs on, and kubernetes.core is not on
PyPI as a package of its own. It does ship inside the ``ansible`` community bundle, so this
script runs ``pip download --no-deps ansible==<version>`` into a temporary directory and unpacks
only ``ansible_collections/kubernetes/core/`` from that wheel (about 1 MB) into the collections
directory. Nothing else of the bundle is installed.

Idempotent: if the target already holds a MANIFEST.json it does nothing (use --force to redo).

Usage::

    python scripts/install_kubernetes_core.py [--dest .collections] [--ansible-version 12.3.0]

On a machine that reaches Galaxy you can instead run::

    ansible-galaxy collection install -r requirements.yml -p .collections
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NoReturn

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ANSIBLE_VERSION = "12.3.0"  # ships kubernetes.core 6.2.0
PREFIX = "ansible_collections/kubernetes/core/"
GALAXY_HINT = (
    "On a machine that reaches Ansible Galaxy you can instead run:\n"
    "    ansible-galaxy collection install -r requirements.yml -p .collections"
)


def fail(what: str, detail: str = "") -> NoReturn:
    msg = f"ERROR: install_kubernetes_core: {what}"
    if detail:
        msg += "\n" + detail.rstrip()
    msg += "\n" + GALAXY_HINT
    print(msg, file=sys.stderr)
    sys.exit(1)


def installed_version(target: Path) -> str | None:
    manifest = target / "MANIFEST.json"
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text())["collection_info"]["version"]
    except (ValueError, KeyError, OSError):
        return "unknown"


def download_wheel(version: str, workdir: Path, python: str) -> Path:
    cmd = [
        python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input",
        f"ansible=={version}", "-d", str(workdir),
    ]
    print(f"install_kubernetes_core: {' '.join(cmd[2:])}", flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        fail(f"could not run pip download for ansible=={version}", str(exc))
    if proc.returncode != 0:
        fail(f"`pip download --no-deps ansible=={version}` failed (exit {proc.returncode}); "
             "is PyPI reachable?",
             (proc.stdout[-2000:] + proc.stderr[-4000:]))
    wheels = sorted(workdir.glob("ansible-*.whl"))
    if not wheels:
        fail(f"pip download of ansible=={version} produced no wheel in {workdir}")
    return wheels[0]


def extract(wheel: Path, target: Path) -> int:
    staging = target.parent / (target.name + ".tmp-install")
    if staging.exists():
        shutil.rmtree(staging)
    count = 0
    try:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name.startswith(PREFIX) or name.endswith("/"):
                    continue
                rel = name[len(PREFIX):]
                dest = (staging / rel).resolve()
                if staging.resolve() not in dest.parents:
                    fail(f"refusing to extract suspicious path {name!r} from {wheel.name}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(dest, mode)
                count += 1
    except zipfile.BadZipFile as exc:
        fail(f"{wheel.name} is not a valid wheel", str(exc))
    if count == 0 or not (staging / "MANIFEST.json").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        fail(f"{wheel.name} holds no {PREFIX}MANIFEST.json")
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--dest", default=str(REPO_ROOT / ".collections"),
                    help="collections directory (default: .collections in the repo root)")
    ap.add_argument("--ansible-version", default=os.environ.get(
        "K8S_CORE_ANSIBLE_VERSION", DEFAULT_ANSIBLE_VERSION),
        help="version of the `ansible` bundle to take kubernetes.core from (default %(default)s)")
    ap.add_argument("--python", default=sys.executable,
                    help="python whose pip downloads the wheel (default: this one)")
    ap.add_argument("--force", action="store_true", help="reinstall even if present")
    args = ap.parse_args(argv)

    target = Path(args.dest).resolve() / "ansible_collections" / "kubernetes" / "core"
    have = installed_version(target)
    if have and not args.force:
        print(f"install_kubernetes_core: kubernetes.core {have} already in {target}")
        return 0

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kcore-") as tmp:
        wheel = download_wheel(args.ansible_version, Path(tmp), args.python)
        count = extract(wheel, target)
    print(f"install_kubernetes_core: kubernetes.core {installed_version(target)} "
          f"({count} files) installed into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
