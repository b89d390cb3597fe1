"""A developer's cluster settings never change the suite's outcome (the live tier excepted)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = {
    "KUBECONFIG": "/nonexistent/kubeconfig:/also/missing",
    "K8S_AUTH_KUBECONFIG": "/nonexistent/kubeconfig",
    "K8S_AUTH_CONTEXT": "someone-elses-production",
    "K8S_AUTH_HOST": "http://127.0.0.1:9",
    "K8S_AUTH_API_KEY": "not-a-real-token",
}


def test_cluster_settings_in_the_shell_do_not_reach_the_tests(tmp_path):
    env = dict(os.environ, **HOSTILE)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not cluster",
         "tests/integration/test_cluster_info.py", "tests/unit/test_kube.py",
         "tests/integration/test_verify_playbook.py::test_conformant_cluster_passes_and_writes_a_valid_submission"],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout.splitlines()[-1]
