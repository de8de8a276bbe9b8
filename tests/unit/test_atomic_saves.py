"""Saves that fail or are killed: the previous folder stays loadable, leftovers are removed, and OS
errors are StoreWriteErrors naming the folder (scripted models, real files and FAISS)."""

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from collections import namedtuple

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import MemoRAG, PromptMemory, StoreNotFoundError, StoreWriteError
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.store import MANIFEST

TEXT = "The launch happened in 1969 from Florida.\n\nThe crew of three trained in Houston."


def components():
    return PromptMemory(ScriptedGenerator()), DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0)


def engine():
    return MemoRAG(*components(), progress=False).memorize(TEXT)


def load(folder):
    return MemoRAG.load(folder, *components(), progress=False)


def contents(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def leftovers(parent, name="c"):
    made = [parent / f".{name}.tmp-ab12cd34", parent / f".{name}.old-0f0f0f0f"]
    for path in made:
        path.mkdir()
        (path / "partial.bin").write_bytes(b"x" * 1000)
    return made


def test_the_next_save_removes_leftovers_of_killed_saves_and_nothing_else(tmp_path):
    folder = engine().save(tmp_path / "c")
    made = leftovers(tmp_path)
    keep = [tmp_path / ".c.tmp-short", tmp_path / ".other.tmp-ab12cd34", tmp_path / "c.tmp-ab12cd34"]
    for path in keep:
        path.mkdir()
    engine().save(folder, overwrite=True)
    assert not any(p.exists() for p in made)
    assert all(p.exists() for p in keep)


def test_a_load_removes_leftovers_too(tmp_path):
    folder = engine().save(tmp_path / "c")
    made = leftovers(tmp_path)
    load(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    assert not any(p.exists() for p in made)


def test_leftovers_stay_while_another_process_holds_the_lock(tmp_path):
    folder = engine().save(tmp_path / "c")
    made = leftovers(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        load(folder)  # a save may be writing them: they stay
        assert all(p.exists() for p in made)
    finally:
        holder.kill()
        holder.wait()
    load(folder)
    assert not any(p.exists() for p in made)


def test_a_save_killed_between_its_renames_is_recovered_by_the_next_load(tmp_path):
    folder = engine().save(tmp_path / "c")
    before = contents(folder)
    folder.rename(tmp_path / ".c.old-1a2b3c4d")  # the old version moved aside, the new one never came
    (tmp_path / ".c.tmp-9z8y7x6w").mkdir()  # and the temporary copy, half-written
    loaded = load(folder)
    assert contents(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    assert loaded.retrieve("When was the launch?", clues=None)


def test_a_save_killed_between_its_renames_is_recovered_by_the_next_save(tmp_path):
    folder = engine().save(tmp_path / "c")
    folder.rename(tmp_path / ".c.old-1a2b3c4d")
    with pytest.raises(FileExistsError, match="already exists"):  # the recovered store is not overwritten silently
        engine().save(folder)
    assert (folder / MANIFEST).is_file()


def test_no_recovery_without_a_complete_old_copy(tmp_path):
    (tmp_path / ".c.old-1a2b3c4d").mkdir()  # no manifest: not a store
    with pytest.raises(StoreNotFoundError):
        load(tmp_path / "c")


def test_a_save_that_does_not_fit_on_the_disk_is_refused_before_writing(tmp_path, monkeypatch):
    folder = engine().save(tmp_path / "c")
    before = contents(folder)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 20, 9 << 20, 1 << 20))
    with pytest.raises(StoreWriteError, match=r"not enough free disk space in .*needs about 16 MB, 1 MB are free"):
        engine().save(folder, overwrite=True)
    assert contents(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_a_full_disk_during_a_save_is_a_store_write_error_and_the_old_folder_stays(tmp_path, monkeypatch):
    folder = engine().save(tmp_path / "c")
    before = contents(folder)

    def disk_full(self, tmp):
        (tmp / "chunks.jsonl").write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "chunks.jsonl"))

    monkeypatch.setattr(DenseRetriever, "save", disk_full)
    with pytest.raises(StoreWriteError, match=f"cannot save {folder}: No space left on device"):
        engine().save(folder, overwrite=True)
    assert contents(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_a_folder_without_write_permission_is_a_store_write_error_naming_it(tmp_path, monkeypatch):
    target = tmp_path / "readonly" / "c"
    target.parent.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: make the temporary folder fail as it would
        def denied(**kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", kwargs["dir"])

        monkeypatch.setattr(tempfile, "mkdtemp", denied)
    else:
        target.parent.chmod(0o555)
    try:
        with pytest.raises(StoreWriteError, match=f"cannot save {target}: Permission denied"):
            engine().save(target)
    finally:
        target.parent.chmod(0o755)
    assert list(target.parent.iterdir()) == []
