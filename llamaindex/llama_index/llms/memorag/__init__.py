"""MemoRAG for LlamaIndex: bridges between core text generators and LlamaIndex LLMs."""

from llama_index.llms.memorag.generator_llm import GeneratorLLM
from llama_index.llms.memorag.llm_generator import LLMGenerator

__all__ = ["GeneratorLLM", "LLMGenerator"]
