"""The on-disk format of a memorized corpus: a folder written atomically, checked on load.

Files: ``manifest.json`` (format version, identities, settings, checksums), ``documents.jsonl``,
``chunks.jsonl``, ``index.faiss``, ``memory.json`` and ``memory.safetensors``. No pickle.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memorag_integrations.errors import (CorruptStoreError, IncompatibleStoreError, StoreExistsError,
                                         StoreNotFoundError)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_writable(folder: str | os.PathLike, *, overwrite: bool) -> Path:
    """Refuse an existing folder unless ``overwrite``, and never replace a folder that is not a corpus."""
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise StoreExistsError(f"{folder} already exists; pass overwrite=True (CLI: --overwrite) or pick a new folder")
    if folder.exists() and not (folder / MANIFEST).is_file():
        raise StoreExistsError(f"{folder} exists and is not a saved corpus; refusing to replace it")
    return folder


def write_atomically(folder: str | os.PathLike, fill: Callable[[Path], dict[str, Any]], *,
                     overwrite: bool = False) -> Path:
    """Fill a temporary sibling folder, then swap it in; a crash leaves the old folder as it was.

    ``fill(tmp)`` writes the files and returns the manifest; checksums are added here.
    """
    folder = check_writable(folder, overwrite=overwrite)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        manifest = fill(tmp)
        manifest["files"] = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest.update(format_version=FORMAT_VERSION,
                        created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_manifest(folder: str | os.PathLike, *, verify: bool = True) -> dict[str, Any]:
    """Read and check the manifest: format version, and presence and checksum of every file."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise StoreNotFoundError(f"{folder} is not a saved corpus (no {MANIFEST}); memorize and save first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CorruptStoreError(f"{path} is not valid JSON ({exc}); memorize the corpus again") from exc
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IncompatibleStoreError(
            f"{folder} has format version {version!r}, this library reads up to {FORMAT_VERSION}; "
            "upgrade memorag-integrations")
    if verify:
        for name, digest in manifest.get("files", {}).items():
            file = folder / name
            if not file.is_file():
                raise CorruptStoreError(f"{file} is missing; the saved corpus is incomplete, memorize it again")
            if file_sha256(file) != digest:
                raise CorruptStoreError(f"{file} does not match its checksum in {MANIFEST}; the file was "
                                        "changed or damaged, memorize the corpus again")
    return manifest


def check_same(saved: dict[str, Any], current: dict[str, Any], what: str, folder: Path) -> None:
    """Raise :class:`IncompatibleStoreError` naming every setting that differs."""
    diffs = [f"{key}: saved {saved.get(key)!r}, given {current.get(key)!r}"
             for key in sorted(set(saved) | set(current)) if saved.get(key) != current.get(key)]
    if diffs:
        raise IncompatibleStoreError(
            f"{folder} was memorized with another {what} ({'; '.join(diffs)}); load it with the saved "
            f"{what} or memorize again")
