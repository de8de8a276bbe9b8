"""LlamaIndex's conventions: from_defaults, from_persist_dir, the embeddings package, described tool
arguments, typed packages, and a missing llama-index-core reported with the extra to install."""

import subprocess
import sys
from pathlib import Path

import pytest
from li_support import LAUNCH_TEXT, HashEmbedder, ScriptedGenerator
from llama_index.core import VectorStoreIndex
from llama_index.query_engine.memorag import MemoRAGQueryEngine
from llama_index.retrievers.memorag import MemoRAGRetriever
from llama_index.tools.memorag import ask_document_tool, summarize_document_tool

from memorag_integrations import InvalidInputError, PromptMemory

OPTIONS = {"chunk_tokens": 20, "chunk_overlap": 2, "similarity_top_k": 3}


def embed():
    from llama_index.embeddings.memorag import MemoRAGEmbedding

    return MemoRAGEmbedding(HashEmbedder())


def test_embeddings_are_importable_where_llama_index_looks_for_them():
    from llama_index.embeddings.memorag import LlamaIndexEmbedder, MemoRAGEmbedding
    from llama_index.retrievers.memorag import MemoRAGEmbedding as Same

    assert MemoRAGEmbedding is Same and LlamaIndexEmbedder
    assert len(embed().get_text_embedding("the launch")) == 128


def test_from_defaults_builds_from_documents_or_wraps_an_engine_and_index(tmp_path):
    memory = PromptMemory(ScriptedGenerator())
    retriever = MemoRAGRetriever.from_defaults([LAUNCH_TEXT], memory=memory, embed_model=embed(), **OPTIONS)
    assert retriever.retrieve("When was the launch?")
    again = MemoRAGRetriever.from_defaults(engine=retriever.engine, index=retriever.index, similarity_top_k=2)
    assert len(again.retrieve("When was the launch?")) == 2
    with pytest.raises(InvalidInputError, match="both engine"):
        MemoRAGRetriever.from_defaults(engine=retriever.engine)
    with pytest.raises(InvalidInputError, match="not both"):
        MemoRAGRetriever.from_defaults([LAUNCH_TEXT], engine=retriever.engine)

    engine = MemoRAGQueryEngine.from_defaults(retriever)
    assert str(engine.query("When was the launch?"))
    built = MemoRAGQueryEngine.from_defaults(documents=[LAUNCH_TEXT], memory=PromptMemory(ScriptedGenerator()),
                                             embed_model=embed(), **OPTIONS)
    assert isinstance(built.retriever.index, VectorStoreIndex)
    with pytest.raises(InvalidInputError, match="pass it alone"):
        MemoRAGQueryEngine.from_defaults(retriever, documents=[LAUNCH_TEXT])

    folder = built.persist(tmp_path / "saved")
    loaded = MemoRAGQueryEngine.from_persist_dir(folder, memory=PromptMemory(ScriptedGenerator()), embed_model=embed())
    assert [n.node.get_content() for n in loaded.retrieve(_bundle("When was the launch?"))] == \
        [n.node.get_content() for n in built.retrieve(_bundle("When was the launch?"))]


def _bundle(text):
    from llama_index.core.schema import QueryBundle

    return QueryBundle(text)


def test_tools_describe_their_query_argument():
    engine = MemoRAGQueryEngine.from_defaults(documents=[LAUNCH_TEXT], memory=PromptMemory(ScriptedGenerator()),
                                              embed_model=embed(), **OPTIONS)
    ask, summary = ask_document_tool(engine), summarize_document_tool(engine)
    schema = ask.metadata.get_parameters_dict()
    assert schema["required"] == ["query"] and "question" in schema["properties"]["query"]["description"]
    assert "query" not in summary.metadata.get_parameters_dict().get("required", [])
    output = ask.call(query="When did it start?")
    assert output.raw_input == {"query": "When did it start?"} and output.raw_output.source_nodes
    assert ask.call("When did it start?").content == output.content  # positional, as agents may call it


def test_the_packages_ship_type_information():
    import llama_index.embeddings.memorag
    import llama_index.llms.memorag
    import llama_index.query_engine.memorag
    import llama_index.retrievers.memorag
    import llama_index.tools.memorag

    for module in (llama_index.retrievers.memorag, llama_index.query_engine.memorag, llama_index.tools.memorag,
                   llama_index.llms.memorag, llama_index.embeddings.memorag):
        assert (Path(module.__file__).parent / "py.typed").is_file(), module.__name__


@pytest.mark.parametrize("package", ["retrievers", "query_engine", "tools", "llms", "embeddings"])
def test_a_missing_llama_index_core_names_the_extra(package):
    code = ("import sys; sys.modules['llama_index.core'] = None\n"
            f"try:\n    import llama_index.{package}.memorag\n"
            "except ImportError as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("MissingDependencyError") and "pip install 'memorag-integrations[llamaindex]'" in out
