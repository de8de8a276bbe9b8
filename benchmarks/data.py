"""Loaders for the evaluation sets in the shared data folder, with their dev / held-out splits.

Every suite becomes a :class:`Task`: documents to memorize and questions whose gold evidence is a
list of character spans into those documents, so one recall metric serves all of them.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.schema import Document

SPLITS = ("dev", "heldout")
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

Span = tuple[str, int, int]  # (doc_id, start, end)


@dataclass
class Question:
    qid: str
    question: str
    answers: list[str]
    gold: list[list[Span]] = field(default_factory=list)  # groups of alternative spans; [] = no evidence gold
    info: dict[str, Any] = field(default_factory=dict)  # e.g. haystack length and depth of a needle case


@dataclass
class Task:
    """One corpus and its questions. ``name`` keys the memorized-corpus cache with the content."""

    name: str
    documents: list[Document]
    questions: list[Question]

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for d in self.documents:
            h.update(f"{d.doc_id}\0{d.text}\0".encode())
            if d.metadata:  # metadata the memory or the searches may read
                h.update(json.dumps(d.metadata, sort_keys=True).encode())
        return h.hexdigest()[:16]


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise InvalidInputError(f"{path} not found; pass --data pointing at the shared data folder "
                                "(the one holding derived/ and leval/)")
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


def _half(rows: list, dev_size: int, split: str, text_key: str | None = None) -> list:
    """The split's rows. With ``text_key``, held-out rows whose text is also a dev row's are left
    out: L-Eval repeats some dev documents in its later rows, and held-out must be unseen."""
    _check_split(split)
    if split == "dev":
        return rows[:dev_size]
    seen = {row[text_key] for row in rows[:dev_size]} if text_key else set()
    return [row for row in rows[dev_size:] if not text_key or row[text_key] not in seen]


# -- hotpot100 -----------------------------------------------------------------------------------
def pool_paragraphs(paragraphs: list[dict[str, Any]]) -> tuple[str, dict[str, tuple[int, int]]]:
    """All paragraphs as one long text ("title\\ntext" blocks); returns it and each pid's span."""
    parts, spans, pos = [], {}, 0
    for p in paragraphs:
        block = f"{p['title']}\n{p['text']}"
        spans[p["pid"]] = (pos, pos + len(block))
        parts.append(block)
        pos += len(block) + 2
    return "\n\n".join(parts), spans


def load_hotpot(data: Path, split: str = "dev", *, limit: int | None = None,
                distractors: int | None = None, own_pool: bool = False, paragraphs: bool = False) -> Task:
    """hotpot100 pooled into one document (``paragraphs``: each paragraph a document of its own).
    ``distractors`` shrinks the pool to the questions' gold paragraphs plus that many other
    paragraphs (the first ones in file order). ``own_pool`` keeps the split's own paragraphs only
    (about half the pool: the corpus lists each question's paragraphs together, in question
    order), for models too slow to read the whole pool."""
    corpus = list(read_jsonl(data / "derived" / "hotpot100_corpus.jsonl"))
    every = list(read_jsonl(data / "derived" / "hotpot100_questions.jsonl"))
    rows = _half(every, 50, split)[:limit]
    if own_pool:
        order = {p["pid"]: i for i, p in enumerate(corpus)}
        middle = min(order[pid] for pid in every[50]["gold_pids"])  # where the held-out questions' paragraphs begin
        corpus = corpus[:middle] if split == "dev" else corpus[middle:]
    if distractors is not None:
        gold = {pid for r in rows for pid in r["gold_pids"]}
        others = [p["pid"] for p in corpus if p["pid"] not in gold][:distractors]
        keep = gold | set(others)
        corpus = [p for p in corpus if p["pid"] in keep]
    name = "hotpot-pool" if distractors is None and not own_pool else f"hotpot-{split}"
    if paragraphs:  # each paragraph a document of its own: a corpus of many documents
        documents = [Document(f"{p['title']}\n{p['text']}", p["pid"], {"title": p["title"]}) for p in corpus]
        sizes = {d.doc_id: len(d.text) for d in documents}
        questions = [Question(r["qid"], r["question"], r["answers"],
                              [[(pid, 0, sizes[pid])] for pid in r["gold_pids"]]) for r in rows]
        return Task(f"{name}-docs", documents, questions)
    text, spans = pool_paragraphs(corpus)
    questions = [Question(r["qid"], r["question"], r["answers"],
                          [[("hotpot100", *spans[pid])] for pid in r["gold_pids"]]) for r in rows]
    # The whole pool is the same corpus for both splits, so it is memorized once.
    return Task(name, [Document(text, "hotpot100")], questions)


# -- L-Eval legal_contract_qa --------------------------------------------------------------------
def load_legal(data: Path, split: str = "dev", *, docs: int | None = None, per_doc: int | None = None,
               shortest: bool = False) -> list[Task]:
    """One task per contract, 0-11 (dev) or 12-19 (held-out; 20-22 repeat dev contracts); gold = the
    verbatim clause spans (any one of them counts). ``shortest`` takes the ``docs`` shortest contracts of the split."""
    chosen = _half(list(read_jsonl(data / "derived" / "leval_legal_contract_qa_docs.jsonl")), 12, split, "text")
    if shortest:
        chosen = sorted(chosen, key=lambda d: len(d["text"]))
    chosen = chosen[:docs]
    by_doc: dict[str, list[Question]] = {d["doc_id"]: [] for d in chosen}
    for r in read_jsonl(data / "derived" / "leval_legal_contract_qa_questions.jsonl"):
        questions = by_doc.get(r["doc_id"])
        if questions is None or (per_doc is not None and len(questions) >= per_doc):
            continue
        group = [(r["doc_id"], s, e) for s, e in r["gold_char_spans"]]
        questions.append(Question(r["qid"], r["question"], r["answers"], [group] if group else []))
    return [Task(f"legal-{d['doc_id']}", [Document(d["text"], d["doc_id"])], by_doc[d["doc_id"]]) for d in chosen]


# -- L-Eval review_summ --------------------------------------------------------------------------
def _as_list(value: Any) -> list[str]:
    # L-Eval stores instruction/output lists as Python literals in some rows.
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return [str(value)]
    return [str(v) for v in parsed] if isinstance(parsed, list) else [str(parsed)]


def load_review(data: Path, split: str = "dev", *, docs: int | None = None,
                per_doc: int | None = None) -> list[Task]:
    """One task per review collection, 0-11 (dev) or the held-out ones that are not dev copies
    (12-19 and 21); each is memorized on its own; no evidence gold."""
    rows = list(read_jsonl(data / "leval" / "review_summ.jsonl"))
    for i, row in enumerate(rows):
        row["index"] = i
    tasks = []
    for row in _half(rows, 12, split, "input")[:docs]:
        doc_id = f"review_summ-{row['index']}"
        pairs = list(zip(_as_list(row["instructions"]), _as_list(row["outputs"])))[:per_doc]
        questions = [Question(f"{doc_id}-q{j}", q, [a]) for j, (q, a) in enumerate(pairs)]
        tasks.append(Task(f"review-{doc_id}", [Document(row["input"], doc_id)], questions))
    return tasks


# -- needle in a haystack ------------------------------------------------------------------------
def load_needle(data: Path, *, max_words: int | None = None, depths: tuple[float, ...] | None = None,
                sweep_words: int | None = None) -> list[Task]:
    """One task per case (each haystack is its own corpus). No split: the probe is used whole.
    ``depths`` keeps only those depths, except in haystacks of at most ``sweep_words`` words, which
    keep every depth (a cheap sweep over depth where memorizing is cheap)."""
    tasks = []
    for r in read_jsonl(data / "derived" / "needle_pg_nq_cases.jsonl"):
        if max_words is not None and r["haystack_words"] > max_words:
            continue
        swept = sweep_words is not None and r["haystack_words"] <= sweep_words
        if depths is not None and not swept and r["depth"] not in depths:
            continue
        doc_id = r["case_id"]
        start, end = r["gold_char_span"]
        q = Question(r["qid"], r["question"], r["answers"], [[(doc_id, start, end)]],
                     {"haystack_words": r["haystack_words"], "depth": r["depth"]})
        tasks.append(Task(f"needle-{doc_id}", [Document(r["document"], doc_id)], [q]))
    return tasks


# -- NQ-open -------------------------------------------------------------------------------------
def load_nqopen(data: Path, split: str = "dev", *, limit: int | None = None) -> Task:
    """2,600 passages as separate documents (doc_id = pid); gold = the gold passages (any counts)."""
    passages = read_jsonl(data / "derived" / "nqopen_corpus.jsonl")
    docs = [Document(f"{p['title']}\n{p['text']}", p["pid"]) for p in passages]
    lengths = {d.doc_id: len(d.text) for d in docs}
    rows = _half(list(read_jsonl(data / "derived" / "nqopen_questions.jsonl")), 1300, split)[:limit]
    questions = [Question(r["qid"], r["question"], r["answers"],
                          [[(pid, 0, lengths[pid]) for pid in r["gold_pids"] if pid in lengths]]) for r in rows]
    return Task(f"nqopen-{split}", docs, questions)


# -- MultiHop-RAG ----------------------------------------------------------------------------------
def load_multihoprag(data: Path, split: str = "dev", *, limit: int | None = None) -> Task:
    """A split's news articles memorized together as one corpus, each a document whose metadata
    keeps its title, outlet (``source``), publication day and author; every gold fact is a group
    of one span, so recall counts facts. ``info["gold_docs"]`` lists the articles a question needs."""
    _check_split(split)
    folder = data / "multihoprag"
    documents = [Document(r["text"], r["doc_id"], {"title": r["title"], "source": r["source"],
                                                   "published_at": r["published_at"][:10], "author": r["author"],
                                                   "category": r["category"]})
                 for r in read_jsonl(folder / f"{split}_corpus.jsonl")]
    questions = [Question(r["qid"], r["question"], [str(r["answer"])],
                          [[(e["doc_id"], *e["span"])] for e in r["evidence"]],
                          {"question_type": r["question_type"], "gold_docs": list(r["gold_doc_ids"])})
                 for r in list(read_jsonl(folder / f"{split}_questions.jsonl"))[:limit]]
    return Task(f"multihoprag-{split}", documents, questions)
