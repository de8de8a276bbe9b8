"""Reading inputs into :class:`Document` s: strings, TXT/MD, PDF and DOCX files."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from memorag_integrations.errors import (BinaryFileError, DocumentReadError, EmptyTextError,
                                         InvalidInputError, require)
from memorag_integrations.schema import Document

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ""}


class DecodingFallbackWarning(UserWarning):
    """A text file was not UTF-8 and was decoded with a fallback encoding."""


def decode_text(data: bytes, source: str = "<bytes>") -> str:
    """UTF-8 (with or without BOM); otherwise cp1252, then latin-1, with a warning."""
    if b"\x00" in data[:8192]:
        raise BinaryFileError(f"{source} looks binary (it contains NUL bytes); pass a text, PDF or DOCX file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        warnings.warn(f"{source} is not valid UTF-8; decoded as {encoding}. Re-save it as UTF-8 "
                      "if characters look wrong.", DecodingFallbackWarning, stacklevel=3)
        return text
    raise DocumentReadError(f"cannot decode {source}")  # unreachable: latin-1 decodes any bytes


def load_document(path: str | os.PathLike) -> Document:
    """Read a TXT/MD/PDF/DOCX file; ``doc_id`` is the file name."""
    path = Path(path)
    if not path.is_file():
        raise DocumentReadError(f"{path} is not a file")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        text = _read_pdf(path)
    elif suffix == ".docx":
        text = _read_docx(path)
    else:
        text = decode_text(path.read_bytes(), str(path))
    if not text.strip():
        hint = " (a scanned PDF needs OCR first)" if suffix == ".pdf" else ""
        raise EmptyTextError(f"{path} has no text to memorize{hint}")
    return Document(text=text, doc_id=path.name, metadata={"source": str(path)})


def _read_pdf(path: Path) -> str:
    pypdf = require("pypdf", "documents", "reading PDF files")
    try:
        reader = pypdf.PdfReader(str(path))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise DocumentReadError(f"cannot read PDF {path}: {exc}. Check that the file is a valid, "
                                "unencrypted PDF") from exc


def _read_docx(path: Path) -> str:
    docx = require("docx", "documents", "reading DOCX files")
    try:
        return "\n\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    except Exception as exc:
        raise DocumentReadError(f"cannot read DOCX {path}: {exc}. Check that the file is a valid "
                                "Word document") from exc


def as_documents(inputs: str | Document | Iterable[str | Document], *, first_id: int = 0) -> list[Document]:
    """Normalise the engine's input; unnamed documents get ids ``doc-<first_id>``, ``doc-<first_id+1>``..."""
    if isinstance(inputs, (str, Document)):
        inputs = [inputs]
    docs: list[Document] = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            item = Document(text=item)
        elif not isinstance(item, Document):
            raise InvalidInputError(f"expected str or Document, got {type(item).__name__}; "
                                    "use load_document(path) for files")
        if not item.text or not item.text.strip():
            raise EmptyTextError(f"document {item.doc_id or i} is empty; pass text with content")
        if item.doc_id is None:
            item = Document(item.text, f"doc-{first_id + i}", dict(item.metadata))
        docs.append(item)
    if not docs:
        raise EmptyTextError("no documents given; pass a text or a list of documents")
    ids = [d.doc_id for d in docs]
    dupes = sorted({str(x) for x in ids if ids.count(x) > 1})
    if dupes:
        raise InvalidInputError(f"duplicate doc_id(s) {dupes}; give every document its own id")
    return docs
