"""Reading inputs into :class:`Document` s: strings, TXT/MD, PDF and DOCX files."""

from __future__ import annotations

import codecs
import logging
import os
import re
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


# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
#: Control characters (not whitespace) that make a decoded sample binary: text has almost none.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
BINARY_SHARE = 0.01
SAMPLE_CHARS = 100_000


def decode_text(data: bytes, source: str = "<bytes>") -> str:
    """Text by its byte-order mark (UTF-8/16/32), UTF-16 without one when its zero bytes say so,
    else UTF-8, else cp1252 or latin-1 with a warning. Binary data (control characters in more
    than 1% of the sample, which NUL bytes are) raises :class:`BinaryFileError`."""
    encoding = _bom_encoding(data) or _utf16_without_bom(data)
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DocumentReadError(f"{source} starts as {encoding} but is not valid {encoding} ({exc.reason} at "
                                    f"byte {exc.start}); re-save it as UTF-8") from exc
        return _not_binary(text.removeprefix("\ufeff"), source)
    try:
        return _not_binary(data.decode("utf-8"), source)
    except UnicodeDecodeError:
        pass
    for fallback in ("cp1252", "latin-1"):
        try:
            text = _not_binary(data.decode(fallback), source)
        except UnicodeDecodeError:
            continue
        warnings.warn(f"{source} is not valid UTF-8; decoded as {fallback}. Re-save it as UTF-8 "
                      "if characters look wrong.", DecodingFallbackWarning, stacklevel=3)
        return text
    raise DocumentReadError(f"cannot decode {source}")  # unreachable: latin-1 decodes any bytes


def _bom_encoding(data: bytes) -> str | None:
    return next((encoding for bom, encoding in _BOMS if data.startswith(bom)), None)


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 LE or BE when, as in mostly-Latin text, one byte of each pair is nearly always zero."""
    sample = data[:8192]
    half = len(sample) // 2
    if half < 8:
        return None
    even, odd = sample[0:2 * half:2].count(0), sample[1:2 * half:2].count(0)
    if odd > 0.4 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.4 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def _not_binary(text: str, source: str) -> str:
    sample = text[:SAMPLE_CHARS]
    controls = len(_CONTROL.findall(sample))
    if controls > BINARY_SHARE * max(len(sample), 1) or "\x00" in sample:
        raise BinaryFileError(f"{source} looks binary ({controls} control characters in its first "
                              f"{len(sample)}); pass a text, PDF or DOCX file")
    return text


def check_encodable(text: str, what: str) -> str:
    """``text`` unchanged, or :class:`InvalidInputError` when it cannot be written as UTF-8 (a lone
    surrogate, as from bytes decoded with ``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} holds {exc.object[exc.start:exc.end]!r} at character {exc.start}, which is "
                                "not valid Unicode text; decode the source with errors='replace' first") from exc
    return text


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
    elif isinstance(inputs, (bytes, bytearray)) or not isinstance(inputs, Iterable):
        raise InvalidInputError(f"expected a text, a Document or a list of them, got {type(inputs).__name__}; "
                                "use load_document(path) for files")
    docs: list[Document] = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            item = Document(text=item)
        elif not isinstance(item, Document):
            raise InvalidInputError(f"expected str or Document, got {type(item).__name__}; "
                                    "use load_document(path) for files")
        if not isinstance(item.text, str):
            raise InvalidInputError(f"document {item.doc_id or i} has a {type(item.text).__name__} as its text, "
                                    "not a str")
        if not item.text or not item.text.strip():
            raise EmptyTextError(f"document {item.doc_id or i} is empty; pass text with content")
        check_encodable(item.text, f"document {item.doc_id or i}")
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
