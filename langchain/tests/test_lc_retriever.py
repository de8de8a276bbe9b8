"""MemoRAGRetriever with the real embedded models: standard suite, metadata, vector stores, async,
batch, callbacks and the clue event."""

import pytest
from langchain_community.vectorstores import FAISS
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import FakeListChatModel
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import RetrieversIntegrationTests
from lc_support import (QUESTION, chat_model, embeddings, fake_retriever, kv_retriever, lm, prompt_retriever,
                        reference_text, with_store)

from langchain_memorag import CLUES_EVENT, ChatModelGenerator, MemoRAGRetriever
from memorag_integrations import MemoRAG
from memorag_integrations.errors import EmptyQueryError, InvalidInputError, NotMemorizedError
from memorag_integrations.extractive import CENTRAL_LABEL
from memorag_integrations.memory.kv import KVMemory
from memorag_integrations.memory.prompt import PromptMemory

@pytest.mark.slow
class TestStandardOnTheCoreIndex(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self):
        return MemoRAGRetriever

    @property
    def retriever_constructor_params(self):
        return {"engine": kv_retriever().engine}

    @property
    def retriever_query_example(self):
        return QUESTION


@pytest.mark.slow
class TestStandardOnFaiss(TestStandardOnTheCoreIndex):
    @property
    def retriever_constructor_params(self):
        return {"engine": kv_retriever().engine, "vectorstore": faiss_store()}


_stores = {}


def faiss_store():
    if "faiss" not in _stores:
        _stores["faiss"] = with_store(FAISS).vectorstore
    return _stores["faiss"]


class Runs(BaseCallbackHandler):
    """Records every run start: (kind, name, run_id, parent_run_id)."""

    def __init__(self):
        self.runs = []

    def _add(self, kind, name, run_id, parent_run_id):
        self.runs.append((kind, name, run_id, parent_run_id))

    def on_retriever_start(self, serialized, query, *, run_id, parent_run_id=None, **kw):
        self._add("retriever", kw.get("name"), run_id, parent_run_id)

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kw):
        self._add("chain", kw.get("name"), run_id, parent_run_id)

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kw):
        self._add("chat_model", kw.get("name"), run_id, parent_run_id)

    def of(self, kind):
        return [r for r in self.runs if r[0] == kind]


def check_documents(docs, text, doc_id, query):
    assert docs, "nothing retrieved"
    clues = docs[0].metadata["clues"]
    expansions = {query, *clues["spans"], *clues["surrogate_questions"], f"{query.strip()} (second round)"}
    for doc in docs:
        meta = doc.metadata
        assert text[meta["start"]:meta["end"]] == doc.page_content and meta["doc_id"] == doc_id
        assert meta["matched_queries"] and set(meta["matched_queries"]) <= expansions
        assert meta["clues"] == clues and meta["score"] > 0
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.slow
def test_documents_carry_score_queries_source_and_span():
    retriever = kv_retriever()
    docs = retriever.invoke(QUESTION)
    assert len(docs) == 3
    check_documents(docs, reference_text(), "langref", QUESTION)
    assert docs[0].metadata["clues"]["spans"] or docs[0].metadata["clues"]["surrogate_questions"]
    assert any("break" in d.page_content for d in docs)
    assert [len(retriever.invoke(QUESTION, k=n)) for n in (1, 2)] == [1, 2]


@pytest.mark.slow
@pytest.mark.parametrize("store", [InMemoryVectorStore, FAISS], ids=["in-memory", "faiss"])
def test_delegates_to_langchain_vector_stores(store):
    retriever = faiss_store_retriever() if store is FAISS else with_store(store)
    handler = Runs()
    docs = retriever.invoke(QUESTION, config={"callbacks": [handler]})
    check_documents(docs, reference_text(), "langref", QUESTION)
    clues = docs[0].metadata["clues"]
    n_queries = len({QUESTION, *clues["spans"], *clues["surrogate_questions"]})
    searches = [r for r in handler.of("chain") if r[1].startswith(store.__name__ + ".similarity_search")]
    assert len(searches) == n_queries
    # The same fusion as the core's index: both search the same chunks with cosine similarity.
    core = kv_retriever().invoke(QUESTION)
    assert [(d.metadata["start"], d.metadata["end"]) for d in docs] == [
        (d.metadata["start"], d.metadata["end"]) for d in core]


def faiss_store_retriever():
    return MemoRAGRetriever(engine=kv_retriever().engine, vectorstore=faiss_store(), k=3)


@pytest.mark.slow
async def test_async_uses_the_stores_async_search():
    class AsyncOnly(InMemoryVectorStore):
        def similarity_search_with_score(self, *args, **kwargs):
            raise AssertionError("the async path must not call the sync search")

    retriever = with_store(AsyncOnly)
    docs = await retriever.ainvoke(QUESTION, k=2)
    assert len(docs) == 2
    check_documents(docs, reference_text(), "langref", QUESTION)
    assert [d.page_content for d in docs] == [d.page_content for d in kv_retriever().invoke(QUESTION, k=2)]


@pytest.mark.slow
async def test_batch_and_abatch_match_single_calls():
    retriever = faiss_store_retriever()
    questions = [QUESTION, "What happens when an assert fails?"]
    single = [[d.id for d in retriever.invoke(q)] for q in questions]
    assert [[d.id for d in docs] for docs in retriever.batch(questions)] == single
    assert [[d.id for d in docs] for docs in await retriever.abatch(questions)] == single


@pytest.mark.slow
def test_chat_model_memory_runs_as_child_runs():
    retriever = prompt_retriever()
    handler = Runs()
    docs = retriever.invoke(QUESTION, config={"callbacks": [handler]})
    check_documents(docs, reference_text(("break", "continue")), "loops", QUESTION)
    (top,) = handler.of("retriever")
    expand = [r for r in handler.of("chain") if r[1] == "memorag_expand"]
    assert len(expand) == 1 and expand[0][3] == top[2]
    chats = handler.of("chat_model")
    assert len(chats) == 2 and all(r[3] == expand[0][2] for r in chats)  # clue spans + surrogate questions
    searches = [r for r in handler.of("chain") if r[1].startswith("InMemoryVectorStore")]
    assert searches and all(r[3] == top[2] for r in searches)


@pytest.mark.slow
async def test_clues_are_a_custom_event_in_astream_events():
    retriever = prompt_retriever()
    events = [e async for e in retriever.astream_events(QUESTION, version="v2")]
    custom = [e for e in events if e["event"] == "on_custom_event" and e["name"] == CLUES_EVENT]
    assert len(custom) == 1
    data = custom[0]["data"]
    assert data["query"] == QUESTION and data["task"] == "memorag"
    docs = next(e for e in events if e["event"] == "on_retriever_end")["data"]["output"]
    assert {k: data[k] for k in ("spans", "surrogate_questions", "draft")} == docs[0].metadata["clues"]
    assert any(e["event"] == "on_chat_model_start" for e in events)


@pytest.mark.slow
def test_summarize_task_searches_with_the_memorys_key_points():
    docs = kv_retriever().invoke("", task="summarize", k=2)
    assert len(docs) == 2
    clues = docs[0].metadata["clues"]
    assert not clues["surrogate_questions"]
    # The small model's key points may all be filler: then the corpus's most central chunks are found.
    searched = set(clues["spans"]) or {CENTRAL_LABEL}
    assert all(set(d.metadata["matched_queries"]) <= searched for d in docs)


@pytest.mark.slow
def test_load_a_corpus_saved_by_the_core(tmp_path):
    engine = kv_retriever().engine
    engine.save(tmp_path / "corpus")
    loaded = MemoRAGRetriever.load(tmp_path / "corpus", embeddings(), memory=KVMemory(lm()),
                                   vectorstore=InMemoryVectorStore, k=3, **_small())
    assert isinstance(loaded.vectorstore, InMemoryVectorStore)
    docs = loaded.invoke(QUESTION)
    check_documents(docs, reference_text(), "langref", QUESTION)
    assert [d.id for d in docs] == [d.id for d in kv_retriever().invoke(QUESTION)]


def _small():
    engine = kv_retriever().engine
    return {"clue_tokens": engine.clue_tokens, "answer_tokens": engine.answer_tokens}


@pytest.mark.slow
def test_from_texts_with_a_store_instance_and_a_chat_model_memory():
    store = FAISS.from_texts(["an unrelated note about tea"], embeddings(), metadatas=[{"source": "notes"}])
    retriever = MemoRAGRetriever.from_texts([reference_text(("pass",))], embeddings(), ids=["pass"],
                                            metadatas=[{"source": "langref"}], vectorstore=store,
                                            llm=chat_model(), k=2, clue_tokens=16)
    assert retriever.vectorstore is store
    docs = retriever.invoke("What is the pass statement for?")
    assert docs[0].metadata["doc_id"] == "pass" and docs[0].metadata["source"] == "langref"
    assert "pass" in docs[0].page_content


# -- errors (fakes: pure logic) ------------------------------------------------------------------------
def test_bad_input_raises_typed_errors():
    retriever = fake_retriever()
    with pytest.raises(EmptyQueryError):
        retriever.invoke("   ")
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        retriever.invoke("loops?", k=0)
    with pytest.raises(InvalidInputError, match="unknown task"):
        retriever.invoke("loops?", task="translate")
    with pytest.raises(InvalidInputError, match="either llm"):
        MemoRAGRetriever.from_texts(["x y z"], DeterministicFakeEmbedding(size=8),
                                    llm=FakeListChatModel(responses=["a"]), memory=retriever.engine.memory)
    with pytest.raises(InvalidInputError, match="VectorStore"):
        MemoRAGRetriever.from_engine(retriever.engine, vectorstore=dict)
    fresh = PromptMemory(ChatModelGenerator(FakeListChatModel(responses=["a"])))
    with pytest.raises(NotMemorizedError):
        MemoRAGRetriever.from_engine(MemoRAG(fresh, retriever.engine.retriever))


def test_from_documents_keeps_ids_metadata_and_exact_spans():
    from langchain_core.documents import Document

    texts = {"a": "Alpha paragraph about loops. " * 30, "b": "Beta paragraph about the assert statement. " * 30}
    docs = [Document(page_content=t, metadata={"source": f"{i}.txt"}, id=i) for i, t in texts.items()]
    memory = FakeListChatModel(responses=["- paragraph about loops", "* what about assert?"])
    retriever = MemoRAGRetriever.from_documents(docs, DeterministicFakeEmbedding(size=16), llm=memory,
                                                vectorstore=InMemoryVectorStore(DeterministicFakeEmbedding(size=16)),
                                                k=4)
    stored = list(retriever.vectorstore.store.values())
    assert {s["metadata"]["doc_id"] for s in stored} == {"a", "b"}
    for s in stored:
        m = s["metadata"]
        assert texts[m["doc_id"]][m["start"]:m["end"]] == s["text"] and m["source"] == f"{m['doc_id']}.txt"
    found = retriever.invoke("loops?")
    assert len(found) == len(stored) == 3 and len({d.id for d in found}) == 3  # 120 + 210 words: 1 + 2 chunks
    for d in found:
        assert set(d.metadata["matched_queries"]) <= {"loops?", "paragraph about loops", "what about assert?",
                                                      "loops? (second round)"}
    assert [d.metadata["score"] for d in found] == sorted((d.metadata["score"] for d in found), reverse=True)
