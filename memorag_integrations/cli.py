"""The ``memorag`` command: memorize files into a folder, then ask or summarize from it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from memorag_integrations import defaults
from memorag_integrations.errors import MemoRAGError
from memorag_integrations.kvcodec import KV_DTYPES
from memorag_integrations.store import check_writable
from memorag_integrations.tasks import TASK_NAMES


class Parser(argparse.ArgumentParser):
    """argparse with one line on a usage error, as every other error of the command has."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"memorag: error: {message} (see {self.prog} --help)\n")


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value!r}")
    return number


def metadata_condition(value: str) -> tuple[str, object]:
    """An argparse type: ``KEY=VALUE``; the value is read as JSON when it parses (numbers, lists,
    true/false), as text otherwise."""
    key, sep, raw = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    try:
        parsed: object = json.loads(raw)
    except ValueError:
        parsed = raw
    return key.strip(), parsed


def _filter_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (keep to some documents: their evidence, their part of the memory)")
    group.add_argument("--doc-id", action="append", dest="doc_ids", metavar="ID",
                       help="a document's id (its file name); repeat for several")
    group.add_argument("--where", action="append", type=metadata_condition, default=[], metavar="KEY=VALUE",
                       help="a metadata condition, e.g. --where year=2024 or --where 'lang=[\"en\", \"de\"]'")


def _stream_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                        help="print the answer as it is written (default: on at a terminal)")


def _answer_mode_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--answer-mode", choices=("auto", "extractive", "generate"), default="auto",
                        help="extractive: the answer quotes the evidence's best sentences (a summary: the most central "
                             "ones); generate: the model writes it; auto (default): extractive with the embedded "
                             "model, generate with one named by --model")
    parser.add_argument("--clues", action=argparse.BooleanOptionalAction, default=None,
                        help="whether the memory writes clues that search beside the "
                             "question (default: on with a model named by --model, off with the embedded model, "
                             "whose clues moved no ranking in the benchmarks)")


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models")
    group.add_argument("--model", help="memory/generator model: a GGUF file, a local folder or a Hugging Face id "
                                       "(default: the embedded SmolLM2-135M-Instruct)")
    group.add_argument("--embedder",
                       help="sentence-transformers model folder or id (default: embedded all-MiniLM-L6-v2)")
    group.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="memorag", description="Memory-augmented RAG over long documents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    mem = sub.add_parser("memorize", help="read files into a memory and save it to a folder")
    mem.add_argument("paths", nargs="+", help="TXT, MD, PDF or DOCX files")
    mem.add_argument("--save-dir", required=True, help="folder to write the memorized corpus to")
    mem.add_argument("--overwrite", action="store_true", help="replace the folder if it exists")
    mem.add_argument("--kv", action=argparse.BooleanOptionalAction, default=None,
                     help="whether the folder keeps the memory's KV cache (default: where queries read the "
                          "memory, i.e. a model you name; the embedded model's memory is read again at its "
                          "first qa or summary call)")
    mem.add_argument("--kv-dtype", choices=KV_DTYPES, default=defaults.KV_DTYPE,
                     help="how the KV cache is stored: float16 (default; the same clues as float32), bfloat16, "
                          "or int8 (a quarter of float32's disk; the same evidence, clues may differ)")
    mem.add_argument("--max-memory-tokens", type=positive_int, default=defaults.MAX_MEMORY_TOKENS,
                     help="memory window; longer text is gisted")
    _model_options(mem)

    ask = sub.add_parser("ask", help="answer a question from a memorized folder")
    ask.add_argument("save_dir")
    ask.add_argument("question")
    ask.add_argument("--task", choices=TASK_NAMES, default="memorag")
    ask.add_argument("-k", type=positive_int, default=defaults.K, help="evidence chunks to retrieve")
    ask.add_argument("--json", action="store_true", help="print the whole result as JSON")
    ask.add_argument("--rerank", type=whole_number, default=None, metavar="N",
                     help=f"candidates the model rereads and reorders (default {defaults.RERANK}; 0: off)")
    ask.add_argument("--grounding", type=grounding_share, default=defaults.GROUNDING, metavar="SHARE|off",
                     help=f"search a clue only when its best hit holds this share of its new words (default "
                          f"{defaults.GROUNDING}); off searches every clue as written")
    _filter_options(ask)
    _stream_option(ask)
    _answer_mode_option(ask)
    _model_options(ask)

    srv = sub.add_parser("serve", help="a web page and HTTP API to upload, memorize and ask (extra 'server')")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    srv.add_argument("--port", type=positive_int, default=8000)
    srv.add_argument("--corpora", default="corpora", help="folder of saved corpora (made if missing)")
    srv.add_argument("--token", help="access token every request must carry (required off loopback; or set "
                                     "MEMORAG_SERVER_TOKEN)")
    srv.add_argument("--max-upload-mb", type=positive_int, default=200, help="upload size limit")
    srv.add_argument("--answer-model", action="append", default=[],
                     help="another model that may answer (a GGUF file, folder or hub id); repeatable")
    _model_options(srv)

    summ = sub.add_parser("summarize", help="summarize a memorized folder")
    summ.add_argument("save_dir")
    summ.add_argument("-k", type=positive_int, default=defaults.K, help="evidence chunks to summarize from")
    summ.add_argument("--json", action="store_true")
    _filter_options(summ)
    _stream_option(summ)
    _answer_mode_option(summ)
    _model_options(summ)
    return parser


def _components(args: argparse.Namespace, *, memorizing: bool):
    from memorag_integrations.memory.kv import KVMemory
    from memorag_integrations.retrieval.embedders import SentenceTransformerEmbedder
    from memorag_integrations.retrieval.retriever import DenseRetriever

    memory = retriever = None
    if memorizing or args.model or args.device:
        from memorag_integrations.llm.transformers import TransformersGenerator

        options = {"max_memory_tokens": args.max_memory_tokens} if memorizing else {}
        memory = KVMemory(TransformersGenerator(args.model, device=args.device), **options)
    if memorizing or args.embedder:
        retriever = DenseRetriever(SentenceTransformerEmbedder(args.embedder, device=args.device))
    return memory, retriever


def _print_evidence(clues, evidence) -> None:
    if clues is not None:
        for span in clues.spans:
            print(f"clue: {span}")
        for q in clues.surrogate_questions:
            print(f"surrogate question: {q}")
    for i, ev in enumerate(evidence, 1):
        print(f"[{i}] {ev.doc_id} chars {ev.char_span[0]}-{ev.char_span[1]} score {ev.score:.4f}")
    print()


def _print_timings(timings: dict[str, float]) -> None:
    print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))


def _print_answer(answer, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    _print_evidence(answer.clues, answer.evidence)
    print(answer.text)
    print()
    for q in answer.quotes:  # where each quoted sentence stands in its document
        print(f"quote [{q.evidence}] {q.doc_id} chars {q.char_span[0]}-{q.char_span[1]}")
    if answer.quotes:
        print()
    _print_timings(answer.timings)


def _stream_answer(engine, question: str, task: str, k: int, **filters: Any) -> None:
    """The clues and evidence as soon as they are in, then the answer as it is written, then the
    timings with the time to the first answer piece."""
    import time

    t0 = time.perf_counter()
    prepared = engine.prepare(question, task, k=k, **filters)
    _print_evidence(prepared.clues, prepared.evidence)
    t1, first = time.perf_counter(), None
    for piece in engine.write(prepared):
        if first is None:
            first = time.perf_counter() - t0
        print(piece, end="", flush=True)
    now = time.perf_counter()
    print("\n")
    step = "extract" if engine.answer_mode_for(prepared.task) == "extractive" else "generate"
    _print_timings({**prepared.timings, "first_token": first or 0.0, step: now - t1, "total": now - t0})


def check_arguments(args: argparse.Namespace) -> None:
    """Everything that can be checked before a model is loaded (which takes many seconds)."""
    from memorag_integrations.models import check_device, resolve_embedder, resolve_lm
    from memorag_integrations.tasks import get_task

    check_device(args.device)
    if args.model:
        resolve_lm(args.model)
    if args.embedder:
        resolve_embedder(args.embedder)
    if args.command == "ask":
        task = get_task(args.task)
        task.check_query(args.question)
        if args.answer_mode == "extractive":  # qa has no evidence to quote
            from memorag_integrations.extractive import resolve_answer_mode

            resolve_answer_mode(args.answer_mode, retrieves=task.retrieves, generator=None)


def run(args: argparse.Namespace) -> int:
    from memorag_integrations.documents import load_document
    from memorag_integrations.engine import MemoRAG

    check_arguments(args)
    if args.command == "serve":
        import os

        from memorag_integrations.server import TOKEN_ENV, check_bind, serve

        check_bind(args.host, args.token or os.environ.get(TOKEN_ENV))  # before loading any model
        serve(args.host, args.port, args.corpora, token=args.token, model=args.model, embedder=args.embedder,
              device=args.device, answer_models=tuple(args.answer_model), max_upload_mb=args.max_upload_mb)
        return 0
    if args.command == "memorize":
        docs = [load_document(p) for p in args.paths]
        check_writable(args.save_dir, overwrite=args.overwrite)  # fail before loading any model
        memory, retriever = _components(args, memorizing=True)
        engine = MemoRAG(memory, retriever)
        engine.memorize(docs)
        engine.save(args.save_dir, overwrite=args.overwrite, include_kv=args.kv, kv_dtype=args.kv_dtype)
        print(f"memorized {len(docs)} document(s), {len(engine.retriever.chunks)} chunks -> {args.save_dir}")
        return 0
    memory, retriever = _components(args, memorizing=False)
    engine = MemoRAG.load(args.save_dir, memory, retriever, rerank=getattr(args, "rerank", None),
                          grounding=getattr(args, "grounding", defaults.GROUNDING), answer_mode=args.answer_mode,
                          write_clues=args.clues)
    question, task = (args.question, args.task) if args.command == "ask" else ("", "summarize")
    if args.stream is None:  # stream to a person at a terminal; print whole results to pipes and files
        args.stream = sys.stdout.isatty() and not args.json
    filters = {"doc_ids": args.doc_ids, "where": dict(args.where) or None}
    if args.stream and not args.json:
        _stream_answer(engine, question, task, args.k, **filters)
    else:
        _print_answer(engine.answer(question, task, k=args.k, **filters), args.json)
    return 0


def whole_number(value: str) -> int:
    """An argparse type: a whole number of at least 0."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number (0 or more), got {value!r}")
    return int(value)


def grounding_share(value: str) -> float | None:
    """An argparse type: a share from 0 to 1, or ``off`` (None: every clue is searched as written)."""
    if value.strip().lower() in ("off", "none"):
        return None
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, or off, got {value!r}")
    return share


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # the libraries' deprecation notes are for developers, not for a user's terminal
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        return run(args)
    except MemoRAGError as exc:
        print(f"memorag: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"memorag: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
