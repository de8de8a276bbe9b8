"""The on-disk format of a memorized corpus: a folder written atomically, checked on load.

Files: ``manifest.json`` (format version, identities, settings, checksums), ``documents.jsonl``,
``memory.json`` and ``memory.safetensors`` (written here), and the index's own files
(``chunks.jsonl`` and ``index.faiss`` for the core's index; LlamaIndex's storage for its adapter).
No pickle. The registry of memory kinds rebuilds a saved memory from its manifest entry; the
core's ``MemoRAG.load`` and the LlamaIndex adapter's ``load`` both use it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memorag_integrations.errors import (CorruptStoreError, IncompatibleStoreError, StoreExistsError,
                                         StoreNotFoundError)
from memorag_integrations.schema import Document

if TYPE_CHECKING:
    from memorag_integrations.llm.base import TextGenerator
    from memorag_integrations.memory.base import Memory

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCUMENTS_FILE = "documents.jsonl"
MEMORY_META = "memory.json"
MEMORY_TENSORS = "memory.safetensors"


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


# -- the corpus: documents and memory state --------------------------------------------------------
def content_hash(documents: Sequence[Document]) -> str:
    h = hashlib.sha256()
    for d in documents:
        h.update(str(d.doc_id).encode("utf-8") + b"\0" + d.text.encode("utf-8") + b"\0")
    return h.hexdigest()


def library_version() -> str:
    from memorag_integrations import __version__

    return __version__


def corpus_manifest(documents: Sequence[Document], memory: Memory, index_config: dict[str, Any]) -> dict[str, Any]:
    """The manifest entries every saved corpus has: library, memory and index settings, content hash."""
    return {"library": library_version(), "memory": memory.config(), "retriever": index_config,
            "documents": len(documents), "content_sha256": content_hash(documents)}


def write_corpus(folder: Path, documents: Sequence[Document], memory: Memory, *, include_kv: bool = True) -> None:
    """Write the documents and the memory's state into ``folder`` (the index is the caller's)."""
    from safetensors.torch import save_file

    with open(folder / DOCUMENTS_FILE, "w", encoding="utf-8") as fh:
        for d in documents:
            record = {"doc_id": d.doc_id, "text": d.text, "metadata": d.metadata}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tensors, meta = memory.state()
    (folder / MEMORY_META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if tensors and include_kv:
        save_file(tensors, str(folder / MEMORY_TENSORS))


def read_corpus(folder: Path, memory: Memory, manifest: dict[str, Any], *, remedy: str) -> list[Document]:
    """The documents saved by :func:`write_corpus`, with ``memory`` restored; checked against the manifest."""
    try:
        with open(folder / DOCUMENTS_FILE, encoding="utf-8") as fh:
            documents = [Document(**json.loads(line)) for line in fh if line.strip()]
        tensors = {}
        if (folder / MEMORY_TENSORS).exists():
            from safetensors.torch import load_file

            tensors = load_file(str(folder / MEMORY_TENSORS))
        memory.load_state(tensors, json.loads((folder / MEMORY_META).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptStoreError(f"{folder} could not be read ({exc}); {remedy}") from exc
    if content_hash(documents) != manifest.get("content_sha256"):
        raise CorruptStoreError(f"{folder}/{DOCUMENTS_FILE} does not match the manifest; {remedy}")
    return documents


# -- memory kinds: the saved config -> a memory of the same kind --------------------------------------
MemoryFactory = Callable[[dict[str, Any], "TextGenerator | None"], "Memory"]
MEMORY_KINDS: dict[tuple[str, str | None], MemoryFactory] = {}
#: Saved settings that a memory's constructor takes back as they are.
MEMORY_OPTIONS = ("max_memory_tokens", "gist_chunk_tokens", "gist_tokens")


def memory_kind(kind: str, backend: str | None = None) -> Callable[[MemoryFactory], MemoryFactory]:
    """Register how a memory of ``kind`` (on ``backend``) is rebuilt from its saved config."""
    def register(factory: MemoryFactory) -> MemoryFactory:
        MEMORY_KINDS[(kind, backend)] = factory
        return factory

    return register


def memory_from_config(config: dict[str, Any], generator: TextGenerator | None = None) -> Memory:
    """A memory like the saved one (its kind, backend, model and settings), ready to load its state.

    ``generator`` is the model of a prompt memory (which the manifest can only name)."""
    factory = MEMORY_KINDS.get((config.get("kind", ""), config.get("backend")))
    if factory is None:
        raise IncompatibleStoreError(f"the saved memory is of kind {config.get('kind')!r} with model "
                                     f"{config.get('model')!r}, which this library does not know: pass memory=... "
                                     "to load()")
    return factory(config, generator)


def _options(config: dict[str, Any]) -> dict[str, Any]:
    return {name: config[name] for name in MEMORY_OPTIONS if name in config}


def loadable_model(identity: str, what: str) -> str | None:
    """The model to load for a saved identity: None for the embedded defaults, else the hub id.
    Local files cannot be found again from their identity: the caller must pass the model."""
    from memorag_integrations.models import DEFAULT_EMBEDDER, DEFAULT_LM

    if identity in (DEFAULT_LM, DEFAULT_EMBEDDER):
        return None
    if identity.startswith(("path:", "gguf:", "bge-m3:")) or identity == "unknown":
        raise IncompatibleStoreError(f"the saved {what} is {identity!r}, a local model: pass the same {what} to load()")
    return identity


@memory_kind("kv")
def _kv(config: dict[str, Any], generator: TextGenerator | None) -> Memory:
    from memorag_integrations.memory.kv import KVMemory

    return KVMemory(loadable_model(config["model"], "memory model"), **_options(config))


@memory_kind("kv", "llamacpp")
def _kv_llamacpp(config: dict[str, Any], generator: TextGenerator | None) -> Memory:
    from memorag_integrations.memory.llamacpp import LlamaCppKVMemory

    return LlamaCppKVMemory(loadable_model(config["model"], "memory model"), **_options(config))


@memory_kind("beacon")
def _beacon(config: dict[str, Any], generator: TextGenerator | None) -> Memory:
    # A beacon model runs code from its repository: never loaded without the user's explicit opt-in.
    raise IncompatibleStoreError(
        f"the saved memory is a beacon model ({config['model']!r}), which runs remote code: pass "
        f"memory=BeaconMemory({config['model']!r}, trust_remote_code=True, "
        f"beacon_ratio={config.get('beacon_ratio')!r}) to load()")


@memory_kind("prompt")
def _prompt(config: dict[str, Any], generator: TextGenerator | None) -> Memory:
    if generator is None:
        raise IncompatibleStoreError(f"the saved memory is a prompt memory over {config['model']!r}: pass "
                                     "memory=... or the same model as generator=... (in the adapters: llm=...) "
                                     "to load()")
    from memorag_integrations.memory.prompt import PromptMemory

    return PromptMemory(generator, **_options(config))
