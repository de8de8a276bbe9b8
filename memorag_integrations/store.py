"""The on-disk format of a memorized corpus: a folder written atomically, checked on load.

Files: ``manifest.json`` (format version, identities, settings, checksums), ``documents.jsonl``,
``memory.json`` and ``memory.safetensors`` (written here), and the index's own files
(``chunks.jsonl`` and ``index.faiss`` for the core's index; LlamaIndex's storage for its adapter).
No pickle. This module reads and writes the files; the memory a manifest describes is built again
by the registry of memory kinds (:mod:`memorag_integrations.memory.registry`), which the core's
``MemoRAG.load`` and the LlamaIndex adapter's ``load`` both ask.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memorag_integrations import kvcodec
from memorag_integrations.atomic import check_free_space, replace_folder, tidy
from memorag_integrations.errors import (CorruptStoreError, IncompatibleStoreError, MemoRAGError, StoreExistsError,
                                         StoreNotFoundError)
from memorag_integrations.files import file_sha256
from memorag_integrations.schema import Document
from memorag_integrations.version import __version__

if TYPE_CHECKING:
    from memorag_integrations.memory.base import Memory

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCUMENTS_FILE = "documents.jsonl"
MEMORY_META = "memory.json"
MEMORY_TENSORS = "memory.safetensors"
#: Files every saved corpus has, whatever holds its index.
REQUIRED_FILES = (DOCUMENTS_FILE, MEMORY_META)
#: The manifest's keys that every reader needs, with their JSON types.
MANIFEST_KEYS: dict[str, type] = {"files": dict, "memory": dict, "retriever": dict, "documents": int,
                                  "content_sha256": str}
MAX_MANIFEST_BYTES = 1 << 20
SHA256 = re.compile(r"[0-9a-f]{64}")
#: A file the manifest lists: a plain name inside the folder (no separators, no leading dot).
#: The key of ``memory.json`` that lists the tensors saved beside it.
TENSOR_NAMES = "saved_tensors"
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


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
    """Fill a temporary sibling folder, then swap it in (see :mod:`memorag_integrations.atomic`): a
    crash leaves the old folder loadable, and an OS error is a :class:`StoreWriteError`.

    ``fill(tmp)`` writes the files and returns the manifest; checksums are added here.
    """
    folder = check_writable(folder, overwrite=overwrite)

    def write(tmp: Path) -> None:
        manifest = fill(tmp)
        manifest["files"] = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest.update(format_version=FORMAT_VERSION,
                        created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")

    replace_folder(folder, write, check=lambda f: check_writable(f, overwrite=overwrite))
    return folder


def read_manifest(folder: str | os.PathLike, *, verify: bool = True, required: Sequence[str] = ()) -> dict[str, Any]:
    """Read and check the manifest before anything else is opened: its shape (see
    :func:`check_manifest`), the format version, and the presence and checksum of every file.

    ``required`` names files the reader needs beyond the documents and the memory's meta. A save
    killed between its renames is recovered first, and leftovers of killed saves are removed."""
    folder = Path(folder)
    tidy(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise StoreNotFoundError(f"{folder} is not a saved corpus (no {MANIFEST}); memorize and save first")
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise CorruptStoreError(f"{path} is {path.stat().st_size} bytes, far more than a manifest; "
                                    "memorize the corpus again")
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CorruptStoreError(f"{path} is not valid JSON ({type(exc).__name__}); memorize the corpus again"
                                ) from exc
    except OSError as exc:
        raise CorruptStoreError(f"{path} cannot be read ({exc.strerror}); check its permissions") from exc
    manifest = check_manifest(manifest, folder, (*REQUIRED_FILES, *required))
    if verify:
        for name, digest in manifest["files"].items():
            file = folder / name
            if file.is_symlink() or not file.is_file():
                raise CorruptStoreError(f"{file} is missing (or not a plain file); the saved corpus is incomplete, "
                                        "memorize it again")
            try:
                same = file_sha256(file) == digest
            except OSError as exc:
                raise CorruptStoreError(f"{file} cannot be read ({exc.strerror}); check its permissions") from exc
            if not same:
                raise CorruptStoreError(f"{file} does not match its checksum in {MANIFEST}; the file was "
                                        "changed or damaged, memorize the corpus again")
    return manifest


def check_manifest(manifest: object, folder: Path, required: Sequence[str]) -> dict[str, Any]:
    """The manifest's schema: types and required keys, file names that stay inside the folder,
    and every ``required`` file listed with a checksum. Raises a :class:`StoreError` that says what
    is wrong; nothing named by the manifest is opened here."""
    where = folder / MANIFEST

    def bad(what: str) -> CorruptStoreError:
        return CorruptStoreError(f"{where} {what}; the folder was damaged or edited, memorize the corpus again")

    if not isinstance(manifest, dict):
        raise bad(f"holds a JSON {type(manifest).__name__}, not an object")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad(f"has no valid format_version (found {version!r})")
    if version > FORMAT_VERSION:
        raise IncompatibleStoreError(
            f"{folder} has format version {version!r}, this library reads up to {FORMAT_VERSION}; "
            "upgrade memorag-integrations")
    for key, kind in MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise bad(f"has no valid {key!r} (a {kind.__name__} is needed)")
    for key in ("kind", "model"):
        if not isinstance(manifest["memory"].get(key), str):
            raise bad(f"names no memory {key}")
    if not SHA256.fullmatch(manifest["content_sha256"]):
        raise bad("has no valid content_sha256")
    files = manifest["files"]
    for name, digest in files.items():
        if not SAFE_NAME.fullmatch(name) or name == MANIFEST:
            raise bad(f"lists the file {name!r}: only plain names of files inside the folder are allowed")
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            raise bad(f"has no valid checksum for {name!r}")
    missing = [name for name in required if name not in files]
    if missing:
        raise bad(f"does not list {', '.join(missing)}, which every saved corpus has")
    return manifest


def check_same(saved: dict[str, Any], current: dict[str, Any], what: str, folder: Path) -> None:
    """Raise :class:`IncompatibleStoreError` naming every setting that differs."""
    diffs = [f"{key}: saved {saved.get(key)!r}, given {current.get(key)!r}"
             for key in sorted(set(saved) | set(current)) if saved.get(key) != current.get(key)]
    if diffs:
        raise IncompatibleStoreError(
            f"{folder} was memorized with another {what} ({'; '.join(diffs)}); load it with the saved "
            f"{what} or memorize again")


def check_memory(saved: dict[str, Any], memory: Memory, folder: Path) -> None:
    """:func:`check_same` for a manifest's memory entry and the memory that will load it. How new
    text is gisted (``gisting``) may differ: the saved gists are read as they are."""
    def settings(config: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in config.items() if key != "gisting"}

    check_same(settings(saved), settings(memory.config()), "memory model or settings", folder)


# -- the corpus: documents and memory state --------------------------------------------------------
def content_hash(documents: Sequence[Document]) -> str:
    h = hashlib.sha256()
    for d in documents:
        h.update(str(d.doc_id).encode("utf-8") + b"\0" + d.text.encode("utf-8") + b"\0")
    return h.hexdigest()


def library_version() -> str:
    return __version__


def corpus_manifest(documents: Sequence[Document], memory: Memory, index_config: dict[str, Any]) -> dict[str, Any]:
    """The manifest entries every saved corpus has: library, memory and index settings, content hash."""
    return {"library": library_version(), "memory": memory.config(), "retriever": index_config,
            "documents": len(documents), "content_sha256": content_hash(documents)}


def write_corpus(folder: Path, documents: Sequence[Document], memory: Memory, *, include_kv: bool = True,
                 kv_dtype: str | None = None) -> None:
    """Write the documents and the memory's state into ``folder`` (the index is the caller's).

    The free disk space is checked first; ``memory.json`` records which tensors were saved, so a
    reader knows the tensors file is required. ``kv_dtype`` stores the float tensors (a KV cache)
    in half precision or 8 bits (see :mod:`memorag_integrations.kvcodec`)."""
    from safetensors.torch import save_file

    tensors, meta = memory.state(cache=include_kv)
    tensors = kvcodec.encode(tensors, kv_dtype)
    text_bytes = sum(len(d.text.encode("utf-8")) for d in documents)
    # The documents, their chunks (about the same text again) and the memory's meta and tensors.
    check_free_space(folder, 3 * text_bytes + sum(t.numel() * t.element_size() for t in tensors.values()))
    with open(folder / DOCUMENTS_FILE, "w", encoding="utf-8") as fh:
        for d in documents:
            record = {"doc_id": d.doc_id, "text": d.text, "metadata": d.metadata}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    meta = {**meta, TENSOR_NAMES: sorted(tensors)}
    (folder / MEMORY_META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if tensors:
        save_file(tensors, str(folder / MEMORY_TENSORS))


def read_corpus(folder: Path, memory: Memory, manifest: dict[str, Any], *, remedy: str) -> list[Document]:
    """The documents saved by :func:`write_corpus`, with ``memory`` restored; checked against the
    manifest, and the tensors against the memory's model (by the memory's ``load_state``)."""
    try:
        documents = _read_documents(folder / DOCUMENTS_FILE)
        if content_hash(documents) != manifest["content_sha256"] or len(documents) != manifest["documents"]:
            raise CorruptStoreError(f"{folder / DOCUMENTS_FILE} does not match the manifest; {remedy}")
        meta = json.loads((folder / MEMORY_META).read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("context"), str):
            raise ValueError(f"{MEMORY_META} holds no memory context")
        names = meta.pop(TENSOR_NAMES, None)  # absent in folders saved before it was recorded
        tensors = _read_tensors(folder, manifest, names)
        memory.load_state(tensors, meta)
    except MemoRAGError:
        raise
    except Exception as exc:  # noqa: BLE001 (json, safetensors and the memories raise many kinds on bad bytes)
        raise CorruptStoreError(f"{folder} could not be read ({type(exc).__name__}: {exc}); {remedy}") from exc
    return documents


def _read_documents(path: Path) -> list[Document]:
    documents = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                    raise ValueError(f"{path.name} has a line that is not a document")
                documents.append(Document(**record))
    return documents


def _read_tensors(folder: Path, manifest: dict[str, Any], names: object) -> dict[str, Any]:
    """The memory's tensors: only from a file the manifest lists, and exactly those ``memory.json``
    says were saved."""
    listed = MEMORY_TENSORS in manifest["files"]
    if names is not None and (not isinstance(names, list) or (bool(names) != listed)):
        raise ValueError(f"{MEMORY_META} names the tensors {names!r} but the manifest "
                         f"{'lists' if listed else 'does not list'} {MEMORY_TENSORS}")
    if not listed:
        return {}
    from safetensors.torch import load_file

    tensors = load_file(str(folder / MEMORY_TENSORS))
    if names is not None and sorted(tensors) != names:
        raise ValueError(f"{MEMORY_TENSORS} holds other tensors than {MEMORY_META} names")
    return kvcodec.decode(tensors)


def check_chunks(chunks: Sequence[Any], documents: Sequence[Document]) -> None:
    """Raise ``ValueError`` unless every chunk is the exact span of its document it says it is."""
    texts = {d.doc_id: d.text for d in documents}
    for position, c in enumerate(chunks):
        text = texts.get(c.doc_id)
        if (c.chunk_id != position or text is None or not isinstance(c.start, int) or not isinstance(c.end, int)
                or not 0 <= c.start < c.end <= len(text) or text[c.start:c.end] != c.text):
            raise ValueError(f"chunk {position} is not the span of its document that it names")
