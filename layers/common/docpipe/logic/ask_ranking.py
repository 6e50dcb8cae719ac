"""Which retrieved passages Ask hands to the model: the closest in meaning, re-ranked by the question's words.

Embeddings of short questions are blunt: "Which firm carried out the inspection?" sits as close to "The next
routine inspection is due in September 2027" as to the sentence naming the firm. Ask therefore fetches more
candidates than it keeps (the three times ``top_k`` nearest, and the passages of their documents among the ten
times ``top_k`` nearest: :func:`candidates`), and ranks them by closeness (1 - cosine distance) plus
half the share of the question's words each holds, a word weighing more the fewer candidates hold it
(inverse document frequency over the candidates: "inspection" is everywhere in an inspection report,
"carried" is not). Words match across word forms, as in :mod:`docpipe.logic.ask_subject`.
"""

from __future__ import annotations

import math

from docpipe.logic.ask_grounding import terms
from docpipe.logic.ask_subject import stems_match

LEXICAL_WEIGHT = 0.5  # the share of the question's words, against closeness (both 0..1)
NEAREST_PER_PASSAGE = 3  # candidates from any document
# and from the documents those come from: the passage that answers a reworded question can sit 10th to 25th
# nearest ("Which contractor was hired...?" of "... was awarded to Tillery & Sons"), where its words lift it;
# a document only that far away brings no new candidate (its passages would only compete with the right one)
CANDIDATES_PER_PASSAGE = 10


def candidates(hits: list[dict], top_k: int) -> list[dict]:
    """Of ``hits`` (nearest first), the ``NEAREST_PER_PASSAGE * top_k`` nearest, and the farther ones of the
    documents those come from."""
    nearest = hits[:NEAREST_PER_PASSAGE * top_k]
    documents = {hit["metadata"]["doc_id"] for hit in nearest}
    return nearest + [hit for hit in hits[len(nearest):] if hit["metadata"]["doc_id"] in documents]


def rerank(hits: list[dict], question: str, keep: int) -> list[dict]:
    """The ``keep`` best of ``hits`` (S3 Vectors results with metadata text and distance), best first."""
    wanted = terms(question)
    held = [terms(hit["metadata"]["text"]) for hit in hits]
    matches = {word: [stems_match(word, words) for words in held] for word in wanted}
    weight = {word: math.log(1 + len(hits) / sum(found)) for word, found in matches.items() if any(found)}
    total = sum(weight.values()) or 1.0

    def score(index: int) -> float:
        lexical = sum(w for word, w in weight.items() if matches[word][index]) / total
        return 1 - hits[index].get("distance", 1.0) + LEXICAL_WEIGHT * lexical

    return [hits[index] for index in sorted(range(len(hits)), key=score, reverse=True)[:keep]]
