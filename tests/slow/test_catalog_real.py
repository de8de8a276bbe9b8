"""The catalog's scoped searches with the real embedder and the engine's own FAISS index: a question
that names two outlets gets evidence from both, where the question embedded whole finds one."""

import pytest
from fakes import ScriptedGenerator

from memorag_integrations import Clues, Document, MemoRAG
from memorag_integrations.memory.prompt import PromptMemory

pytestmark = pytest.mark.slow

# Many reports of one outlet on the question's topic crowd out the other outlet's single one.
GADGETS = [
    ("Noise-cancelling headphones dropped to their lowest price of the year during the holiday sale.", "2023-11-24"),
    ("The best headphone deals this weekend include over-ear models at half price.", "2023-11-25"),
    ("Wireless earbuds and headphones lead the list of discounted gadgets in the sale.", "2023-11-26"),
    ("Shoppers found headphone bargains across every major retailer on the sale weekend.", "2023-11-27"),
    ("Our reviewers picked the headphones worth buying now that prices fell in the sale.", "2023-11-28"),
]
MARKETS = ("Bond traders expect rates to stay low, and the central bank urged market participants to act "
           "responsibly to keep trading orderly.")


@pytest.fixture(scope="module")
def engine():
    docs = [Document(text, f"g{i}", {"source": "Gadget Weekly", "published_at": day})
            for i, (text, day) in enumerate(GADGETS)]
    docs.append(Document(MARKETS, "m0", {"source": "Market Ledger", "published_at": "2023-11-27"}))
    # No model call is made: clues are given (none), so a scripted memory stands in for the model.
    return MemoRAG(PromptMemory(ScriptedGenerator()), rerank=0, k=3, progress=False).memorize(docs)


QUESTION = ("Does the Gadget Weekly article say headphones were cheapest in the sale, while the Market Ledger "
            "article says participants must act responsibly to keep the market orderly?")


def test_each_named_outlet_reaches_the_evidence_only_with_scoping(engine):
    engine.scope = False
    plain = {e.doc_id for e in engine.retrieve(QUESTION, k=3, clues=Clues())}
    engine.scope = True
    try:
        scoped = engine.retrieve(QUESTION, k=3, clues=Clues())
    finally:
        engine.scope = False
    assert "m0" in {e.doc_id for e in scoped} and any(d.startswith("g") for d in {e.doc_id for e in scoped})
    assert any("(in Market Ledger)" in q for e in scoped for q in e.matched_queries)
    assert plain != {e.doc_id for e in scoped}
