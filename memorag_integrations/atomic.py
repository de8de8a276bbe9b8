"""Replacing a folder safely: fill a temporary sibling, flush it to disk, swap it in.

A save killed at any point leaves the previous folder loadable, and what it leaves behind
(``.<name>.tmp-*`` and ``.<name>.old-*`` siblings) is removed, or put back, by the next save or
load of that folder. Saves and tidying of folders in one parent hold an exclusive lock on the
parent (``flock``), so a sibling is only ever removed when no save is writing it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from memorag_integrations.errors import MemoRAGError, StoreWriteError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; leftovers are then only tidied when old
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: Without locks, a leftover sibling younger than this may belong to a save still running.
UNLOCKED_GRACE_S = 24 * 3600
#: Room kept free beyond a save's own size (file system metadata, the manifest, other writers).
SPACE_MARGIN = 16 << 20


def _siblings(folder: Path, kind: str) -> list[Path]:
    """The ``kind`` (``tmp`` or ``old``) leftovers of ``folder``: only names this module makes."""
    pattern = re.compile(rf"\.{re.escape(folder.name)}\.{kind}-[A-Za-z0-9_]{{8}}")
    try:
        entries = list(folder.parent.iterdir())
    except OSError:
        return []
    return [p for p in entries if pattern.fullmatch(p.name) and p.is_dir() and not p.is_symlink()]


@contextlib.contextmanager
def parent_lock(folder: Path, *, wait: bool = True) -> Iterator[bool]:
    """Lock ``folder``'s parent for writing; yields whether the lock is held (False only when
    ``wait`` is False and another process holds it, or the platform has no locks)."""
    if fcntl is None:
        yield False
        return
    try:
        fd = os.open(folder.parent, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def recover(folder: Path) -> bool:
    """Put back the previous version of ``folder`` when a save was killed between its two renames
    (the folder gone, its old copy complete beside it). Call with the parent locked."""
    if folder.exists():
        return False
    complete = [p for p in _siblings(folder, "old") if (p / "manifest.json").is_file()]
    if not complete:
        return False
    newest = max(complete, key=lambda p: p.stat().st_mtime)
    newest.rename(folder)
    logger.warning("%s was missing after an interrupted save; restored its previous version", folder)
    return True


def remove_leftovers(folder: Path, *, locked: bool) -> int:
    """Remove the temporary and old siblings of ``folder`` left by killed saves; returns how many.

    With the parent ``locked`` no save is running, so every leftover is stale; without a lock only
    those untouched for :data:`UNLOCKED_GRACE_S` are."""
    import time

    removed = 0
    for path in _siblings(folder, "tmp") + _siblings(folder, "old"):
        try:
            if not locked and time.time() - path.stat().st_mtime < UNLOCKED_GRACE_S:
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += not path.exists()
    if removed:
        logger.info("removed %d leftover folder(s) of interrupted saves beside %s", removed, folder)
    return removed


def tidy(folder: str | os.PathLike) -> None:
    """Best effort before reading ``folder``: recover it after a killed save, remove leftovers.
    Never raises (a read-only medium is read as it is)."""
    folder = Path(folder)
    try:
        if not folder.exists():
            with parent_lock(folder, wait=True) as locked:  # a save may be between its renames
                recover(folder)
                remove_leftovers(folder, locked=locked)
            return
        with parent_lock(folder, wait=False) as locked:
            remove_leftovers(folder, locked=locked)
    except OSError as exc:
        logger.debug("could not tidy beside %s: %s", folder, exc)


def fsync_tree(root: Path) -> None:
    """Flush every file under ``root`` and the folders themselves to disk."""
    for path in sorted(root.rglob("*"), reverse=True) + [root]:
        _fsync(path)


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # folders cannot be opened on Windows; their entries are durable there
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):  # file systems without fsync for folders
            raise
    finally:
        os.close(fd)


def check_free_space(folder: Path, needed: int) -> None:
    """Refuse to write ``needed`` bytes into ``folder`` (a new one) unless they fit with a margin."""
    try:
        free = shutil.disk_usage(folder.parent).free
    except OSError:
        return
    if free < needed + SPACE_MARGIN:
        raise StoreWriteError(f"not enough free disk space in {folder.parent}: the save needs about "
                              f"{_mb(needed + SPACE_MARGIN)}, {_mb(free)} are free; free some space or save to "
                              "another disk")


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def replace_folder(folder: Path, fill: Callable[[Path], T], *, check: Callable[[Path], object] | None = None) -> T:
    """Fill a new temporary sibling of ``folder`` and swap it in for ``folder``.

    ``check(folder)`` runs under the lock after recovery, before anything is written (it may
    refuse). A crash or an error leaves the previous folder as it was; an ``OSError`` (permissions,
    a full or read-only disk) becomes a :class:`StoreWriteError` that names ``folder``."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with parent_lock(folder) as locked:
            recover(folder)
            remove_leftovers(folder, locked=locked)
            if check is not None:
                check(folder)
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
            try:
                result = fill(tmp)
                fsync_tree(tmp)
                _swap(tmp, folder)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except OSError as exc:
        if isinstance(exc, MemoRAGError):  # already says what to do (StoreExistsError, StoreWriteError)
            raise
        reason = exc.strerror or str(exc)
        raise StoreWriteError(f"cannot save {folder}: {reason} ({exc.filename or folder.parent}); check that the "
                              "folder is writable and the disk has room, or save elsewhere") from exc
    return result


def _swap(tmp: Path, folder: Path) -> None:
    """``tmp`` becomes ``folder``; the old version is moved aside first and removed last, so a kill
    between the renames leaves it complete beside the path (see :func:`recover`)."""
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
        folder.rename(old)
    tmp.rename(folder)
    _fsync(folder.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
