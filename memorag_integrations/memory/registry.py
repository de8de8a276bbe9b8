"""The registry of memory kinds: how a memory saved in a corpus's manifest is built again.

A kind is registered under its name (the ``kind`` its :meth:`~memorag_integrations.memory.base.Memory.config`
writes) and the backend it runs on (None: the default one), with a factory that turns that saved
config back into an empty memory of the same kind, ready for ``load_state``. The on-disk format
(:mod:`memorag_integrations.store`) only reads and writes the files; the core's ``MemoRAG.load``
and the LlamaIndex adapter's ``load`` ask this registry for the memory.

A new kind registers once, here or in its own module, with :func:`memory_kind`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from memorag_integrations.errors import CorruptStoreError, IncompatibleStoreError, MemoRAGError
from memorag_integrations.memory.gist import GISTING
from memorag_integrations.models import loadable_model

if TYPE_CHECKING:
    from memorag_integrations.llm.base import TextGenerator
    from memorag_integrations.memory.base import Memory

#: A kind's factory: (the saved config, the caller's generator or None, whether the caller allows
#: models the manifest names) -> a memory of that kind.
MemoryFactory = Callable[[dict[str, Any], "TextGenerator | None", bool], "Memory"]
#: (kind, backend) -> its factory.
MEMORY_KINDS: dict[tuple[str, str | None], MemoryFactory] = {}
#: Saved settings that a memory's constructor takes back as they are.
MEMORY_OPTIONS = ("max_memory_tokens", "gist_chunk_tokens", "gist_tokens")


def memory_kind(kind: str, backend: str | None = None) -> Callable[[MemoryFactory], MemoryFactory]:
    """Register how a memory of ``kind`` (on ``backend``) is rebuilt from its saved config: the
    factory gets the config, the caller's generator (or None) and whether the caller allows models
    the manifest names (see :func:`~memorag_integrations.models.loadable_model`)."""
    def register(factory: MemoryFactory) -> MemoryFactory:
        MEMORY_KINDS[(kind, backend)] = factory
        return factory

    return register


def memory_from_config(config: dict[str, Any], generator: TextGenerator | None = None, *,
                       allow_models_from_manifest: bool = False) -> Memory:
    """A memory like the saved one (its kind, backend, model and settings), ready to load its state.

    ``generator`` is the model of a prompt memory (which the manifest can only name). Models are
    opened only as :func:`~memorag_integrations.models.loadable_model` allows; any failure to build
    the memory is a :class:`~memorag_integrations.errors.StoreError` that says what to pass instead."""
    factory = MEMORY_KINDS.get((config.get("kind", ""), config.get("backend")))
    if factory is None:
        raise IncompatibleStoreError(f"the saved memory is of kind {config.get('kind')!r} with model "
                                     f"{config.get('model')!r}, which this library does not know: pass memory=... "
                                     "to load()")
    options = saved_options(config)
    try:
        return factory(config, generator, allow_models_from_manifest)
    except MemoRAGError:
        raise
    except (OSError, ValueError, TypeError) as exc:  # a cached model that is incomplete, bad settings
        raise IncompatibleStoreError(f"the saved memory ({config.get('model')!r}, {options}) cannot be rebuilt "
                                     f"({type(exc).__name__}: {exc}); pass memory=... to load()") from exc


def saved_options(config: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``config`` that a memory's constructor takes back (:data:`MEMORY_OPTIONS`),
    each checked to be a positive integer, and how new text is gisted (``auto`` when the manifest,
    older than extraction, does not say)."""
    options = {name: config[name] for name in MEMORY_OPTIONS if name in config}
    for name, value in options.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise CorruptStoreError(f"the manifest's memory setting {name} is {value!r}, not a positive integer; "
                                    "memorize the corpus again")
    gisting = config.get("gisting", "auto")
    if gisting not in ("auto", *GISTING):
        raise CorruptStoreError(f"the manifest's memory setting gisting is {gisting!r}, not one of "
                                f"{', '.join(GISTING)}; memorize the corpus again")
    return options | {"gisting": gisting}


def _local_lm(config: dict[str, Any], allow: bool) -> Any:
    """The saved memory model, or None for the embedded default (see :func:`loadable_model`)."""
    model = loadable_model(config["model"], "memory model", allow_models_from_manifest=allow)
    if model is None:
        return None
    from memorag_integrations.llm.transformers import TransformersGenerator
    from memorag_integrations.models import hub_offline

    with hub_offline():
        return TransformersGenerator(model, local_files_only=True)


@memory_kind("kv")
def _kv(config: dict[str, Any], generator: TextGenerator | None, allow: bool) -> Memory:
    from memorag_integrations.memory.kv import KVMemory

    return KVMemory(_local_lm(config, allow), **saved_options(config))


@memory_kind("kv", "llamacpp")
def _kv_llamacpp(config: dict[str, Any], generator: TextGenerator | None, allow: bool) -> Memory:
    from memorag_integrations.memory.llamacpp import LlamaCppKVMemory

    # llama.cpp runs GGUF files, which are local: only the embedded default is rebuilt.
    return LlamaCppKVMemory(loadable_model(config["model"], "memory model"), **saved_options(config))


@memory_kind("beacon")
def _beacon(config: dict[str, Any], generator: TextGenerator | None, allow: bool) -> Memory:
    # A beacon model runs code from its repository: never loaded without the user's explicit opt-in.
    raise IncompatibleStoreError(
        f"the saved memory is a beacon model ({config['model']!r}), which runs remote code: pass "
        f"memory=BeaconMemory({config['model']!r}, trust_remote_code=True, "
        f"beacon_ratio={config.get('beacon_ratio')!r}) to load()")


@memory_kind("prompt")
def _prompt(config: dict[str, Any], generator: TextGenerator | None, allow: bool) -> Memory:
    if generator is None:
        raise IncompatibleStoreError(f"the saved memory is a prompt memory over {config['model']!r}: pass "
                                     "memory=... or the same model as generator=... (in the adapters: llm=...) "
                                     "to load()")
    from memorag_integrations.memory.prompt import PromptMemory

    return PromptMemory(generator, **saved_options(config))
