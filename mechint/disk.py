"""Where mechint keeps files on disk, and the primitives that keep them consistent.

(Formerly ``mechint.cache``, a name easily confused with the activation cache ``run_with_cache``
returns; the old name still imports for one release, with a DeprecationWarning.)

Everything mechint derives once and reuses (GGUF files assembled from PyPI chunks, GGUF models
converted to plain safetensors folders) lives under :func:`cache_root`. Several processes may use the
cache at once (two notebooks, a test run beside an experiment), so writers follow two rules:

* a file or folder appears under its final name only when it is complete (:func:`atomic_write_bytes`,
  :func:`atomic_write_json`, :func:`temp_sibling` + :func:`os.replace` / :func:`os.rename`);
* whoever builds something holds an inter-process lock (:func:`file_lock`, ``fcntl.flock``) so two
  processes never build the same thing at the same time.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_ENV_VAR",
    "cache_root",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "temp_sibling",
    "stray_temp_siblings",
    "remove_tree",
    "file_lock",
    "sha256_file",
]

logger = logging.getLogger(__name__)

CACHE_ENV_VAR = "MECHINT_CACHE"
"""Environment variable that moves the cache away from ``~/.cache/mechint``."""

_TMP_MARKER = ".tmp-"


def cache_root() -> Path:
    """The cache folder: ``$MECHINT_CACHE`` if set (and not empty), else ``~/.cache/mechint``.

    The folder is created on demand; the value is read on every call, so changing the environment
    variable moves the cache for all later calls.
    """
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "mechint"
    root.mkdir(parents=True, exist_ok=True)
    return root


def temp_sibling(path: str | os.PathLike[str]) -> Path:
    """A fresh, unused name next to ``path`` for building it before an atomic rename.

    The name is ``.<name>.tmp-<pid>-<random>`` in the same folder (so the rename never crosses a file
    system); :func:`stray_temp_siblings` finds leftovers of interrupted builds by this pattern.
    """
    path = Path(path)
    return path.parent / f".{path.name}{_TMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def stray_temp_siblings(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary siblings of ``path`` (see :func:`temp_sibling`) left behind by interrupted writers."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    prefix = f".{path.name}{_TMP_MARKER}"
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(prefix))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """:func:`atomic_write_bytes` for a JSON document (indented, keys sorted, trailing newline)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete a file or folder so that its name disappears at once.

    A folder is first renamed to a temporary sibling, then deleted: a reader never sees it half
    deleted under its real name. Missing paths are ignored.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink():
        doomed = temp_sibling(path)
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            return
        shutil.rmtree(doomed, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def file_lock(
    lock_path: str | os.PathLike[str], timeout: float | None = None, poll_interval: float = 0.2
) -> Iterator[Path]:
    """Hold an exclusive inter-process lock (``fcntl.flock``) on ``lock_path`` for the ``with`` body.

    The lock file is created if needed and never deleted (deleting a lock file races with processes
    that already opened it). The lock is released when the body exits, or by the kernel if the process
    dies, so a crashed builder never leaves the cache locked.

    Args:
        lock_path: the lock file.
        timeout: seconds to wait before raising :class:`TimeoutError`; ``None`` waits for ever.
        poll_interval: seconds between attempts while another process holds the lock.
    """
    import fcntl  # POSIX only; imported here so the rest of the module imports everywhere

    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if not announced:
                logger.warning("waiting for another process holding %s", lock_path)
                announced = True
            if timeout is not None and time.monotonic() - start >= timeout:
                raise TimeoutError(f"could not lock {lock_path} within {timeout} s")
            time.sleep(poll_interval)
        try:
            yield lock_path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike[str], block_size: int = 8 << 20) -> str:
    """Hex sha256 of a file's bytes (about 1.8 GB/s on one core here)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(block_size):
            digest.update(block)
    return digest.hexdigest()
