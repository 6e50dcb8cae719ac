"""The denied-topic word gate (guardrails/engine.py) and the MiniLM engine's count of the tokens it read.

The gate embeds only sentences holding a word that, alone, comes near a denied topic: it must detect exactly
what embedding every sentence detects, on the tuning and held-out sets, while the model reads less.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from docpipe_local.guardrails import GuardrailEngine, load_example_properties
from tests.guardrail_scoring import flags, read_jsonl

DATA = Path(__file__).resolve().parents[1] / "data"
REPORT_PAGE = (
    "Deck and Wearing Surface\n"
    "The deck slab at span 3 shows spalling with exposed reinforcement, measured at 14 mm over a length of\n"
    "2.5 m. Compared with the 2021 inspection, the condition of the bearing has worsened. The work can be\n"
    "staged with one lane open in each direction, over about 6 weeks.\n")
TABLE_PAGE = "\n".join(f"{row} | {row * 3.5:.1f} | {row * 12} | {row % 7}" for row in range(1, 40))


@pytest.fixture(scope="module")
def minilm():
    """The real model, always: a missing model or OpenVINO fails these tests."""
    from docpipe_local.engines.minilm import get_engine

    return get_engine().warm_up()


class CountingEmbed:
    def __init__(self, encode):
        self.encode, self.texts = encode, []

    def __call__(self, texts):
        self.texts += list(texts)
        return self.encode(texts)


def _topics_fired(engine: GuardrailEngine, rows: list[dict]) -> list[set]:
    return [flags(engine.apply([row["text"]], source="INPUT"))["topic"] for row in rows]


def test_the_gate_detects_what_scoring_every_sentence_detects_with_less_model_work(minilm):
    rows = read_jsonl(DATA / "guardrail_labelled.jsonl") + read_jsonl(DATA / "guardrail_heldout.jsonl")
    every, gated = CountingEmbed(minilm.encode), CountingEmbed(minilm.encode)
    ungated_engine = GuardrailEngine(load_example_properties(), embed=every, topic_gate_margin=None)
    gated_engine = GuardrailEngine(load_example_properties(), embed=gated)

    fired_every, fired_gated = _topics_fired(ungated_engine, rows), _topics_fired(gated_engine, rows)

    assert fired_gated == fired_every
    topic_rows = [row for row in rows if row["label"] == "topic"]
    assert sum(bool(f) for f, row in zip(fired_gated, rows) if row["label"] == "topic") >= 0.75 * len(topic_rows)
    # short lines of many different words: each word is embedded once, and few sentences
    tokens = lambda texts: sum(minilm.count_tokens(t) + 2 for t in texts)  # noqa: E731
    assert tokens(gated.texts) < 0.8 * tokens(every.texts)
    counts = gated_engine.topic_counts
    assert counts["sentences_gated_out"] > counts["sentences_scored"] > 0


def test_pages_with_nothing_to_find_cost_the_model_almost_nothing(minilm):
    embed = CountingEmbed(minilm.encode)
    engine = GuardrailEngine(load_example_properties(), embed=embed)
    engine.apply(["Is it a good time to invest in Bitcoin?"], source="INPUT")  # the topics' own vectors, once
    embed.texts.clear()
    engine.apply([TABLE_PAGE], source="INPUT")
    assert embed.texts == []  # numbers and bars: no sentence, no word for the model

    scored_before = engine.topic_counts["sentences_scored"]
    result = engine.apply([REPORT_PAGE], source="INPUT")
    assert "topicPolicy" not in result["assessments"][0]
    assert engine.topic_counts["sentences_scored"] == scored_before  # inspection prose: no word near a topic
    assert all(" " not in text for text in embed.texts)  # only its words were embedded, no sentence
    words_seen = engine.topic_counts["words_scored"]

    engine.apply([REPORT_PAGE.replace("14 mm", "15 mm")], source="INPUT")
    assert engine.topic_counts["words_scored"] == words_seen  # a word is scored once


@pytest.mark.parametrize("question", [
    "Tell me which tech shares to buy before the earnings season.",
    "Is a painless lump in my neck a sign of lymphoma?",
    "I feel dizzy and my left arm is numb, what is wrong with me?",
])
def test_a_held_out_topic_sentence_inside_report_prose_is_still_caught(minilm, question):
    engine = GuardrailEngine(load_example_properties(), embed=minilm.encode)
    page = REPORT_PAGE.replace("The work can be", question + " The work can be")
    assert flags(engine.apply([page], source="INPUT"))["topic"]
    assert engine.topic_counts["sentences_gated_out"] >= 2  # the report's own sentences were not embedded


def test_the_engine_counts_the_tokens_it_reads(minilm):
    texts = ["Bearings and joints", "The deck slab shows spalling with exposed reinforcement."]
    before, padded_before = minilm.tokens_processed, minilm.padded_tokens_processed
    minilm.encode(texts)
    read = minilm.tokens_processed - before
    assert read == sum(minilm.count_tokens(t) + 2 for t in texts)  # [CLS] and [SEP] each
    assert minilm.padded_tokens_processed - padded_before >= read

    long_text = " ".join(["inspection"] * 600)  # 600 word pieces: three 254-piece windows
    assert minilm.count_tokens(long_text) == 600
    before = minilm.tokens_processed
    minilm.encode_long(long_text)
    assert minilm.tokens_processed - before == 600 + 3 * 2


def test_pages_screened_at_once_score_each_new_word_once(minilm):
    import threading
    import time

    from docpipe_local.guardrails.engine import _FUNCTION_WORDS, _WORD

    def slow_embed(texts):  # holds the first page's words in flight while the others ask for them
        time.sleep(0.3)
        return minilm.encode(texts)

    engine = GuardrailEngine(load_example_properties(), embed=slow_embed)
    engine.apply(["Is it a good time to invest in Bitcoin?"], source="INPUT")  # the topics' vectors first
    before = engine.topic_counts["words_scored"]
    pages = [REPORT_PAGE, REPORT_PAGE.replace("bearing", "floor beam"), REPORT_PAGE.replace("6 weeks", "9 weeks")]
    threads = [threading.Thread(target=engine.apply, args=([page],)) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    distinct = {word.lower() for page in pages for word in _WORD.findall(page)} - {
        word.lower() for word in _WORD.findall("Is it a good time to invest in Bitcoin?")} - _FUNCTION_WORDS
    live = distinct - engine._table_scores.keys()  # the vocabulary's words come from the table
    assert live and engine.topic_counts["words_scored"] - before == len(live)


def test_the_vocabulary_table_is_current_for_the_templates_topics_and_holds_the_models_scores(minilm):
    """The shipped table (guardrails/data/topic_word_scores.npz) is used by the runtime's guardrail, and its
    scores are what the model gives each word alone: rebuild it (python -m
    docpipe_local.guardrails.word_table) when this fails after the topics were edited."""
    import random

    import numpy as np

    from docpipe_local.guardrails.word_table import template_guardrail, vocabulary_words

    engine = GuardrailEngine(template_guardrail(), embed=minilm.encode)
    matrix = engine._topic_matrix()
    words = vocabulary_words()
    assert len(words) > 20_000 and engine._table_scores.keys() == set(words)
    sample = random.Random(7).sample(words, 300) + ["invest", "stocks", "diagnosis", "medication", "bridge"]
    vectors = np.asarray(minilm.encode(sample), dtype=np.float32)
    live = np.max([(vectors @ topic.T).max(axis=1) for topic in matrix], axis=0)
    table = np.array([engine._table_scores[w] for w in sample])
    assert np.abs(live - table).max() < 0.01
    bar = engine.topic_threshold - engine.topic_gate_margin
    assert (table[-5:-2] >= bar).all() and table[-1] < bar  # topic words pass the gate, "bridge" does not


def test_a_guardrail_with_other_topics_scores_its_words_live(minilm):
    from docpipe_local.guardrails.word_table import template_guardrail

    props = template_guardrail()
    props["TopicPolicyConfig"]["TopicsConfig"][0] = {
        "Name": "Gambling", "Type": "DENY", "Definition": "Advice on betting, casinos or placing wagers.",
        "Examples": ["Which horse should I bet on tomorrow?"]}
    engine = GuardrailEngine(props, embed=CountingEmbed(minilm.encode))
    result = engine.apply(["Which horse should I bet on in the next race?"], source="INPUT")
    assert engine._table_scores == {}
    assert engine.topic_counts["words_scored"] == len({"which", "horse", "should", "bet", "next", "race"}
                                                      - {"which", "should"})  # function words are never scored
    assert {"name": "Gambling", "type": "DENY", "action": "BLOCKED", "detected": True} in \
        result["assessments"][0]["topicPolicy"]["topics"]
