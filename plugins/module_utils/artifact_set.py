# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A directory of artifacts replaced as one set: at every instant it holds the complete old set or the complete new one.

``preflight`` refuses, before any cluster work, a directory the run could not replace (a file, unwritable, a full
filesystem, files someone else wrote). ``replace`` writes the whole new set into a temporary sibling
``.<name>.new-<random>`` with a manifest (``MANIFEST``: the relative paths it holds), fsyncs it and swaps it into
place: with Linux ``renameat2(RENAME_EXCHANGE)`` in one step, else with two renames while SIGINT and SIGTERM wait.
A run killed between those two renames leaves the directory missing and the complete old set at
``.<name>.old-<random>``; the next ``preflight`` or ``replace`` puts it back and sweeps the leftovers of killed runs.
Files the new set does not hold (stale evidence) are gone after a replace; files not in the old manifest are refused,
or with ``keep_foreign`` carried over (a vendor's README in a submission's product directory).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import tempfile
import threading
from typing import Callable, Dict, Iterator, List, Optional

MANIFEST = ".ai-conformance-manifest.json"
MANIFEST_FORMAT = "k8s_ai.conformance artifact set"
FREE_SPACE_FLOOR = 1024 * 1024  # bytes; preflight refuses a filesystem with less free
FOREIGN_SHOWN = 5  # foreign entries named in preflight's message
FILE_MODE = 0o644
DIR_MODE = 0o755
AT_FDCWD = -100
RENAME_EXCHANGE = 2
EXCHANGE_UNSUPPORTED = (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)


class ArtifactSetError(ValueError):
    """A directory that cannot hold the artifact set; the message names the path and the fix."""


def _load_renameat2() -> Optional[Callable[..., int]]:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()  # None where libc lacks it (not Linux, glibc < 2.28); tests set it to None


def _step(name: str) -> None:
    """Called before each file write and before/after each rename and removal; tests patch it to fail there."""


# ---------------------------------------------------------------------------- paths


def _resolve(directory: str) -> str:
    target = os.path.realpath(os.path.expanduser(directory))
    if not os.path.basename(target):
        raise ArtifactSetError("%s cannot be an output directory: choose a directory below it" % directory)
    return target


def _siblings(target: str, kind: str) -> List[str]:
    """The ``.<name>.<kind>-*`` entries beside ``target``, newest first."""
    parent, prefix = os.path.dirname(target), ".%s.%s-" % (os.path.basename(target), kind)
    try:
        names = [n for n in os.listdir(parent) if n.startswith(prefix)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted((os.path.join(parent, n) for n in names), key=lambda p: os.lstat(p).st_mtime, reverse=True)


def _current(target: str) -> Optional[str]:
    """Where the current set is: the directory, else the old set a killed swap left beside it, else None."""
    if os.path.lexists(target):
        return target
    olds = _siblings(target, "old")
    return olds[0] if olds else None


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _recover(target: str) -> None:
    """Put back the old set of a swap killed between its renames; remove the temporary entries of killed runs.

    An ``.old-`` entry is only ever partial (being removed) once the directory is back in place, so a missing
    directory means the newest ``.old-`` beside it is a complete set.
    """
    olds = _siblings(target, "old")
    if olds and not os.path.lexists(target):
        os.rename(olds.pop(0), target)
    for leftover in olds + _siblings(target, "new"):
        _remove(leftover)


def _check_paths(files: Dict[str, str]) -> None:
    for rel, text in files.items():
        if not isinstance(rel, str) or rel == MANIFEST or "\\" in rel or any(p in ("", ".", "..") for p in rel.split("/")):
            raise ArtifactSetError("%r is not a relative POSIX path of an artifact (such as 'evidence/x.md')" % (rel,))
        if not isinstance(text, str):
            raise ArtifactSetError("the content of %s must be text, got %s" % (rel, type(text).__name__))
    directories = {"/".join(rel.split("/")[:depth]) for rel in files for depth in range(1, rel.count("/") + 1)}
    clashes = sorted(directories & set(files))
    if clashes:
        raise ArtifactSetError("%s cannot be both a file and a directory of the artifact set" % clashes[0])


# ---------------------------------------------------------------------------- the current set


def _manifest(root: str, adopt: Optional[Callable[[str], bool]] = None) -> List[str]:
    """The relative paths the manifest in ``root`` lists; none when it is not ours. Without a manifest
    (a set written before manifests existed), the entries ``adopt`` recognises as artifacts."""
    if adopt is not None and not os.path.lexists(os.path.join(root, MANIFEST)):
        return [e for e in _entries(root) if not e.endswith("/") and adopt(e)]
    try:
        with open(os.path.join(root, MANIFEST), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return []
    files = data.get("files") if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


def _entries(root: str, rel: str = "") -> List[str]:
    """Every non-directory entry under ``root`` (relative, '/'-separated), and each empty directory as 'name/'."""
    with os.scandir(os.path.join(root, rel) if rel else root) as scan:
        children = sorted(scan, key=lambda entry: entry.name)
    if rel and not children:
        return [rel + "/"]
    found: List[str] = []
    for entry in children:
        path = "%s/%s" % (rel, entry.name) if rel else entry.name
        found.extend(_entries(root, path) if entry.is_dir(follow_symlinks=False) else [path])
    return found


def _foreign(root: str, adopt: Optional[Callable[[str], bool]] = None) -> List[str]:
    """The entries of ``root`` its manifest does not list: files this collection did not write."""
    owned = set(_manifest(root, adopt))
    return [e for e in _entries(root) if e != MANIFEST and e not in owned and not (e.endswith("/") and any(o.startswith(e) for o in owned))]


def _read_set(root: str, adopt: Optional[Callable[[str], bool]] = None) -> Dict[str, Optional[str]]:
    """{relative path: text} of the files the manifest lists that exist; None for one that is not UTF-8 text."""
    found: Dict[str, Optional[str]] = {}
    for rel in _manifest(root, adopt):
        path = os.path.join(root, *rel.split("/"))
        if os.path.isfile(path):
            try:
                with open(path, "rb") as handle:
                    found[rel] = handle.read().decode("utf-8")
            except UnicodeDecodeError:
                found[rel] = None
    return found


def _differences(old: Dict[str, Optional[str]], new: Dict[str, str], comparable: Optional[Callable[[str, str], str]]) -> List[str]:
    """The relative paths added, changed or removed."""
    def same(rel: str) -> bool:
        if old[rel] is None:
            return False
        if comparable is None:
            return old[rel] == new[rel]
        return comparable(rel, old[rel]) == comparable(rel, new[rel])
    return sorted((set(old) ^ set(new)) | {rel for rel in set(old) & set(new) if not same(rel)})


def read(directory: str, relative: str, adopt: Optional[Callable[[str], bool]] = None) -> Optional[str]:
    """The text of one file of the current set (also the old set a killed swap left); None when the set lacks it."""
    current = _current(_resolve(directory))
    return _read_set(current, adopt).get(relative) if current and os.path.isdir(current) else None


# ---------------------------------------------------------------------------- preflight


def _existing_ancestor(target: str) -> str:
    """The nearest existing ancestor of ``target``: where its temporary sibling (and its parents) would be created."""
    ancestor = os.path.dirname(target)
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ArtifactSetError("cannot create %s: %s is a file, not a directory; choose an output directory elsewhere" % (target, ancestor))
    return ancestor


def _probe(directory: str, target: str) -> None:
    """Create and remove a file in ``directory`` (os.access says yes to root on a read-only mount)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".ai-conformance-probe-", dir=directory)
    except OSError as exc:
        raise ArtifactSetError("cannot write in %s (%s), where %s and its temporary copy go: fix its permissions or "
                               "choose an output directory you can write" % (directory, exc.strerror or exc, target))
    os.close(handle)
    os.unlink(probe)


def _check_space(directory: str) -> None:
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    if free < FREE_SPACE_FLOOR:
        raise ArtifactSetError("only %d KiB free on the filesystem of %s (at least %d KiB needed): free some space or "
                               "choose an output directory on another filesystem" % (free // 1024, directory, FREE_SPACE_FLOOR // 1024))


def preflight(directory: str, keep_foreign: bool = False, check_mode: bool = False,
              adopt: Optional[Callable[[str], bool]] = None) -> None:
    """Raise ArtifactSetError when ``directory`` could not be replaced; call it before any cluster work.

    Also recovers a set a killed run left beside the directory and sweeps its leftovers (not in check mode).
    ``adopt(relative path)`` says which files of a directory without a manifest are artifacts of an earlier release.
    """
    target = _resolve(directory)
    if os.path.lexists(target) and not os.path.isdir(target):
        raise ArtifactSetError("%s exists and is a file, not a directory: remove it or choose another output directory" % target)
    ancestor = _existing_ancestor(target)
    _probe(ancestor, target)
    _check_space(ancestor)
    if not check_mode:
        _recover(target)
    current = _current(target)
    foreign = _foreign(current, adopt) if current and not keep_foreign else []
    if foreign:
        shown = ", ".join(foreign[:FOREIGN_SHOWN]) + (", ..." if len(foreign) > FOREIGN_SHOWN else "")
        raise ArtifactSetError("%s holds %d entr%s k8s_ai.conformance did not write (%s); refusing to replace them: choose an "
                               "empty or new directory, or pass keep_foreign to keep them"
                               % (target, len(foreign), "y" if len(foreign) == 1 else "ies", shown))


# ---------------------------------------------------------------------------- writing


def _fsync_directory(path: str) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _make_directories(root: str, rel: str, made: List[str]) -> None:
    """Create ``rel``'s directories under ``root`` (mode 0755), noting each for its fsync."""
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        path = os.path.join(root, *parts[:depth])
        if not os.path.isdir(path):
            os.mkdir(path, DIR_MODE)
            os.chmod(path, DIR_MODE)
            made.append(path)


def _write(root: str, rel: str, data: bytes, made: List[str]) -> None:
    if "/" in rel:
        _make_directories(root, rel.rsplit("/", 1)[0], made)
    path = os.path.join(root, *rel.split("/"))
    with open(path, "xb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(path, FILE_MODE)


def _carry(source: str, root: str, rel: str, made: List[str]) -> None:
    """Bring a foreign entry into the new set: a hard link, else a copy (a symbolic link stays one)."""
    if rel.endswith("/"):
        _make_directories(root, rel.rstrip("/"), made)
        return
    if "/" in rel:
        _make_directories(root, rel.rsplit("/", 1)[0], made)
    origin, path = os.path.join(source, *rel.split("/")), os.path.join(root, *rel.split("/"))
    try:
        os.link(origin, path, follow_symlinks=False)
    except OSError:
        shutil.copy2(origin, path, follow_symlinks=False)


def _carried(current: Optional[str], files: Dict[str, str], keep_foreign: bool, adopt: Optional[Callable[[str], bool]] = None) -> List[str]:
    """The foreign entries the new set keeps: all but those it overwrites; a file/directory clash is refused."""
    if not (current and keep_foreign):
        return []
    carried = []
    for entry in _foreign(current, adopt):
        name = entry.rstrip("/")
        if name in files:
            continue
        clash = next((rel for rel in files if rel.startswith(name + "/") or name.startswith(rel + "/")), None)
        if clash:
            raise ArtifactSetError("%s/%s is in the way of the artifact %s: move it elsewhere" % (current, entry, clash))
        carried.append(entry)
    return carried


def _exchange(fresh: str, target: str) -> bool:
    """Swap two paths in one step; False where the kernel or filesystem cannot."""
    if _RENAMEAT2(AT_FDCWD, os.fsencode(fresh), AT_FDCWD, os.fsencode(target), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in EXCHANGE_UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), target)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them to the handlers that were in place.

    The handlers are swapped rather than the signal mask: with other threads running (probes, an HTTP pool), the
    kernel may hand the signal to any of them, and Python would still raise it in the main thread mid-block.
    Off the main thread nothing is needed: Python raises signals only in the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: List[int] = []
    previous = {number: signal.signal(number, lambda received, _frame: held.append(received))
                for number in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(number) is not None}  # None: not Python's to swap
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(held):
            os.kill(os.getpid(), number)


def _swap(fresh: str, target: str, old: str) -> None:
    """Put the set at ``fresh`` in place at ``target``; the previous set ends at ``fresh`` or ``old``."""
    if not os.path.lexists(target):
        _step("rename new")
        os.rename(fresh, target)
        _step("renamed new")
        return
    if _RENAMEAT2 is not None:
        _step("exchange")
        if _exchange(fresh, target):
            _step("exchanged")
            return
    with _signals_deferred():
        _step("rename old")
        os.rename(target, old)
        try:
            _step("renamed old")
            _step("rename new")
            os.rename(fresh, target)
        except BaseException:
            os.rename(old, target)
            raise
    _step("renamed new")


def replace(directory: str, files: Dict[str, str], comparable: Optional[Callable[[str, str], str]] = None,
            keep_foreign: bool = False, check_mode: bool = False, adopt: Optional[Callable[[str], bool]] = None) -> Dict[str, object]:
    """Make ``directory`` hold exactly ``files`` ({relative POSIX path: text}), all at once.

    Nothing is touched when the current set equals ``files`` (compared with ``comparable(path, text)`` when given).
    Returns ``changed`` and ``written``: the relative paths added, changed or removed (or that would be, in check mode).
    """
    _check_paths(files)
    preflight(directory, keep_foreign, check_mode, adopt)
    target = _resolve(directory)
    current = _current(target)
    written = _differences(_read_set(current, adopt) if current else {}, files, comparable)
    changed = current is None or bool(written)
    if check_mode or not changed:
        return dict(changed=changed, written=written)
    carried = _carried(current, files, keep_foreign, adopt)
    parent, name = os.path.split(target)
    os.makedirs(parent, DIR_MODE, exist_ok=True)
    prefix = ".%s.new-" % name
    fresh = tempfile.mkdtemp(prefix=prefix, dir=parent)
    old = os.path.join(parent, ".%s.old-%s" % (name, os.path.basename(fresh)[len(prefix):]))
    try:
        os.chmod(fresh, DIR_MODE)
        made = [fresh]
        for rel, text in files.items():
            _step("write " + rel)
            _write(fresh, rel, text.encode("utf-8"), made)
        for rel in carried:
            _step("carry " + rel)
            _carry(current, fresh, rel, made)
        _step("write " + MANIFEST)
        _write(fresh, MANIFEST, (json.dumps({"format": MANIFEST_FORMAT, "files": sorted(files)}, indent=2) + "\n").encode("utf-8"), made)
        for path in made:
            _fsync_directory(path)
        _swap(fresh, target, old)
        _fsync_directory(parent)
        for previous in (fresh, old):
            if os.path.lexists(previous):
                _step("remove old")
                _remove(previous)
                _step("removed old")
    finally:
        if os.path.lexists(fresh):
            _remove(fresh)
        if os.path.lexists(old) and os.path.lexists(target):
            _remove(old)
    return dict(changed=True, written=written)
