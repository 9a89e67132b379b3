"""Atomic file and directory writes, hashing, and small JSON helpers.

Every output of toklab goes through these helpers: a file is written to a temporary sibling,
flushed and fsynced, then renamed over the target; a directory is filled in a temporary sibling
and then swapped in (:func:`replace_directory`). So a crash or a failing job never leaves a
half-written file or directory where a finished one is expected.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        _fsync(path)


def _remove(path: Path) -> None:
    """Delete a file or a directory tree, if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield the name of a temporary sibling of ``path``; rename it over ``path`` on success.

    For writers that take a file name rather than a handle (``safetensors``, ``torch.save``).
    The file is fsynced before the rename; on an exception it is removed and ``path`` is left
    untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    if "w" not in mode:
        raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle


def replace_directory(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the finished directory ``source`` to ``target``, replacing what is there.

    An existing ``target`` is first renamed aside (to ``.{name}.old``) and deleted only once
    ``source`` is in its place, so a crash never leaves a half-deleted directory at ``target``.
    """
    source, target = Path(source), Path(target)
    aside = target.with_name(f".{target.name}.old")
    _remove(aside)
    if target.exists() or target.is_symlink():
        os.replace(target, aside)
    os.replace(source, target)
    _fsync_dir(target.parent)
    _remove(aside)


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike[str], *, staging: str | os.PathLike[str] | None = None
) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it takes the place of ``path``.

    The swap is :func:`replace_directory`: an existing ``path`` is removed only once the new
    contents are complete. ``staging``, a sibling of ``path``, fixes the temporary directory's
    name (anything a killed process left there is cleared first), so interrupted writes of large
    directories do not pile up; by default the name is a fresh one. On an exception the
    temporary directory is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if staging is None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    else:
        tmp = Path(staging)
        _remove(tmp)
        tmp.mkdir()
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically (stable bytes for equal objects)."""
    with atomic_write(path, "w") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 24) -> str:
    """Hex SHA-256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
