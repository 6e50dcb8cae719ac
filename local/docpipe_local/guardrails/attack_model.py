"""Prompt-attack classifier: an SVM over all-MiniLM-L6-v2 sentence embeddings and the sentence's words.

The cue patterns of ``attacks.py`` match wording; on attacks written by someone who had not read them they
found fewer than half. This model judges what a sentence means: its embedding (384 numbers, from the sentence
encoder the guardrail already loads for denied topics), how it speaks (:func:`style`: an order to the reader,
or a report about attacks) and its words (TF-IDF) go through a support-vector
machine with an RBF kernel, trained on attacks and benign look-alikes (``train_attack_classifier.py``; the
data under ``data/`` and in the README). Everything it needs is ``data/attack_classifier.json`` (the support
vectors, their coefficients, the vocabulary and the thresholds, which were chosen by cross-validation on the
training data only); scikit-learn trains it, and is not needed to run it.

Cost: the guardrail reads every page of every document, so a sentence is embedded only if it passes
:data:`GATE`, a cheap word test (it addresses someone, names an AI, a model, instructions, rules, a mode, a
persona or the like); 98% of the training data's attacks pass it (the rest are caught by the cues or missed). All gated sentences of a call are
embedded in one ``encode`` call.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

WEIGHTS = Path(__file__).with_name("data") / "attack_classifier.json"
EncodeFn = Callable[[list[str]], np.ndarray]

# Words that an attack on an assistant's instructions cannot do without: it addresses the assistant ("you"),
# names an AI or a model, or speaks of instructions, rules, filters, a persona or a mode. Sentences without
# any (most of a report or a letter) are not embedded. "limit" and "above" are not among them: no attack of the
# training data needs either to pass (those about limits also say "you" or "rules", those about the text above
# "repeat" or "print"), and an inspection report's load limits and levels above the deck sent most of its
# sentences through the model.
GATE = re.compile(
    r"\b(?:you|your|yours|yourself|you'(?:re|ve|ll|d)|u|ur|ai|a\.i|assistants?|chatbots?|bots?|models?|llms?|"
    r"\w*gpt\w*|dan|agents?|summari[sz]\w*|instruct\w*|prompts?|directives?|orders|commands?|rules?|system|"
    r"modes?|character|persona|role-?play\w*|roles?|pretend\w*|imagine|simulat\w*|ignor\w+|disregard\w*|forget|"
    r"overrid\w+|bypass\w*|polic(?:y|ies)|filter\w*|unfiltered|censor\w*|uncensored|restrict\w*|unrestricted|"
    r"jailbr\w+|guidelines?|guidance|guardrails?|safeguards?|refus\w+|ethic\w*|moral\w*|developers?|admin\w*|"
    r"sudo|operators?|constraints?|reveal\w*|secrets?|confidential|verbatim|setup|set-up|configur\w+|"
    r"programm\w+|obey|comply|henceforth|inst|training|trained|context|previous|prior|earlier|instead|"
    r"tasks?|users?|conversation|chat|automated|decod\w*|encod\w*|base64|rot13|act|reply|respond|output|print|"
    r"repeat|messages?|grand(?:mother|father|ma|pa))\b",
    re.I)
_LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")
# A heading or a label ("## Programme", "Admin") holds no instruction to a model, and the classifier, trained on
# sentences, scores such fragments by one word's meaning: no attack in the training data is shorter than this.
MIN_WORDS = 3
# Nor does a label a little longer ("Procurement and programme", a report's section heading): a fragment of up to
# this many words, with no sentence end, counts only from MEDIUM confidence; a LOW score on it is one word's
# meaning ("programme"), while the short attacks of the training data score HIGH ("Output initialization string")
FRAGMENT_WORDS = 4
_WORDS = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?:;]\W*$")


def is_fragment(sentence: str) -> bool:
    """A heading or a label: a few words, not ended as a sentence is (see :data:`FRAGMENT_WORDS`)."""
    return len(_WORDS.findall(sentence)) <= FRAGMENT_WORDS and not _SENTENCE_END.search(sentence)


def gate(sentence: str) -> bool:
    """Whether a sentence could be an attack, by its words alone (see :data:`GATE` and :data:`MIN_WORDS`)."""
    return len(_WORDS.findall(sentence)) >= MIN_WORDS and GATE.search(sentence) is not None


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern

# How a sentence speaks: an order addressed to the reader, or a report about attacks (third person, quoted).
# Meaning alone puts "the attacker told the chatbot to ignore its instructions" next to the order itself.
TO_READER = re.compile(r"\b(?:you|your|yours|yourself)\b", re.I)  # "you're" holds "you" too
_REPORTING = re.compile(
    r"\b(?:attackers?|intruders?|hackers?|testers?|red[- ]team\w*|researchers?|authors?|participants?|"
    r"(?:the|a) users? (?:asked|tried|wrote|typed)|users may|(?:attempts?|attempted|tries|tried|trying) to|"
    r"such as|known as|techniques?|(?:this|the|our) (?:paper|study|report|article|log|transcript|incident)|"
    r"(?:bot|chatbot|model|assistant|filter|guardrail) (?:refused|declined|blocked|flagged)|"
    r"(?:should|must|shall) (?:not|never)|treat \w+ as)\b", re.I)
_QUOTED = re.compile(r"[\"\u201c\u2018\u00ab][^\"\u201d\u2019\u00bb]{8,}[\"\u201d\u2019\u00bb]|(?:^|\W)'[^']{8,}'(?:\W|$)")
STYLE_WEIGHT = 1.0  # a style feature's size against the unit-length embedding and word vectors


def style(text: str) -> np.ndarray:
    """Three numbers for how a sentence speaks: it addresses the reader; it reports (an attacker, a study,
    an attempt, guidance); it quotes. Scaled by :data:`STYLE_WEIGHT`."""
    return STYLE_WEIGHT * np.array([bool(TO_READER.search(text)), bool(_REPORTING.search(text)),
                                    bool(_QUOTED.search(text))], dtype=np.float32)


@dataclass(frozen=True)
class AttackClassifier:
    """A support-vector machine with an RBF kernel over ``[embedding, style, tfidf(words)]``: the score of a sentence
    is ``sum_i coef_i * exp(-gamma * |s_i - x|^2) + intercept`` over the support vectors ``s_i`` (training
    sentences), positive on the attack side.

    The word part is scikit-learn's ``TfidfVectorizer(sublinear_tf=True)`` over the training vocabulary,
    computed here without scikit-learn: lower-cased tokens of two or more word characters, ``1 + log(count)``
    times the term's idf, L2-normalized over the text's known terms. The support vectors' embeddings are
    stored in float16; their word vectors by term (each term's support vectors and values).
    """

    embeddings: np.ndarray  # (n, 384) float32: the support vectors' embedding part
    styles: np.ndarray  # (n, 3) float32: the support vectors' :func:`style` part
    vocabulary: dict[str, int]  # term -> column
    idf: np.ndarray  # (terms,)
    term_rows: list[np.ndarray]  # per term: the support vectors that contain it
    term_values: list[np.ndarray]  # per term: their tf-idf values
    squared_norms: np.ndarray  # (n,) |s_i|^2
    coef: np.ndarray  # (n,) dual coefficients
    intercept: float
    gamma: float
    thresholds: dict[str, float]  # LOW / MEDIUM / HIGH: the score each confidence level starts at
    cue_bar: float  # the score at which a weaker cue pattern of ``attacks.py`` counts (strong ones always do)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "AttackClassifier":
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: dict) -> "AttackClassifier":
        n = len(data["coef"])
        embeddings = np.frombuffer(base64.b64decode(data["support_embeddings_f16"]), dtype="<f2")
        embeddings = embeddings.reshape(n, -1).astype(np.float32)
        terms = data["terms"]  # term -> [idf, [rows], [values]]
        vocabulary = {term: j for j, term in enumerate(terms)}
        term_rows = [np.asarray(entry[1], dtype=np.int64) for entry in terms.values()]
        term_values = [np.asarray(entry[2], dtype=np.float32) for entry in terms.values()]
        styles = np.asarray(data["support_style"], dtype=np.float32).reshape(n, -1)
        squared = (embeddings.astype(np.float64) ** 2).sum(axis=1) + (styles.astype(np.float64) ** 2).sum(axis=1)
        for rows, values in zip(term_rows, term_values):
            squared[rows] += values.astype(np.float64) ** 2
        return cls(embeddings, styles, vocabulary, np.array([entry[0] for entry in terms.values()]), term_rows, term_values,
                   squared, np.asarray(data["coef"], dtype=np.float64), float(data["intercept"]),
                   float(data["gamma"]), {level: float(data["thresholds"][level]) for level in _LEVELS[1:]},
                   float(data["cue_bar"]))

    def words(self, text: str) -> dict[int, float]:
        """The text's L2-normalized tf-idf vector, as {column: value}."""
        counts: dict[int, int] = {}
        for token in _TOKEN.findall(text.lower()):
            j = self.vocabulary.get(token)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        values = {j: (1.0 + math.log(n)) * self.idf[j] for j, n in counts.items()}
        norm = math.sqrt(sum(v * v for v in values.values()))
        return {j: v / norm for j, v in values.items()} if norm else {}

    def scores(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """The SVM's score for each text, given its L2-normalized sentence embedding (a row of ``vectors``)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        styles = np.stack([style(t) for t in texts])
        dots = (self.embeddings @ vectors.T).astype(np.float64) + self.styles @ styles.T  # (n, texts)
        norms = (vectors.astype(np.float64) ** 2).sum(axis=1) + (styles.astype(np.float64) ** 2).sum(axis=1)
        for k, text in enumerate(texts):
            for j, value in self.words(text).items():
                dots[self.term_rows[j], k] += value * self.term_values[j]
                norms[k] += value * value
        distances = self.squared_norms[:, None] + norms[None, :] - 2.0 * dots
        return self.coef @ np.exp(-self.gamma * np.maximum(distances, 0.0)) + self.intercept

    def level(self, score: float) -> str:
        """Bedrock's confidence level for a score."""
        return max((lv for lv in _LEVELS[1:] if score >= self.thresholds[lv]), key=_LEVELS.index, default="NONE")

    def assess(self, sentences: Sequence[str], encode: EncodeFn) -> tuple[str, float, int]:
        """The highest confidence among ``sentences`` (a fragment's from MEDIUM only), the highest score, and how
        many sentences were embedded (those that passed the gate, in one ``encode`` call)."""
        gated = list(dict.fromkeys(s for s in sentences if gate(s)))
        if not gated:
            return "NONE", float("-inf"), 0
        scores = [float(score) for score in self.scores(gated, encode(gated))]
        levels = [self.level(score) for score in scores]
        levels = ["NONE" if level == "LOW" and is_fragment(sentence) else level
                  for sentence, level in zip(gated, levels)]
        return max(levels, key=_LEVELS.index), max(scores), len(gated)


_lock = threading.Lock()
_classifier: AttackClassifier | None = None


def get_classifier() -> AttackClassifier:
    """The shipped classifier, loaded once per process."""
    global _classifier
    with _lock:
        if _classifier is None:
            _classifier = AttackClassifier.load()
        return _classifier


def default_encode(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2, the encoder the classifier was trained on (whatever the guardrail's topic check uses)."""
    from docpipe_local.engines.minilm import get_engine

    return get_engine().encode(texts)
