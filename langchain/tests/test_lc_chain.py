"""LCEL composition with the real embedded model in the loop (through GeneratorChatModel)."""

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from lc_support import QUESTION, chat_model, embeddings, fake_retriever, kv_retriever, reference_text

from langchain_memorag import create_memorag_chain
from memorag_integrations.errors import InvalidInputError

RAG_PROMPT = ChatPromptTemplate.from_template(
    "Answer from the context only.\n\nContext:\n{context}\n\nQuestion: {question}")


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(d.page_content for d in docs)


def existing_rag_chain(retriever, llm):
    """A classic LCEL RAG chain, written without MemoRAG in mind."""
    return ({"context": retriever | format_docs, "question": RunnablePassthrough()}
            | RAG_PROMPT | llm | StrOutputParser())


@pytest.mark.slow
def test_memorag_drops_into_an_existing_rag_chain():
    llm = chat_model()
    store = InMemoryVectorStore.from_texts([reference_text()], embeddings())  # the plain one: one big chunk
    plain = existing_rag_chain(store.as_retriever(search_kwargs={"k": 1}), llm).invoke(QUESTION)
    memorag = existing_rag_chain(kv_retriever(), llm).invoke(QUESTION)
    assert isinstance(plain, str) and plain and isinstance(memorag, str) and memorag


@pytest.mark.slow
def test_chain_answers_with_context_and_clues():
    chain = create_memorag_chain(kv_retriever(), chat_model())
    out = chain.invoke(QUESTION)
    assert set(out) == {"answer", "context", "clues", "quotes"}
    assert out["answer"].strip() and len(out["context"]) == 3
    # The embedded model answers by quoting the context: every quote is a sentence of the text at its span.
    assert out["quotes"] and all(reference_text()[slice(*q["char_span"])] == q["text"] for q in out["quotes"])
    assert out["clues"] == out["context"][0].metadata["clues"]
    assert out["clues"]["spans"] or out["clues"]["surrogate_questions"]
    assert chain.invoke({"question": QUESTION})["answer"] == out["answer"]  # deterministic, dict input too


@pytest.mark.slow
async def test_chain_streams_answer_tokens_sync_and_async():
    chain = create_memorag_chain(kv_retriever(), chat_model())
    answer = chain.invoke(QUESTION)["answer"]
    chunks = list(chain.stream(QUESTION))
    pieces = [c["answer"] for c in chunks if "answer" in c]
    assert len(pieces) > 1 and "".join(pieces).strip() == answer.strip()
    assert [c for c in chunks if "context" in c][0]["context"]  # the evidence comes before the answer
    assert next(i for i, c in enumerate(chunks) if "context" in c) < next(
        i for i, c in enumerate(chunks) if "answer" in c)
    apieces = [c["answer"] async for c in chain.astream(QUESTION) if "answer" in c]
    assert len(apieces) > 1 and "".join(apieces).strip() == answer.strip()


@pytest.mark.slow
async def test_summarize_task_and_custom_prompt():
    summary = await create_memorag_chain(kv_retriever(), chat_model(), task="summarize").ainvoke("")
    # The embedded model's key points may all be filler (dropped); the summary quotes central sentences anyway.
    assert summary["answer"].strip() and summary["context"] and summary["quotes"] and "spans" in summary["clues"]
    prompt = ChatPromptTemplate.from_template("Passages:\n{context}\n\nIn one line: {question}")
    out = create_memorag_chain(kv_retriever(), chat_model(), prompt=prompt).invoke(QUESTION)
    assert out["answer"].strip() and out["context"]


# -- pure logic (fake answering model, the real retriever is not needed) ----------------------------------
def test_chain_rejects_bad_input():
    retriever = fake_retriever()
    chain = create_memorag_chain(retriever, FakeListChatModel(responses=["ok"]))
    for bad in ["  ", {"topic": "x"}, 3]:
        with pytest.raises(InvalidInputError, match="non-empty question"):
            chain.invoke(bad)
    with pytest.raises(InvalidInputError, match="unknown task"):
        create_memorag_chain(retriever, FakeListChatModel(responses=["ok"]), task="translate")
    with pytest.raises(InvalidInputError, match="MemoRAGRetriever"):
        create_memorag_chain(InMemoryVectorStore(embeddings_stub()).as_retriever(), FakeListChatModel(responses=["x"]))


def embeddings_stub():
    from langchain_core.embeddings import DeterministicFakeEmbedding

    return DeterministicFakeEmbedding(size=8)


@pytest.mark.slow
def test_loading_and_a_chain_call_print_no_progress_bars_or_warnings(tmp_path, capfd):
    from langchain_memorag import GeneratorChatModel, MemoRAGRetriever

    folder = kv_retriever().save(tmp_path / "saved")
    capfd.readouterr()
    retriever = MemoRAGRetriever.load(folder, k=2, clue_tokens=16)  # the default models, loaded afresh
    chain = create_memorag_chain(retriever, GeneratorChatModel(generator=retriever.engine.generator, max_tokens=16))
    result = chain.invoke(QUESTION)
    assert result["answer"] and result["context"]
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "it/s]" not in err and "Warning" not in err, err
