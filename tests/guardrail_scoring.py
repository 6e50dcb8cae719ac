"""Scoring the offline guardrail engine on a labelled set: what fired per policy, precision, recall.

A labelled line is ``{"label": pii|prompt_attack|topic|toxic|word|benign, "text": ...}`` (PII lines also
name their ``entities``). A line is run through the engine as user input (source INPUT); what fired is read
from the ApplyGuardrail assessment, the way a caller of the real service would read it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

POLICIES = ("pii", "prompt_attack", "topic", "toxic", "word")
POLICY_NAMES = {"pii": "personal data (PII)", "prompt_attack": "prompt attack", "topic": "denied topics",
                "toxic": "content filters", "word": "word filters"}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def flags(result: dict) -> dict[str, set]:
    """What fired, per policy (only what intervened or would intervene; detect-only PII is not a flag)."""
    assessment = result["assessments"][0]
    fired: dict[str, set] = defaultdict(set)
    sensitive = assessment.get("sensitiveInformationPolicy", {})
    for entry in sensitive.get("piiEntities", []) + sensitive.get("regexes", []):
        fired["found_entities"].add(entry.get("type") or entry.get("name"))
        if entry["action"] != "NONE":
            fired["pii"].add(entry.get("type") or entry.get("name"))
    for entry in assessment.get("contentPolicy", {}).get("filters", []):
        fired["prompt_attack" if entry["type"] == "PROMPT_ATTACK" else "toxic"].add(entry["type"])
    for entry in assessment.get("topicPolicy", {}).get("topics", []):
        fired["topic"].add(entry["name"])
    words = assessment.get("wordPolicy", {})
    for entry in words.get("customWords", []) + words.get("managedWordLists", []):
        fired["word"].add(entry["match"])
    return fired


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


@dataclass
class Scores:
    name: str
    lines: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tp: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fp: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fn: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    benign_by_policy: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # benign lines each flagged
    benign_flagged: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    entities_expected: int = 0
    entities_found: int = 0

    def precision(self, policy: str) -> float:
        return _ratio(self.tp[policy], self.tp[policy] + self.fp[policy])

    def recall(self, policy: str) -> float:
        return _ratio(self.tp[policy], self.tp[policy] + self.fn[policy])

    @property
    def entity_recall(self) -> float:
        return _ratio(self.entities_found, self.entities_expected)

    @property
    def benign_rate(self) -> float:
        return _ratio(len(self.benign_flagged), self.lines["benign"])

    def benign_rate_of(self, policy: str) -> float:
        return _ratio(self.benign_by_policy[policy], self.lines["benign"])

    def report(self) -> str:
        out = [f"{self.name}: {sum(self.lines.values())} lines"]
        if any(self.lines[p] for p in POLICIES):
            out.append(f"  {'policy':<22}{'lines':>6}{'precision':>11}{'recall':>8}")
            for p in POLICIES:
                out.append(f"  {POLICY_NAMES[p]:<22}{self.lines[p]:>6}{self.precision(p):>11.3f}{self.recall(p):>8.3f}")
            out.append(f"  PII entities found: {self.entities_found}/{self.entities_expected} = {self.entity_recall:.3f}")
        out.append(f"  benign lines flagged: {len(self.benign_flagged)}/{self.lines['benign']} = {self.benign_rate:.3f}")
        out += [f"  - missed {line}" for line in self.misses]
        out += [f"  - benign flagged: {line}" for line in self.benign_flagged]
        return "\n".join(out)


def score(engine, rows: list[dict], name: str) -> Scores:
    scores = Scores(name)
    for row in rows:
        label = row["label"]
        scores.lines[label] += 1
        result = engine.apply([row["text"]], source="INPUT")
        fired = flags(result)
        for policy in POLICIES:
            predicted, actual = bool(fired.get(policy)), label == policy
            scores.tp[policy] += predicted and actual
            scores.fp[policy] += predicted and not actual
            scores.fn[policy] += actual and not predicted
            if actual and not predicted:
                scores.misses.append(f"{policy}: {row['text']}")
            if predicted and label == "benign":
                scores.benign_by_policy[policy] += 1
        if label == "benign" and result["action"] != "NONE":
            scores.benign_flagged.append(f"{row['text']} -> {dict(fired)}")
        if label == "pii":
            scores.entities_expected += len(row["entities"])
            scores.entities_found += len(set(row["entities"]) & fired.get("found_entities", set()))
    return scores
