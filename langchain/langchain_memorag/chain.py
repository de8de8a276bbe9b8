"""``create_memorag_chain``: question -> MemoRAG retrieval -> grounded answer, as one LCEL Runnable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableGenerator, RunnableLambda, RunnablePassthrough

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.extractive import check_answer_mode, pieces, render, resolve_answer_mode
from memorag_integrations.prompts import format_evidence, get_prompts
from memorag_integrations.schema import Clues, Evidence, Quote
from memorag_integrations.tasks import get_task

from langchain_memorag.bridges import GeneratorChatModel
from langchain_memorag.retriever import MemoRAGRetriever


def create_memorag_chain(retriever: MemoRAGRetriever, llm: BaseChatModel, *, task: str = "memorag",
                         prompt: BasePromptTemplate | None = None, answer_mode: str | None = None) -> Runnable:
    """An LCEL chain from a question (a string, or ``{"question": ...}``, with an optional
    ``"filter"`` as :class:`MemoRAGRetriever` takes it) to
    ``{"answer": str, "context": list[Document], "clues": dict, "quotes": list[dict]}``.

    ``.stream`` / ``.astream`` yield ``{"context", "clues"}`` once retrieval is done, then the
    answer as ``{"answer": piece}`` chunks as the model writes them. ``task="summarize"`` summarises
    the corpus (the question, optional, is added as an instruction). ``prompt`` replaces the core's
    answer prompt; it receives ``context`` (numbered passages) and ``question``.

    ``answer_mode`` (default: the engine's) is the core's: ``"extractive"`` answers with the
    context's best sentences (a summary: the most central ones), each a dict in ``quotes`` with its
    ``doc_id`` and exact ``char_span``, and ``[n]`` after it naming ``context[n - 1]`` (an extractive
    summary adds the central passages it quotes to ``context``); ``"generate"`` has ``llm`` write
    the answer (``quotes`` is empty); ``"auto"`` extracts when ``llm`` is the embedded default model
    (a :class:`GeneratorChatModel` over it) and generates with any other chat model.
    """
    memorag_task = get_task(task, retrieving=True)
    if not isinstance(retriever, MemoRAGRetriever):
        raise InvalidInputError(f"expected a MemoRAGRetriever, got {type(retriever).__name__}")
    language = retriever.engine.memory.language
    engine = retriever.engine
    writer = llm.generator if isinstance(llm, GeneratorChatModel) else None
    mode = resolve_answer_mode(check_answer_mode(answer_mode) if answer_mode is not None else engine.answer_mode,
                               retrieves=memorag_task.retrieves, generator=writer)

    def as_question(value: Any) -> dict[str, Any]:
        filter = None
        if isinstance(value, dict):
            filter = value.get("filter")
            value = value.get("question", value.get("input"))
        if not isinstance(value, str) or (memorag_task.needs_query and not value.strip()):
            raise InvalidInputError("give the chain a non-empty question (a string or {'question': ...})")
        return {"question": value.strip(), "filter": filter}

    def retrieve(inputs: dict[str, Any], config: RunnableConfig) -> list[Document]:
        return retriever.invoke(inputs["question"], config, task=task, filter=inputs["filter"])

    async def aretrieve(inputs: dict[str, Any], config: RunnableConfig) -> list[Document]:
        return await retriever.ainvoke(inputs["question"], config, task=task, filter=inputs["filter"])

    def core_prompt(inputs: dict[str, Any]) -> list[HumanMessage]:
        question = inputs["question"]
        passages = [d.page_content for d in inputs["context"]]
        text = memorag_task.prompt(memorag_task.prompts(question, language), question, passages)
        return [HumanMessage(content=text)]

    if prompt is None:
        answer: Runnable = RunnableLambda(core_prompt, name="memorag_prompt") | llm | StrOutputParser()
    else:
        def variables(inputs: dict[str, Any]) -> dict[str, str]:
            passages = [d.page_content for d in inputs["context"]]
            return {"question": inputs["question"], "context": format_evidence(passages, get_prompts(language))}

        answer = RunnableLambda(variables, name="memorag_prompt_variables") | prompt | llm | StrOutputParser()

    def unanswered(inputs: dict[str, Any]) -> str | None:
        return memorag_task.unanswered(memorag_task.prompts(inputs["question"], language), inputs["context"])

    def extract(inputs: dict[str, Any]) -> dict[str, Any]:
        """In extractive mode, the context's quotes (and an extractive summary's central passages)."""
        if mode != "extractive":
            return {**inputs, "quotes": []}
        context: list[Document] = inputs["context"]
        scope = retriever._scope(inputs["filter"])
        documents = engine.select(scope.doc_ids) if scope.doc_ids is not None else None
        evidence = [_evidence(d) for d in context]
        extracted = engine.extract(query=inputs["question"], task=memorag_task, evidence=evidence, documents=documents)
        if extracted is None:  # nothing to quote
            return {**inputs, "quotes": []}
        context = context + [_document(e) for e in extracted.evidence[len(context):]]
        return {**inputs, "context": context, "quotes": [q.to_dict() for q in extracted.quotes]}

    def answer_or_nothing(inputs: dict[str, Any]) -> Runnable:
        """The model answers only when something was retrieved; it would invent an answer from nothing.
        In extractive mode the answer is the quotes, streamed a quote and a citation at a time."""
        nothing = unanswered(inputs)
        if nothing is not None and not inputs["quotes"]:
            return RunnableLambda(lambda _: nothing, name="memorag_nothing_found")
        if mode == "extractive":
            text = render([_quote(q) for q in inputs["quotes"]])

            def quoted(_: Iterator[Any]) -> Iterator[str]:
                yield from pieces(text)

            async def aquoted(_: AsyncIterator[Any]) -> AsyncIterator[str]:
                for piece in pieces(text):
                    yield piece

            return RunnableGenerator(quoted, aquoted, name="memorag_quotes")
        return answer

    chain = (
        RunnableLambda(as_question, name="memorag_question")
        | RunnablePassthrough.assign(context=RunnableLambda(retrieve, afunc=aretrieve, name="memorag_retrieve"))
        | RunnablePassthrough.assign(clues=RunnableLambda(_clues_of, name="memorag_clues"))
        | RunnableLambda(extract, name="memorag_extract")
        | RunnablePassthrough.assign(answer=RunnableLambda(answer_or_nothing, name="memorag_answer"))
    ).pick(["answer", "context", "clues", "quotes"])
    return chain.with_config(run_name="memorag_chain")


def _evidence(doc: Document) -> Evidence:
    """A retrieved Document as the core's evidence; one without an exact place in a memorized
    document (a store's own) is kept, empty, so that the numbering of the context holds."""
    meta = doc.metadata
    start, end = meta.get("start"), meta.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or "doc_id" not in meta:
        return Evidence("", 0.0, str(meta.get("doc_id", "")), (0, 0))
    return Evidence(doc.page_content, float(meta.get("score", 0.0)), str(meta["doc_id"]), (start, end),
                    list(meta.get("matched_queries", [])))


def _document(evidence: Evidence) -> Document:
    """A passage the core added (a summary's central one) as a Document, placed like the others."""
    return Document(page_content=evidence.text, metadata={
        "doc_id": evidence.doc_id, "start": evidence.char_span[0], "end": evidence.char_span[1],
        "score": evidence.score, "matched_queries": list(evidence.matched_queries)})


def _quote(data: dict[str, Any]) -> Quote:
    start, end = data["char_span"]
    return Quote(data["text"], data["doc_id"], (int(start), int(end)), data["score"], data.get("evidence"))


def _clues_of(inputs: dict[str, Any]) -> dict[str, Any]:
    """The clues behind the retrieved documents (every document carries them in its metadata)."""
    docs: list[Document] = inputs["context"]
    return dict(docs[0].metadata["clues"]) if docs else Clues().to_dict()
