"""The catalog: names of sources read in a question, and the scoped searches they plan."""

import pytest
from fakes import HashEmbedder

from memorag_integrations import Document, InvalidInputError
from memorag_integrations.pipeline import Fusion, Steps, rank
from memorag_integrations.retrieval.catalog import Catalog, names_of, plan_scopes
from memorag_integrations.retrieval.retriever import DenseRetriever

DOCS = [
    Document("Chips sold out in an hour.", "a1", {"source": "TechCrunch", "published_at": "2023-09-28T10:00:00"}),
    Document("The app store opened.", "a2", {"source": "TechCrunch", "published_at": "2023-12-19"}),
    Document("Headphones were discounted.", "b1", {"source": "The Verge", "published_at": "2023-11-27"}),
    Document("Sellers call it life-changing.", "c1", {"source": "Cnbc | World Business News Leader"}),
    Document("No metadata here.", "d1"),
]


def test_names_include_the_title_before_a_subtitle():
    assert set(names_of("Cnbc | World Business News Leader")) == {"Cnbc | World Business News Leader", "Cnbc"}
    assert names_of("Fox") == []  # too short to look for: it occurs as a word by chance


def test_mentions_are_found_case_blind_on_word_bounds_and_the_longest_name_wins():
    catalog = Catalog(DOCS)
    q = "Did the verge and Cnbc | World Business News Leader agree, unlike TechCrunchy?"
    assert [source for _, _, source in catalog.mentions(q)] == ["The Verge", "Cnbc | World Business News Leader"]


def test_each_named_source_is_one_scope_over_its_documents_with_its_clause():
    catalog = Catalog(DOCS)
    q = ("Does the article from The Verge say headphones were discounted for the sale, while the Cnbc article "
         "says sellers call it a life-changing opportunity?")
    scopes = catalog.scopes(q)
    assert [(s.label, set(s.doc_ids)) for s in scopes] == [("The Verge", {"b1"}), ("Cnbc | World Business News Leader",
                                                                                  {"c1"})]
    assert scopes[0].query.startswith("The Verge say headphones") and "Cnbc" not in scopes[0].query
    assert scopes[1].query.startswith("Cnbc article says sellers")


def test_a_dated_clause_narrows_the_source_to_that_day_and_a_short_clause_searches_the_question():
    catalog = Catalog(DOCS)
    q = ("After TechCrunch reported on September 28, 2023, that chips sold out, did TechCrunch on "
         "December 19, 2023 report the store?")
    scopes = catalog.scopes(q)
    assert [(s.label, set(s.doc_ids)) for s in scopes] == [("TechCrunch, 2023-09-28", {"a1"}),
                                                          ("TechCrunch, 2023-12-19", {"a2"})]
    assert scopes[1].query.startswith("TechCrunch on December 19")
    undated = catalog.scopes("What did TechCrunch say?")
    assert [(s.label, s.query, set(s.doc_ids)) for s in undated] == [("TechCrunch", "What did TechCrunch say?",
                                                                     {"a1", "a2"})]


def test_no_scopes_without_a_named_source_or_with_a_single_source():
    assert Catalog(DOCS).scopes("What happened to the chips?") == []
    assert not Catalog([DOCS[0], DOCS[1]])  # one outlet: scoping narrows nothing
    assert plan_scopes(Catalog([DOCS[0], DOCS[1]]), "What did TechCrunch say?") == ()
    assert plan_scopes(None, "anything") == ()


def test_scoped_searches_bring_each_named_source_into_the_ranking():
    retriever = DenseRetriever(HashEmbedder(), chunk_tokens=40, chunk_overlap=0)
    filler = [Document(f"Headphones discounted sale number {i} today.", f"v{i}", {"source": "The Verge"})
              for i in range(12)]
    docs = [*filler, Document("Sellers call the program life-changing.", "c1", {"source": "Cnbc"})]
    retriever.add(docs)
    q = "Did The Verge report headphones discounted in the sale, and Cnbc sellers life-changing?"
    kwargs = {"k": 3, "fusion": Fusion(), "count_tokens": lambda t: len(t.split())}
    plain = rank(retriever, q, None, steps=Steps(), **kwargs)
    scoped = rank(retriever, q, None, steps=Steps(scope=True), scopes=Catalog(docs).scopes(q), **kwargs)
    assert "c1" in {h.item.doc_id for h in scoped}
    assert any("(in Cnbc)" in m for h in scoped for m in h.matched_queries)
    assert [h.item.doc_id for h in rank(retriever, q, None, steps=Steps(), scopes=Catalog(docs).scopes(q), **kwargs)] \
        == [h.item.doc_id for h in plain]  # the step off: scopes are ignored


@pytest.mark.parametrize("bad", [{"scope": 1}, {"scope_weight": 0}, {"scope_weight": True}])
def test_bad_scope_settings_fail_with_a_typed_error(bad):
    with pytest.raises(InvalidInputError):
        Steps(**bad)


def test_the_engine_scopes_when_asked_and_rebuilds_its_catalog_when_the_corpus_changes():
    from fakes import ScriptedGenerator

    from memorag_integrations import Clues, MemoRAG, PromptMemory

    engine = MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(HashEmbedder(), chunk_tokens=40),
                     rerank=0, k=2, scope=True, progress=False).memorize(DOCS)
    q = "What did The Verge say about headphones discounted, and what did Cnbc sellers call it?"
    evidence = engine.retrieve(q, clues=Clues())
    assert {e.doc_id for e in evidence} == {"b1", "c1"}  # each named source's best hit goes first
    assert set(engine.catalog.sources) == {"TechCrunch", "The Verge", "Cnbc | World Business News Leader"}
    engine.add(Document("Wires report.", "e1", {"source": "Reuters Wire"}))
    assert "Reuters Wire" in engine.catalog.sources
    with pytest.raises(InvalidInputError, match="scope must be True or False"):
        MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(HashEmbedder()), scope="yes", progress=False)
