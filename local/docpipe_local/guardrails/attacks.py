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

_F = re.I | re.S

_INSTR = (r"(?:instructions?|directions?|rules?|guidelines?|guardrails?|prompts?|system (?:prompt|message)|"
          r"directives?|programming|constraints?|restrictions?|polic(?:y|ies)|context|commands?|orders?|training|"
          r"safety (?:rules|guidelines|filters?)|content polic(?:y|ies)|filters?)")
_PREV = r"(?:all |any |the |your |my |these |those |every |of )*(?:previous|prior|above|earlier|preceding|initial|original|foregoing|old|existing|current|given|system|developer)?\s*"

# (weight, family, pattern): 3 = strong, 2 = medium, 1 = weak
_PATTERNS: list[tuple[int, str, re.Pattern]] = [(w, f, re.compile(p, _F)) for w, f, p in [
    # -- instruction override
    (3, "override", rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|discard|overrule|cancel)\s+(?:about\s+)?{_PREV}{_INSTR}"),
    (3, "override", rf"\b(?:do not|don't|stop|no longer)\s+(?:follow|obey|comply with|adhere to|apply|respect)(?:ing)?\s+{_PREV}{_INSTR}"),
    (3, "override", r"\b(?:ignore|disregard|forget)\s+(?:everything|all|anything)\s+(?:(?:that\s+)?(?:you(?:'ve| have)? (?:been )?(?:told|said|instructed|given))|(?:above|before|prior|previously said|i said before|written above))"),
    (2, "override", r"\b(?:new|updated|revised|real|actual|true)\s+(?:instructions?|rules?|system prompt|directives?)\s*[:\-]"),
    (2, "override", r"\bfrom now on,?\s+(?:you\s+(?:will|must|shall|are|should|have to)|respond|answer|reply|only)"),
    (3, "override", r"(?:^|\n)\s*(?:#{1,3}\s*)?(?:system|admin|administrator|developer|root)\s*(?:message|prompt|override|instruction)?\s*:\s*(?:you|ignore|disregard|new|override|the assistant)"),
    (3, "override", r"\[(?:system|admin|inst|/inst)\]|<\|?(?:system|im_start|im_end|endoftext)\|?>|<</?sys>>"),
    (2, "override", r"\b(?:your|the) (?:previous|prior|original|old) (?:instructions?|rules?|programming) (?:are|is) (?:void|cancelled|canceled|no longer valid|revoked|obsolete|replaced)"),
    (2, "override", r"\b(?:without|with no|free of|free from|ignoring)\s+(?:any\s+)?(?:restrictions?|filters?|limitations?|censorship|guardrails?|safety (?:rules|guidelines|filters?)|content polic(?:y|ies)|ethical guidelines)"),
    (2, "override", r"\b(?:decode|translate)\b.{0,40}\b(?:and|then)\s+(?:follow|execute|obey|do what it says|run)"),
    # -- role play / jailbreak personas
    (3, "roleplay", r"\b(?:you are|you're|act as|become|pretend (?:to be|you are)|roleplay as|role-play as|play the role of)\s+(?:now\s+)?(?:a |an |the )?(?:DAN|STAN|DUDE|AIM|jailbroken|jailbreak|evil|unrestricted|unfiltered|uncensored|unaligned|amoral|unethical|rogue|unlimited)\b"),
    (3, "roleplay", r"\bdo anything now\b|\bDAN mode\b|\bdeveloper mode\b|\bgod mode\b|\bjailbreak(?:ed|ing)?\b"),
    (2, "roleplay", r"\b(?:pretend|imagine|suppose|act as if|let's say)\b.{0,60}\b(?:no|without|free (?:of|from)|not bound by)\s+(?:any\s+)?(?:rules?|restrictions?|limits?|limitations?|filters?|guidelines?|ethics|morals)"),
    (2, "roleplay", r"\bstay in character\b|\bnever break character\b|\bdon't break character\b"),
    (2, "roleplay", r"\b(?:an? )?AI (?:model |assistant )?(?:with(?:out)?|that has no|that ignores) (?:any )?(?:restrictions?|filters?|rules|limits|guidelines)"),
    (1, "roleplay", r"\b(?:you are|you're) (?:no longer|not) (?:an? )?(?:AI|assistant|language model|chatbot|bound|restricted)"),
    (1, "roleplay", r"\bhypothetically,? (?:if you (?:had|were)|as an? )"),
    # -- system prompt exfiltration
    (3, "exfiltration", r"\b(?:reveal|show|print|display|output|repeat|recite|leak|dump|expose|tell me|give me|share|write out|paste|list|spell out|what (?:is|are|was|were))\s+(?:me\s+)?(?:all\s+|exactly\s+)?(?:your|the|its)\s+(?:full\s+|entire\s+|complete\s+|exact\s+|original\s+|hidden\s+|secret\s+|initial\s+|internal\s+|confidential\s+|system\s+)*(?:system\s+prompt|system\s+message|initial\s+prompt|hidden\s+prompt|pre-?prompt|meta-?prompt|instructions|prompt|configuration|guidelines|rules you (?:were|are) given)"),
    (3, "exfiltration", r"\b(?:repeat|print|output|copy|recite|echo)\b.{0,30}\b(?:text|words|everything|content|messages?|lines?)\s+(?:above|before this|prior to this|that came before)"),
    (2, "exfiltration", r"\bwhat (?:were|are) you (?:told|instructed|programmed|asked) (?:before|at the (?:start|beginning)|initially|to do before)"),
    (2, "exfiltration", r"\b(?:verbatim|word for word|word-for-word)\b.{0,60}\b(?:prompt|instructions|above|system)"),
    (2, "exfiltration", r"\b(?:begin|start) your (?:reply|answer|response) with\b.{0,40}\b(?:system prompt|instructions|you are)"),
]]

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
    for weight, family, pattern in _PATTERNS:
        m = pattern.search(norm)
        if m:
            best[family] = max(best.get(family, 0), weight)
            matches.append(m.group(0).strip())
    if not best:
        return AttackAssessment("NONE", (), ())
    score = max(best.values())
    if len(best) > 1 and score < 3:
        score += 1  # cues from two families at once: a deliberate attack, not a turn of phrase
    return AttackAssessment(_LEVELS[min(score, 3)], tuple(sorted(best)), tuple(matches))
