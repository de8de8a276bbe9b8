"""A real saved folder (the embedded SmolLM2 KV memory, MiniLM, FAISS), damaged and edited as a hostile
sender would: every variant must raise a StoreError, open no network connection, allocate no more
than the folder justifies and leave the folder as it was."""

import hashlib
import json
import random
import resource
import shutil
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file as np_load
from safetensors.numpy import save_file as np_save

from memorag_integrations import MemoRAG, StoreError
from memorag_integrations.files import file_sha256
from memorag_integrations.memory.kv import KVMemory
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.store import MANIFEST

TEXT = ("The lighthouse keeper logged every ship that passed the northern reef.\n\n"
        "In 1911 a storm flooded the lower rooms and the logbook of that year was lost.\n\n"
        "The keeper's daughter later rebuilt the record from letters sent to the harbour office.")


@pytest.fixture(scope="module")
def parts():
    memory, retriever = KVMemory(), DenseRetriever(chunk_tokens=24, chunk_overlap=4)  # several chunks
    engine = MemoRAG(memory, retriever, progress=False, clue_tokens=24, answer_tokens=24)
    return engine.memorize(TEXT)


@pytest.fixture(scope="module")
def pristine(parts, tmp_path_factory):
    return parts.save(tmp_path_factory.mktemp("pristine") / "corpus", include_kv=True)


@pytest.fixture
def network_attempts(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text())


def write_manifest(folder: Path, manifest) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest))


def rehash(folder: Path) -> None:
    """Update the manifest's checksums to the files as they are now (what a careful forger does)."""
    manifest = manifest_of(folder)
    manifest["files"] = {n: file_sha256(folder / n) for n in manifest["files"] if (folder / n).is_file()}
    write_manifest(folder, manifest)


def edit_manifest(change):
    """``change`` edits the manifest in place (its return value is ignored)."""
    def apply(folder):
        manifest = manifest_of(folder)
        change(manifest)
        write_manifest(folder, manifest)
    return apply


def then_rehash(change):
    def apply(folder):
        change(folder)
        rehash(folder)
    return apply


def rewrite_tensors(change):
    def apply(folder):
        tensors = np_load(str(folder / "memory.safetensors"))
        change(tensors)
        np_save(tensors, str(folder / "memory.safetensors"))
    return then_rehash(apply)


def raw_safetensors(change_header):
    """Edit the safetensors header JSON (offsets, shapes) and keep the data bytes."""
    def apply(folder):
        data = (folder / "memory.safetensors").read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        change_header(header)
        new = json.dumps(header).encode()
        (folder / "memory.safetensors").write_bytes(struct.pack("<Q", len(new)) + new + data[8 + n:])
    return then_rehash(apply)


def replace_bytes(name, data):
    def apply(folder):
        (folder / name).write_bytes(data(folder) if callable(data) else data)
    return then_rehash(apply)


def overwrite(name, data):
    def apply(folder):
        (folder / name).write_bytes(data(folder) if callable(data) else data)
    return apply


def edit_lines(name, change):
    def apply(folder):
        lines = (folder / name).read_text().splitlines()
        (folder / name).write_text("\n".join(change(lines)) + "\n")
    return then_rehash(apply)


def flat_index_claiming(n_vectors: int, dim: int = 384, size: int = 20_000) -> bytes:
    header = struct.pack("<4siqqqBiQ", b"IxFI", dim, n_vectors, 1 << 20, 1 << 20, 1, 0, n_vectors * dim)
    return header + bytes(size - len(header))


def valid_flat_index(n: int, dim: int) -> bytes:
    import faiss
    index = faiss.IndexFlatIP(dim)
    index.add(np.ones((n, dim), dtype=np.float32))
    return bytes(faiss.serialize_index(index))


def drop_file(name):
    def apply(folder):
        (folder / name).unlink()
        manifest = manifest_of(folder)
        del manifest["files"][name]
        write_manifest(folder, manifest)
    return apply


def memory_json(change, wrap=False):
    """``change`` edits memory.json in place; ``wrap`` writes it inside a list instead."""
    def apply(folder):
        meta = json.loads((folder / "memory.json").read_text())
        change(meta)
        (folder / "memory.json").write_text(json.dumps([meta] if wrap else meta))
    return then_rehash(apply)


def symlinked(name):
    def apply(folder):
        outside = folder.parent / f"outside-{name}"
        shutil.copy(folder / name, outside)
        (folder / name).unlink()
        (folder / name).symlink_to(outside)
    return apply


def set_memory(key, value):
    return edit_manifest(lambda m: m["memory"].__setitem__(key, value))


def first_chunk(change):
    def lines(ls):
        record = json.loads(ls[0])
        change(record)
        return [json.dumps(record), *ls[1:]]
    return edit_lines("chunks.jsonl", lines)


# (name, tamper, pass the loaded models?) -- without them, load() rebuilds from the manifest.
STRUCTURED = [
    ("manifest is a list", overwrite(MANIFEST, lambda f: json.dumps([manifest_of(f)]).encode()), True),
    ("manifest files is a list", edit_manifest(lambda m: m.__setitem__("files", list(m["files"]))), True),
    ("memory key removed", edit_manifest(lambda m: m.pop("memory")), True),
    ("retriever key removed", edit_manifest(lambda m: m.pop("retriever")), True),
    ("retriever chunking a string", edit_manifest(lambda m: m["retriever"].__setitem__("chunk_tokens", "200")), False),
    ("format version a string", edit_manifest(lambda m: m.__setitem__("format_version", "1")), True),
    ("format version missing", edit_manifest(lambda m: m.pop("format_version")), True),
    ("format version from the future", edit_manifest(lambda m: m.__setitem__("format_version", 99)), True),
    ("files emptied (checksums off)", edit_manifest(lambda m: m.__setitem__("files", {})), True),
    ("files entry with an absolute path", edit_manifest(lambda m: m["files"].__setitem__("/etc/hostname", "0" * 64)),
     True),
    ("files entry leaving the folder", edit_manifest(lambda m: m["files"].__setitem__("../x", "0" * 64)), True),
    ("a checksum that is not one", edit_manifest(lambda m: m["files"].__setitem__("chunks.jsonl", 5)), True),
    ("manifest not JSON", overwrite(MANIFEST, b"{not json"), True),
    ("manifest nested too deep", overwrite(MANIFEST, b"[" * 100_000 + b"]" * 100_000), True),
    ("manifest of 2 MB", overwrite(MANIFEST, lambda f: b" " * (2 << 20) + (f / MANIFEST).read_bytes()), True),
    ("manifest not UTF-8", overwrite(MANIFEST, b"\xff\xfe{}"), True),
    ("index deleted and unlisted", drop_file("index.faiss"), True),
    ("tensors deleted and unlisted", drop_file("memory.safetensors"), True),
    ("chunks deleted and unlisted", drop_file("chunks.jsonl"), True),
    ("memory model edited to a hub id", set_memory("model", "someone/other-model"), False),
    ("memory model edited to a local path", set_memory("model", "/tmp"), False),
    ("memory model edited to path:", set_memory("model", "path:weights"), False),
    ("memory setting negative", set_memory("max_memory_tokens", -5), False),
    ("memory kind unknown", set_memory("kind", "graph"), False),
    ("embedder edited to a hub id",
     edit_manifest(lambda m: m["retriever"].__setitem__("embedder", "someone/embedder")), False),
    ("KV tensor of the wrong shape", rewrite_tensors(lambda t: t.__setitem__("keys.0", t["keys.0"][:, :, :-1])), True),
    ("KV layer missing", rewrite_tensors(lambda t: (t.pop("keys.3"), t.pop("values.3"))), True),
    ("KV layer missing, memory.json agreeing", lambda f: (
        rewrite_tensors(lambda t: (t.pop("keys.3"), t.pop("values.3")))(f),
        memory_json(lambda m: m.__setitem__("saved_tensors", [n for n in m["saved_tensors"]
                                                              if n not in ("keys.3", "values.3")]))(f)), True),
    ("KV tensor an integer", rewrite_tensors(lambda t: t.__setitem__("values.0", t["values.0"].astype(np.int32))),
     True),
    ("token ids edited", rewrite_tensors(lambda t: t["input_ids"].__setitem__((0, 5), 7)), True),
    ("token ids cut short", rewrite_tensors(lambda t: t.__setitem__("input_ids", t["input_ids"][:, :-2])), True),
    ("safetensors header length huge",
     replace_bytes("memory.safetensors", lambda f: struct.pack("<Q", 1 << 40) + f.joinpath(
         "memory.safetensors").read_bytes()[8:]), True),
    ("safetensors offsets out of the file",
     raw_safetensors(lambda h: h["keys.0"].__setitem__("data_offsets", [0, 10 ** 12])), True),
    ("safetensors shape huge",
     raw_safetensors(lambda h: h["keys.0"].__setitem__("shape", [10 ** 9, 10 ** 9, 10 ** 9])), True),
    ("safetensors shape overflowing",
     raw_safetensors(lambda h: h["keys.0"].__setitem__("shape", [2 ** 62, 2 ** 62])), True),
    ("index bytes replaced", replace_bytes("index.faiss", lambda f: random.Random(1).randbytes(
        (f / "index.faiss").stat().st_size)), True),
    ("index claiming 4 GiB", replace_bytes("index.faiss", flat_index_claiming((4 << 30) // (4 * 384))), True),
    ("index claiming 1 TiB", replace_bytes("index.faiss", flat_index_claiming((1 << 40) // (4 * 384))), True),
    ("index of another dimension", replace_bytes("index.faiss", lambda f: valid_flat_index(
        sum(1 for _ in open(f / "chunks.jsonl")), 8)), True),
    ("index with fewer vectors", replace_bytes("index.faiss", valid_flat_index(1, 384)), True),
    ("index an L2 index", replace_bytes("index.faiss", lambda f: (f / "index.faiss").read_bytes().replace(
        b"IxFI", b"IxF2", 1)), True),
    ("chunk text edited", first_chunk(lambda r: r.__setitem__("text", r["text"].upper())), True),
    ("chunk span past its document", first_chunk(lambda r: r.__setitem__("end", 10 ** 6)), True),
    ("chunk with an unknown key", first_chunk(lambda r: r.__setitem__("evil", 1)), True),
    ("chunk of an unknown document", first_chunk(lambda r: r.__setitem__("doc_id", "nobody")), True),
    ("chunks line not JSON", edit_lines("chunks.jsonl", lambda ls: ["{", *ls[1:]]), True),
    ("document text edited", edit_lines("documents.jsonl", lambda ls: [ls[0].replace("lighthouse", "l1ghthouse")]),
     True),
    ("document line a list", edit_lines("documents.jsonl", lambda ls: ["[1, 2]"]), True),
    ("memory.json a list", memory_json(lambda m: None, wrap=True), True),
    ("memory.json context missing", memory_json(lambda m: m.pop("context")), True),
    ("memory.json gists a number", memory_json(lambda m: m.__setitem__("gists", 5)), True),
    ("memory.json context edited", memory_json(lambda m: m.__setitem__("context", m["context"] + " More.")), True),
    ("memory.json names other tensors", memory_json(lambda m: m.__setitem__("saved_tensors", ["x"])), True),
    ("memory.json says no tensors", memory_json(lambda m: m.__setitem__("saved_tensors", [])), True),
    ("document count edited", edit_manifest(lambda m: m.__setitem__("documents", 2)), True),
    ("content hash edited", edit_manifest(lambda m: m.__setitem__("content_sha256", "0" * 64)), True),
    ("documents a symlink out of the folder", symlinked("documents.jsonl"), True),
]

FILES = ["documents.jsonl", "chunks.jsonl", "index.faiss", "memory.json", "memory.safetensors"]


def flip(name, seed):
    def apply(folder):
        data = bytearray((folder / name).read_bytes())
        rng = random.Random(seed)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        (folder / name).write_bytes(bytes(data))
    return apply


def truncate(name, share):
    def apply(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:int(len(data) * share)])
    return apply


# Damage as a disk or a copy makes it: the checksums stay as saved.
RANDOM = ([(f"{name} flipped #{seed}", flip(name, seed), True) for name in FILES for seed in range(6)]
          + [(f"{name} cut to {share:.0%}", truncate(name, share), True) for name in FILES for share in (0, .3, .97)])
CASES = STRUCTURED + RANDOM


def test_there_are_enough_variants():
    assert len(STRUCTURED) >= 50 and len(RANDOM) >= 40


@pytest.mark.parametrize(("name", "tamper", "with_models"), CASES, ids=[c[0] for c in CASES])
def test_a_tampered_folder_raises_a_store_error_and_nothing_else(name, tamper, with_models, parts, pristine, tmp_path,
                                                                  network_attempts):
    folder = tmp_path / "corpus"
    shutil.copytree(pristine, folder)
    tamper(folder)
    before = snapshot(folder)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    models = {"memory": parts.memory, "retriever": parts.retriever} if with_models else {}
    with pytest.raises(StoreError) as caught:
        MemoRAG.load(folder, progress=False, **models)
    peak_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert str(caught.value)  # a message that says what to do
    assert network_attempts == []
    assert peak_growth_mb < 300, f"{name}: loading grew the peak memory by {peak_growth_mb:.0f} MB"
    assert snapshot(folder) == before
    shutil.rmtree(tmp_path)  # a hundred copies of the KV cache would fill the temp disk


@pytest.mark.parametrize("seed", range(8))
def test_a_flipped_manifest_raises_or_loads_the_same_corpus(seed, parts, pristine, tmp_path, network_attempts):
    """The manifest carries no checksum of itself: a flip either breaks it (a StoreError) or lands
    in a value that does not change what loads (the creation time, a checked identity)."""
    folder = tmp_path / "corpus"
    shutil.copytree(pristine, folder)
    flip(MANIFEST, seed)(folder)
    try:
        loaded = MemoRAG.load(folder, parts.memory, parts.retriever, progress=False)
    except StoreError:
        return
    finally:
        assert network_attempts == []
    assert loaded.documents == parts.documents
    assert loaded.retriever.chunks == parts.retriever.chunks


def test_the_untouched_folder_loads_and_answers_the_same(parts, pristine, network_attempts):
    loaded = MemoRAG.load(pristine, progress=False, clue_tokens=24)
    query = "What happened to the logbook in 1911?"
    assert loaded.clues(query, write=True) == parts.clues(query, write=True)
    assert [e.char_span for e in loaded.retrieve(query)] == [e.char_span for e in parts.retrieve(query)]
    assert network_attempts == []


def test_a_hub_model_named_by_the_manifest_is_opened_only_when_allowed_and_never_downloaded(pristine, tmp_path,
                                                                                            network_attempts):
    folder = tmp_path / "corpus"
    shutil.copytree(pristine, folder)
    set_memory("model", "someone/not-cached-model")(folder)
    with pytest.raises(StoreError, match="allow_models_from_manifest=True"):
        MemoRAG.load(folder)
    with pytest.raises(StoreError, match="someone/not-cached-model.*cannot be rebuilt"):
        MemoRAG.load(folder, allow_models_from_manifest=True)
    assert network_attempts == []
