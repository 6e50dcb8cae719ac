"""bench/languages: does the language fan-out run concurrently? The Map state's wall time for three target
languages against one, for the same summaries, in the same run (target: three take <= 1.6x one).

    .venv/bin/python bench/languages/run.py [--rounds 3]

Each round processes the shipped FAQ with languages "es" and then "es,ca,it" (fresh document names; the
summary comes from the response cache, translation and speech are done anew: the Translate emulator's recent
hops are forgotten before each run, so only the branches of one run share their English->Spanish hop), and reads the
TranslateAndSpeak state's entered/exited timestamps from the execution history.

Where each branch's time goes (median over the three-language rounds, seconds from the Map's start): the
Translate and Speak functions' invocations (the Lambda emulator), inside them each Apertium hop (time waiting
for the mode's pipeline, and its work), the guardrail on the translation, espeak-ng and sox; CPU-seconds of
the process and its children over the Map, against what two cores could give.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from docpipe_local.runtime import OfflineRuntime
from docpipe_local.trigger import s3_event

# the shipped FAQ: its summary (served from the response cache after the warm-up, so every round translates
# and speaks the same text) is a realistic length for the fan-out
NOTE = (Path(__file__).resolve().parents[2] / "samples" / "faq.md").read_bytes()


class Spans:
    """(branch language, what, start, end) on the monotonic clock, recorded by wrappers around the engines."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, float, float]] = []
        self.lock = threading.Lock()
        self.local = threading.local()  # the language the current thread works for

    def add(self, language: str, what: str, start: float, end: float) -> None:
        with self.lock:
            self.items.append((language, what, start, end))

    @contextmanager
    def span(self, what: str, language: str | None = None):
        language = language or getattr(self.local, "language", "?")
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(language, what, start, time.monotonic())

    def wrap(self, owner, name: str, what: str, language_of=None) -> None:
        original = getattr(owner, name)
        spans = self

        def wrapper(*args, **kwargs):
            language = language_of(*args, **kwargs) if language_of else None
            with spans.span(what, language):
                return original(*args, **kwargs)

        setattr(owner, name, wrapper)


def _event_language(event: dict) -> str | None:
    """The Map item's language in a Lambda event (its state, or the state inside the payload)."""
    text = json.dumps(event)
    marker = '"language": "'
    at = text.find(marker)
    return text[at + len(marker):text.index('"', at + len(marker))] if at >= 0 else None


def instrument(runtime: OfflineRuntime, spans: Spans) -> None:
    from docpipe_local.emulators import polly, translate

    lambdas = runtime.lambdas
    original_run = lambdas._run

    def run(function, event):
        language = _event_language(event) or "?"
        previous, spans.local.language = getattr(spans.local, "language", None), language
        try:
            with spans.span(function.name.split("-")[-1], language):
                return original_run(function, event)
        finally:
            spans.local.language = previous

    lambdas._run = run
    # an Apertium hop: waiting for the mode's pipeline (its lock), then the exchange with it
    pipeline_translate = translate.ApertiumPipeline.translate
    exchange = translate.ApertiumPipeline._exchange

    def timed_exchange(self, proc, payload):  # runs under the pipeline's lock: the wait is over
        spans.local.exchange_started = time.monotonic()
        return exchange(self, proc, payload)

    def hop(self, stream):
        started = spans.local.exchange_started = time.monotonic()
        try:
            return pipeline_translate(self, stream)
        finally:
            ended, began = time.monotonic(), spans.local.exchange_started
            language = getattr(spans.local, "language", "?")
            spans.add(language, f"apertium {self.mode.name} waiting", started, began)
            spans.add(language, f"apertium {self.mode.name}", began, ended)

    translate.ApertiumPipeline._exchange = timed_exchange
    translate.ApertiumPipeline.translate = hop
    spans.wrap(polly, "synthesize_wav", "espeak-ng")
    spans.wrap(polly, "encode", "sox")
    from docpipe_local.guardrails import GuardrailEngine

    spans.wrap(GuardrailEngine, "evaluate", "guardrail")


def cpu_seconds() -> float:
    times = os.times()  # children: the engines' processes (Apertium's are long-lived: counted when they exit)
    return times.user + times.system + times.children_user + times.children_system


def map_run(runtime: OfflineRuntime, name: str, languages: str) -> dict:
    runtime.hub.find("translate", "TranslateText").hops.clear()  # every run translates anew
    key = runtime.inbox_prefix + name
    response = runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=NOTE, Metadata={"languages": languages})
    event = s3_event("Object Created", runtime.bucket, key, size=len(NOTE), etag=response["ETag"],
                     version_id=response["VersionId"], reason="PutObject")
    arn = runtime.emit(event)[0]
    execution = runtime.wait([arn])[arn]
    assert execution.output["status"] == "SUCCEEDED" and not execution.output.get("reason"), execution.output
    events = runtime.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = next(e["timestamp"] for e in events if e["type"] == "MapStateEntered")
    exited = next(e["timestamp"] for e in events if e["type"] == "MapStateExited")
    return {"seconds": (exited - entered).total_seconds(), "entered": entered.timestamp()}


def branch_breakdown(spans: list[tuple[str, str, float, float]], start: float) -> dict[str, dict[str, list]]:
    """Per language, per activity: [first start, last end, summed seconds] relative to ``start``."""
    out: dict[str, dict[str, list]] = defaultdict(dict)
    for language, what, begin, end in spans:
        if begin < start:
            continue
        entry = out[language].setdefault(what, [begin - start, end - start, 0.0])
        entry[0], entry[1] = min(entry[0], begin - start), max(entry[1], end - start)
        entry[2] += end - begin
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    spans = Spans()
    breakdowns, cpu = {"one": [], "three": []}, {"one": [], "three": []}
    with tempfile.TemporaryDirectory() as home, OfflineRuntime(home=Path(home), persist=False) as runtime:
        instrument(runtime, spans)
        map_run(runtime, "warm-up.txt", "es,ca,it")  # load the engines once
        one, three = [], []
        for round_ in range(args.rounds):
            for label, languages, runs in (("one", "es", one), ("three", "es,ca,it", three)):
                before_cpu, before_spans, begun = cpu_seconds(), len(spans.items), time.monotonic()
                result = map_run(runtime, f"{label}-{round_}.txt", languages)
                cpu[label].append(cpu_seconds() - before_cpu)
                runs.append(result["seconds"])
                items = spans.items[before_spans:]
                first = min((s[2] for s in items), default=begun)
                breakdowns[label].append(branch_breakdown(items, first))
    ratio = statistics.median(three) / statistics.median(one)
    print("| languages | Map wall time (median s) | CPU-s of the whole run, process + children (median) |")
    print("|---|---|---|")
    print(f"| 1 (es) | {statistics.median(one):.2f} | {statistics.median(cpu['one']):.2f} |")
    print(f"| 3 (es, ca, it) | {statistics.median(three):.2f} | {statistics.median(cpu['three']):.2f} |")
    print(f"\nthree / one = {ratio:.2f}x (target <= 1.6x); rounds: one "
          f"{', '.join(f'{s:.2f}' for s in one)} s, three {', '.join(f'{s:.2f}' for s in three)} s; "
          f"{os.cpu_count()} CPUs")
    for label, runs in (("one", one), ("three", three)):
        typical = breakdowns[label][sorted(range(len(runs)), key=lambda i: runs[i])[len(runs) // 2]]
        print(f"\nwhere each branch's time goes (the median {label}-language round; seconds from the first span: "
              "first start - last end, busy; '?' is the document's own stages before the Map):")
        for language in sorted(typical):
            parts = sorted(typical[language].items(), key=lambda item: item[1][0])
            print(f"- {language}: " + "; ".join(f"{what} {a:.2f}-{b:.2f} ({busy:.2f})"
                                                for what, (a, b, busy) in parts))


if __name__ == "__main__":
    main()
