"""Prompt templates, kept as files next to this module (data, not code)."""

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def prompt(name: str) -> str:
    return resources.files("docpipe").joinpath(f"prompts/{name}.txt").read_text().strip()
