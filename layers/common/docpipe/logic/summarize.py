"""Summarize: a guarded Converse summary of the (already guarded) text, map-reduce beyond one call's budget.

A document longer than `summary_input_tokens` is summarized section by section (map), then the partial
summaries are combined (reduce, repeated until one remains): never cut off, never "input too long". Beyond
`summary_max_sections` sections the map reads that many, spread evenly from the first to the last, so the
stage's time stays bounded whatever the document's length; the manifest records how many it read.
The result is kept faithful to the source (docpipe.faithfulness) and written to work/<doc_id>/summary.md.
"""

from __future__ import annotations

from docpipe.chunking import document_text, estimate_tokens
from docpipe.clients import client
from docpipe.faithfulness import keep_faithful
from docpipe.generation import Generation, converse
from docpipe.models import ExtractedText, S3Pointer, TaskInput, Usage
from docpipe.prompts import prompt
from docpipe.settings import get_settings
from docpipe.storage import get_json, work_key
from docpipe.task import StageResult


def _generate(template: str, text: str, calls: list[Generation]) -> str:
    settings = get_settings()
    generation = converse(prompt("summarize_system"), prompt(template).format(text=text),
                          max_tokens=settings.summary_max_tokens, temperature=settings.summary_temperature)
    calls.append(generation)
    return generation.text


def sections(text: str, budget: int) -> list[str]:
    """Consecutive paragraphs packed up to `budget` tokens (a longer paragraph is cut between words)."""
    packed, current = [], []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        pieces = [paragraph] if estimate_tokens(paragraph) <= budget else _cut(paragraph, budget)
        for piece in pieces:
            if current and estimate_tokens("\n\n".join(current + [piece])) > budget:
                packed.append("\n\n".join(current))
                current = []
            if piece:
                current.append(piece)
    return packed + (["\n\n".join(current)] if current else [])


def spread(items: list[str], limit: int) -> list[str]:
    """At most `limit` of `items`, evenly spaced and in order, always keeping the first and the last."""
    if len(items) <= limit:
        return items
    if limit == 1:
        return items[:1]
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def _cut(paragraph: str, budget: int) -> list[str]:
    pieces, current = [], []
    for word in paragraph.split():
        if current and estimate_tokens(" ".join(current + [word])) > budget:
            pieces.append(" ".join(current))
            current = []
        current.append(word)
    return pieces + ([" ".join(current)] if current else [])


def _reduce(partials: list[str], budget: int, calls: list[Generation]) -> str:
    while len(partials) > 1:
        groups, current = [], []
        for partial in partials:
            if current and estimate_tokens("\n\n".join(current + [partial])) > budget:
                groups.append(current)
                current = []
            current.append(partial)
        groups.append(current)
        if len(groups) == len(partials):  # every partial alone fills the budget: pair them up anyway
            groups = [partials[i:i + 2] for i in range(0, len(partials), 2)]
        partials = [_generate("combine_user", "\n\n".join(group), calls) if len(group) > 1 else group[0]
                    for group in groups]
    return partials[0]


def summarize_document(payload: TaskInput) -> StageResult:
    state, settings = payload.state, get_settings()
    document = state.document
    text = ExtractedText.model_validate(get_json(state.text.bucket, state.text.key))
    pages = [page.model_dump() for page in text.pages]
    source = document_text(pages)
    calls: list[Generation] = []
    all_sections = sections(source, settings.summary_input_tokens) if source.strip() else []
    read = spread(all_sections, settings.summary_max_sections)
    if not read:
        summary, dropped, extractive = "The document contains no readable text.", 0, True
    else:
        partials = [_generate("summarize_user", section, calls) for section in read]
        summary, dropped, extractive = keep_faithful(_reduce(partials, settings.summary_input_tokens, calls), source)
    pointer = S3Pointer(bucket=document.bucket, key=work_key(document.doc_id, "summary.md"))
    client("s3").put_object(Bucket=pointer.bucket, Key=pointer.key, Body=(summary + "\n").encode(),
                            ContentType="text/markdown; charset=utf-8")
    fresh = [call for call in calls if not call.cached]
    usage = Usage(s3_get=1, s3_put=1, generation_input_tokens=sum(c.input_tokens for c in fresh),
                  generation_output_tokens=sum(c.output_tokens for c in fresh),
                  guardrail_text_units=sum(c.guardrail_text_units for c in fresh),
                  dynamodb_reads=len(calls), dynamodb_writes=len(fresh))
    return StageResult(state.model_copy(update={"summary": pointer}), usage, {
        "model_id": settings.generation_model_id, "model_calls": len(fresh), "cache_hits": len(calls) - len(fresh),
        "map_reduce": len(calls) > 1, "sections_read": len(read), "sections_total": len(all_sections),
        "sentences_dropped_as_unsupported": dropped, "extractive_fallback": extractive,
        "guardrail": {"id": settings.guardrail_id or None, "version": settings.guardrail_version,
                      "output_masked": any(call.guardrail_intervened for call in calls)},
        **({"endpoint": {"name": settings.generation_endpoint,
                         "inference_component": settings.generation_inference_component or None,
                         "capacity_wait_s": round(sum(c.capacity_wait_s for c in calls), 3),
                         "capacity_retries": sum(c.capacity_retries for c in calls)}}
           if settings.generation_endpoint else {})})
