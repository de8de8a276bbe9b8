import pytest

from memorag_integrations import (BinaryFileError, Document, DocumentReadError, EmptyTextError, InvalidInputError,
                                  as_documents, load_document)
from memorag_integrations.documents import DecodingFallbackWarning


def make_pdf(text: str) -> bytes:
    """A minimal one-page PDF with ``text`` in Helvetica, with a correct xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_text_file_utf8(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Title\n\nGrüße aus Köln 東京", encoding="utf-8")
    doc = load_document(path)
    assert doc.text.endswith("東京") and doc.doc_id == "notes.md" and doc.metadata["source"] == str(path)


def test_non_utf8_is_decoded_with_a_warning(tmp_path):
    path = tmp_path / "legacy.txt"
    path.write_bytes("café déjà vu".encode("cp1252"))
    with pytest.warns(DecodingFallbackWarning, match="not valid UTF-8"):
        doc = load_document(path)
    assert doc.text == "café déjà vu"


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(BinaryFileError, match="binary"):
        load_document(path)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("  \n\t ")
    with pytest.raises(EmptyTextError, match="no text"):
        load_document(path)


def test_pdf_is_read(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf("Revenue peaked in 2019"))
    assert "Revenue peaked in 2019" in load_document(path).text


def test_unreadable_pdf_raises_a_clear_error(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(DocumentReadError, match="cannot read PDF"):
        load_document(path)


def test_docx_is_read_and_broken_docx_refused(tmp_path):
    import docx

    path = tmp_path / "memo.docx"
    d = docx.Document()
    d.add_paragraph("First paragraph.")
    d.add_paragraph("Second paragraph.")
    d.save(path)
    assert load_document(path).text == "First paragraph.\n\nSecond paragraph."
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK not a zip")
    with pytest.raises(DocumentReadError, match="cannot read DOCX"):
        load_document(broken)


def test_missing_file(tmp_path):
    with pytest.raises(DocumentReadError, match="not a file"):
        load_document(tmp_path / "nope.txt")


def test_as_documents_names_validates_and_rejects_duplicates():
    docs = as_documents(["first text", Document("second", doc_id="b")])
    assert [d.doc_id for d in docs] == ["doc-0", "b"]
    with pytest.raises(EmptyTextError):
        as_documents(["ok", "   "])
    with pytest.raises(EmptyTextError):
        as_documents([])
    with pytest.raises(InvalidInputError, match="duplicate"):
        as_documents([Document("a", "x"), Document("b", "x")])
    with pytest.raises(InvalidInputError, match="expected str or Document"):
        as_documents([b"bytes"])
