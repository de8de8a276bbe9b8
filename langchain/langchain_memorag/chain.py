"""``create_memorag_chain``: question -> MemoRAG retrieval -> grounded answer, as one LCEL Runnable."""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnablePassthrough

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.prompts import format_evidence, get_prompts
from memorag_integrations.schema import Clues
from memorag_integrations.tasks import get_task

from langchain_memorag.retriever import MemoRAGRetriever


def create_memorag_chain(retriever: MemoRAGRetriever, llm: BaseChatModel, *, task: str = "memorag",
                         prompt: BasePromptTemplate | None = None) -> Runnable:
    """An LCEL chain from a question (a string, or ``{"question": ...}``, with an optional
    ``"filter"`` as :class:`MemoRAGRetriever` takes it) to
    ``{"answer": str, "context": list[Document], "clues": dict}``.

    ``.stream`` / ``.astream`` yield ``{"context", "clues"}`` once retrieval is done, then the
    answer as ``{"answer": piece}`` chunks as the model writes them. ``task="summarize"`` summarises
    the corpus (the question, optional, is added as an instruction). ``prompt`` replaces the core's
    answer prompt; it receives ``context`` (numbered passages) and ``question``.
    """
    memorag_task = get_task(task, retrieving=True)
    if not isinstance(retriever, MemoRAGRetriever):
        raise InvalidInputError(f"expected a MemoRAGRetriever, got {type(retriever).__name__}")
    language = retriever.engine.memory.language

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

    def answer_or_nothing(inputs: dict[str, Any]) -> Runnable:
        """The model answers only when something was retrieved; it would invent an answer from nothing."""
        prompts = memorag_task.prompts(inputs["question"], language)
        unanswered = memorag_task.unanswered(prompts, inputs["context"])
        return answer if unanswered is None else RunnableLambda(lambda _: unanswered, name="memorag_nothing_found")

    chain = (
        RunnableLambda(as_question, name="memorag_question")
        | RunnablePassthrough.assign(context=RunnableLambda(retrieve, afunc=aretrieve, name="memorag_retrieve"))
        | RunnablePassthrough.assign(clues=RunnableLambda(_clues_of, name="memorag_clues"))
        | RunnablePassthrough.assign(answer=RunnableLambda(answer_or_nothing, name="memorag_answer"))
    ).pick(["answer", "context", "clues"])
    return chain.with_config(run_name="memorag_chain")


def _clues_of(inputs: dict[str, Any]) -> dict[str, Any]:
    """The clues behind the retrieved documents (every document carries them in its metadata)."""
    docs: list[Document] = inputs["context"]
    return dict(docs[0].metadata["clues"]) if docs else Clues().to_dict()
