"""Whole-collection quality gates: ansible-lint, ansible-test sanity, galaxy build, ansible-doc.

Run alone with ``.venv/bin/python -m pytest -m quality``; skip with ``-m "not quality"``.
By hand: ``make lint``, ``make sanity``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.quality

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
MODULES = sorted(
    p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.name != "__init__.py"
)


def tool(name: str) -> str:
    """A console script of the environment running pytest (the .venv), else from PATH."""
    beside = BIN_DIR / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found beside {sys.executable} nor on PATH: run `make install`")
    return found


def tool_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO_ROOT / ".collections")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


def run(cmd: list[str], timeout: int, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("cwd", REPO_ROOT)
    kwargs.setdefault("env", tool_env())
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout, check=False, **kwargs)


def report(proc: subprocess.CompletedProcess, limit: int = 20000) -> str:
    out = (proc.stdout or "") + (proc.stderr or "")
    if len(out) > limit:
        out = "...(cut)...\n" + out[-limit:]
    return f"exit {proc.returncode}: {' '.join(map(str, proc.args))}\n{out}"


def test_ansible_lint_production_profile() -> None:
    proc = run([tool("ansible-lint"), "--profile", "production", "--offline", "--nocolor"],
               timeout=600)
    assert proc.returncode == 0, report(proc)


@pytest.mark.slow
def test_ansible_test_sanity() -> None:
    proc = run([sys.executable, str(REPO_ROOT / "scripts" / "ansible_test_sanity.py")],
               timeout=1200)
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        marker = "===== ansible-test sanity FAILED"
        summary = out[out.index(marker):] if marker in out else out[-20000:]
        pytest.fail(f"ansible-test sanity failed (exit {proc.returncode}); rerun by hand with "
                    f"`.venv/bin/python scripts/ansible_test_sanity.py [test ...]`\n{summary}",
                    pytrace=False)


def test_galaxy_build_and_install(tmp_path: Path) -> None:
    meta = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    fqcn = f"{meta['namespace']}.{meta['name']}"
    proc = run([tool("ansible-galaxy"), "collection", "build", "--force",
                "--output-path", str(tmp_path)], timeout=300)
    assert proc.returncode == 0, report(proc)
    tarballs = list(tmp_path.glob(f"{meta['namespace']}-{meta['name']}-*.tar.gz"))
    assert len(tarballs) == 1, report(proc)
    tarball = tarballs[0]
    with tarfile.open(tarball) as tf:
        names = tf.getnames()
    assert "MANIFEST.json" in names and "FILES.json" in names
    banned_top = {".collections", ".venv", ".git", ".pytest_cache", ".ansible", ".ci",
                  "ai-conformance-report"}
    bad = [n for n in names
           if n.split("/", 1)[0] in banned_top
           or "__pycache__" in n.split("/")
           or n.startswith(("tests/output/", "bench/results/"))
           or n.endswith((".pyc", ".tar.gz"))]
    assert not bad, f"build leaked {len(bad)} unwanted paths, e.g. {bad[:20]}"
    size_mb = tarball.stat().st_size / 1e6
    assert size_mb < 20, f"{tarball.name} is {size_mb:.1f} MB: something large is not build_ignore'd"

    dest = tmp_path / "installed"
    proc = run([tool("ansible-galaxy"), "collection", "install", "--no-deps", "--force",
                "-p", str(dest), str(tarball)], timeout=300)
    assert proc.returncode == 0, report(proc)
    assert (dest / "ansible_collections" / meta["namespace"] / meta["name"] / "MANIFEST.json").is_file()
    assert fqcn in proc.stdout + proc.stderr
    run_installed_playbook(fqcn, dest, tmp_path)


def run_installed_playbook(fqcn: str, dest: Path, tmp_path: Path) -> None:
    """The installed ``<fqcn>.verify`` from another directory, with no inventory and with ``-i localhost,``,
    verifies the current kubeconfig context (a fake cluster here) and writes a report naming it; a
    host pattern that matches nothing fails."""
    sys.path.insert(0, str(REPO_ROOT))
    from tests.fakeapi import FakeKubeServer, load_cluster

    deps = tmp_path / "deps" / "ansible_collections"
    deps.mkdir(parents=True)
    (deps / "kubernetes").symlink_to(REPO_ROOT / ".collections" / "ansible_collections" / "kubernetes")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with FakeKubeServer(load_cluster("rke2-gpu")) as server:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"), context="installed-run")
        env = tool_env(KUBECONFIG=str(kubeconfig), ANSIBLE_COLLECTIONS_PATH="%s:%s" % (dest, deps.parent),
                       ANSIBLE_LOCAL_TEMP=str(tmp_path / "atmp"))
        env.pop("ANSIBLE_CONFIG", None)
        for number, inventory in enumerate(([], ["-i", "localhost,"])):
            out = elsewhere / ("run-%d" % number)
            proc = run([tool("ansible-playbook"), f"{fqcn}.verify", *inventory, "-e", f"ai_conformance_output_dir={out}"],
                       timeout=300, cwd=elsewhere, env=env)
            assert proc.returncode == 0, report(proc)
            text = (out / "report.md").read_text()
            assert server.url in text and "installed-run" in text and "**Conformant**" in text, text[:1500]
        proc = run([tool("ansible-playbook"), f"{fqcn}.verify", "-e", "ai_conformance_api_host=nowhere"],
                   timeout=300, cwd=elsewhere, env=env)
        assert proc.returncode != 0 and "matches no host of the inventory" in proc.stdout, report(proc)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module: str) -> None:
    fqcn = f"k8s_ai.conformance.{module}"
    proc = run([tool("ansible-doc"), "--json", fqcn], timeout=120)
    assert proc.returncode == 0, report(proc)
    data = json.loads(proc.stdout)
    assert fqcn in data, report(proc)
    doc = data[fqcn].get("doc") or {}
    assert doc.get("short_description"), f"{fqcn}: DOCUMENTATION has no short_description"
    assert data[fqcn].get("examples"), f"{fqcn}: no EXAMPLES"

    proc = run([tool("ansible-doc"), fqcn], timeout=120)
    assert proc.returncode == 0, report(proc)
    text = proc.stdout
    assert fqcn in text and "EXAMPLES" in text, report(proc)
    assert "[WARNING]" not in proc.stderr and "[ERROR]" not in proc.stderr, report(proc)


def test_ci_entry_point_is_executable() -> None:
    ci = REPO_ROOT / ".ci" / "run"
    assert ci.is_file() and os.access(ci, os.X_OK), ".ci/run must exist and be executable"
    assert ci.read_text().startswith("#!/usr/bin/env bash")
