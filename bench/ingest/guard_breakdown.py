"""Where GuardText's time goes inside bench/ingest's pipeline run (issue 23: GuardText ≤ 25% of the ingest states).

:class:`GuardBreakdown` wraps, for the life of its ``with`` block, the functions GuardText spends its time in
and sums per part the wall time of the threads that ran them and their CPU time (``time.thread_time``): the
difference is waiting (for the GIL, a core, a pool worker, the model). Parts nest (a page's evaluation holds
its language identification...), so they do not add up to the whole; pages of documents screened at once
overlap, so per-page figures are thread-seconds. The wrappers cost a few microseconds a call (a few hundred
calls a run).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from contextlib import ExitStack

# (module, attribute, part): the functions timed, by what they do
_FUNCTIONS = [
    ("docpipe.logic.guard", "delete_versions", "document: older versions of the text deleted"),
    ("docpipe.logic.guard", "put_json", "document: masked text written"),
    ("docpipe_local.guardrails.engine", "identify",
     "page: language identification (py3langid's model, the page's pieces in one batch)"),
    ("docpipe_local.guardrails.engine", "find_pii", "page: PII"),
    ("docpipe_local.guardrails.engine", "assess_content", "page: content filters"),
    ("docpipe_local.guardrails.engine", "assess_prompt_attacks", "page: prompt attack"),
]
_METHODS = [
    ("docpipe_local.guardrails.engine", "GuardrailEngine", "evaluate", "page: the guardrail engine (evaluate)"),
    ("docpipe_local.guardrails.engine", "GuardrailEngine", "topic_scores",
     "page: denied topics (word gate, then the sentences it lets through)"),
    ("docpipe_local.guardrails.engine", "GuardrailEngine", "_could_match",
     "page: denied topics' word gate (new words embedded)"),
]
QUEUED = "page: waiting for a worker of the container's 'guard' pool"
APPLY = "page: ApplyGuardrail call (botocore, the emulator, the engine)"
SCREENING = "document: its pages screened (first submitted to last answered)"
MODEL = "page: the model's runs on the priority lane (their CPU is OpenVINO's threads': not counted)"
MODEL_ELSEWHERE = "page: the model's runs on the engine's streams, Embed's lane (CPU not counted)"


class GuardBreakdown:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack = ExitStack()
        self._inside_guardrail = threading.local()

    def reset(self) -> None:
        """Forget what was recorded (the warm-up document's)."""
        with self._lock:
            self.wall.clear()
            self.cpu.clear()
            self.calls.clear()

    def _add(self, part: str, wall: float, cpu: float | None) -> None:
        with self._lock:
            self.wall[part] += wall
            self.cpu[part] += cpu or 0.0
            self.calls[part] += 1

    def _timed(self, part: str, function, *, cpu: bool = True):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            wall, used = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self._add(part, time.perf_counter() - wall, time.thread_time() - used if cpu else None)
        return timed

    def _patch(self, owner, name: str, replacement) -> None:
        original = owner.__dict__[name]
        setattr(owner, name, replacement)
        self._stack.callback(setattr, owner, name, original)

    def __enter__(self) -> "GuardBreakdown":
        import importlib

        from docpipe import workers
        from docpipe_local.engines.minilm import MiniLMEngine

        for module_name, name, part in _FUNCTIONS:
            module = importlib.import_module(module_name)
            self._patch(module, name, self._timed(part, module.__dict__[name]))
        for module_name, class_name, name, part in _METHODS:
            owner = getattr(importlib.import_module(module_name), class_name)
            function = owner.__dict__[name]
            if name == "evaluate":
                function = self._marking_guardrail(function)
            self._patch(owner, name, self._timed(part, function))

        map_in_order = workers.map_in_order

        def timed_map(name, count, work, items):
            if name != "guard":
                return map_in_order(name, count, work, items)
            submitted = time.perf_counter()

            def page(item):
                self._add(QUEUED, time.perf_counter() - submitted, 0.0)
                return self._timed(APPLY, work)(item)
            return self._timed(SCREENING, map_in_order)(name, count, page, items)
        self._patch(workers, "map_in_order", timed_map)

        run = MiniLMEngine._run

        def timed_run(engine, ids, mask, priority=False):
            if priority:
                return self._timed(MODEL, run, cpu=False)(engine, ids, mask, priority)
            if getattr(self._inside_guardrail, "active", False):  # a guardrail call that missed the lane
                return self._timed(MODEL_ELSEWHERE, run, cpu=False)(engine, ids, mask, priority)
            return run(engine, ids, mask, priority)
        self._patch(MiniLMEngine, "_run", timed_run)
        return self

    def _marking_guardrail(self, evaluate):
        @functools.wraps(evaluate)
        def marked(*args, **kwargs):
            self._inside_guardrail.active = True
            try:
                return evaluate(*args, **kwargs)
            finally:
                self._inside_guardrail.active = False
        return marked

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def rows(self) -> list[tuple[str, float, float, int]]:
        """(part, wall s, CPU s, calls), documents' parts first."""
        with self._lock:
            parts = sorted(self.wall, key=lambda part: (not part.startswith("document"), -self.wall[part]))
            return [(part, self.wall[part], self.cpu[part], self.calls[part]) for part in parts]
