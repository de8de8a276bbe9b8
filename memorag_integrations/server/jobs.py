"""Memorizing in the background: one job at a time per memory model, the others queued.

A job reads its documents into a new engine over the server's models and saves it with
``MemoRAG.save`` (atomic): a failed job leaves no corpus behind. Its progress (the stage, steps done
of total, an ETA from the stage's pace so far) is what ``GET /api/jobs/{id}`` returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memorag_integrations.engine import MemoRAG
from memorag_integrations.schema import Document
from memorag_integrations.server.corpora import Corpora, CorpusExistsError

logger = logging.getLogger(__name__)


@dataclass
class Job:
    id: str
    corpus: str
    documents: list[Document]
    state: str = "queued"  # queued -> running -> done | failed
    stage: str = "waiting for the model"
    done: int = 0
    total: int = 0
    error: dict[str, str] | None = None
    n_documents: int = 0
    created: float = field(default_factory=time.time)
    stage_started: float = field(default_factory=time.monotonic)

    def report(self, stage: str, done: int, total: int) -> None:
        """The progress callback the engine calls while gisting and embedding."""
        if stage != self.stage:
            self.stage, self.stage_started = stage, time.monotonic()
        self.done, self.total = done, total

    def eta_s(self) -> float | None:
        if self.state != "running" or not self.done or self.total <= self.done:
            return None
        elapsed = time.monotonic() - self.stage_started
        return round(elapsed / self.done * (self.total - self.done), 1)

    def to_dict(self, position: int | None = None) -> dict[str, Any]:
        return {"id": self.id, "corpus": self.corpus, "state": self.state, "stage": self.stage, "done": self.done,
                "total": self.total, "eta_s": self.eta_s(), "queue_position": position, "error": self.error,
                "documents": self.n_documents}


class Jobs:
    """The memorize queue of one memory model, worked by one thread."""

    def __init__(self, corpora: Corpora) -> None:
        self.corpora = corpora
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="memorag-memorize", daemon=True)
        self._worker.start()

    def submit(self, corpus: str, documents: list[Document]) -> Job:
        """Queue ``documents`` to become the corpus ``corpus``; refused when the name is taken."""
        folder = self.corpora.folder(corpus)
        with self._lock:
            busy = any(j.corpus == corpus and j.state in ("queued", "running") for j in self._jobs.values())
            if busy or folder.exists():
                raise CorpusExistsError(f"a corpus named {corpus!r} exists or is being memorized; pick another name")
            job = Job(uuid.uuid4().hex[:12], corpus, documents, n_documents=len(documents))
            self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(job_id)
        return None if job is None else job.to_dict(self._position(job))

    def all(self) -> list[dict[str, Any]]:
        jobs = sorted(self._jobs.values(), key=lambda j: j.created)
        return [j.to_dict(self._position(j)) for j in jobs]

    def _position(self, job: Job) -> int | None:
        """0 for the running job, 1... for those waiting, None once finished."""
        if job.state == "running":
            return 0
        if job.state != "queued":
            return None
        waiting = sorted((j for j in self._jobs.values() if j.state == "queued"), key=lambda j: j.created)
        return 1 + waiting.index(job)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            job.state, job.stage, job.stage_started = "running", "starting", time.monotonic()
            try:
                self._memorize(job)
                job.state, job.stage = "done", "done"
            except Exception as exc:  # noqa: BLE001 (the job reports any failure; the server keeps serving)
                logger.warning("memorizing %s failed: %s", job.corpus, exc)
                job.state, job.error = "failed", {"error": type(exc).__name__, "message": str(exc)}
            finally:
                job.documents = []  # the text is in the saved corpus now (or the job failed)

    def _memorize(self, job: Job) -> None:
        models = self.corpora.models
        engine = MemoRAG(models.memory({"kind": "kv", "model": models.memory_model.identity}), models.retriever(),
                         progress=job.report)
        folder: Path = self.corpora.folder(job.corpus)
        engine.memorize(job.documents)
        job.report("saving", 0, 1)
        engine.save(folder)
        job.report("saving", 1, 1)
