"""The artifact set: a directory replaced all at once, whatever interrupts the run."""

import errno
import json
import os
import signal
import stat
import tempfile
import threading
import time

import pytest

from ansible_collections.k8s_ai.conformance.plugins.module_utils import artifact_set
from ansible_collections.k8s_ai.conformance.plugins.module_utils.artifact_set import MANIFEST, ArtifactSetError

OLD = {
    "report.md": "# old report\n",
    "results.json": '{"generated_at": "2025-01-01T00:00:00Z", "passed": 1}\n',
    "evidence/dra_support.md": "old transcript\n",
    "evidence/stale_requirement.md": "evidence of a requirement the new run no longer checks\n",
}
NEW = {
    "report.md": "# new report\n",
    "results.json": '{"generated_at": "2025-02-02T00:00:00Z", "passed": 2}\n',
    "evidence/dra_support.md": "new transcript\n",
    "evidence/gang_scheduling.md": "a new transcript\n",
}
FAILURES = {
    "interrupt": KeyboardInterrupt,
    "enospc": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
}


@pytest.fixture(autouse=True)
def flushes(monkeypatch):
    """os.fsync counted, not done: the suite stays fast; the disk-full test puts its own in."""
    calls = []
    monkeypatch.setattr(os, "fsync", calls.append)
    return calls


def without_volatile(path, text):
    """Like report._comparable: the JSON without its timestamp."""
    if path.endswith(".json"):
        return json.dumps({k: v for k, v in json.loads(text).items() if k != "generated_at"})
    return text


def tree(directory):
    """{relative path: content} of every file under ``directory``, the manifest included."""
    found = {}
    for root, dummy, names in os.walk(str(directory)):
        for name in names:
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as handle:
                found[os.path.relpath(path, str(directory)).replace(os.sep, "/")] = handle.read()
    return found


def holds(directory, files):
    """Whether ``directory`` holds exactly ``files`` and a manifest listing them."""
    found = tree(directory)
    manifest = json.loads(found.pop(MANIFEST, "{}"))
    return found == files and manifest.get("files") == sorted(files)


def leftovers(parent):
    return sorted(n for n in os.listdir(str(parent)) if ".new-" in n or ".old-" in n or "probe" in n)


def fail_at(monkeypatch, call, make_error):
    """Make the ``call``-th _step (0-based) raise; returns the list of step names seen."""
    seen = []

    def step(name):
        seen.append(name)
        if len(seen) == call + 1:
            raise make_error()
    monkeypatch.setattr(artifact_set, "_step", step)
    return seen


def clean_run_steps(tmp_path, monkeypatch, seed):
    """The _step names of an uninterrupted replace of ``seed`` (None: no directory yet) by NEW."""
    target = tmp_path / "count" / "out"
    if seed is not None:
        artifact_set.replace(str(target), seed)
    seen = fail_at(monkeypatch, -1, KeyboardInterrupt)
    artifact_set.replace(str(target), NEW)
    monkeypatch.setattr(artifact_set, "_step", lambda name: None)
    return seen


def replace_killed_at(call, target):
    """In a forked child: replace by NEW, dying at the ``call``-th step with no finally or except run, like SIGKILL."""
    seen = []

    def step(name):
        seen.append(name)
        if len(seen) == call + 1:
            os._exit(9)
    artifact_set._step = step
    try:
        artifact_set.replace(target, NEW)
    finally:
        os._exit(0)


@pytest.fixture(params=["exchange", "fallback"])
def swap(request, monkeypatch):
    """Run a test with renameat2(RENAME_EXCHANGE), then with the two-rename fallback."""
    if request.param == "exchange" and artifact_set._RENAMEAT2 is None:
        pytest.skip("libc has no renameat2")
    if request.param == "fallback":
        monkeypatch.setattr(artifact_set, "_RENAMEAT2", None)
    return request.param


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("seed", [OLD, None], ids=["replacing", "creating"])
def test_failure_at_every_step_leaves_old_or_new_set(tmp_path, monkeypatch, swap, failure, seed):
    steps = clean_run_steps(tmp_path, monkeypatch, seed)
    assert ("exchanged" in steps) == (swap == "exchange" and seed is not None)
    done = steps.index("exchanged" if "exchanged" in steps else "renamed new")
    for call, name in enumerate(steps):
        parent = tmp_path / str(call)
        target = parent / "out"
        if seed is not None:
            artifact_set.replace(str(target), seed)
        parent.mkdir(exist_ok=True)
        fail_at(monkeypatch, call, FAILURES[failure])
        with pytest.raises((KeyboardInterrupt, OSError)):
            artifact_set.replace(str(target), NEW)
        monkeypatch.setattr(artifact_set, "_step", lambda name: None)
        if call >= done:
            assert holds(target, NEW), name
        elif seed is None:
            assert not target.exists(), name
        else:
            assert holds(target, seed), name
        assert leftovers(parent) == [], name


def test_killed_replace_is_recovered_by_the_next_preflight(tmp_path, monkeypatch, swap):
    steps = clean_run_steps(tmp_path, monkeypatch, OLD)
    done = steps.index("exchanged" if swap == "exchange" else "renamed new")
    for call, name in enumerate(steps):
        parent = tmp_path / str(call)
        target = parent / "out"
        artifact_set.replace(str(target), OLD)
        child = os.fork()
        if child == 0:
            replace_killed_at(call, str(target))
        assert os.waitpid(child, 0)[1] >> 8 == 9, name
        if not target.exists():
            assert swap == "fallback" and name in ("renamed old", "rename new"), name
            assert [n for n in leftovers(parent) if ".old-" in n], name
        artifact_set.preflight(str(target))
        assert holds(target, NEW if call >= done else OLD), name
        assert leftovers(parent) == [], name
        assert artifact_set.replace(str(target), NEW)["changed"] == (call < done)
        assert holds(target, NEW)


def test_disk_full_while_writing_a_file_keeps_the_old_set(tmp_path, monkeypatch, swap):
    target = tmp_path / "out"
    artifact_set.replace(str(target), OLD)
    calls = []

    def fsync(handle):
        calls.append(handle)
        if len(calls) == 2:  # the second file's bytes are written, not yet on disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError) as caught:
        artifact_set.replace(str(target), NEW)
    assert caught.value.errno == errno.ENOSPC
    assert holds(target, OLD)
    assert leftovers(tmp_path) == []


def test_sigint_between_the_fallback_renames_waits_for_the_swap(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact_set, "_RENAMEAT2", None)
    target = tmp_path / "out"
    artifact_set.replace(str(target), OLD)
    monkeypatch.setattr(artifact_set, "_step", lambda name: name == "renamed old" and os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        artifact_set.replace(str(target), NEW)
    assert holds(target, NEW)
    assert leftovers(tmp_path) == []


def _terminate(number, _frame):
    raise SystemExit(128 + number)


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)])
def test_a_signal_another_thread_receives_between_the_fallback_renames_waits_for_the_swap(tmp_path, monkeypatch, signum, raised):
    """The kernel may give a process signal to any thread; masking it in the main thread alone let it through."""
    monkeypatch.setattr(artifact_set, "_RENAMEAT2", None)
    previous = signal.signal(signal.SIGTERM, _terminate)
    release = threading.Event()
    bystander = threading.Thread(target=release.wait, daemon=True)
    bystander.start()

    def step(name):
        if name == "renamed old":
            signal.pthread_kill(bystander.ident, signum)
            time.sleep(0.05)  # the bystander takes the signal; the main thread runs its handler when this returns
    try:
        target = tmp_path / "out"
        artifact_set.replace(str(target), OLD)
        monkeypatch.setattr(artifact_set, "_step", step)
        with pytest.raises(raised):
            artifact_set.replace(str(target), NEW)
        assert holds(target, NEW)
        assert leftovers(tmp_path) == []
    finally:
        release.set()
        bystander.join()
        signal.signal(signal.SIGTERM, previous)


def test_files_the_new_run_does_not_write_are_gone(tmp_path, swap):
    target = tmp_path / "out"
    artifact_set.replace(str(target), OLD)
    outcome = artifact_set.replace(str(target), NEW)
    assert not (target / "evidence" / "stale_requirement.md").exists()
    assert holds(target, NEW)
    assert outcome == {"changed": True, "written": ["evidence/dra_support.md", "evidence/gang_scheduling.md",
                                                    "evidence/stale_requirement.md", "report.md", "results.json"]}
    artifact_set.replace(str(target), {"report.md": "only this\n"})
    assert holds(target, {"report.md": "only this\n"})
    assert not (target / "evidence").exists()


def test_an_unchanged_set_is_not_touched(tmp_path):
    target = tmp_path / "out"
    artifact_set.replace(str(target), OLD)
    before = {path: os.stat(str(target / path)).st_mtime_ns for path in list(OLD) + [MANIFEST]}
    inode = os.stat(str(target)).st_ino
    os.utime(str(target / "report.md"), ns=(1, 1))
    before["report.md"] = 1
    assert artifact_set.replace(str(target), dict(OLD)) == {"changed": False, "written": []}
    assert {path: os.stat(str(target / path)).st_mtime_ns for path in before} == before
    assert os.stat(str(target)).st_ino == inode


def test_comparable_decides_what_counts_as_a_change(tmp_path):
    target = tmp_path / "out"
    artifact_set.replace(str(target), OLD)
    later = dict(OLD, **{"results.json": '{"generated_at": "2030-01-01T00:00:00Z", "passed": 1}\n'})
    assert artifact_set.replace(str(target), later, comparable=without_volatile) == {"changed": False, "written": []}
    assert holds(target, OLD)
    assert artifact_set.replace(str(target), later) == {"changed": True, "written": ["results.json"]}
    assert holds(target, later)
    newer = dict(NEW, **{"results.json": '{"generated_at": "2031-01-01T00:00:00Z", "passed": 1}\n'})
    assert "results.json" not in artifact_set.replace(str(target), newer, comparable=without_volatile)["written"]
    assert holds(target, newer)  # a set is written whole: its timestamp goes with the report it belongs to


def test_check_mode_reports_without_touching(tmp_path):
    target = tmp_path / "out"
    assert artifact_set.replace(str(target), OLD, check_mode=True) == {"changed": True, "written": sorted(OLD)}
    assert not target.exists() and os.listdir(str(tmp_path)) == []
    artifact_set.replace(str(target), OLD)
    outcome = artifact_set.replace(str(target), NEW, check_mode=True)
    assert outcome["changed"] and "evidence/stale_requirement.md" in outcome["written"]
    assert holds(target, OLD)
    assert leftovers(tmp_path) == []


def test_foreign_files_are_refused(tmp_path):
    target = tmp_path / "out"
    artifact_set.replace(str(target), OLD)
    for name in ("notes.txt", "a.txt", "b.txt", "c.txt", "d.txt", "mine/z.txt"):
        (target / name).parent.mkdir(exist_ok=True)
        (target / name).write_text("the user's\n")
    with pytest.raises(ArtifactSetError) as caught:
        artifact_set.preflight(str(target))
    message = str(caught.value)
    assert str(target) in message and "6 entries" in message and "a.txt, b.txt, c.txt, d.txt, mine/z.txt, ..." in message
    assert "empty or new directory" in message and "keep_foreign" in message
    with pytest.raises(ArtifactSetError):
        artifact_set.replace(str(target), NEW)
    assert (target / "notes.txt").read_text() == "the user's\n"
    assert tree(target)["report.md"] == OLD["report.md"]


def test_a_directory_without_manifest_is_foreign_unless_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    artifact_set.replace(str(tmp_path / "empty"), OLD)
    assert holds(tmp_path / "empty", OLD)
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "report.md").write_text("someone else's\n")
    with pytest.raises(ArtifactSetError, match="1 entry"):
        artifact_set.preflight(str(tmp_path / "theirs"))


def test_keep_foreign_carries_the_vendors_files(tmp_path, swap):
    product = tmp_path / "v1.35" / "rke2"
    product.mkdir(parents=True)
    (product / "README.md").write_text("the vendor's readme\n")
    (product / "PRODUCT.yaml").write_text("the vendor's draft\n")
    (product / "suite").mkdir()
    (product / "suite" / "junit.xml").write_text("<testsuites/>\n")
    (product / "later").mkdir()
    inode = os.stat(str(product / "README.md")).st_ino
    first = {"PRODUCT.yaml": "ours\n", "evidence/dra_support.md": "transcript\n", "evidence/stale.md": "stale\n"}
    artifact_set.preflight(str(product), keep_foreign=True)
    artifact_set.replace(str(product), first, keep_foreign=True)
    second = {"PRODUCT.yaml": "ours, again\n", "evidence/dra_support.md": "transcript\n"}
    assert artifact_set.replace(str(product), second, keep_foreign=True)["written"] == ["PRODUCT.yaml", "evidence/stale.md"]
    found = tree(product)
    assert json.loads(found.pop(MANIFEST))["files"] == sorted(second)
    assert found == dict(second, **{"README.md": "the vendor's readme\n", "suite/junit.xml": "<testsuites/>\n"})
    assert (product / "later").is_dir()
    assert os.stat(str(product / "README.md")).st_ino == inode
    assert leftovers(product.parent) == []


def test_keep_foreign_refuses_a_file_in_the_way_of_a_directory(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "evidence").write_text("the vendor's file\n")
    with pytest.raises(ArtifactSetError, match="in the way"):
        artifact_set.replace(str(target), NEW, keep_foreign=True)
    assert (target / "evidence").read_text() == "the vendor's file\n"


def test_preflight_refuses_a_file(tmp_path):
    (tmp_path / "out").write_text("a file\n")
    with pytest.raises(ArtifactSetError, match="out exists and is a file"):
        artifact_set.preflight(str(tmp_path / "out"))


def test_preflight_refuses_a_path_under_a_file(tmp_path):
    (tmp_path / "file").write_text("a file\n")
    with pytest.raises(ArtifactSetError) as caught:
        artifact_set.preflight(str(tmp_path / "file" / "sub" / "out"))
    assert "%s is a file" % (tmp_path / "file") in str(caught.value)
    with pytest.raises(ArtifactSetError):
        artifact_set.replace(str(tmp_path / "file" / "sub"), NEW)
    assert (tmp_path / "file").read_text() == "a file\n"


def test_preflight_refuses_an_unwritable_parent(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(ArtifactSetError) as caught:
        artifact_set.preflight(str(tmp_path / "new" / "out"))
    assert "cannot write in %s" % tmp_path in str(caught.value) and "Permission denied" in str(caught.value)


def test_preflight_refuses_a_full_filesystem(tmp_path, monkeypatch):
    real = os.statvfs(str(tmp_path))
    full = os.statvfs_result((real.f_bsize, 4096, real.f_blocks, 10, 10, real.f_files, real.f_ffree, real.f_favail, 0, 255))
    monkeypatch.setattr(os, "statvfs", lambda path: full)
    with pytest.raises(ArtifactSetError, match=r"only 40 KiB free .* \(at least 1024 KiB needed\)"):
        artifact_set.preflight(str(tmp_path / "out"))


def test_modes_parents_and_flushes(tmp_path, flushes):
    previous = os.umask(0o077)
    try:
        artifact_set.replace(str(tmp_path / "a" / "b" / "out"), NEW)
    finally:
        os.umask(previous)
    target = tmp_path / "a" / "b" / "out"
    assert holds(target, NEW)
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(str(target / "evidence")).st_mode) == 0o755
    assert {stat.S_IMODE(os.stat(str(target / p)).st_mode) for p in list(NEW) + [MANIFEST]} == {0o644}
    assert len(flushes) == len(NEW) + 1 + 2 + 1  # each file, the manifest, the set's two directories, the parent


@pytest.mark.parametrize("files", [{"../x.md": ""}, {"/etc/x": ""}, {"a//b": ""}, {MANIFEST: ""}, {"a": "", "a/b": ""}, {"a": b"bytes"}])
def test_bad_artifact_paths_are_refused(tmp_path, files):
    with pytest.raises(ArtifactSetError):
        artifact_set.replace(str(tmp_path / "out"), files)
    assert os.listdir(str(tmp_path)) == []
