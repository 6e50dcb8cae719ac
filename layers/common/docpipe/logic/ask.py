"""Ask: answer a question from the indexed documents, with citations that point at the source text.

Embed the question, query S3 Vectors (optionally within one document) for the ten nearest passages per
passage wanted, take the three nearest per passage wanted and the others of their documents, keep those close
enough to matter, re-rank them by the question's words
(:mod:`docpipe.logic.ask_ranking`), and let Bedrock Converse answer from the best ``top_k`` only (behind
the guardrail when one is set).
Each citation quotes the sentence of its passage that best supports the answer. When nothing relevant is
found (no passage close enough, or none about the question's subject: its names and key words, see
:mod:`docpipe.logic.ask_subject`), the answer says so and no model is called (and says that nothing is
indexed, when the index or the document holds no vector at all); passages about something else are not
handed to the model. The model's answer is kept to what the passages say
(:mod:`docpipe.logic.ask_grounding`): sentences with invented or misread figures are dropped, and when
nothing usable is left the answer quotes the passage sentence most about the question.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from docpipe import vectors
from docpipe.chunking import page_at
from docpipe.clients import client
from docpipe.embeddings import embed_texts
from docpipe.logic.ask_grounding import best_quote, grounded_answer
from docpipe.logic.ask_ranking import CANDIDATES_PER_PASSAGE, candidates, rerank
from docpipe.logic.ask_subject import about_the_subject
from docpipe.prompts import prompt
from docpipe.settings import get_settings

NOT_FOUND = "I could not find anything about that in the indexed documents."
NOTHING_INDEXED = "No documents are indexed yet: there is nothing to answer from."
DOCUMENT_NOT_INDEXED = "Document {doc_id} is not indexed: there is nothing to answer from."
MAX_CANDIDATES = 100  # QueryVectors' largest topK


class AskRequest(BaseModel):
    question: str = Field(min_length=3, max_length=2000)
    doc_id: str | None = None
    top_k: int = Field(default=5, ge=1, le=30)


class Citation(BaseModel):
    doc_id: str
    page: int
    source_key: str
    quote: str
    char_start: int
    char_end: int
    distance: float


class AskAnswer(BaseModel):
    question: str
    answer: str
    found: bool
    citations: list[Citation] = Field(default_factory=list)
    model_id: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    guardrail_action: str | None = None
    unsupported_sentences_dropped: int = 0  # the model's sentences left out (see ask_grounding)
    extractive: bool = False  # none of what the model said was kept: the answer quotes the best passage


def retrieve(question: str, top_k: int, doc_id: str | None) -> tuple[list[dict], list[dict]]:
    """The index's nearest passages to ``question`` (ten per passage wanted, nearest first), and the candidates
    among them (:func:`docpipe.logic.ask_ranking.candidates`) close enough to matter."""
    question_vector = embed_texts([question], use_cache=False).vectors[0]
    hits = vectors.query(question_vector, min(top_k * CANDIDATES_PER_PASSAGE, MAX_CANDIDATES), doc_id)
    close_enough = get_settings().ask_max_distance
    return hits, [hit for hit in candidates(hits, top_k) if hit.get("distance", 1.0) <= close_enough]


def answer_question(request: AskRequest) -> AskAnswer:
    settings = get_settings()
    hits, relevant = retrieve(request.question, request.top_k, request.doc_id)
    if not hits:  # the index (or the document) holds no vector at all: not the same as nothing relevant
        empty = DOCUMENT_NOT_INDEXED.format(doc_id=request.doc_id) if request.doc_id else NOTHING_INDEXED
        return AskAnswer(question=request.question, answer=empty, found=False)
    relevant = about_the_subject(relevant, request.question)  # passages of other things mislead the model
    if not relevant:  # none close enough, or none about it
        return AskAnswer(question=request.question, answer=NOT_FOUND, found=False)
    relevant = rerank(relevant, request.question, request.top_k)  # the best top_k of the candidates
    passages = "\n\n".join(f"[{n}] {hit['metadata']['text']}" for n, hit in enumerate(relevant, 1))
    params = {
        "modelId": settings.generation_model_id,
        "system": [{"text": prompt("ask_system")}],
        "messages": [{"role": "user", "content": [
            {"text": prompt("ask_user").format(passages=passages, question=request.question)}]}],
        "inferenceConfig": {"maxTokens": settings.ask_max_tokens, "temperature": 0.1},
    }
    if settings.guardrail_id:
        params["guardrailConfig"] = {"guardrailIdentifier": settings.guardrail_id,
                                     "guardrailVersion": settings.guardrail_version}
    response = client("bedrock-runtime").converse(**params)
    answer = "".join(part.get("text", "") for part in response["output"]["message"]["content"]).strip()
    guardrail = "GUARDRAIL_INTERVENED" if response.get("stopReason") == "guardrail_intervened" else None
    dropped, extractive = 0, False
    if guardrail is None:  # the guardrail's own message is returned as it is
        answer, dropped, extractive = grounded_answer(answer, [hit["metadata"]["text"] for hit in relevant],
                                                      request.question)
    citations = []
    for hit in relevant:
        meta = hit["metadata"]
        quote, offset = best_quote(meta["text"], request.question, answer)
        page = page_at(int(meta["page_start"]), vectors.page_breaks_of(meta), offset)  # the quote's page
        citations.append(Citation(doc_id=meta["doc_id"], page=page, source_key=meta["source_key"],
                                  quote=quote, char_start=int(meta["char_start"]) + offset,
                                  char_end=int(meta["char_start"]) + offset + len(quote),
                                  distance=round(hit["distance"], 4)))
    return AskAnswer(question=request.question, answer=answer, found=True, citations=citations,
                     model_id=settings.generation_model_id, guardrail_action=guardrail,
                     unsupported_sentences_dropped=dropped, extractive=extractive,
                     usage={key: response["usage"][key] for key in ("inputTokens", "outputTokens")})
