"""MemoRAG for LlamaIndex: bridges between core text generators and LlamaIndex LLMs."""

from memorag_integrations.errors import require

require("llama_index.core", "llamaindex", "llama_index.llms.memorag")

from llama_index.llms.memorag.generator_llm import GeneratorLLM  # noqa: E402
from llama_index.llms.memorag.llm_generator import LLMGenerator  # noqa: E402

__all__ = ["GeneratorLLM", "LLMGenerator"]
