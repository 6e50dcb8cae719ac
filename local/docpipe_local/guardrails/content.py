"""Content filters (HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT): a toxicity classifier plus category cues.

The classifier is ``alt-profanity-check``'s linear SVM over TF-IDF features (a ~2 MB scikit-learn model
that ships inside the PyPI wheel; nothing is downloaded). It gives one number per sentence -- how offensive
it is -- but no category. The category comes from small cue patterns below (a threat, a group of people
next to dehumanizing words, a second-person insult, a "how do I make a bomb"), and the two together give
Bedrock's confidence levels NONE < LOW < MEDIUM < HIGH for each filter type.

Both the model and the cues know English only: the engine gives them only the sentences that are not
confidently in another language (``language.py``), and says which languages it left unjudged.

A filter of strength S blocks content of confidence >= S's threshold, as Bedrock documents it: strength
HIGH blocks LOW, MEDIUM and HIGH confidence; MEDIUM blocks MEDIUM and HIGH; LOW blocks HIGH only.
"""

from __future__ import annotations

import logging
import re
import threading

from .literals import LiteralGate

log = logging.getLogger(__name__)

LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")
CONTENT_TYPES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")

_F = re.I

_GROUPS = (r"(?:immigrants?|migrants?|refugees?|foreigners?|muslims?|jews?|jewish people|christians?|hindus?|"
           r"atheists?|black people|blacks|white people|whites|asians?|arabs?|mexicans?|africans?|gays?|lesbians?|"
           r"trans(?:gender)? people|homosexuals?|women|men|girls|disabled people|the disabled|gypsies|roma|"
           r"catholics?|(?:those|these) people)")
_DEHUMANIZE = (r"(?:vermin|animals|subhuman|sub-human|parasites?|cockroach(?:es)?|rats|savages?|filth(?:y)?|"
               r"disease|plague|inferior|scum|trash|garbage|should (?:all )?(?:be )?(?:die|killed|exterminated|"
               r"wiped out|gassed|deported|removed|locked up|banned)|don't deserve|do not deserve|are a cancer|"
               r"go back to|not (?:real )?(?:people|humans))")
_INSULT_WORDS = (r"(?:idiot|moron|imbecile|stupid|dumb|dumbass|loser|pathetic|worthless|useless|fool|clown|jerk|"
                 r"retard(?:ed)?|cretin|dimwit|halfwit|nitwit|dunce|ignoramus|scumbag|piece of (?:shit|crap|trash|garbage)|"
                 r"waste of (?:space|oxygen|air)|ugly|fat|disgusting|incompetent|brainless|clueless|asshole|bastard|"
                 r"bitch|prick|twat|wanker|dickhead|shithead|douche(?:bag)?|trash)")
_VIOLENT_VERBS = r"(?:kill|murder|stab|shoot|behead|strangle|torture|slaughter|massacre|hurt|beat (?:up|to death)|bash|punch|choke|burn|bomb|blow up|execute|lynch|rape|maim|slit)"
_SEXUAL_EXPLICIT = (r"(?:porn(?:ography|ographic)?|blowjob|handjob|orgasm|masturbat\w*|genitals?|penis|vagina|"
                    r"clitoris|erection|ejaculat\w*|cum(?:shot)?|dildo|nude pics?|nudes|naked pics?|sexting|"
                    r"have sex|having sex|sex with|sexual intercourse|intercourse|fuck(?:ing)? (?:me|her|him)|"
                    r"horny|xxx|hardcore|fetish|bdsm|erotic|strip(?:tease|per)|onlyfans)")
_SEXUAL_MILD = r"(?:sexy|sexual|seductive|lingerie|kiss(?:ing)?|making out|flirt\w*|intimate|aroused)"
_HARM_HOWTO = (r"\b(?:how (?:do|can|could|would|should) (?:i|we|you|one)|how to|ways to|best way to|teach me to|"
               r"help me|tell me how to|steps to|instructions (?:for|to)|guide to)\b")
_HARM_ACT = (r"(?:make|build|create|synthesi[sz]e|cook|brew|manufacture|assemble|get|buy|obtain|steal|hack|"
             r"launder|forge|counterfeit|smuggle|poison|break into|pick|hotwire|evade|dodge|cheat|scam|phish|"
             r"shoplift|bribe|embezzle|traffic|dox|stalk|blackmail|extort)")
_HARM_OBJ = (r"(?:bombs?|explosives?|pipe bombs?|molotov|napalm|meth(?:amphetamine)?|cocaine|heroin|fentanyl|"
             r"lsd|drugs|nerve agents?|sarin|ricin|anthrax|bioweapons?|weapons?|(?:untraceable |ghost )?guns?|"
             r"credit cards?|card numbers|identit(?:y|ies)|money|cash|passports?|id cards?|malware|ransomware|"
             r"viruse?s?|keyloggers?|botnets?|someone'?s? (?:account|email|phone|house|car)|(?:a |the )?(?:car|lock|"
             r"house|bank|atm|safe)|taxes|the police|security cameras|an? (?:exam|test)|people|children|"
             r"(?:an? )?(?:account|password|wifi|network|server|website|computer|phone|email))")
_CRIME_WORDS = r"(?:steal|theft|fraud|launder(?:ing)?|smuggl\w*|bribe(?:ry)?|counterfeit|illegal(?:ly)?|hack(?:ing)?|piracy|trafficking|narcotics)"

_P = {name: re.compile(pattern, _F) for name, pattern in {
    "hate_strong": rf"\b{_GROUPS}\b.{{0,40}}\b{_DEHUMANIZE}",
    "hate_strong2": rf"\b{_DEHUMANIZE}\b.{{0,20}}\b{_GROUPS}\b",
    "hate_medium": rf"\b(?:i |we )?(?:hate|despise|can't stand|loathe)\s+(?:all\s+)?{_GROUPS}\b|\ball {_GROUPS} are\b",
    "group": rf"\b{_GROUPS}\b",
    "insult_2p": rf"\b(?:you(?:'re| are| r)?|ur|you (?:absolute|total|complete|utter|little|big|fucking|stupid)|what an?|such an?)\s+(?:an?\s+|such an?\s+|so\s+|the\s+)?(?:\w+\s+)?{_INSULT_WORDS}\b",
    "insult_word": rf"\b{_INSULT_WORDS}\b",
    "insult_shut": r"\bshut (?:up|your (?:mouth|face|trap))\b|\bnobody (?:likes|cares about) you\b|\bgo to hell\b",
    "threat": rf"\b(?:(?:we|you|they|everyone|somebody|someone) (?:should|must|need to|ought to|have to)|let's|i(?:'ll| will| am going to|'m going to|'m gonna| gonna| want to| wanna)|we(?:'ll| will| are going to)|going to|gonna)\s+(?:\w+\s+)?{_VIOLENT_VERBS}\s+(?:you|him|her|them|everyone|everybody|people|your|his|their|all|every (?:one|single)|each (?:one|of)|(?:those|these) (?:people|guys|men|women|kids|bastards|idiots))\b",
    "violent_howto": rf"{_HARM_HOWTO}.{{0,30}}\b{_VIOLENT_VERBS}\b.{{0,20}}\b(?:someone|somebody|a person|people|him|her|my|a child|them)\b",
    "graphic": r"\b(?:blood (?:everywhere|spurting|splatter)|guts|disembowel\w*|dismember\w*|decapitat\w*|mutilat\w*|gore|skull (?:crushed|smashed)|entrails)\b",
    "violent_word": rf"\b{_VIOLENT_VERBS}(?:s|ed|ing)?\b|\b(?:killed|murdered|stabbed|shot dead|violence|violent|assault(?:ed)?|weapon)\b",
    "sexual_explicit": rf"\b{_SEXUAL_EXPLICIT}\b",
    "sexual_mild": rf"\b{_SEXUAL_MILD}\b",
    "misconduct_howto": rf"{_HARM_HOWTO}.{{0,40}}\b{_HARM_ACT}\b.{{0,30}}\b{_HARM_OBJ}",
    "misconduct_request": r"\b(?:help me|i want to|i need to|let's|how can i)\s+(?:\w+\s+)?(?:steal|launder|evade taxes|cheat on|shoplift|bribe|embezzle|blackmail|extort|hack into|break into|forge|counterfeit|smuggle)\b",
    "crime_word": rf"\b{_CRIME_WORDS}\b",
}.items()}
_CUES = LiteralGate(list(_P.values()))  # most sentences hold none of the words a cue needs


class ToxicityClassifier:
    """alt-profanity-check's model, loaded on first use (importing scikit-learn takes a few seconds).

    The model is a ``CalibratedClassifierCV`` of five sigmoid-calibrated LinearSVCs over the package's
    TF-IDF features, and ``predict_prob`` is the mean of the five ``1 / (1 + exp(a * (w . x + b) + c))``.
    :func:`_calibrated_linear` computes exactly that from the fitted coefficients in one sparse product:
    the same numbers as ``predict_prob`` (tests/unit/test_guardrail_engine.py compares them) without
    scikit-learn's per-call input validation, which cost 5x the arithmetic on a page of sentences.
    """

    def __init__(self) -> None:
        self._predict = None
        self._lock = threading.Lock()
        self.available = True

    def probabilities(self, sentences: list[str]) -> list[float]:
        if not sentences:
            return []
        with self._lock:
            if self._predict is None and self.available:
                try:
                    from profanity_check import profanity_check
                    self._predict = _calibrated_linear(profanity_check.vectorizer, profanity_check.model)
                except ImportError:  # pragma: no cover - the dependency is pinned for the offline runtime
                    log.warning("alt-profanity-check is not installed: content filters use cue patterns only")
                    self.available = False
        if self._predict is None:
            return [0.0] * len(sentences)
        return [float(p) for p in self._predict(sentences)]


def _calibrated_linear(vectorizer, model):
    """``texts -> P(offensive)`` of a fitted binary CalibratedClassifierCV(LinearSVC, method="sigmoid")."""
    import numpy as np
    from scipy.special import expit

    members = model.calibrated_classifiers_
    if model.method != "sigmoid" or any(len(m.calibrators) != 1 for m in members):
        return lambda texts: model.predict_proba(vectorizer.transform(texts))[:, 1]  # not the shape we know
    weights = np.stack([m.estimator.coef_.ravel() for m in members], axis=1)  # (features, members)
    intercepts = np.array([m.estimator.intercept_[0] for m in members])
    slopes = np.array([m.calibrators[0].a_ for m in members])
    offsets = np.array([m.calibrators[0].b_ for m in members])

    def predict(texts: list[str]):
        decisions = vectorizer.transform(texts) @ weights + intercepts
        return expit(-(slopes * decisions + offsets)).mean(axis=1)

    return predict


_CLASSIFIER = ToxicityClassifier()


def _level(value: int) -> str:
    return LEVELS[max(0, min(3, value))]


def assess_content(sentences: list[str], classifier: ToxicityClassifier | None = None) -> dict[str, str]:
    """Confidence (NONE..HIGH) for each content filter type, over the given sentences of one text."""
    classifier = classifier or _CLASSIFIER
    probs = classifier.probabilities(sentences)
    scores = dict.fromkeys(CONTENT_TYPES, 0)
    for p, hits in zip(probs, _CUES.search(sentences)):
        has = {name: hit is not None for name, hit in zip(_P, hits)}
        toxic = 3 if p >= 0.9 else 2 if p >= 0.75 else 1 if p >= 0.5 else 0

        hate = 0
        if has["hate_strong"] or has["hate_strong2"]:
            hate = 3
        elif has["hate_medium"]:
            hate = 2 + (toxic >= 2)
        elif has["group"] and toxic >= 2:
            hate = toxic - 1
        scores["HATE"] = max(scores["HATE"], hate)

        insult = 0
        if has["insult_2p"] or has["insult_shut"]:
            insult = 2 + (toxic >= 2)
        elif has["insult_word"]:
            insult = 1 + (toxic >= 2)
        elif toxic >= 2:
            insult = toxic - 1  # offensive but aimed at no one in particular
        scores["INSULTS"] = max(scores["INSULTS"], insult)

        violence = 0
        if has["threat"] or has["violent_howto"]:
            violence = 3
        elif has["graphic"]:
            violence = 2 + (toxic >= 2)
        elif has["violent_word"]:
            violence = 1 + (toxic >= 2)
        scores["VIOLENCE"] = max(scores["VIOLENCE"], violence)

        sexual = 0
        if has["sexual_explicit"]:
            sexual = 2 + (toxic >= 1)
        elif has["sexual_mild"]:
            sexual = 1 + (toxic >= 2)
        scores["SEXUAL"] = max(scores["SEXUAL"], sexual)

        misconduct = 0
        if has["misconduct_howto"]:
            misconduct = 3
        elif has["misconduct_request"]:
            misconduct = 2 + (toxic >= 1)
        elif has["crime_word"]:
            misconduct = 1
        scores["MISCONDUCT"] = max(scores["MISCONDUCT"], misconduct)
    return {kind: _level(score) for kind, score in scores.items()}


_BLOCKS_FROM = {"NONE": 4, "LOW": 3, "MEDIUM": 2, "HIGH": 1}  # lowest confidence index each strength blocks


def blocks(strength: str, confidence: str) -> bool:
    """Whether a filter of this strength blocks content of this confidence (Bedrock's documented table)."""
    return LEVELS.index(confidence) >= _BLOCKS_FROM[strength]
