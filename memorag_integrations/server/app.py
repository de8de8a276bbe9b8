"""The HTTP API and the web page of ``memorag serve`` (FastAPI; the ``server`` extra).

Every error is JSON ``{"error": <the library's error type>, "message": <what to do>}`` with a 4xx
status for bad input, and the server keeps serving after any of them. An answer streams as
server-sent events, in order: ``clues``, ``evidence`` (and ``dense`` when asked), ``quotes``,
``token`` pieces, ``timings``, ``done`` (or ``error``).

``quotes`` is ``{"mode": "extractive" | "generate", "quotes": [...]}``: how the answer is made
(the request's ``answer_mode``, ``auto`` resolved for the model that answers: extractive for the
embedded default, generate for a named one) and, extractive, the sentences it quotes, each
``{"text", "doc_id", "char_span", "score", "evidence"}`` (``evidence``: the number, from 1, of the
passage of the ``evidence`` event it comes from; the document's text at ``char_span`` is ``text``).
The ``token`` pieces are then the quotes, a line each, followed by ``[n]``; an extractive summary's
``evidence`` also holds the central passages it quotes. ``timings`` has ``extract`` in place of
``generate`` for an extractive answer.
"""

from __future__ import annotations

import hmac
import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from memorag_integrations.errors import (BinaryFileError, DocumentReadError, EmptyQueryError, EmptyTextError,
                                         IncompatibleStoreError, InvalidInputError, MemoRAGError, StoreNotFoundError,
                                         require)
from memorag_integrations.schema import Clues, Document
from memorag_integrations.server.corpora import Corpora, CorpusExistsError, Models, check_name
from memorag_integrations.server.jobs import Jobs

fastapi = require("fastapi", "server", "memorag serve")
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

STATIC = Path(__file__).parent / "static"
UPLOAD_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ".pdf", ".docx"}
DEFAULT_MAX_UPLOAD = 200 * 2**20
COOKIE = "memorag_token"


class UploadTooLargeError(InvalidInputError):
    """An upload is over the server's size limit."""


class UnsupportedFileError(InvalidInputError):
    """An uploaded file is of a type the server does not read."""


STATUS: list[tuple[type[Exception], int]] = [
    (StoreNotFoundError, 404), (CorpusExistsError, 409), (IncompatibleStoreError, 409), (UploadTooLargeError, 413),
    (UnsupportedFileError, 415), (BinaryFileError, 415), (DocumentReadError, 422), (EmptyTextError, 422),
    (EmptyQueryError, 422), (InvalidInputError, 422),
]


def status_of(exc: Exception) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def error_body(exc: Exception) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": str(exc)}


class AskRequest(BaseModel):
    question: str = Field("", description="the question (optional for summarize: a focus)")
    task: Literal["memorag", "qa", "summarize"] = "memorag"
    k: int = Field(5, ge=1, le=50, description="evidence chunks")
    max_new_tokens: int = Field(192, ge=10, le=1024)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    model: str | None = Field(None, description="which loaded model answers (GET /api/models)")
    answer_mode: Literal["auto", "extractive", "generate"] | None = Field(
        None, description="extractive: quote the evidence's sentences; generate: the model writes the answer; auto "
                          "(the corpus engine's default): extractive for the embedded default model only")
    clues: bool | None = Field(None, description="whether the memory writes clues that "
                                                  "search beside the question; default: the corpus engine's, off "
                                                  "for the embedded default model only")
    compare_dense: bool = Field(False, description="also send plain dense retrieval's evidence")
    doc_ids: list[str] | None = Field(None, description="answer from these documents only (ids as GET "
                                                        "/api/corpora/{name} lists them)")
    where: dict[str, Any] | None = Field(None, description='a metadata filter, e.g. {"year": {"$gte": 2020}}')


class RenameRequest(BaseModel):
    name: str


def create_app(corpora_dir: str | Path, models: Models, *, token: str | None = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> FastAPI:
    """The app over the corpora saved under ``corpora_dir`` (created if missing)."""
    root = Path(corpora_dir)
    root.mkdir(parents=True, exist_ok=True)
    corpora = Corpora(root, models)
    jobs = Jobs(corpora)
    app = FastAPI(title="MemoRAG", description="Memory-augmented RAG over long documents: upload, memorize, ask.",
                  version=_version())
    app.state.corpora, app.state.jobs = corpora, jobs

    @app.exception_handler(MemoRAGError)
    async def library_error(request: Request, exc: MemoRAGError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "InvalidInputError", "message": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=500)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        """The access token, when the server has one; the upload limit before any byte is read."""
        given = request.query_params.get("token")
        if token is not None:
            sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or \
                request.cookies.get(COOKIE) or given or ""
            if not hmac.compare_digest(sent.encode(), token.encode()):
                return JSONResponse({"error": "AuthenticationError", "message": "this server needs its access token: "
                                     "send 'Authorization: Bearer <token>', or open /?token=<token> once"},
                                    status_code=401)
        length = request.headers.get("content-length")
        if request.method == "POST" and request.url.path == "/api/corpora" and length and length.isdigit() and \
                int(length) > max_upload_bytes:
            return JSONResponse(error_body(_too_large(max_upload_bytes)), status_code=413)
        response = await call_next(request)
        if token is not None and given and request.url.path == "/":
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/models", summary="The loaded models and the server's limits")
    def list_models() -> dict[str, Any]:
        return {"memory_model": models.memory_model.identity, "embedder": models.embedder.identity,
                "answerers": list(models.answerers), "max_upload_bytes": max_upload_bytes,
                "max_new_tokens": [10, 1024], "temperature": [0.0, 2.0]}

    @app.get("/api/corpora", summary="Every saved corpus (made here, with the CLI or from Python)")
    def list_corpora() -> list[dict[str, Any]]:
        return [corpora.describe(name) for name in corpora.names()]

    @app.post("/api/corpora", status_code=202, summary="Upload files (TXT, MD, PDF, DOCX) or text to memorize")
    async def upload(request: Request) -> dict[str, Any]:
        form = await _read_form(request, max_upload_bytes)
        name = check_name(form.get("name") or "")
        documents = _documents(form)
        return jobs.submit(name, documents).to_dict(None)

    @app.get("/api/jobs", summary="Memorize jobs: queued, running and finished")
    def list_jobs() -> list[dict[str, Any]]:
        return jobs.all()

    @app.get("/api/jobs/{job_id}", summary="A memorize job's progress: stage, steps done, ETA, queue position")
    def job(job_id: str) -> dict[str, Any]:
        found = jobs.get(job_id)
        if found is None:
            raise StoreNotFoundError(f"there is no job {job_id!r}")
        return found

    @app.get("/api/corpora/{name}", summary="A corpus and its documents")
    def corpus(name: str) -> dict[str, Any]:
        return {**corpora.describe(check_name(name)), "document_list": corpora.documents(name)}

    @app.get("/api/corpora/{name}/documents/{doc_id}", summary="A document's text (to show evidence in place)")
    def document(name: str, doc_id: str) -> dict[str, Any]:
        return {"doc_id": doc_id, "text": corpora.document_text(check_name(name), doc_id)}

    @app.patch("/api/corpora/{name}", summary="Rename a corpus")
    def rename(name: str, body: RenameRequest) -> dict[str, Any]:
        corpora.rename(check_name(name), check_name(body.name))
        return corpora.describe(body.name)

    @app.delete("/api/corpora/{name}", status_code=204, summary="Delete a corpus")
    def delete(name: str) -> Response:
        corpora.delete(check_name(name))
        return Response(status_code=204)

    @app.post("/api/corpora/{name}/ask", summary="Ask a corpus; the answer streams as server-sent events")
    def ask(name: str, body: AskRequest) -> StreamingResponse:
        engine = corpora.engine(check_name(name))
        engine.check_query(body.question, body.task)  # bad questions are 4xx answers, not broken streams
        engine.select(body.doc_ids, body.where)  # and so are unknown documents and bad filters
        answerer = None
        if body.model is not None:
            if body.model not in models.answerers:
                raise InvalidInputError(f"no loaded model {body.model!r}; pick one of {', '.join(models.answerers)}")
            answerer = models.answerers[body.model]
        engine.answer_mode_for(body.task, body.answer_mode, generator=answerer)  # qa cannot be extractive
        return StreamingResponse(_answer_events(engine, body, answerer), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app


def _answer_events(engine: Any, body: AskRequest, answerer: Any) -> Iterator[str]:
    t0 = time.perf_counter()
    try:
        filters = {"doc_ids": body.doc_ids, "where": body.where}
        prepared = engine.prepare(body.question, body.task, k=body.k, write_clues=body.clues, **filters)
        mode = engine.answer_mode_for(prepared.task, body.answer_mode, generator=answerer)
        t1 = time.perf_counter()
        extracted = engine.extract(prepared) if mode == "extractive" else None
        clues = prepared.clues or Clues()
        yield _event("clues", {"task": body.task, **clues.to_dict()})
        yield _event("evidence", [e.to_dict() for e in (extracted.evidence if extracted else prepared.evidence)])
        if body.compare_dense and prepared.task.retrieves and body.question.strip():
            dense = engine.retrieve(body.question, k=body.k, clues=Clues(), **filters)
            yield _event("dense", [e.to_dict() for e in dense])
        yield _event("quotes", {"mode": mode, "quotes": [q.to_dict() for q in extracted.quotes] if extracted else []})
        if extracted is not None:
            pieces: Iterator[str] = iter(extracted.text.splitlines(keepends=True))
        else:
            t1 = time.perf_counter()
            pieces = engine.write(prepared, max_new_tokens=body.max_new_tokens, temperature=body.temperature,
                                  generator=answerer, answer_mode="generate")
        first = None
        for piece in pieces:
            if first is None:
                first = time.perf_counter() - t0
            yield _event("token", {"text": piece})
        now = time.perf_counter()
        step = "extract" if extracted is not None else "generate"
        yield _event("timings", {**prepared.timings, "first_token": first, step: now - t1, "total": now - t0})
        yield _event("done", {})
    except Exception as exc:  # noqa: BLE001 (reported in the stream; the server keeps serving)
        yield _event("error", error_body(exc))


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _too_large(limit: int) -> UploadTooLargeError:
    return UploadTooLargeError(f"the upload is over this server's limit of {limit / 2**20:.0f} MB; send smaller "
                               "files, or start the server with a larger --max-upload-mb")


async def _read_form(request: Request, limit: int) -> Any:
    """The multipart form, refused once its body passes ``limit`` bytes (whatever the headers said)."""
    received = 0
    receive = request._receive

    async def counting() -> Any:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _too_large(limit)
        return message

    request._receive = counting
    try:
        return await request.form(max_files=100, max_fields=20, max_part_size=limit)
    except MemoRAGError:
        raise
    except Exception as exc:  # noqa: BLE001 (starlette raises its own kinds on a malformed body)
        raise InvalidInputError(f"the upload is not a valid multipart form ({exc}); send files as 'files' and text "
                                "as 'text'") from exc


def _documents(form: Any) -> list[Document]:
    """The uploaded files and text as documents; file names are only ever ids, never paths."""
    from memorag_integrations.documents import as_documents, load_document

    documents: list[Document] = []
    with tempfile.TemporaryDirectory(prefix="memorag-upload-") as tmp:
        for i, upload in enumerate(form.getlist("files")):
            if isinstance(upload, str):
                continue
            original = _display_name(upload.filename, i)
            suffix = Path(original).suffix.lower()
            if suffix not in UPLOAD_SUFFIXES:
                raise UnsupportedFileError(f"{original!r} is not a TXT, MD, PDF or DOCX file; convert it first")
            path = Path(tmp) / f"upload-{i}{suffix}"  # our name: the sender's name never becomes a path
            path.write_bytes(upload.file.read())
            try:
                doc = load_document(path)
            except MemoRAGError as exc:  # say it of the sender's file, not of our temporary copy
                raise type(exc)(str(exc).replace(str(path), repr(original))) from exc
            documents.append(Document(doc.text, original, {"source": original}))
    text = form.get("text")
    if isinstance(text, str) and text.strip():
        documents.append(Document(text, "pasted-text", {"source": "pasted text"}))
    if not documents:
        raise EmptyTextError("nothing to memorize: send files as 'files' or text as 'text'")
    ids = [d.doc_id for d in documents]
    if len(set(ids)) < len(ids):
        documents = [Document(d.text, f"{i + 1}-{d.doc_id}", d.metadata) for i, d in enumerate(documents)]
    return as_documents(documents)


def _display_name(filename: str | None, index: int) -> str:
    """A file's name as the sender gave it, reduced to a safe label: no folders, no control characters."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", (filename or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:128] if name and name not in (".", "..") else f"upload-{index}.txt"


def _version() -> str:
    from memorag_integrations.version import __version__

    return __version__
