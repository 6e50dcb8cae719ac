"""Whether a retrieved passage is about what a question asks about: its subject.

A passage can be close to a question in embedding space and still be about something else: "Who will inspect
the beta reservoir dam?" lands near every inspection report, and a model handed those passages answers with
a confident sentence about another structure. The subject is read off the question's own words:

- its names: capitalized words after the first, and codes mixing letters and digits ("Millbrook Dam",
  "Pier 2", "FB-14"), each of which the passage's document must hold (in the passages retrieved from it, or
  its name: a chunk need not repeat the name of what its document is about); an abbreviation ("UPS",
  "NOx") is also held as the words its capitals begin, in order ("uninterruptible power supplies",
  "nitrogen oxide"): a question abbreviates what a report spells out;
- its key words: the other content words, less the words of asking itself (how many, what share, cost,
  when, which firm, due...) and words that name nothing (had, up, again, into, first...), of which the
  passage's document must hold at least half (rounded up: 1 of 1 or 2, 2 of 3 or 4). The document, not the
  passage alone: a question is worded by someone who has not read the text ("When can visitors go up to the
  gallery again?" of a passage saying "the gallery reopens to visitors"), and the sentence that answers
  rarely repeats what the rest of its document says the work is about.

Words match across word forms ("seeps" matches "seepage", "inspect" matches "inspection"). A question with
neither names nor key words ("What is it?") has no subject to check: every passage is about it.
"""

from __future__ import annotations

import math
import re

from docpipe.logic.ask_grounding import terms

_TOKEN = re.compile(r"[^\W_]+(?:[&-][^\W_]+)*")  # "Bridge's" is the name "Bridge"; "dam_review.md" is 3 words
_CODE = re.compile(r"(?=.*\d)(?=.*[A-Za-z])[\w-]+")  # FB-14, PM-0417, A40
_LETTERS = re.compile(r"[^\W\d_]+")
# what a question asks with, not what it asks about: figures, kinds of answer, auxiliaries, verbs of asking
_ASKING = terms(
    "who whom whose which what when where why how many much long wide deep high tall large big heavy old far "
    "often thick soon share percentage percent proportion fraction year date amount size length width depth "
    "height number sum total cost costs fee fees price budget firm company name person people "
    "will would should could can may might must shall next new current each every per expected estimated "
    "planned due scheduled say says tell give know mention describe happen take get make go done carried "
    # words that name nothing a document is about: "had to be renewed", "go up ... again", "first go into"
    "had been being has have there their they them all any some more most other also again still ever yet "
    "up down into onto over under off back first last behalf "
    # nor do these: "shut so its culvert could be rebuilt", "since the upgrade", "the old ones", "the whole job"
    "so now once since while until whole one ones able than then if but not such only just very because")


def stems_match(wanted: str, held: set[str]) -> bool:
    """A stem is held as itself, or as a longer or shorter form of at least four letters ("seep"/"seepag")."""
    if wanted in held:
        return True
    return len(wanted) >= 4 and any(len(word) >= 4 and (word.startswith(wanted) or wanted.startswith(word))
                                    for word in held)


def _spelled_out(initials: str, text: str) -> bool:
    """Whether consecutive words of ``text``, of four letters or more (not "in", "of", "the": a short word
    begins a chance run of initials too easily), begin with ``initials``, in order."""
    words = _LETTERS.findall(text.lower())
    return any(all(len(word) >= 4 for word in words[at:at + len(initials)])
               and "".join(word[0] for word in words[at:at + len(initials)]) == initials
               for at in range(len(words) - len(initials) + 1))


class Subject:
    """The names and key words of a question, and whether a passage is about them."""

    def __init__(self, question: str):
        tokens = _TOKEN.findall(question)
        self.names = {token.lower() for index, token in enumerate(tokens)
                      if (index > 0 and token[:1].isupper() and token != "I") or _CODE.fullmatch(token)}
        # the initials an abbreviation stands for: two capitals or more, no digit ("UPS" -> "ups", "NOx" -> "no")
        self.initials = {token.lower(): "".join(c for c in token if c.isupper()).lower() for token in tokens
                         if sum(c.isupper() for c in token) >= 2 and not any(c.isdigit() for c in token)}
        self.key_words = terms(question) - _ASKING - terms(" ".join(self.names))
        self.needed = math.ceil(len(self.key_words) / 2)

    def is_about(self, passage: str, document: str = "") -> bool:
        """Whether ``passage`` is about the subject, read with ``document`` (the text of the passage's document
        that was retrieved, and its name): a chunk need not repeat the name of the dam its document is about,
        nor what the work on it is."""
        text = passage + "\n" + document
        missing = self.names - {token.lower() for token in _TOKEN.findall(text)}
        if missing and not all(name in self.initials and _spelled_out(self.initials[name], text)
                               for name in missing):
            return False
        held = terms(text)
        return sum(stems_match(word, held) for word in self.key_words) >= self.needed


def about_the_subject(hits: list[dict], question: str) -> list[dict]:
    """Those of ``hits`` (S3 Vectors results with metadata) that are about the question's subject, each read
    with the other hits of its document and the document's source key."""
    subject = Subject(question)
    documents: dict[str, list[str]] = {}
    for hit in hits:
        meta = hit["metadata"]
        documents.setdefault(meta["doc_id"], [meta.get("source_key", "")]).append(meta["text"])
    return [hit for hit in hits
            if subject.is_about(hit["metadata"]["text"], "\n".join(documents[hit["metadata"]["doc_id"]]))]
