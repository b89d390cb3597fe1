"""Run ``ansible-test sanity`` on this collection, offline-capable.

ansible-test needs the collection at ``.../ansible_collections/<namespace>/<name>`` and refuses a
symlinked path, so this script copies the checkout (the files git tracks or would track, minus
``.collections``) to ``<tmp>/ansible_collections/k8s_ai/conformance`` and kubernetes.core from
``.collections`` beside it, then runs::

    ansible-test sanity --venv --python <X.Y> --color no [--test NAME ...]

in the copy. ansible-test bootstraps pip in each sanity venv with a script it downloads from the
internet; if ``~/.ansible/test/cache/get_pip_<ver>.py`` already exists it uses that file instead.
This script places a small local stand-in there (unless a real one is present) that bootstraps pip
with ``ensurepip``, restores the pip environment ensurepip clears (it sets PIP_CONFIG_FILE to
/dev/null, which hides this machine's pip configuration), drops ``--no-setuptools``/``--no-wheel``
and pip-installs the rest (pip itself, pinned) from the package index.

Usage (from the repo root)::

    .venv/bin/python scripts/ansible_test_sanity.py                 # all sanity tests
    .venv/bin/python scripts/ansible_test_sanity.py pep8 validate-modules
    .venv/bin/python scripts/ansible_test_sanity.py --list          # names of the tests
    .venv/bin/python scripts/ansible_test_sanity.py -- --skip-test pylint   # extra ansible-test args

Exit code is ansible-test's; the failing lines are repeated in a summary at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
MARKER = "# k8s_ai.conformance offline pip bootstrap for ansible-test"

GET_PIP_STANDIN = MARKER + '''
# Written by scripts/ansible_test_sanity.py. ansible-test runs this file instead of downloading
# get-pip.py: it bootstraps pip with ensurepip, then pip-installs what ansible-test asked for.
import ensurepip
import os
import subprocess
import sys

saved_env = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
# ensurepip deletes PIP_* variables and sets PIP_CONFIG_FILE=/dev/null in this process; put the
# environment back so the machine's pip configuration (index, certificates) applies again.
os.environ.clear()
os.environ.update(saved_env)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
'''

# Never copied into the sanity tree: build outputs, caches and the .collections link farm.
EXCLUDE_TOP = {".git", ".collections", ".venv", ".pytest_cache", ".ansible", ".tox",
               "ai-conformance-report"}
EXCLUDE_PARTS = {"__pycache__"}
# Test data, not collection content: Kubernetes object sets as multi-document YAML (the shape of
# manifests and `kubectl get -o yaml`), which yamllint's one-document rule does not fit. The
# tests parse every one of them.
EXCLUDE_PREFIXES = ("tests/fixtures/", "tests/fakeapi/testdata/")


def log(msg: str) -> None:
    print(f"[ansible_test_sanity] {msg}", flush=True)


def find_ansible_test() -> str:
    beside = Path(sys.executable).parent / "ansible-test"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-test")
    if not found:
        sys.exit("ERROR: ansible-test not found beside this python nor on PATH; "
                 "run `make install` and use .venv/bin/python")
    return found


def ansible_test_pip_version() -> str:
    """The pip version ansible-test pins for its venvs (24.2 for ansible-core 2.19)."""
    try:
        import ansible_test  # type: ignore[import-not-found]

        src = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
        m = re.search(r"pip='([0-9.]+)'", src)
        if m:
            return m.group(1)
    except Exception:  # noqa: BLE001  - fall back to the known pin
        pass
    return "24.2"


def ensure_get_pip_standin() -> Path:
    version = ansible_test_pip_version()
    path = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    if path.exists() and MARKER not in path.read_text(errors="replace"):
        log(f"using existing pip bootstrap script {path} (not ours; left as is)")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != GET_PIP_STANDIN:
        path.write_text(GET_PIP_STANDIN)
        log(f"wrote offline pip bootstrap stand-in {path}")
    return path


def collection_id() -> tuple[str, str]:
    meta = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    return meta["namespace"], meta["name"]


def source_files() -> list[str]:
    """Files to copy, relative to the repo root."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT, check=True, capture_output=True, stdin=subprocess.DEVNULL,
        ).stdout.decode()
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.rglob("*")
                 if p.is_file() or p.is_symlink()]
    keep = []
    for rel in files:
        parts = Path(rel).parts
        if not parts or parts[0] in EXCLUDE_TOP or EXCLUDE_PARTS.intersection(parts):
            continue
        if rel.endswith((".pyc", ".tar.gz")) or rel.startswith(EXCLUDE_PREFIXES):
            continue
        if not os.path.lexists(REPO_ROOT / rel):  # deleted but still in the index
            continue
        keep.append(rel)
    return sorted(set(keep))


def build_tree(tmp: Path) -> Path:
    namespace, name = collection_id()
    root = tmp / "ansible_collections"
    dest = root / namespace / name
    dest.mkdir(parents=True)
    for rel in source_files():
        src = REPO_ROOT / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)
    # Other collections the code imports (kubernetes.core) go beside it.
    other_root = REPO_ROOT / ".collections" / "ansible_collections"
    if other_root.is_dir():
        for ns_dir in sorted(other_root.iterdir()):
            for coll in sorted(ns_dir.iterdir()) if ns_dir.is_dir() else []:
                if (ns_dir.name, coll.name) == (namespace, name) or coll.is_symlink():
                    continue
                shutil.copytree(coll, root / ns_dir.name / coll.name,
                                ignore=shutil.ignore_patterns("__pycache__"))
    return dest


ERROR_LINE = re.compile(r"^(ERROR|FATAL):")
FAILED_LIST = re.compile(r"^FATAL: The \d+ sanity test\(s\) listed below")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description="Run ansible-test sanity on a copy of this collection.")
    ap.add_argument("tests", nargs="*", help="sanity test names (default: all)")
    ap.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                    help="python version for the sanity venvs (default: this one, %(default)s)")
    ap.add_argument("--list", action="store_true", help="list the sanity tests and exit")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = ap.parse_args(argv)

    ansible_test = find_ansible_test()
    ensure_get_pip_standin()

    tmp = Path(tempfile.mkdtemp(prefix="ansible-test-sanity-"))
    try:
        coll = build_tree(tmp)
        cmd = [ansible_test, "sanity", "--venv", "--python", args.python, "--color", "no"]
        if args.list:
            cmd.append("--list-tests")
        for test in args.tests:
            cmd += ["--test", test]
        cmd += extra
        log(f"collection copy: {coll}")
        log("running: ansible-test " + " ".join(cmd[1:]))
        env = dict(os.environ)
        env.pop("ANSIBLE_COLLECTIONS_PATH", None)
        env.pop("ANSIBLE_COLLECTIONS_PATHS", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        errors: list[str] = []
        failed_tests: list[str] = []
        in_failed_list = False
        proc = subprocess.Popen(cmd, cwd=coll, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            text = line.rstrip("\n")
            if FAILED_LIST.match(text):
                in_failed_list = True
                continue
            if ERROR_LINE.match(text):
                in_failed_list = False
                if not text.startswith("FATAL: Command "):
                    errors.append(text)
            elif in_failed_list and text.strip():
                failed_tests.append(text.strip())
        rc = proc.wait()
        if rc == 0:
            log("ansible-test sanity: OK")
        else:
            print(f"\n===== ansible-test sanity FAILED (exit {rc}) =====")
            if failed_tests:
                print("failed tests: " + ", ".join(failed_tests))
            for err in errors or ["(no ERROR lines captured; see the output above)"]:
                print(err)
            print("===== file paths above are relative to the repo root =====")
        return rc
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
