"""Ask: answer a question from the indexed documents, with citations that point at the source text.

Embed the question, query S3 Vectors (optionally within one document), keep the passages close enough to
matter, and let Bedrock Converse answer from those passages only (behind the guardrail when one is set).
Each citation quotes the sentence of its passage that best supports the answer. When nothing relevant is
found, the answer says so and no model is called (and says that nothing is indexed, when the index or the
document holds no vector at all). An answer sentence with a number or a name that no
passage contains is dropped (small models invent figures); if none is left, the answer is the passage
sentence that best answers the question.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from docpipe import vectors
from docpipe.chunking import is_table_line
from docpipe.clients import client
from docpipe.embeddings import embed_texts
from docpipe.faithfulness import keep_faithful
from docpipe.prompts import prompt
from docpipe.settings import get_settings

NOT_FOUND = "I could not find anything about that in the indexed documents."
NOTHING_INDEXED = "No documents are indexed yet: there is nothing to answer from."
DOCUMENT_NOT_INDEXED = "Document {doc_id} is not indexed: there is nothing to answer from."
_WORD = re.compile(r"[\w$%.,/-]+", re.UNICODE)
_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")  # after a sentence end, or at a line break
_ENUMERATOR = re.compile(r"(?:\d{1,3}(?:\.\d{1,3})*|[A-Za-z]|[IVXLC]{1,6})\.")  # "4." of "4. Findings"
_STOP = frozenset("a an and are as at be by for from has have how in is it its of on or that the this to was "
                  "were what when where which who why will with does did do".split())


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
    unsupported_sentences_dropped: int = 0  # the model's sentences that named what no passage contains
    extractive: bool = False  # nothing the model said was supported: the answer quotes the best passage


def _terms(text: str) -> set[str]:
    return {w.strip(".,").lower() for w in _WORD.findall(text) if w.strip(".,").lower() not in _STOP and len(w) > 1}


def sentence_spans(passage: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a passage. A sentence end or a line break ends one, except a wrapped
    line: a single line break after no sentence end (. ! ? :), before no upper-case letter, between two lines
    that are not table rows (extracted pages break lines mid-sentence; a quote cut there stops mid-statement,
    as "Their estimated cost totals" before "$9,098,000"). A list number ("4." of "4. Findings") ends nothing."""
    spans, start = [], 0
    for gap in _BREAK.finditer(passage):
        wrapped = (gap.group().count("\n") == 1 and not passage[gap.end():gap.end() + 1].isupper()
                   and passage[gap.start() - 1:gap.start()] not in (".", "!", "?", ":")
                   and not is_table_line(passage[passage.rfind("\n", 0, gap.start()) + 1:gap.start()])
                   and not is_table_line(passage[gap.end():_line_end(passage, gap.end())]))
        if not wrapped and not _ENUMERATOR.fullmatch(passage, start, gap.start()):
            if gap.start() > start:
                spans.append((start, gap.start()))
            start = gap.end()
    if start < len(passage):
        spans.append((start, len(passage)))
    return spans


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end < 0 else end


def best_quote(passage: str, question: str, answer: str) -> tuple[str, int]:
    """The passage sentence sharing most terms with the answer (then the question), and its offset; the
    quote is the passage's own text (a wrapped sentence keeps its line break)."""
    wanted_answer, wanted_question = _terms(answer), _terms(question)
    best, best_score = (0, len(passage)), (-1, -1)
    for start, end in sentence_spans(passage):
        terms = _terms(passage[start:end])
        score = (len(terms & wanted_answer), len(terms & wanted_question))
        if score > best_score:
            best, best_score = (start, end), score
    return passage[best[0]:best[1]], best[0]


def grounded_answer(answer: str, passages: list[str], question: str) -> tuple[str, int, bool]:
    """(answer, sentences dropped, extractive): the answer without its unsupported sentences, else the
    passage sentence sharing most terms with the question (the closer passage on a tie)."""
    wanted = _terms(question)

    def best_sentence() -> str:
        quotes = [" ".join(best_quote(passage, question, "")[0].split()) for passage in passages]
        return max(quotes, key=lambda quote: len(_terms(quote) & wanted))  # max keeps the first on a tie

    return keep_faithful(answer, "\n\n".join(passages), fallback=best_sentence)


def answer_question(request: AskRequest) -> AskAnswer:
    settings = get_settings()
    question_vector = embed_texts([request.question], use_cache=False).vectors[0]
    hits = vectors.query(question_vector, request.top_k, request.doc_id)
    if not hits:  # the index (or the document) holds no vector at all: not the same as nothing relevant
        empty = DOCUMENT_NOT_INDEXED.format(doc_id=request.doc_id) if request.doc_id else NOTHING_INDEXED
        return AskAnswer(question=request.question, answer=empty, found=False)
    relevant = [hit for hit in hits if hit.get("distance", 1.0) <= settings.ask_max_distance]
    if not relevant:
        return AskAnswer(question=request.question, answer=NOT_FOUND, found=False)
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
        citations.append(Citation(doc_id=meta["doc_id"], page=int(meta["page_start"]), source_key=meta["source_key"],
                                  quote=quote, char_start=int(meta["char_start"]) + offset,
                                  char_end=int(meta["char_start"]) + offset + len(quote),
                                  distance=round(hit["distance"], 4)))
    return AskAnswer(question=request.question, answer=answer, found=True, citations=citations,
                     model_id=settings.generation_model_id, guardrail_action=guardrail,
                     unsupported_sentences_dropped=dropped, extractive=extractive,
                     usage={key: response["usage"][key] for key in ("inputTokens", "outputTokens")})
