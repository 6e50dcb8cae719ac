"""Prompt-attack detection: patterns and heuristics, scored into Bedrock's confidence levels.

Bedrock's PROMPT_ATTACK filter covers jailbreaks, prompt injection and prompt leakage, and is evaluated
on user input only. Here three families of cues are scored:

* instruction override -- "ignore/disregard/forget ... previous instructions", "new instructions:",
  "from now on you will ...", fake system/admin turns injected into the text;
* role-play jailbreaks -- "you are now DAN", "pretend you have no restrictions", "developer mode",
  "stay in character", "uncensored/unfiltered AI";
* system-prompt exfiltration -- "reveal/print/repeat your system prompt/instructions", "what were you told
  before this conversation", "repeat the text above verbatim".

A strong cue alone gives HIGH confidence, a weaker cue MEDIUM, and a lone weak hint LOW; two families
together raise the level. "Ignore" in ordinary prose ("you can ignore the warning light") matches nothing,
because every override pattern needs an object that is about the assistant's instructions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .literals import LiteralGate

_F = re.I | re.S

_PROMPTISH = (r"(?:instructions?|prompts?|system prompt|system message|directives?|programming|"
              r"guardrails?|safety (?:rules|guidelines|filters?|settings)|content polic(?:y|ies)|ethical guidelines)")
_RULEISH = r"(?:rules?|guidelines?|restrictions?|constraints?|polic(?:y|ies)|training|filters?|limitations?|principles)"
_ADJ = r"(?:previous|prior|above|earlier|preceding|initial|original|foregoing|system|developer|existing|current|hidden|built-in)"
_VERBS_IGNORE = r"(?:ignore|disregard|forget|override|bypass|skip|abandon|discard|overrule|set aside|throw out)"
_VERBS_SHOW = (r"(?:reveal|show|print|display|output|repeat|recite|leak|dump|expose|tell|give|share|write out|paste|"
               r"spell out|type out|list|what (?:is|are|was|were))")
_SYS_PROMPT = (r"(?:system\s+prompt|system\s+message|initial\s+prompt|hidden\s+prompt|pre-?prompt|meta-?prompt|"
               r"(?:hidden|secret|system|original|initial|internal|confidential|developer)\s+(?:instructions|rules|guidelines|directives))")

# (weight, family, pattern): 3 = strong (HIGH), 2 = medium (MEDIUM), 1 = weak (LOW)
_PATTERNS: list[tuple[int, str, re.Pattern]] = [(w, f, re.compile(p, _F)) for w, f, p in [
    # -- instruction override
    (3, "override", rf"\b{_VERBS_IGNORE}\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:your|the|my|these|those|its)?\s*(?:{_ADJ}\s+)*{_PROMPTISH}"),
    (3, "override", rf"\b{_VERBS_IGNORE}\s+(?:all\s+|any\s+)?(?:of\s+)?your\s+(?:{_ADJ}\s+)*{_RULEISH}"),
    (2, "override", rf"\b{_VERBS_IGNORE}\s+(?:all\s+|any\s+)(?:of\s+)?(?:the\s+)?(?:{_ADJ}\s+)+{_RULEISH}"),
    (3, "override", rf"\b(?:do not|don't|stop|no longer|never)\s+(?:follow|obey|comply with|adhere to|respect)(?:ing)?\s+(?:your|the\s+(?:{_ADJ}\s+)+|any)\s*(?:{_PROMPTISH}|{_RULEISH})"),
    (3, "override", r"\b(?:ignore|disregard|forget)\s+(?:everything|all|anything)\s+(?:(?:that\s+)?(?:you(?:'ve| have| were)? (?:been )?(?:told|said|instructed|given|taught))|above|before this|prior to this|previously said|i said before|written above)"),
    (2, "override", r"\bnew\s+(?:instructions?|system prompt|directives?)\s*(?:for you)?\s*:\s*(?:you|ignore|disregard|from now|act|pretend|respond|answer|reveal|do not|don't|always|never)"),
    (2, "override", r"\bfrom now on,?\s+(?:you\s+(?:will|must|shall|are going to|should|have to)\s+)?(?:act|respond|answer|reply|behave|pretend|ignore|role-?play|speak|talk|only (?:answer|respond|reply)|be an?\b)"),
    (3, "override", r"(?:^|\n)\s*(?:#{1,3}\s*)?(?:system|admin|administrator|developer|root)\s*(?:message|prompt|override|instruction)?\s*:\s*(?:you are now|ignore|disregard|new instructions|override|the assistant (?:must|will|should))"),
    (3, "override", r"\[(?:system|admin|inst|/inst)\]|<\|(?:system|im_start|im_end|endoftext)\|>|<</?sys>>"),
    (2, "override", r"\b(?:your|the) (?:previous|prior|original|old) (?:instructions?|rules|programming|guidelines) (?:are|is|have been) (?:now )?(?:void|cancelled|canceled|no longer valid|revoked|obsolete|replaced|lifted|suspended)"),
    (2, "override", r"\b(?:answer|respond|reply|talk|speak|act|operate|behave|write|generate|output|comply)\b\s+(?:\w+\s+){0,3}(?:without|with no|free (?:of|from)|ignoring)\s+(?:any\s+)?(?:restrictions?|filters?|limitations?|censorship|guardrails?|safety (?:rules|guidelines|filters?)|content polic(?:y|ies)|ethical guidelines|moral(?:s|ity))"),
    (2, "override", r"\b(?:decode|translate|decipher)\b.{0,40}\b(?:and|then)\s+(?:follow|execute|obey|do what it says|run) (?:it|them|the instructions)"),
    # -- role play / jailbreak personas
    (3, "roleplay", r"\b(?:you are|you're|act as|become|pretend (?:to be|you are)|role-?play as|play the role of|respond as)\s+(?:now\s+)?(?:a |an |the |my )?(?:DAN|STAN|DUDE|AIM|jailbroken|jailbreak|evil|unrestricted|unfiltered|uncensored|unaligned|amoral|unethical|rogue|unlimited|unbound)\b"),
    (3, "roleplay", r"\bdo anything now\b|\bDAN mode\b|\b(?:enable|activate|enter|switch to)\s+(?:DAN|god|jailbreak|unrestricted|uncensored) mode\b|\b(?:you|your)\b.{0,30}\bdeveloper mode\b|\bdeveloper mode\b.{0,60}\b(?:uncensored|unfiltered|no restrictions|ignore|policies)\b"),
    (2, "roleplay", r"\bjailbr(?:eak|oken)\b.{0,40}\b(?:you|AI|assistant|model|chatbot|llm|gpt|claude|this chat)\b|\b(?:you|AI|assistant|model|chatbot|llm)\b.{0,40}\bjailbr(?:eak|oken)\b"),
    (2, "roleplay", r"\b(?:pretend|imagine|suppose|act as if|let's say)\s+(?:that\s+)?(?:you|you're|you are|your)\b.{0,60}\b(?:no|without|free (?:of|from)|not bound by|unbound by|freed from)\s+(?:any\s+)?(?:rules?|restrictions?|limits?|limitations?|filters?|guidelines?|ethics|morals|programming)"),
    (2, "roleplay", r"\bstay in character\b|\bnever break character\b|\bdon't break character\b"),
    (2, "roleplay", r"\b(?:an? )?AI (?:model |assistant )?(?:with(?:out)?|that has no|that ignores|free of) (?:any )?(?:restrictions?|filters?|rules|limits|guidelines|censorship)"),
    (2, "roleplay", r"\b(?:you are|you're) (?:no longer|not) (?:an? )?(?:AI|assistant|language model|chatbot|bound by|restricted by)"),
    # -- system prompt exfiltration
    (3, "exfiltration", rf"\b{_VERBS_SHOW}\s+(?:me\s+|us\s+)?(?:all\s+|exactly\s+)?(?:of\s+)?(?:your|the|its)\s+(?:full\s+|entire\s+|complete\s+|exact\s+|whole\s+)?{_SYS_PROMPT}"),
    (2, "exfiltration", rf"\b{_VERBS_SHOW}\s+(?:me\s+|us\s+)?(?:all\s+|exactly\s+)?(?:of\s+)?your\s+(?:full\s+|entire\s+|complete\s+|exact\s+|original\s+|initial\s+)?(?:instructions|prompt|configuration|guidelines|rules|directives)"),
    (2, "exfiltration", r"\b(?:repeat|print|output|recite|echo)\b.{0,20}\b(?:everything|all|the (?:text|words|content|messages?|conversation))\s+(?:above|before this|prior to this|that came before|so far)"),
    (2, "exfiltration", r"\bwhat (?:were|are) you (?:told|instructed|programmed|asked) (?:before|at the (?:start|beginning)|initially|to do before)"),
    (2, "exfiltration", r"\b(?:verbatim|word for word|word-for-word)\b.{0,60}\b(?:prompt|instructions|system)\b|\b(?:prompt|instructions|system message)\b.{0,40}\b(?:verbatim|word for word|word-for-word)\b"),
    (2, "exfiltration", r"\b(?:begin|start) your (?:reply|answer|response) with\b.{0,40}\b(?:system prompt|your instructions|you are a)"),
]]

_CUES = LiteralGate([pattern for _, _, pattern in _PATTERNS])  # skips the patterns whose words are absent

_LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")


@dataclass(frozen=True)
class AttackAssessment:
    confidence: str  # NONE | LOW | MEDIUM | HIGH
    families: tuple[str, ...]
    matches: tuple[str, ...]


def normalize(text: str) -> str:
    """NFKC (fullwidth and ligature tricks), zero-width characters removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)
    return re.sub(r"[ \t]+", " ", text)


def assess_prompt_attack(text: str) -> AttackAssessment:
    norm = normalize(text)
    best: dict[str, int] = {}
    matches: list[str] = []
    for (weight, family, _), m in zip(_PATTERNS, _CUES.search([norm])[0]):
        if m:
            best[family] = max(best.get(family, 0), weight)
            matches.append(m.group(0).strip())
    if not best:
        return AttackAssessment("NONE", (), ())
    score = max(best.values())
    if len(best) > 1 and score < 3:
        score += 1  # cues from two families at once: a deliberate attack, not a turn of phrase
    return AttackAssessment(_LEVELS[min(score, 3)], tuple(sorted(best)), tuple(matches))
