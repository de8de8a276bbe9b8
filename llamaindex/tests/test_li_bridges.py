"""The two LLM bridges and the embedding bridges, with fakes for the logic and the real embedded models."""

import asyncio

import numpy as np
import pytest
from li_support import HashEmbedder, ScriptedGenerator
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import ChatMessage, MockLLM
from llama_index.llms.memorag import GeneratorLLM, LLMGenerator
from llama_index.retrievers.memorag import LlamaIndexEmbedder, MemoRAGEmbedding

from memorag_integrations import Document, PromptMemory
from memorag_integrations.llm.base import TextGenerator


class Recorder(ScriptedGenerator):
    """ScriptedGenerator that also records the options of each call."""

    def __init__(self):
        super().__init__()
        self.options = []
        self.prompts = []

    def generate(self, prompt, max_new_tokens=256, *, temperature=0.0, stop=None):
        self.options.append((max_new_tokens, temperature, stop))
        self.prompts.append(prompt)
        return super().generate(prompt, max_new_tokens, temperature=temperature, stop=stop)

    def stream(self, prompt, max_new_tokens=256, *, temperature=0.0, stop=None):
        text = self.generate(prompt, max_new_tokens, temperature=temperature, stop=stop)
        yield from (text[i:i + 3] for i in range(0, len(text), 3))


def test_generator_llm_completes_chats_and_streams_through_the_generator():
    gen = Recorder()
    llm = GeneratorLLM(gen, max_new_tokens=7)
    assert llm.metadata.context_window == 4096 and llm.metadata.num_output == 7
    assert llm.metadata.model_name == "scripted-test-model" and llm.metadata.is_chat_model
    assert llm.complete("Answer briefly: when?").text == "draft: 1969"
    assert gen.options[-1] == (7, 0.0, None)
    assert llm.complete("Answer briefly", max_tokens=3).text == "draft: 1969" and gen.options[-1][0] == 3

    chat = llm.chat([ChatMessage(role="system", content="be short"), ChatMessage(role="user", content="hi")])
    assert chat.message.content == "ANSWER(2)"  # both messages reached the generator as messages
    assert gen.prompts[-1] == [{"role": "system", "content": "be short"}, {"role": "user", "content": "hi"}]

    deltas = [r.delta for r in llm.stream_complete("Answer briefly")]
    assert len(deltas) > 1 and "".join(deltas) == "draft: 1969"
    final = list(llm.stream_chat([ChatMessage(role="user", content="Answer briefly")]))[-1]
    assert final.message.content == "draft: 1969"


async def test_generator_llm_async_matches_sync():
    llm = GeneratorLLM(Recorder())
    assert (await llm.acomplete("Answer briefly")).text == "draft: 1969"
    assert (await llm.achat([ChatMessage(role="user", content="x")])).message.content == "ANSWER(1)"
    pieces = [r.delta async for r in await llm.astream_complete("Answer briefly")]
    assert "".join(pieces) == "draft: 1969"
    chats = [r async for r in await llm.astream_chat([ChatMessage(role="user", content="Answer briefly")])]
    assert chats[-1].message.content == "draft: 1969"


def test_llm_generator_is_a_text_generator_over_any_llamaindex_llm():
    gen = LLMGenerator(MockLLM())
    assert isinstance(gen, TextGenerator) and gen.identity.startswith("llamaindex:")
    assert gen.max_tokens_kwarg is None
    out = gen.generate("tell me")  # MockLLM echoes the prompt as it received it
    assert "tell me" in out
    assert gen.generate("alpha beta STOP gamma", stop=["STOP"]).rstrip().endswith("beta")


def test_llm_generator_passes_the_token_cap_and_cuts_streams_at_stop():
    inner = Recorder()
    gen = LLMGenerator(GeneratorLLM(inner))
    assert gen.max_tokens_kwarg == "max_tokens" and gen.context_window == 4096
    assert gen.generate("Answer briefly", 11) == "draft: 1969" and inner.options[-1][0] == 11
    assert "".join(gen.stream("Answer briefly", stop=[":"])) == "draft"
    assert asyncio.run(gen.agenerate([{"role": "user", "content": "Answer briefly"}])) == "draft: 1969"


async def test_llm_generator_async_stream_stops_too():
    gen = LLMGenerator(GeneratorLLM(Recorder()))
    assert "".join([p async for p in gen.astream("Answer briefly", stop=["19"])]) == "draft: "


def test_a_llamaindex_llm_can_be_the_memory():
    inner = Recorder()
    memory = PromptMemory(LLMGenerator(GeneratorLLM(inner)))
    memory.memorize([Document("The launch happened in 1969.", "d")], progress=False)
    assert memory.generate("Answer briefly: when?", 9) == "draft: 1969"
    sent = inner.prompts[-1]
    assert sent[0]["role"] == "user" and "The launch happened in 1969." in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "Answer briefly: when?"} and inner.options[-1][0] == 9


async def test_memorag_embedding_wraps_a_core_embedder():
    emb = MemoRAGEmbedding(HashEmbedder())
    assert emb.model_name == "hash-embedder"
    vec = emb.get_query_embedding("the launch in 1969")
    assert len(vec) == 128 and abs(np.linalg.norm(vec) - 1) < 1e-5
    assert await emb.aget_query_embedding("the launch in 1969") == vec
    batch = emb.get_text_embedding_batch(["a b", "the launch in 1969"])
    assert batch[1] == vec and await emb.aget_text_embedding("a b") == batch[0]


def test_llamaindex_embedder_is_a_core_embedder_with_unit_vectors():
    core = LlamaIndexEmbedder(MockEmbedding(embed_dim=8))
    assert core.identity == "llamaindex:MockEmbedding:unknown"
    vectors = core.encode(["one", "two"])
    assert vectors.shape == (2, 8) and np.allclose(np.linalg.norm(vectors, axis=1), 1)


@pytest.mark.slow
def test_embedded_default_as_a_llamaindex_llm():
    llm = GeneratorLLM(max_new_tokens=12)
    assert llm.metadata.model_name == "smollm2-135m-instruct" and llm.metadata.context_window >= 2048
    text = llm.complete("Name one primary colour.").text
    assert text.strip()
    assert "".join(r.delta for r in llm.stream_complete("Name one primary colour.")).strip() == text
    reply = asyncio.run(llm.achat([ChatMessage(role="user", content="Name one primary colour.")]))
    assert reply.message.content == text  # same template: a single user turn either way


@pytest.mark.slow
def test_embedded_minilm_as_a_llamaindex_embedding():
    emb = MemoRAGEmbedding()
    assert emb.model_name == "all-minilm-l6-v2"
    q, near, far = emb.get_text_embedding_batch(["How do loops end early?", "break leaves the loop",
                                                 "bananas are yellow"])
    assert len(q) == 384 and np.dot(q, near) > np.dot(q, far)
