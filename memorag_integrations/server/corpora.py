"""The server's corpora: the folders ``MemoRAG.save`` writes, under one directory, by name.

Names are checked before they touch the file system (no separators, no dots first), so a name from
a request can never reach outside the directory. Loaded engines are kept and share the server's
models; a corpus memorized with another model is listed but cannot be asked.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memorag_integrations.engine import MemoRAG
from memorag_integrations.errors import IncompatibleStoreError, InvalidInputError, StoreError, StoreNotFoundError
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.llm.transformers import TransformersGenerator
from memorag_integrations.retrieval.embedders import Embedder
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.store import MANIFEST, read_manifest

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class CorpusExistsError(InvalidInputError):
    """A corpus of that name exists already."""


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInputError(f"corpus names are 1-64 letters, digits, '-' or '_', starting with a letter or digit; "
                                f"got {name!r}")
    return name


@dataclass
class Models:
    """What every corpus shares: the memory model, the embedder, and the models that may answer."""

    memory_model: TransformersGenerator
    embedder: Embedder
    answerers: Mapping[str, TextGenerator]

    def memory(self, config: dict[str, Any]):
        """A KV memory over the shared model with the saved settings."""
        from memorag_integrations.memory.kv import KVMemory
        from memorag_integrations.memory.registry import MEMORY_OPTIONS

        if config.get("kind") != "kv" or config.get("backend") or config.get("model") != self.memory_model.identity:
            raise IncompatibleStoreError(f"this corpus was memorized with {config.get('model')!r} "
                                         f"({config.get('kind')}), not this server's {self.memory_model.identity!r}: "
                                         "serve it with that model (memorag serve --model ...)")
        return KVMemory(self.memory_model, **{k: config[k] for k in MEMORY_OPTIONS if k in config})

    def retriever(self, config: dict[str, Any] | None = None) -> DenseRetriever:
        config = config or {}
        options = {k: config[k] for k in ("chunk_tokens", "chunk_overlap") if k in config}
        return DenseRetriever(self.embedder, **options)


class Corpora:
    """The saved corpora under ``root``; engines are loaded once and shared by requests."""

    def __init__(self, root: Path, models: Models) -> None:
        self.root = root
        self.models = models
        self._engines: dict[str, MemoRAG] = {}
        self._lock = threading.Lock()

    def folder(self, name: str) -> Path:
        return self.root / check_name(name)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and NAME.fullmatch(p.name) and (p / MANIFEST).is_file())

    def describe(self, name: str) -> dict[str, Any]:
        """What the corpus list shows: documents, model, chunking, size, and whether it can be asked."""
        folder = self.folder(name)
        try:
            manifest = read_manifest(folder, verify=False)
        except StoreError as exc:
            return {"name": name, "loadable": False, "problem": str(exc)}
        memory, retriever = manifest["memory"], manifest["retriever"]
        loadable = memory.get("model") == self.models.memory_model.identity and not memory.get("backend") and \
            retriever.get("embedder") == self.models.embedder.identity
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        return {"name": name, "documents": manifest["documents"], "memory_model": memory.get("model"),
                "embedder": retriever.get("embedder"), "created_at": manifest.get("created_at"), "bytes": size,
                "loadable": loadable}

    def engine(self, name: str) -> MemoRAG:
        """The loaded engine of ``name`` (loaded on first use)."""
        folder = self.folder(name)
        with self._lock:
            if name in self._engines:
                return self._engines[name]
            if not (folder / MANIFEST).is_file():
                raise StoreNotFoundError(f"there is no corpus named {name!r}; upload one or pick another")
            manifest = read_manifest(folder)
            engine = MemoRAG.load(folder, self.models.memory(manifest["memory"]),
                                  self.models.retriever(manifest["retriever"]), progress=False)
            self._engines[name] = engine
            return engine

    def documents(self, name: str) -> list[dict[str, Any]]:
        engine = self.engine(name)
        return [{"doc_id": d.doc_id, "chars": len(d.text), "metadata": d.metadata} for d in engine.documents]

    def document_text(self, name: str, doc_id: str) -> str:
        for doc in self.engine(name).documents:
            if str(doc.doc_id) == doc_id:
                return doc.text
        raise InvalidInputError(f"corpus {name!r} has no document {doc_id!r}")

    def rename(self, name: str, new: str) -> None:
        source, target = self.folder(name), self.folder(new)
        if not (source / MANIFEST).is_file():
            raise StoreNotFoundError(f"there is no corpus named {name!r}")
        if target.exists():
            raise CorpusExistsError(f"a corpus named {new!r} exists already; pick another name")
        with self._lock:
            self._engines.pop(name, None)
            source.rename(target)

    def delete(self, name: str) -> None:
        folder = self.folder(name)
        if not (folder / MANIFEST).is_file():
            raise StoreNotFoundError(f"there is no corpus named {name!r}")
        with self._lock:
            self._engines.pop(name, None)
            trash = folder.with_name(f".{name}.deleting")
            folder.rename(trash)  # gone from the list at once, even if removing takes a while
            shutil.rmtree(trash, ignore_errors=True)
