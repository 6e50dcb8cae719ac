"""Bedrock Guardrails, offline: a policy engine configured from an ``AWS::Bedrock::Guardrail``'s Properties.

>>> engine = GuardrailEngine(load_example_properties(), embed=my_embed)
>>> engine.apply(["My email is jane@example.com"], source="INPUT")["outputs"]
[{'text': 'My email is {EMAIL}'}]

See ``engine.py`` for what each policy does here, and ``example_guardrail.yaml`` for the project's guardrail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .engine import (DEFAULT_TOPIC_THRESHOLD, GuardrailConfigError, GuardrailEngine, split_sentences, text_units,
                     topic_sentences)
from .pii import PII_TYPES, PiiMatch, find_pii

EXAMPLE_GUARDRAIL = Path(__file__).with_name("example_guardrail.yaml")


def load_example_properties() -> dict[str, Any]:
    """The Properties of the project's example guardrail (``example_guardrail.yaml``) as a dict."""
    import yaml

    return yaml.safe_load(EXAMPLE_GUARDRAIL.read_text(encoding="utf-8"))


__all__ = ["DEFAULT_TOPIC_THRESHOLD", "EXAMPLE_GUARDRAIL", "GuardrailConfigError", "GuardrailEngine", "PII_TYPES",
           "PiiMatch", "find_pii", "load_example_properties", "split_sentences", "text_units", "topic_sentences"]
