"""Every module stands above what it uses: the layer order of the core and of both adapters.

The imports are read from the source (``ast``), not from ``sys.modules``: top-level imports,
imports inside functions (lazy ones), those under ``if TYPE_CHECKING:``, and a string that names a
module of ours exactly (``importlib.import_module("memorag_integrations.llm.openai")``). A module
may import a module of its own layer or of a layer below; an adapter may also import any core
module, and never the other adapter; the core never imports an adapter. On top of that there is no
import cycle at all, inside a layer either.

The order is written once, here. A new module goes into the layer of what it is (the test fails
until it has one); docs/development.md says the same in words.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest
from testdata import ROOT

#: Where each stack's modules live: (top-level name, folder).
SOURCES = {
    "core": [("memorag_integrations", ROOT / "memorag_integrations")],
    "langchain": [("langchain_memorag", ROOT / "langchain" / "langchain_memorag")],
    "llamaindex": [("llama_index", ROOT / "llamaindex" / "llama_index")],
}

#: Each stack's layers, lowest first: (name, module patterns). Patterns are ``fnmatch`` patterns of
#: dotted module names; a package's own ``__init__`` is its dotted name.
CORE = "memorag_integrations"
LAYERS: dict[str, list[tuple[str, list[str]]]] = {
    "core": [
        ("foundations: errors, defaults, data types, prompts, text offsets, file hashing",
         [f"{CORE}.{m}" for m in ("errors", "defaults", "version", "aio", "kvcodec", "progress", "schema",
                                  "prompts", "filler", "text", "files")]),
        ("atomic folder replacement", [f"{CORE}.atomic"]),
        ("where models come from", [f"{CORE}.models"]),
        ("documents, filters, tasks and extractive answers",
         [f"{CORE}.documents", f"{CORE}.filters", f"{CORE}.tasks", f"{CORE}.extractive"]),
        ("text generators", [f"{CORE}.llm", f"{CORE}.llm.*"]),
        ("retrieval: chunking, embedders, index, search, fusion, reranking",
         [f"{CORE}.retrieval", f"{CORE}.retrieval.*"]),
        ("memory kinds and their registry", [f"{CORE}.memory", f"{CORE}.memory.*"]),
        ("the query pipeline and its memory-led rounds", [f"{CORE}.pipeline", f"{CORE}.rounds"]),
        ("the on-disk format", [f"{CORE}.store"]),
        ("the engine", [f"{CORE}.engine"]),
        ("entry points: the package, the CLI, the server",
         [CORE, f"{CORE}.cli", f"{CORE}.server", f"{CORE}.server.*"]),
    ],
    "langchain": [
        ("bridges", ["langchain_memorag.bridges"]),
        ("retriever", ["langchain_memorag.retriever"]),
        ("chain", ["langchain_memorag.chain"]),
        ("tool", ["langchain_memorag.tool"]),
        ("package", ["langchain_memorag"]),
    ],
    "llamaindex": [
        ("bridges, nodes, events, filters",
         ["llama_index.llms.memorag", "llama_index.llms.memorag.*", "llama_index.embeddings.memorag",
          "llama_index.retrievers.memorag.embedding", "llama_index.retrievers.memorag.events",
          "llama_index.retrievers.memorag.filters", "llama_index.retrievers.memorag.nodes"]),
        ("retriever", ["llama_index.retrievers.memorag", "llama_index.retrievers.memorag.defaults",
                       "llama_index.retrievers.memorag.base"]),
        ("persistence", ["llama_index.query_engine.memorag.persist"]),
        ("query engine", ["llama_index.query_engine.memorag", "llama_index.query_engine.memorag.base"]),
        ("tools", ["llama_index.tools.memorag", "llama_index.tools.memorag.*"]),
    ],
}


def discover() -> dict[str, tuple[str, Path]]:
    """Every module: dotted name -> (stack, file)."""
    modules = {}
    for stack, places in SOURCES.items():
        for top, folder in places:
            for path in sorted(folder.rglob("*.py")):
                parts = [top, *path.relative_to(folder).with_suffix("").parts]
                if parts[-1] == "__init__":
                    parts.pop()
                modules[".".join(parts)] = (stack, path)
    return modules


MODULES = discover()


def _known(name: str | None) -> str | None:
    """``name`` or the nearest enclosing name that is one of our modules (None for others')."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> dict[str, int]:
    """Our modules that ``module`` imports, each with the line of its first import."""
    path = MODULES[module][1]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(name: str | None, line: int) -> None:
        target = _known(name)
        if target and target != module:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from pkg import module` imports the module
                add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source, node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in MODULES:
            add(node.value, node.lineno)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def layer_of(module: str) -> tuple[str, int]:
    stack = MODULES[module][0]
    places = [i for i, (_, patterns) in enumerate(LAYERS[stack])
              if any(fnmatch.fnmatchcase(module, p) for p in patterns)]
    assert len(places) == 1, (f"{module} is in {len(places)} layers of the {stack} stack: give it exactly one in "
                              "tests/unit/test_layers.py (and docs/development.md)")
    return stack, places[0]


def test_the_sources_are_found():
    assert {"memorag_integrations.engine", "memorag_integrations.store", "langchain_memorag.retriever",
            "llama_index.query_engine.memorag.base"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_has_one_layer(module):
    layer_of(module)


def test_no_module_imports_one_above_it():
    wrong = []
    for module, targets in GRAPH.items():
        stack, level = layer_of(module)
        for target, line in targets.items():
            target_stack, target_level = layer_of(target)
            if target_stack == stack:
                ok = target_level <= level
            else:
                ok = target_stack == "core"  # an adapter uses the core; the core and the adapters nothing else
            if not ok:
                wrong.append(f"{MODULES[module][1].relative_to(ROOT)}:{line}: {module} "
                             f"({LAYERS[stack][level][0]}) imports {target} "
                             f"({target_stack}: {LAYERS[target_stack][target_level][0]})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_there_is_no_import_cycle():
    assert cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_lazy_and_type_checking_imports_are_counted():
    # chunking names the Embedder for types only; store never imports a memory kind, even lazily.
    assert "memorag_integrations.retrieval.embedders" in GRAPH["memorag_integrations.retrieval.chunking"]
    assert "memorag_integrations.llm.openai" in GRAPH["memorag_integrations.llm"]  # a string for import_module
    assert not any(m.startswith("memorag_integrations.memory.") and m != "memorag_integrations.memory.base"
                   for m in GRAPH["memorag_integrations.store"])
