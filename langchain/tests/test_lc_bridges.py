"""The two model bridges (core TextGenerator <-> LangChain chat model) and the embeddings bridges."""

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from fakes import HashEmbedder, ScriptedGenerator
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests
from lc_support import chat_model, embeddings, lm

from langchain_memorag import ChatModelGenerator, EmbedderEmbeddings, GeneratorChatModel, LangChainEmbedder
from langchain_memorag.bridges import to_core_messages, to_langchain_messages
from memorag_integrations.errors import InvalidInputError

PROMPT = [{"role": "system", "content": "You answer in one short sentence."},
          {"role": "user", "content": "What does the Python break statement do?"}]


# -- LangChain's standard unit suites for the two bridges -------------------------------------------
class TestGeneratorChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self):
        return GeneratorChatModel

    @property
    def chat_model_params(self):
        return {"generator": ScriptedGenerator()}

    @property
    def has_tool_calling(self):  # bind_tools is overridden only to refuse with what to use instead
        return False

    @property
    def has_structured_output(self):
        return False


class TestEmbedderEmbeddingsStandard(EmbeddingsUnitTests):
    @property
    def embeddings_class(self):
        return EmbedderEmbeddings

    @property
    def embedding_model_params(self):
        return {"embedder": HashEmbedder()}


# -- pure logic -------------------------------------------------------------------------------------
def test_messages_convert_both_ways():
    messages = [SystemMessage("be brief"), HumanMessage("hi"), AIMessage("hello"),
                ToolMessage("42", tool_call_id="t1")]
    assert to_core_messages(messages) == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                                          {"role": "assistant", "content": "hello"}, {"role": "user", "content": "42"}]
    back = to_langchain_messages(to_core_messages(messages[:3]))
    assert [type(m) for m in back] == [SystemMessage, HumanMessage, AIMessage]
    assert [m.content for m in back] == ["be brief", "hi", "hello"]
    with pytest.raises(InvalidInputError, match="unknown message role"):
        to_langchain_messages([{"role": "robot", "content": "x"}])


def test_chat_model_generator_passes_the_token_limit_and_batches():
    seen = []

    class Recording(FakeListChatModel):
        def _call(self, messages, stop=None, run_manager=None, **kwargs):
            seen.append(kwargs.get("max_tokens"))
            return super()._call(messages, stop, run_manager, **kwargs)

    gen = ChatModelGenerator(Recording(responses=["one", "two", "three"]))
    assert gen.generate("q", 7) == "one"
    assert sorted(gen.generate_batch(["a", "b"], 5)) == ["three", "two"]  # batched concurrently
    assert seen[0] == 7 and set(seen[1:]) == {5}
    assert gen.identity.startswith("langchain:") and gen.context_window == 8192
    silent = ChatModelGenerator(Recording(responses=["x"]), max_tokens_arg=None, identity="mine")
    silent.generate("q", 3)
    assert seen[-1] is None and silent.identity == "mine"
    with pytest.raises(InvalidInputError, match="chat model"):
        ChatModelGenerator(object())


def test_langchain_embedder_normalises_and_counts_words():
    embedder = LangChainEmbedder(DeterministicFakeEmbedding(size=16))
    vectors = embedder.encode(["a text", "another text here"])
    assert vectors.shape == (2, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert embedder.token_offsets("two  words") == [(0, 3), (5, 10)]


# -- the real embedded models -------------------------------------------------------------------------
@pytest.mark.slow
async def test_generator_chat_model_sync_async_and_streams_agree():
    model = GeneratorChatModel(generator=lm(), max_tokens=12)
    messages = to_langchain_messages(PROMPT)
    text = model.invoke(messages).content
    assert text and text == lm().generate(PROMPT, 12)
    pieces = [chunk.content for chunk in model.stream(messages)]
    assert len(pieces) > 1 and "".join(pieces).strip() == text
    assert (await model.ainvoke(messages)).content == text
    apieces = [chunk.content async for chunk in model.astream(messages)]
    assert "".join(apieces).strip() == text
    assert model.invoke(messages, max_tokens=3).content != text  # the per-call limit is honoured
    assert model.get_num_tokens("hello world") == lm().count_tokens("hello world")


@pytest.mark.slow
def test_chat_model_generator_over_a_real_chat_model():
    gen = ChatModelGenerator(chat_model(max_tokens=64))
    assert gen.generate(PROMPT, 12) == lm().generate(PROMPT, 12)
    assert "".join(gen.stream(PROMPT, 12)).strip() == lm().generate(PROMPT, 12)
    assert gen.count_tokens("hello world") == lm().count_tokens("hello world")
    assert gen.identity == "langchain:memorag-generator:" + lm().identity


@pytest.mark.slow
def test_embedder_embeddings_are_the_core_vectors():
    emb = embeddings()
    query = emb.embed_query("leave a loop early")
    docs = emb.embed_documents(["leave a loop early", "the assert statement"])
    assert len(query) == 384 and np.allclose(query, docs[0], atol=1e-5)
    assert np.dot(query, docs[0]) > np.dot(query, docs[1])
    assert emb.embed_documents([]) == []
