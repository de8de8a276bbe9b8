"""The argument table of the LangChain adapter: bad values raise the core's typed errors (or
pydantic's ValidationError carrying them, as LangChain's own classes do), before any model call."""

import pytest
from fakes import HashEmbedder, ScriptedGenerator
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_memorag import EmbedderEmbeddings, MemoRAGRetriever, create_memorag_chain
from memorag_integrations import EmptyQueryError, InvalidInputError, MemoRAG, PromptMemory, QueryTooLongError
from memorag_integrations.prompts import ENGLISH
from memorag_integrations.retrieval.retriever import DenseRetriever

TEXT = "The launch happened in 1969.\n\nThe crew of three trained in Houston."


@pytest.fixture
def engine():
    retriever = DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0)
    return MemoRAG(PromptMemory(ScriptedGenerator()), retriever, progress=False).memorize(TEXT)


def memory_calls(engine) -> int:
    return len(engine.memory.generator.calls)


BUILD = [
    (lambda e: MemoRAGRetriever(engine=e, k=-1), ValueError, "k must be a positive integer, got -1"),
    (lambda e: MemoRAGRetriever(engine=e, k=0), ValueError, "k must be a positive integer, got 0"),
    (lambda e: MemoRAGRetriever(engine=e, fetch_k=0), ValueError, "fetch_k must be a positive integer"),
    (lambda e: MemoRAGRetriever(engine=5), ValueError, "Input should be an instance of MemoRAG"),
    (lambda e: MemoRAGRetriever.from_documents(5, memory=e.memory), InvalidInputError, "got int"),
    (lambda e: MemoRAGRetriever.from_documents(["x"], memory=e.memory, k=0), InvalidInputError, "k must be"),
    (lambda e: MemoRAGRetriever.from_documents(["x"], memory=e.memory, vectorstore=object()), InvalidInputError,
     "VectorStore class or instance"),
    (lambda e: MemoRAGRetriever.from_documents(["  "], EmbedderEmbeddings(HashEmbedder()), memory=e.memory),
     InvalidInputError, "is empty"),
    (lambda e: MemoRAGRetriever.from_engine(e, k=-2), InvalidInputError, "k must be"),
    (lambda e: create_memorag_chain(object(), None), InvalidInputError, "expected a MemoRAGRetriever"),
]

INVOKE = [
    (lambda r: r.invoke("q", k=0), InvalidInputError, "k must be a positive integer, got 0"),
    (lambda r: r.invoke("q", k="3"), InvalidInputError, "k must be a positive integer, got '3'"),
    (lambda r: r.invoke("q", task="translate"), InvalidInputError, "unknown task 'translate' for retrieval"),
    (lambda r: r.invoke("q", task="qa"), InvalidInputError, "unknown task 'qa' for retrieval"),
    (lambda r: r.invoke(5), InvalidInputError, "the query must be a string"),
    (lambda r: r.invoke("   "), EmptyQueryError, "the query is empty"),
    (lambda r: r.invoke("bad \ud800"), InvalidInputError, "not valid Unicode text"),
    (lambda r: r.invoke("why " * 5000), QueryTooLongError, "tokens long"),
]


@pytest.mark.parametrize(("build", "error", "message"), BUILD, ids=range(len(BUILD)))
def test_bad_arguments_fail_when_the_retriever_is_built(engine, build, error, message):
    before = memory_calls(engine)
    with pytest.raises(error, match=message):
        build(engine)
    assert memory_calls(engine) == before


@pytest.mark.parametrize(("call", "error", "message"), INVOKE, ids=range(len(INVOKE)))
def test_bad_calls_fail_before_the_memory_is_asked(engine, call, error, message):
    retriever = MemoRAGRetriever(engine=engine)
    before = memory_calls(engine)
    with pytest.raises(error, match=message):
        call(retriever)
    assert memory_calls(engine) == before


def test_the_chain_says_when_nothing_was_found_instead_of_asking_the_model(engine):
    store = InMemoryVectorStore(EmbedderEmbeddings(HashEmbedder()))  # empty: finds nothing
    retriever = MemoRAGRetriever(engine=engine, vectorstore=store)
    llm_calls = []

    def llm(messages):
        llm_calls.append(messages)
        return "an invented answer"

    from langchain_core.runnables import RunnableLambda

    chain = create_memorag_chain(retriever, RunnableLambda(llm))
    result = chain.invoke("When was the launch?")
    assert result["context"] == [] and result["answer"] == ENGLISH.nothing_found and llm_calls == []
    streamed = "".join(part.get("answer", "") for part in chain.stream("When was the launch?"))
    assert streamed == ENGLISH.nothing_found and llm_calls == []
