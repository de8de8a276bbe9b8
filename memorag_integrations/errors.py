"""One small hierarchy of typed errors; every message says what to do next."""

from __future__ import annotations


class MemoRAGError(Exception):
    """Base class of every error raised on purpose by memorag_integrations."""


class InvalidInputError(MemoRAGError, ValueError):
    """The caller passed something the engine cannot use."""


class EmptyTextError(InvalidInputError):
    """A document is empty or only whitespace."""


class EmptyQueryError(InvalidInputError):
    """A query is empty or only whitespace."""


class QueryTooLongError(InvalidInputError):
    """A query does not fit in the model's window beside the memory."""


class BinaryFileError(InvalidInputError):
    """A file given as text is binary."""


class DocumentReadError(InvalidInputError):
    """A PDF/DOCX/text file could not be read."""


class NotMemorizedError(MemoRAGError, RuntimeError):
    """A query was asked before any document was memorized."""


class StoreError(MemoRAGError):
    """Base class of errors about a saved corpus folder."""


class StoreExistsError(StoreError, FileExistsError):
    """The save folder already exists and overwrite was not asked for."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """The folder to load does not exist or is not a saved corpus."""


class IncompatibleStoreError(StoreError):
    """The saved corpus was made with other models, settings or a newer format."""


class CorruptStoreError(StoreError):
    """A file of the saved corpus is missing or its content does not match the manifest."""


class StoreWriteError(StoreError, OSError):
    """A corpus could not be saved: no permission, a read-only or full disk. The folder is unchanged."""


class GenerationError(MemoRAGError, RuntimeError):
    """A text generator failed (after its retries, for remote ones)."""


class UnsupportedError(MemoRAGError, NotImplementedError):
    """The backend cannot do what was asked; the message names one that can."""


class MissingDependencyError(MemoRAGError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, extra: str, feature: str | None = None):
    """Import an optional module lazily, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = feature or module
        raise MissingDependencyError(
            f"{what} needs the '{module}' package: pip install 'memorag-integrations[{extra}]'"
        ) from exc
