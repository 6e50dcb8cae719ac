"""The denied-topic word gate's scores for the embedding model's vocabulary, computed ahead for the project's
guardrail (``template.yaml``'s ``AWS::Bedrock::Guardrail``).

The word gate (``engine.py``) embeds each new word of a page alone and keeps its best topic score. Most of
those words are whole words of MiniLM's WordPiece vocabulary (392 of the 442 that bench/ingest's corpus
sent it), whose score depends only on the word, the model and the topics: this table holds them, so a page
pays the model only for the words outside the vocabulary (names, "efflorescence"...). Half of the
guardrail's CPU on bench/ingest's corpus was the model scoring words.

``data/topic_word_scores.npz`` holds the words (every whole, alphabetic, ASCII entry of the tokenizer that
is not a function word), their scores (float16: the gate's bar, 0.35, sits 0.10 below the threshold, and a
table score differs from a live one by about 0.001 between bfloat16 and float32), and the topic vectors they
were scored against. An engine uses the table only when its own topic vectors are those (same topic
definitions and examples, same model): a guardrail whose topics were edited scores every word live, as
before, and logs that the table is for other topics. Rebuild it after editing the topics (about 6 s):

    python -m docpipe_local.guardrails.word_table
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

TABLE = Path(__file__).with_name("data") / "topic_word_scores.npz"
SAME_VECTOR = 0.999  # cosine between a stored and a live topic vector: bfloat16 vs float32 gives > 0.9999

log = logging.getLogger(__name__)


def vocabulary_words() -> list[str]:
    """The whole words of MiniLM's tokenizer that the gate would score (its word pattern, ASCII, no
    function word)."""
    from docpipe_local.engines.minilm import default_tokenizer_path

    from .engine import _FUNCTION_WORDS, _WORD

    vocabulary = json.loads(default_tokenizer_path().read_text(encoding="utf-8"))["model"]["vocab"]
    return [w for w in vocabulary if w.isascii() and _WORD.fullmatch(w) and w not in _FUNCTION_WORDS]


def scores_for(topic_vectors: Sequence[np.ndarray], table: Path = TABLE) -> dict[str, float]:
    """The table's word scores when it was made against these topic vectors; else an empty dict."""
    if not table.exists():
        return {}
    with np.load(table) as stored:
        vectors = stored["topic_vectors"].astype(np.float32)
        owners = stored["owners"]
        words = str(stored["words"]).split("\n")
        scores = stored["scores"].astype(np.float32)
    live, live_owners = _stacked(topic_vectors)
    if live.shape != vectors.shape or not np.array_equal(live_owners, owners) or \
            float(np.min(np.sum(live * vectors, axis=1))) < SAME_VECTOR:
        log.info("the word gate's table was made for other topics or another model: words are scored live "
                 "(python -m docpipe_local.guardrails.word_table rebuilds it)")
        return {}
    return dict(zip(words, scores.tolist()))


def template_guardrail() -> dict:
    """The Properties of ``template.yaml``'s guardrail, the one the offline runtime configures."""
    from docpipe_local.paths import repo_root
    from docpipe_local.template import Template

    template = Template.load(repo_root())
    (logical_id,) = template.of_type("AWS::Bedrock::Guardrail")
    return template.properties(logical_id)


def build(table: Path = TABLE) -> int:
    """Score the vocabulary against the template guardrail's topics and write the table; the word count."""
    from docpipe_local.engines.minilm import get_engine

    from .engine import GuardrailEngine, best_topic_scores

    engine = GuardrailEngine(template_guardrail(), embed=lambda texts: get_engine().encode(texts))
    matrix = engine._topic_matrix()
    words = vocabulary_words()
    best = best_topic_scores(np.asarray(get_engine().encode(words, batch_size=256), dtype=np.float32), matrix)
    table.parent.mkdir(parents=True, exist_ok=True)
    topic_vectors, owners = _stacked(matrix)
    np.savez_compressed(table, words=np.array("\n".join(words)), scores=best.astype(np.float16),
                        topic_vectors=topic_vectors.astype(np.float16), owners=owners)
    return len(words)


def _stacked(topic_vectors: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The topics' phrase vectors in one matrix, and the topic each row belongs to."""
    if not len(topic_vectors):
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return (np.concatenate(topic_vectors).astype(np.float32),
            np.concatenate([np.full(len(v), i, dtype=np.int64) for i, v in enumerate(topic_vectors)]))


if __name__ == "__main__":
    print(f"{build()} words scored: {TABLE}")
