"""The argument table of the LlamaIndex adapter: bad values raise the core's typed errors before any
model call (scripted models, real indexes)."""

import pytest
from li_support import LAUNCH_TEXT, HashEmbedder, ScriptedGenerator
from llama_index.core import Document, VectorStoreIndex
from llama_index.query_engine.memorag import MemoRAGQueryEngine
from llama_index.retrievers.memorag import MemoRAGEmbedding, MemoRAGRetriever

from memorag_integrations import EmptyQueryError, InvalidInputError, PromptMemory, QueryTooLongError
from memorag_integrations.prompts import ENGLISH

OPTIONS = {"k": 3, "chunk_tokens": 20, "chunk_overlap": 2}


@pytest.fixture
def engine():
    docs = [Document(text=LAUNCH_TEXT, doc_id="log")]
    return MemoRAGQueryEngine.from_documents(docs, memory=PromptMemory(ScriptedGenerator()),
                                             embed_model=MemoRAGEmbedding(HashEmbedder()), **OPTIONS)


def memory_calls(engine) -> int:
    return len(engine.memory.generator.calls)


def build_cases():
    memory = PromptMemory(ScriptedGenerator())
    embed = MemoRAGEmbedding(HashEmbedder())

    def docs(**options):
        return MemoRAGRetriever.from_documents([LAUNCH_TEXT], memory=memory, embed_model=embed, **options)

    return [
        (lambda e: docs(similarity_top_k=-1), "similarity_top_k must be a positive integer, got -1"),
        (lambda e: docs(similarity_top_k=0), "similarity_top_k must be a positive integer, got 0"),
        (lambda e: docs(per_query_top_k=0), "per_query_top_k must be a positive integer, got 0"),
        (lambda e: docs(k=0), "k must be a positive integer, got 0"),
        (lambda e: docs(k=-1), "k must be a positive integer, got -1"),
        (lambda e: docs(token_budget=-5), "token_budget must be a positive integer"),
        (lambda e: MemoRAGRetriever.from_documents(5, memory=memory, embed_model=embed), "got int"),
        (lambda e: MemoRAGRetriever.from_documents(["  "], memory=memory, embed_model=embed), "is empty"),
        (lambda e: MemoRAGRetriever(e.core, 5), "index must be a VectorStoreIndex or a LlamaIndex retriever"),
        (lambda e: MemoRAGRetriever(e.core, e.retriever.index, similarity_top_k="3"), "must be a positive integer"),
        (lambda e: e.with_options(task="translate"), "unknown task 'translate'"),
        (lambda e: MemoRAGQueryEngine.from_documents("text", memory=42), "memory must be"),
    ]


@pytest.mark.parametrize("case", range(len(build_cases())))
def test_bad_arguments_fail_when_built(engine, case):
    build, message = build_cases()[case]
    before = memory_calls(engine)
    with pytest.raises(InvalidInputError, match=message):
        build(engine)
    assert memory_calls(engine) == before


QUERIES = [
    (lambda e: e.query("   "), EmptyQueryError, "the query is empty"),
    (lambda e: e.query("bad \ud800"), InvalidInputError, "not valid Unicode text"),
    (lambda e: e.query("why " * 5000), QueryTooLongError, "tokens long"),
    (lambda e: e.retriever.retrieve("why " * 5000), QueryTooLongError, "tokens long"),
]


@pytest.mark.parametrize(("call", "error", "message"), QUERIES, ids=range(len(QUERIES)))
def test_bad_queries_fail_before_the_memory_is_asked(engine, call, error, message):
    before = memory_calls(engine)
    with pytest.raises(error, match=message):
        call(engine)
    assert memory_calls(engine) == before


def test_no_evidence_is_said_instead_of_answered_from_nothing(engine):
    empty = VectorStoreIndex([], embed_model=MemoRAGEmbedding(HashEmbedder()))
    retriever = MemoRAGRetriever(engine.core, empty)
    llm_engine = MemoRAGQueryEngine(retriever)
    response = llm_engine.query("When was the launch?")
    assert response.source_nodes == [] and str(response) == ENGLISH.nothing_found
    streamed = llm_engine.with_options(streaming=True).query("When was the launch?")
    assert "".join(streamed.response_gen) == ENGLISH.nothing_found
