"""The guardrail policy engine: an ``AWS::Bedrock::Guardrail``'s Properties in, ApplyGuardrail's answer out.

Configure it with the resource's ``Properties`` exactly as they stand in ``template.yaml`` (after intrinsic
functions are resolved) and call :meth:`GuardrailEngine.apply` with the text blocks and their source
(``INPUT`` for a user's prompt, ``OUTPUT`` for a model's answer). The result has the shape and field names
of botocore's ``ApplyGuardrailResponse``: ``action``, ``actionReason``, ``outputs``, ``assessments``
(``topicPolicy``, ``contentPolicy``, ``wordPolicy``, ``sensitiveInformationPolicy``,
``invocationMetrics``), ``usage`` and ``guardrailCoverage``.

Policies and how each is enforced here:

=======================  ================================================================================
SensitiveInformation     PII entities: patterns, checksums and context words (``pii.py``); custom regexes
                         (Python ``re``). ANONYMIZE replaces a match with ``{TYPE}`` (``{NAME}`` for a regex
                         named NAME), as Bedrock does; BLOCK blocks; NONE only reports (detect mode).
Word                     custom words/phrases and the managed PROFANITY list (``data/profanity_en.txt``),
                         case-insensitive, whole words.
Topic (DENY)             embedding similarity between the text's sentences (:func:`topic_sentences`) and
                         each topic's definition and examples, with the ``embed`` function the caller injects;
                         only sentences that could match are embedded (the word gate, below).
Content                  ``content.py``: a scikit-learn toxicity model (alt-profanity-check) plus category
                         cues, mapped to NONE/LOW/MEDIUM/HIGH confidence and compared with the strength.
PROMPT_ATTACK            ``attacks.py``: a classifier of sentence meaning (MiniLM embeddings and words, on the
                         English sentences that pass a word gate) and cue patterns for instruction override,
                         role-play jailbreaks, system prompt exfiltration; INPUT only (Bedrock requires
                         OutputStrength NONE for it).
=======================  ================================================================================

Languages: the content filters, the denied topics and the prompt-attack patterns know English only. A sentence
confidently in another language (``language.py``) is not judged by the first two (the prompt-attack patterns
match English phrasing only, so they still run: an English injection inside a German page is caught), and
:meth:`GuardrailEngine.evaluate` says so in its notes, which the ApplyGuardrail emulator returns outside the
response body (AWS's response has no field for it). Bedrock evaluates these languages; offline they pass
unjudged rather than being blocked for being foreign. PII, regexes and word filters are patterns and
checksums and are applied to every language.

The denied-topic word gate: a sentence is embedded only if one of its words, embedded alone, comes within
``topic_gate_margin`` (0.10) of the topic threshold; the words' scores are kept, so each distinct word costs
the model once per engine, and the words of the model's vocabulary cost it nothing: their scores for the
project's topics were computed ahead (``word_table.py``; a guardrail with other topics scores them live).
A sentence near a topic holds some word that is itself near it, so the gate leaves
out what could not match and detects the same: on the tuning and held-out sets every sentence that reached
the threshold (0.45) had a word at 0.38 or more, the gate's bar is 0.35; pages of inspection prose pass ~3%
of their sentences, tables and figures (numbers, no words) none. ``topic_gate_margin=None`` embeds every
sentence, as before.

Not enforced (accepted and ignored, with a log line): ContextualGroundingPolicyConfig,
AutomatedReasoningPolicyConfig, image content. Tier configs (CLASSIC/STANDARD) change nothing here.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..engines.minilm import priority_lane
from .attacks import assess_prompt_attacks
from .content import CONTENT_TYPES, assess_content, blocks
from .language import EnglishOnly, english_pieces, identify
from .pii import PII_TYPES, find_pii
from .words import WordMatcher, profanity_matcher

log = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]

TEXT_UNIT_CHARS = 1000  # Bedrock bills and meters guardrails in text units of up to 1,000 characters
DEFAULT_TOPIC_THRESHOLD = 0.45  # cosine similarity; calibrated for all-MiniLM-L6-v2 on tests/data/guardrail_labelled.jsonl
# a sentence is embedded only if one of its words scores at least threshold - margin alone (see the docstring)
DEFAULT_TOPIC_GATE_MARGIN = 0.10
_MAX_WORD_SCORES = 200_000  # words whose topic score is kept (about 20 MB at most)

_CFN_ACTIONS = {"BLOCK": "BLOCKED", "ANONYMIZE": "ANONYMIZED", "NONE": "NONE"}
_STRENGTHS = ("NONE", "LOW", "MEDIUM", "HIGH")
_IGNORED_PROPERTIES = ("ContextualGroundingPolicyConfig", "AutomatedReasoningPolicyConfig")
_KNOWN_PROPERTIES = {"Name", "Description", "BlockedInputMessaging", "BlockedOutputsMessaging", "KmsKeyArn",
                     "Tags", "CrossRegionConfig", "SensitiveInformationPolicyConfig", "WordPolicyConfig",
                     "TopicPolicyConfig", "ContentPolicyConfig", *_IGNORED_PROPERTIES}


class GuardrailConfigError(ValueError):
    """The Properties would not pass CloudFormation / Bedrock's validation of a guardrail."""


@dataclass(frozen=True)
class _Directional:
    """Per-source switches shared by every policy entry: Input/OutputEnabled and Input/OutputAction."""

    input_enabled: bool
    output_enabled: bool
    input_action: str
    output_action: str

    @classmethod
    def parse(cls, entry: dict, where: str, default_action: str, allowed: Iterable[str]) -> "_Directional":
        allowed = tuple(allowed)
        action = entry.get("Action", default_action)
        values = {"input_action": entry.get("InputAction", action), "output_action": entry.get("OutputAction", action)}
        for key, value in [("Action", action), *values.items()]:
            if value not in allowed:
                raise GuardrailConfigError(f"{where}: {key} must be one of {'|'.join(allowed)}, not {value!r}")
        return cls(bool(entry.get("InputEnabled", True)), bool(entry.get("OutputEnabled", True)),
                   _CFN_ACTIONS[values["input_action"]], _CFN_ACTIONS[values["output_action"]])

    def for_source(self, source: str) -> tuple[bool, str]:
        return (self.input_enabled, self.input_action) if source == "INPUT" else (self.output_enabled, self.output_action)


@dataclass
class _Pii:
    type: str
    switch: _Directional


@dataclass
class _Regex:
    name: str
    pattern: re.Pattern
    source: str
    switch: _Directional


@dataclass
class _Word:
    text: str
    matcher: WordMatcher
    switch: _Directional


@dataclass
class _Topic:
    name: str
    definition: str
    examples: list[str]
    switch: _Directional


@dataclass
class _Filter:
    type: str
    input_strength: str
    output_strength: str
    switch: _Directional

    def strength(self, source: str) -> str:
        return self.input_strength if source == "INPUT" else self.output_strength


@dataclass
class _Block:
    """One text content block of a request."""

    text: str
    guarded: bool  # False for grounding_source / query blocks, which only contextual grounding reads
    masked: str = ""


@dataclass
class _Findings:
    topics: dict[str, dict] = field(default_factory=dict)
    filters: dict[str, dict] = field(default_factory=dict)
    custom_words: list[dict] = field(default_factory=list)
    managed_words: list[dict] = field(default_factory=list)
    pii: list[dict] = field(default_factory=list)
    regexes: list[dict] = field(default_factory=list)

    def actions(self) -> list[str]:
        entries = [*self.topics.values(), *self.filters.values(), *self.custom_words, *self.managed_words,
                   *self.pii, *self.regexes]
        return [e["action"] for e in entries if e.get("detected", True)]


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_SENTENCE_END_IN_PARAGRAPH = re.compile(r"(?<=[.!?;:])\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")
_WORD = re.compile(r"[^\W\d_]{2,}")
# Words that carry no topic (articles, pronouns, auxiliaries, prepositions, conjunctions): the topic gate does
# not embed them one by one. On all-MiniLM-L6-v2 none comes near the gate's bar for the shipped topics (the
# highest, "up", scores 0.30 against 0.35); they were a tenth of the words bench/ingest's pages sent it.
_FUNCTION_WORDS = frozenset("""
a an the and or nor but if then than so as of to in on at by for with from into onto over under about after
before between during through against among within without upon off out up down
is are was were be been being am do does did has have had having can could would should shall will may might
must it its this that these those which who whom whose what there here their theirs they them he him his she
her hers we our ours us you your yours me my mine not no also very too only just such each both either neither
all any some other another more most much many own same
""".split())


def split_sentences(text: str, max_chars: int = 400, *, join_lines: bool = False) -> list[str]:
    """Sentences (and lines) of a text; very long ones are cut at word boundaries.

    ``join_lines``: a single line break does not end a sentence (it is a wrapped line of a paragraph); only a
    sentence end or a blank line does.
    """
    out = []
    for part in (_SENTENCE_END_IN_PARAGRAPH if join_lines else _SENTENCE_END).split(text):
        part = " ".join(part.split()) if join_lines else part.strip()
        while len(part) > max_chars:
            cut = part.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            out.append(part[:cut].strip())
            part = part[cut:].strip()
        if part:
            out.append(part)
    return out


def topic_sentences(texts: Sequence[str]) -> list[str]:
    """The distinct sentences of ``texts`` that are scored against denied topics, plus each short text whole.

    Wrapped lines are joined back into their sentence (extracted pages break lines mid-sentence, and a
    fragment such as "For an" is about nothing); a piece with fewer than two words (a bare amount, a page
    number, a one-word heading) is not scored: alone it matched topics by accident ("$1,504,000." scored
    0.49 against "Investment advice"). Short windows (256 characters): a run of text with no sentence end
    (hostile or tabular input) costs the embedding model quadratically in its length.
    """
    pieces = [s for text in texts for s in split_sentences(text, max_chars=256, join_lines=True)]
    pieces += [" ".join(t.split()) for t in texts if 0 < len(t) <= 256]
    return [piece for piece in dict.fromkeys(pieces) if len(_WORD.findall(piece)) >= 2]


def best_topic_scores(vectors: np.ndarray, matrix: Sequence[np.ndarray]) -> np.ndarray:
    """Each vector's highest similarity to any phrase of any topic (``matrix``: each topic's phrase vectors)."""
    return np.max([(vectors @ topic_vectors.T).max(axis=1) for topic_vectors in matrix], axis=0)


def text_units(text: str) -> int:
    return math.ceil(len(text) / TEXT_UNIT_CHARS) if text else 0


class _Unjudged:
    """The sentences each English-only policy left out, by language, and the notes that say so."""

    def __init__(self) -> None:
        self.policies: dict[str, EnglishOnly] = {}

    def add(self, policy: str, parts: Sequence[EnglishOnly]) -> None:
        merged = EnglishOnly()
        for part in parts:
            merged.kept += part.kept
            merged.skipped.update(part.skipped)
        self.policies[policy] = merged

    def notes(self) -> list[str]:
        """What was left out, in words: 'content filters, prompt attack not evaluated offline for de, la (the
        offline detectors know English only)'. No counts: a document's pages repeat the same notes."""
        by_languages: dict[str, list[str]] = {}
        for policy, part in self.policies.items():
            if part.skipped:
                by_languages.setdefault(", ".join(sorted(part.skipped)), []).append(policy)
        return [f"{', '.join(policies)} not evaluated offline for {languages} (the offline detectors know "
                "English only)" for languages, policies in by_languages.items()]


class GuardrailEngine:
    """One guardrail (one ``AWS::Bedrock::Guardrail``), evaluated locally. Thread-safe."""

    def __init__(self, properties: dict[str, Any], embed: EmbedFn | None = None, *,
                 guardrail_id: str = "local", version: str = "DRAFT",
                 topic_threshold: float = DEFAULT_TOPIC_THRESHOLD,
                 topic_gate_margin: float | None = DEFAULT_TOPIC_GATE_MARGIN):
        self.properties = properties
        self.embed = embed
        self.guardrail_id = guardrail_id
        self.version = version
        self.topic_threshold = topic_threshold
        self.name = properties.get("Name", guardrail_id)
        self.topic_gate_margin = topic_gate_margin
        self._topic_vectors: list[np.ndarray] | None = None
        self._word_scores: dict[str, float] = {}  # a word's best topic score alone (the gate), scored live
        self._table_scores: dict[str, float] = {}  # the vocabulary's, computed ahead (word_table.py)
        self._words_in_flight: dict[str, threading.Event] = {}  # words another call is scoring now
        # what the topic check embedded: sentences scored and left out by the gate, words scored for the gate
        self.topic_counts = {"sentences_scored": 0, "sentences_gated_out": 0, "words_scored": 0}
        self._lock = threading.Lock()
        self._parse(properties)

    # -- configuration ------------------------------------------------------------------------------------
    def _parse(self, props: dict[str, Any]) -> None:
        for key in ("BlockedInputMessaging", "BlockedOutputsMessaging"):
            if not isinstance(props.get(key), str) or not props[key]:
                raise GuardrailConfigError(f"{key} is required (a non-empty string)")
        self.blocked_input_message = props["BlockedInputMessaging"]
        self.blocked_output_message = props["BlockedOutputsMessaging"]
        unknown = set(props) - _KNOWN_PROPERTIES
        if unknown:
            raise GuardrailConfigError(f"unknown guardrail properties: {sorted(unknown)}")
        for key in _IGNORED_PROPERTIES:
            if key in props:
                log.warning("guardrail %s: %s is not enforced offline", self.name, key)

        sensitive = props.get("SensitiveInformationPolicyConfig") or {}
        self.pii: list[_Pii] = []
        for i, entry in enumerate(sensitive.get("PiiEntitiesConfig") or []):
            where = f"SensitiveInformationPolicyConfig.PiiEntitiesConfig[{i}]"
            if entry.get("Type") not in PII_TYPES:
                raise GuardrailConfigError(f"{where}: unknown PII entity type {entry.get('Type')!r}")
            if "Action" not in entry:
                raise GuardrailConfigError(f"{where}: Action is required")
            self.pii.append(_Pii(entry["Type"], _Directional.parse(entry, where, "BLOCK", ("BLOCK", "ANONYMIZE", "NONE"))))
        self.regexes: list[_Regex] = []
        for i, entry in enumerate(sensitive.get("RegexesConfig") or []):
            where = f"SensitiveInformationPolicyConfig.RegexesConfig[{i}]"
            if not entry.get("Name") or not entry.get("Pattern") or "Action" not in entry:
                raise GuardrailConfigError(f"{where}: Name, Pattern and Action are required")
            try:
                pattern = re.compile(entry["Pattern"])
            except re.error as exc:
                raise GuardrailConfigError(f"{where}: invalid Pattern: {exc}") from exc
            self.regexes.append(_Regex(entry["Name"], pattern, entry["Pattern"],
                                       _Directional.parse(entry, where, "BLOCK", ("BLOCK", "ANONYMIZE", "NONE"))))

        words = props.get("WordPolicyConfig") or {}
        self.words: list[_Word] = []
        for i, entry in enumerate(words.get("WordsConfig") or []):
            where = f"WordPolicyConfig.WordsConfig[{i}]"
            text = (entry.get("Text") or "").strip()
            if not 1 <= len(text) <= 100:
                raise GuardrailConfigError(f"{where}: Text must be 1 to 100 characters")
            self.words.append(_Word(text, WordMatcher([text]), _Directional.parse(entry, where, "BLOCK", ("BLOCK", "NONE"))))
        self.managed_lists: list[tuple[str, _Directional]] = []
        for i, entry in enumerate(words.get("ManagedWordListsConfig") or []):
            where = f"WordPolicyConfig.ManagedWordListsConfig[{i}]"
            if entry.get("Type") != "PROFANITY":
                raise GuardrailConfigError(f"{where}: Type must be PROFANITY")
            self.managed_lists.append(("PROFANITY", _Directional.parse(entry, where, "BLOCK", ("BLOCK", "NONE"))))

        topics = props.get("TopicPolicyConfig") or {}
        self.topics: list[_Topic] = []
        for i, entry in enumerate(topics.get("TopicsConfig") or []):
            where = f"TopicPolicyConfig.TopicsConfig[{i}]"
            if not entry.get("Name") or not entry.get("Definition"):
                raise GuardrailConfigError(f"{where}: Name and Definition are required")
            if entry.get("Type", "DENY") != "DENY":
                raise GuardrailConfigError(f"{where}: Type must be DENY")
            if len(entry["Definition"]) > 1000:
                raise GuardrailConfigError(f"{where}: Definition is longer than 1,000 characters")
            examples = list(entry.get("Examples") or [])
            if len(examples) > 5:
                raise GuardrailConfigError(f"{where}: at most 5 Examples")
            self.topics.append(_Topic(entry["Name"], entry["Definition"], examples,
                                      _Directional.parse(entry, where, "BLOCK", ("BLOCK", "NONE"))))
        if self.topics and self.embed is None:
            raise GuardrailConfigError("denied topics are configured but no embed function was given")

        content = props.get("ContentPolicyConfig") or {}
        self.filters: list[_Filter] = []
        for i, entry in enumerate(content.get("FiltersConfig") or []):
            where = f"ContentPolicyConfig.FiltersConfig[{i}]"
            kind = entry.get("Type")
            if kind not in (*CONTENT_TYPES, "PROMPT_ATTACK"):
                raise GuardrailConfigError(f"{where}: unknown filter type {kind!r}")
            strengths = (entry.get("InputStrength"), entry.get("OutputStrength"))
            if any(s not in _STRENGTHS for s in strengths):
                raise GuardrailConfigError(f"{where}: InputStrength and OutputStrength must be NONE|LOW|MEDIUM|HIGH")
            if kind == "PROMPT_ATTACK" and strengths[1] != "NONE":
                raise GuardrailConfigError(f"{where}: PROMPT_ATTACK OutputStrength must be NONE")
            self.filters.append(_Filter(kind, *strengths, _Directional.parse(entry, where, "BLOCK", ("BLOCK", "NONE"))))

    # -- topics -----------------------------------------------------------------------------------------
    def _topic_matrix(self) -> list[np.ndarray]:
        with self._lock:
            if self._topic_vectors is None:
                phrases, owners = [], []
                for index, topic in enumerate(self.topics):
                    for phrase in (topic.definition, f"{topic.name}: {topic.definition}", *topic.examples):
                        phrases.append(phrase)
                        owners.append(index)
                vectors = np.asarray(self.embed(phrases), dtype=np.float32)
                owners_arr = np.array(owners)
                self._topic_vectors = [vectors[owners_arr == i] for i in range(len(self.topics))]
                if self.topic_gate_margin is not None:
                    from .word_table import scores_for  # it reads the engine's word pattern

                    self._table_scores = scores_for(self._topic_vectors)
            return self._topic_vectors

    def topic_scores(self, texts: Sequence[str], sentences: Sequence[str] | None = None) -> list[float]:
        """Highest similarity of any sentence of ``texts`` (or of the given ``sentences``) to each denied topic,
        in config order."""
        sentences = topic_sentences(texts) if sentences is None else list(dict.fromkeys(sentences))
        if not sentences or not self.topics:
            return [0.0] * len(self.topics)
        matrix = self._topic_matrix()
        if self.topic_gate_margin is not None:
            sentences = self._could_match(sentences, matrix)
            if not sentences:
                return [0.0] * len(self.topics)
        with self._lock:
            self.topic_counts["sentences_scored"] += len(sentences)
        vectors = np.asarray(self.embed(sentences), dtype=np.float32)
        return [float((vectors @ topic_vectors.T).max()) for topic_vectors in matrix]

    def clear_word_scores(self) -> None:
        """Forget the words the gate scored live (a benchmark measures a cold gate, as it measures a cold cache);
        the vocabulary's table stays, as the topic vectors do: both come with the configuration."""
        with self._lock:
            self._word_scores.clear()

    def _could_match(self, sentences: list[str], matrix: list[np.ndarray]) -> list[str]:
        """The sentences with a word whose own topic score reaches the gate (threshold - margin). Words not
        seen before are embedded together, once: outside the lock (pages screened at once share the model's
        batches), and a word another page is scoring is waited for, not scored again."""
        words = [{word.lower() for word in _WORD.findall(sentence)} - _FUNCTION_WORDS for sentence in sentences]
        with self._lock:
            wanted = set().union(*words) - self._word_scores.keys() - self._table_scores.keys()
            others = {word: self._words_in_flight[word] for word in wanted if word in self._words_in_flight}
            missing = sorted(wanted - others.keys())
            done = threading.Event()
            self._words_in_flight.update(dict.fromkeys(missing, done))
        try:
            if missing:
                best = best_topic_scores(np.asarray(self.embed(missing), dtype=np.float32), matrix)
                with self._lock:
                    if len(self._word_scores) + len(missing) > _MAX_WORD_SCORES:
                        self._word_scores.clear()
                    self._word_scores.update(zip(missing, best.tolist()))
                    self.topic_counts["words_scored"] += len(missing)
        finally:
            with self._lock:
                for word in missing:
                    del self._words_in_flight[word]
            done.set()
        for event in set(others.values()):
            event.wait()
        bar = self.topic_threshold - self.topic_gate_margin
        with self._lock:
            live, table = self._word_scores, self._table_scores
            kept = [s for s, ws in zip(sentences, words)
                    if any(live.get(w, table.get(w, 1.0)) >= bar for w in ws)]
            self.topic_counts["sentences_gated_out"] += len(sentences) - len(kept)
        return kept

    # -- evaluation -------------------------------------------------------------------------------------
    def apply(self, content: Sequence[dict | str], source: str = "INPUT", output_scope: str = "INTERVENTIONS") -> dict:
        """Evaluate the blocks (ApplyGuardrail ``content`` items, or plain strings) for a source."""
        return self.evaluate(content, source, output_scope)[0]

    def evaluate(self, content: Sequence[dict | str], source: str = "INPUT",
                 output_scope: str = "INTERVENTIONS") -> tuple[dict, list[str]]:
        """ApplyGuardrail's response for the blocks, and notes on what could not be evaluated offline (in words;
        empty when everything was)."""
        # a caller waits on these few short model calls (a page held before Embed): every embedding made while
        # evaluating runs on the engine's priority lane, not behind the Embed stage's batches
        with priority_lane():
            return self._evaluate(content, source, output_scope)

    def _evaluate(self, content: Sequence[dict | str], source: str,
                  output_scope: str) -> tuple[dict, list[str]]:
        if source not in ("INPUT", "OUTPUT"):
            raise ValueError("source must be INPUT or OUTPUT")
        started = time.perf_counter()
        full = output_scope == "FULL"
        blocks_ = [self._block(item) for item in content]
        guarded = [b for b in blocks_ if b.guarded and b.text]
        texts = [b.text for b in guarded]
        findings = _Findings()
        units = dict.fromkeys(("topicPolicyUnits", "contentPolicyUnits", "wordPolicyUnits",
                               "sensitiveInformationPolicyUnits", "sensitiveInformationPolicyFreeUnits",
                               "contextualGroundingPolicyUnits"), 0)
        text_unit_count = sum(text_units(t) for t in texts)

        active_topics = [(i, t) for i, t in enumerate(self.topics) if t.switch.for_source(source)[0]]
        active_filters = [f for f in self.filters if f.switch.for_source(source)[0] and f.strength(source) != "NONE"
                          and not (f.type == "PROMPT_ATTACK" and source != "INPUT")]
        content_types = {f.type for f in active_filters} & set(CONTENT_TYPES)
        unjudged = _Unjudged()
        topic_pieces = [topic_sentences([text]) for text in texts] if active_topics else []
        filter_pieces = [split_sentences(text) for text in texts] if active_filters else []
        # every piece's language in one call: each call hands the GIL to the pipeline's other threads
        identify([*texts, *chain(*topic_pieces, *filter_pieces)])
        if active_topics and texts:
            units["topicPolicyUnits"] = text_unit_count
            english = [english_pieces(text, pieces) for text, pieces in zip(texts, topic_pieces)]
            unjudged.add("denied topics", english)
            scores = self.topic_scores(texts, [s for part in english for s in part.kept])
            for index, topic in active_topics:
                detected = scores[index] >= self.topic_threshold
                if detected or full:
                    action = topic.switch.for_source(source)[1] if detected else "NONE"
                    findings.topics[topic.name] = {"name": topic.name, "type": "DENY", "action": action,
                                                   "detected": detected}

        if active_filters and texts:
            units["contentPolicyUnits"] = text_unit_count
            confidences: dict[str, str] = {}
            english = [english_pieces(text, pieces) for text, pieces in zip(texts, filter_pieces)]
            english_sentences = [s for part in english for s in part.kept]
            if content_types:
                unjudged.add("content filters", english)
                confidences.update(assess_content(english_sentences))
            if "PROMPT_ATTACK" in {f.type for f in active_filters}:
                unjudged.add("prompt attack", english)  # its patterns run on every text: they match English only
                # its classifier reads the English sentences, embedded in one call
                confidences["PROMPT_ATTACK"] = assess_prompt_attacks(texts, english_sentences).confidence
            for flt in active_filters:
                confidence = confidences.get(flt.type, "NONE")
                detected = confidence != "NONE" and blocks(flt.strength(source), confidence)
                if detected or full:
                    findings.filters[flt.type] = {
                        "type": flt.type, "confidence": confidence, "filterStrength": flt.strength(source),
                        "action": flt.switch.for_source(source)[1] if detected else "NONE", "detected": detected}

        active_words = [w for w in self.words if w.switch.for_source(source)[0]]
        active_lists = [(kind, s) for kind, s in self.managed_lists if s.for_source(source)[0]]
        if (active_words or active_lists) and texts:
            units["wordPolicyUnits"] = text_unit_count
            for text in texts:
                for word in active_words:
                    for _, _, match in word.matcher.find(text):
                        findings.custom_words.append({"match": match, "action": word.switch.for_source(source)[1],
                                                      "detected": True})
                for kind, switch in active_lists:
                    for _, _, match in profanity_matcher().find(text):
                        findings.managed_words.append({"match": match, "type": kind,
                                                       "action": switch.for_source(source)[1], "detected": True})

        active_pii = {p.type: p for p in self.pii if p.switch.for_source(source)[0]}
        active_regexes = [r for r in self.regexes if r.switch.for_source(source)[0]]
        if active_pii and texts:
            units["sensitiveInformationPolicyUnits"] = text_unit_count
        if active_regexes and texts:
            units["sensitiveInformationPolicyFreeUnits"] = text_unit_count
        for block in guarded:
            block.masked = self._sensitive(block.text, source, active_pii, active_regexes, findings)

        actions = findings.actions()
        if "BLOCKED" in actions:
            action, reason = "GUARDRAIL_INTERVENED", "Guardrail blocked."
            outputs = [{"text": self.blocked_input_message if source == "INPUT" else self.blocked_output_message}]
        elif "ANONYMIZED" in actions:
            action, reason = "GUARDRAIL_INTERVENED", "Guardrail masked."
            outputs = [{"text": b.masked if b.guarded and b.text else b.text} for b in blocks_]
        else:
            action, reason, outputs = "NONE", "No action.", []

        total_chars = sum(len(b.text) for b in blocks_)
        coverage = {"textCharacters": {"guarded": sum(len(t) for t in texts), "total": total_chars}}
        assessment: dict[str, Any] = {}
        if findings.topics:
            assessment["topicPolicy"] = {"topics": list(findings.topics.values())}
        if findings.filters:
            assessment["contentPolicy"] = {"filters": list(findings.filters.values())}
        if findings.custom_words or findings.managed_words:
            assessment["wordPolicy"] = {"customWords": findings.custom_words, "managedWordLists": findings.managed_words}
        if findings.pii or findings.regexes:
            assessment["sensitiveInformationPolicy"] = {"piiEntities": findings.pii, "regexes": findings.regexes}
        latency_ms = int(round((time.perf_counter() - started) * 1000))
        assessment["invocationMetrics"] = {"guardrailProcessingLatency": latency_ms, "usage": dict(units),
                                           "guardrailCoverage": coverage}
        response = {"usage": units, "action": action, "actionReason": reason, "outputs": outputs,
                    "assessments": [assessment], "guardrailCoverage": coverage}
        return response, unjudged.notes()

    @staticmethod
    def _block(item: dict | str) -> _Block:
        if isinstance(item, str):
            return _Block(item, True)
        text = item.get("text")
        if text is None:
            return _Block("", False)  # an image block: not evaluated offline (the emulator refuses them)
        qualifiers = set(text.get("qualifiers") or ())
        return _Block(text.get("text", ""), not qualifiers or "guard_content" in qualifiers)

    @staticmethod
    def _sensitive(text: str, source: str, active_pii: dict[str, _Pii], regexes: list[_Regex],
                   findings: _Findings) -> str:
        """Record PII and regex matches; return the text with ANONYMIZED matches replaced."""
        replacements: list[tuple[int, int, str]] = []
        if active_pii:
            for match in find_pii(text, active_pii):
                action = active_pii[match.type].switch.for_source(source)[1]
                findings.pii.append({"match": match.text, "type": match.type, "action": action, "detected": True})
                if action == "ANONYMIZED":
                    replacements.append((match.start, match.end, "{" + match.type + "}"))
        for regex in regexes:
            action = regex.switch.for_source(source)[1]
            for m in regex.pattern.finditer(text):
                if m.end() == m.start():
                    continue
                findings.regexes.append({"name": regex.name, "match": m.group(0), "regex": regex.source,
                                         "action": action, "detected": True})
                if action == "ANONYMIZED" and all(m.end() <= s or m.start() >= e for s, e, _ in replacements):
                    replacements.append((m.start(), m.end(), "{" + regex.name + "}"))
        for start, end, placeholder in sorted(replacements, reverse=True):
            text = text[:start] + placeholder + text[end:]
        return text
