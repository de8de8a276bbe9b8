"""Saving a MemoRAG query engine: the core's store format plus LlamaIndex's storage context.

This module knows the retriever and the engine's settings, not the query engine class: the query
engine (:mod:`.base`) calls :func:`persist_retriever` and :func:`load_retriever` and builds itself
around what the latter returns, so the two modules never import each other.

The folder holds ``manifest.json`` (format version, embedder identity and chunking, memory kind
and model, engine settings, checksums), ``documents.jsonl``, ``memory.json`` (+
``memory.safetensors`` for a KV memory) and ``index/`` (LlamaIndex's docstore, index store and
vector store). Written atomically; no pickle.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import LLM
from llama_index.retrievers.memorag import MemoRAGRetriever
from llama_index.retrievers.memorag.embedding import MemoRAGEmbedding, core_embedder

from memorag_integrations.defaults import KV_DTYPE
from memorag_integrations.engine import MemoRAG, check_retriever_config
from memorag_integrations.errors import (CorruptStoreError, IncompatibleStoreError, InvalidInputError,
                                         MissingDependencyError)
from memorag_integrations.files import file_sha256
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.memory.base import Memory
from memorag_integrations.memory.registry import memory_from_config
from memorag_integrations.models import DEFAULT_EMBEDDER
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.store import (check_memory, check_same, corpus_manifest, read_corpus, read_manifest,
                                        write_atomically, write_corpus)
from memorag_integrations.tasks import TaskName

ADAPTER = "llama_index"
#: A file of LlamaIndex's storage: a relative path inside ``index/``.
SAFE_PATH = re.compile(r"[A-Za-z0-9_][\w.-]*(/[A-Za-z0-9_][\w.-]*)*")
INDEX_DIR = "index"
ENGINE_OPTIONS = ("k", "token_budget", "use_draft", "query_weight", "rrf_k", "grounding", "feedback", "rerank",
                  "clue_tokens", "answer_tokens", "write_clues")


def persist_retriever(retriever: MemoRAGRetriever, task: str, folder: str | os.PathLike, *,
                      overwrite: bool = False) -> Path:
    """Save the retriever's memory, documents and LlamaIndex storage, with the query engine's ``task``."""
    core = retriever.engine
    if retriever.index is None:
        raise InvalidInputError("this retriever searches a plain retriever, not a VectorStoreIndex, so its "
                                "storage cannot be saved; build it from a VectorStoreIndex to persist it")
    if not core.memory.is_ready:
        raise InvalidInputError("nothing is memorized yet: build the engine with from_documents(...) first")
    index = retriever.index

    def fill(tmp: Path) -> dict[str, Any]:
        write_corpus(tmp, core.documents, core.memory, include_kv=core.saves_kv, kv_dtype=KV_DTYPE)
        index.storage_context.persist(persist_dir=str(tmp / INDEX_DIR))
        return {
            "adapter": ADAPTER, **corpus_manifest(core.documents, core.memory, core.retriever.config()),
            "vector_store": type(index.vector_store).__name__, "index_id": index.index_id,
            "index_files": _index_files(tmp / INDEX_DIR),
            "engine": {**{name: getattr(core, name) for name in ENGINE_OPTIONS},
                       "similarity_top_k": retriever.similarity_top_k, "per_query_top_k": retriever.per_query_top_k,
                       "task": task},
        }

    return write_atomically(folder, fill, overwrite=overwrite)


def load_retriever(folder: str | os.PathLike, *, memory: Memory | LLM | None = None,
                   embed_model: BaseEmbedding | None = None, vector_store: Any = None,
                   **options: Any) -> tuple[MemoRAGRetriever, TaskName]:
    """Load what :func:`persist_retriever` wrote: the retriever and the saved (or given) task.

    The embedding model named in the manifest is rebuilt when it is the offline default; any other
    must be passed as ``embed_model`` and must be the same one, else
    :class:`~memorag_integrations.errors.IncompatibleStoreError` names the difference. Likewise
    ``memory`` (a memory or a LlamaIndex LLM for a saved prompt memory). ``vector_store`` is
    needed only for stores other than the simple and FAISS ones. ``options`` override the saved
    engine settings (``k``, ``task``, ``similarity_top_k``...).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("adapter") != ADAPTER:
        raise IncompatibleStoreError(f"{folder} was not saved by the LlamaIndex adapter; load it with "
                                     "memorag_integrations.MemoRAG.load instead")
    _check_adapter_entries(manifest, folder)
    _check_index_files(folder / INDEX_DIR, manifest["index_files"])
    saved = {**manifest["engine"], **options}
    task = saved.pop("task")
    retriever_options = {name: saved.pop(name) for name in ("similarity_top_k", "per_query_top_k")}

    chunking = check_retriever_config(manifest["retriever"], folder)
    if embed_model is None:
        if chunking["embedder"] != DEFAULT_EMBEDDER:
            raise IncompatibleStoreError(f"{folder} was indexed with the embedding model {chunking['embedder']!r}: "
                                         "pass that model as embed_model=... to load()")
        embed_model = MemoRAGEmbedding()
    chunker = DenseRetriever(core_embedder(embed_model), chunk_tokens=chunking["chunk_tokens"],
                             chunk_overlap=chunking["chunk_overlap"])
    check_same(chunking, chunker.config(), "embedding model or chunking", folder)
    mem = _memory(manifest["memory"], memory)
    check_memory(manifest["memory"], mem, folder)

    core = MemoRAG(mem, chunker, **saved)
    core.documents, core.indexed = read_corpus(folder, mem, manifest, remedy="build the engine again"), False

    index_dir = str(folder / INDEX_DIR)
    storage = StorageContext.from_defaults(persist_dir=index_dir,
                                           vector_store=vector_store or _saved_vector_store(manifest, index_dir))
    try:
        index = load_index_from_storage(storage, index_id=manifest["index_id"], embed_model=embed_model)
    except Exception as exc:  # noqa: BLE001 (LlamaIndex's stores raise many kinds on damaged files)
        raise CorruptStoreError(f"{folder}/{INDEX_DIR} could not be read ({type(exc).__name__}: {exc}); build the "
                                "engine again") from exc
    if not isinstance(index, VectorStoreIndex):
        raise CorruptStoreError(f"{folder}/{INDEX_DIR} holds a {type(index).__name__}, not a vector store index; "
                                "build the engine again")
    return MemoRAGRetriever(core, index, **retriever_options), task


def _memory(config: dict[str, Any], memory: Memory | LLM | TextGenerator | None) -> Memory:
    """The given memory, or one rebuilt by the core's registry of memory kinds (a LlamaIndex LLM is
    the model of a saved prompt memory)."""
    if isinstance(memory, Memory):
        return memory
    generator = None
    if isinstance(memory, TextGenerator):
        generator = memory
    elif memory is not None:
        from llama_index.llms.memorag import LLMGenerator

        generator = LLMGenerator(memory)
    return memory_from_config(config, generator)


def _saved_vector_store(manifest: dict[str, Any], index_dir: str) -> Any:
    kind = manifest.get("vector_store")
    if kind == "SimpleVectorStore":
        return None  # the storage context reads it from the folder
    if kind == "FaissVectorStore":
        try:
            from llama_index.vector_stores.faiss import FaissVectorStore
        except ImportError as exc:
            raise MissingDependencyError("the index was saved with FAISS: pip install llama-index-vector-stores-faiss"
                                         ) from exc
        return FaissVectorStore.from_persist_dir(index_dir)
    raise InvalidInputError(f"the index was saved with a {kind}; pass the same vector_store=... to load()")


def _index_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def _check_adapter_entries(manifest: dict[str, Any], folder: Path) -> None:
    """The manifest entries only this adapter writes, checked before anything is opened."""
    files = manifest.get("index_files")
    ok = (isinstance(manifest.get("engine"), dict) and isinstance(manifest["engine"].get("task"), str)
          and isinstance(manifest.get("index_id"), str) and isinstance(manifest.get("retriever"), dict)
          and isinstance(files, dict) and files
          and all(isinstance(n, str) and SAFE_PATH.fullmatch(n) and ".." not in n.split("/") for n in files))
    if not ok:
        raise CorruptStoreError(f"{folder}/manifest.json lacks valid engine, index_id or index_files entries (the "
                                "index files must be relative paths inside index/); build the engine again")


def _check_index_files(root: Path, expected: dict[str, str]) -> None:
    for name, digest in expected.items():
        path = root / name
        if path.is_symlink() or not path.is_file():
            raise CorruptStoreError(f"{path} is missing (or not a plain file); the saved engine is incomplete, "
                                    "build it again")
        if file_sha256(path) != digest:
            raise CorruptStoreError(f"{path} does not match its checksum in the manifest; build the engine again")
