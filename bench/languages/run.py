"""bench/languages: does the language fan-out run concurrently? The Map state's wall time for three target
languages against one, for the same summaries, in the same run (target: three take <= 1.6x one).

    .venv/bin/python bench/languages/run.py [--rounds 3] [--gil-probe MS]

Each round processes the shipped FAQ with languages "es" and then "es,ca,it" (fresh document names; the
summary comes from the response cache, translation and speech are done anew: the Translate emulator's recent
hops are forgotten before each run, so only the branches of one run share their English->Spanish hop), and reads the
TranslateAndSpeak state's entered/exited timestamps from the execution history.

It prints the machine's load average before and after (the ratio is only comparable between runs on an equally
idle machine), and for the median round of each kind:

- from the first branch invocation's start to the last one's end: seconds, CPU-seconds of the process and its
  exited children, and so how many of the cores the branches kept busy (one branch: about one);
- CPU-seconds of the whole run: this process (its threads: the Lambda handlers, the emulators, MP3 encoding),
  the engines' short-lived processes (espeak-ng; sox for Ogg Vorbis), and the long-lived Apertium pipelines
  (read from /proc: os.times() counts a child only once it exits);
- CPU-seconds per branch: Python in its Lambda invocations' threads (which holds the GIL, so three branches'
  Python runs one at a time), the MP3 encoding inside the Speak thread (GIL released), and each engine process
  it started; and what the three branches' window spent elsewhere (the Step Functions interpreter's threads);
- where each branch's time goes, in seconds from the first span: the Translate and Speak functions'
  invocations (the Lambda emulator), inside them each Apertium hop (time waiting for the mode's pipeline, and
  its work), the guardrail on the translation, espeak-ng and the encoding.

With ``--gil-probe MS`` it then runs the rounds again with MS ms of pure Python added to each Translate and Speak
invocation, and prints what each ms of a branch's Python costs the one- and the three-language Map: about 1 ms
for one branch; for three, 1.5 ms if their Python spread over the two cores, 3 ms if it runs one branch at a
time (one interpreter lock for the process's threads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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


BRANCH_FUNCTIONS = ("TranslateFunction", "SpeakFunction", "SpeakPollFunction")  # the Map's; Publish comes after
PROBED_FUNCTIONS = ("TranslateFunction", "SpeakFunction")  # each branch's two invocations (SpeakPoll: long texts)
ENCODING = "encoding"  # CPU-s of the Polly emulator's encode(), inside the Speak function's thread


class Spans:
    """(branch language, what, start, end) on the monotonic clock, recorded by wrappers around the engines."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, float, float]] = []
        self.cpu_items: list[tuple[str, str, float]] = []  # (branch language, thread or process, CPU-seconds)
        # (language, function, start, end, CPU-seconds of the process and its exited children at start, at end)
        self.invocations: list[tuple[str, str, float, float, float, float]] = []
        self.lock = threading.Lock()
        self.local = threading.local()  # the language the current thread works for
        self.added_python = 0.0  # --gil-probe: seconds of pure Python added to each Translate and Speak invocation

    def add(self, language: str, what: str, start: float, end: float) -> None:
        with self.lock:
            self.items.append((language, what, start, end))

    def cpu(self, language: str, what: str, seconds: float) -> None:
        with self.lock:
            self.cpu_items.append((language, what, seconds))

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
        name, begun, process_started = function.name.split("-")[-1], time.monotonic(), _process_cpu()
        started = time.thread_time()  # the handler runs on this thread, the emulators' work inside it too
        try:
            with spans.span(name, language):
                if spans.added_python and name in PROBED_FUNCTIONS:
                    _python_for(spans.added_python)
                return original_run(function, event)
        finally:
            spans.cpu(language, name, time.thread_time() - started)
            with spans.lock:
                spans.invocations.append((language, name, begun, time.monotonic(), process_started, _process_cpu()))
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
    spans.wrap(polly, "synthesize", "espeak-ng")
    spans.wrap(polly, "encode", "encode")
    wrapped_encode = polly.encode

    def encode(*args, **kwargs):  # LAME and soxr run in the Speak function's thread, the GIL released
        started = time.thread_time()
        try:
            return wrapped_encode(*args, **kwargs)
        finally:
            spans.cpu(getattr(spans.local, "language", "?"), ENCODING, time.thread_time() - started)

    polly.encode = encode

    class MeasuredPopen(subprocess.Popen):
        """Reaps its process with os.wait4, which gives that process's own CPU time, for the branch that ran it."""

        def _try_wait(self, wait_flags):
            try:
                pid, status, usage = os.wait4(self.pid, wait_flags)
            except ChildProcessError:
                return self.pid, 0
            if pid == self.pid:
                program = Path(self.args[0] if isinstance(self.args, (list, tuple)) else str(self.args)).name
                spans.cpu(getattr(spans.local, "language", "?"), program, usage.ru_utime + usage.ru_stime)
            return pid, status

    subprocess.Popen = MeasuredPopen  # subprocess.run() looks it up when called
    from docpipe_local.guardrails import GuardrailEngine

    spans.wrap(GuardrailEngine, "evaluate", "guardrail")


def _python_for(seconds: float) -> None:
    """Run Python (holding the GIL, as a handler's own code and botocore do) for ``seconds`` of this thread's CPU."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def branches_window(invocations: list[tuple[str, str, float, float, float, float]]) -> tuple[float, float]:
    """(seconds, CPU-seconds of the process and its exited children) from the first branch invocation's start to
    the last one's end: the Map's work (and whatever else the process did meanwhile), not the document's stages."""
    inside = [i for i in invocations if i[0] not in ("?", "en") and i[1] in BRANCH_FUNCTIONS]
    return max(i[3] for i in inside) - min(i[2] for i in inside), max(i[5] for i in inside) - min(i[4] for i in inside)


def cpu_seconds() -> dict[str, float]:
    """CPU-seconds so far: this process's threads, its exited children, and its live Apertium pipelines."""
    times = os.times()
    return {"process": times.user + times.system, "engines": times.children_user + times.children_system,
            "apertium": pipelines_cpu()}


def pipelines_cpu() -> float:
    """CPU-seconds of this process's live descendants in sessions of their own: the Translate emulator's
    long-lived Apertium pipelines (each started in a new session), which os.times() counts only once they exit."""
    tick, stats = os.sysconf("SC_CLK_TCK"), {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it exited meanwhile
                continue
            # after the name: state, ppid, pgrp, session, ..., utime (12th), stime (13th)
            stats[int(entry.name)] = (int(fields[1]), int(fields[3]), (int(fields[11]) + int(fields[12])) / tick)
    me, my_session = os.getpid(), os.getsid(0)

    def descends(pid: int) -> bool:
        while pid > 1 and pid in stats:
            pid = stats[pid][0]
            if pid == me:
                return True
        return False

    return sum(cpu for pid, (_, session, cpu) in stats.items() if session != my_session and descends(pid))


def map_run(runtime: OfflineRuntime, name: str, languages: str) -> dict:
    runtime.hub.find("translate", "TranslateText").hops.clear()  # every run translates anew
    key = runtime.inbox_prefix + name
    response = runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=NOTE, Metadata={"languages": languages})
    event = s3_event("Object Created", runtime.bucket, key, size=len(NOTE), etag=response["ETag"],
                     version_id=response["VersionId"], reason="PutObject")
    arn = runtime.emit(event)[0]
    execution = runtime.wait([arn])[arn]
    assert execution.output["status"] == "SUCCEEDED" and not execution.output.get("reason"), execution.output
    events = runtime.history(arn)
    entered = next(e["timestamp"] for e in events if e["type"] == "MapStateEntered")
    exited = next(e["timestamp"] for e in events if e["type"] == "MapStateExited")
    return {"seconds": (exited - entered).total_seconds(), "entered": entered.timestamp()}


def measure_rounds(runtime: OfflineRuntime, spans: Spans, count: int, prefix: str) -> dict[str, list[dict]]:
    """``count`` rounds of one language and then three, each with its CPU and where its branches' time went."""
    rounds: dict[str, list[dict]] = {"one": [], "three": []}
    for round_ in range(count):
        for label, languages in (("one", "es"), ("three", "es,ca,it")):
            before_cpu, before_spans, before_branch_cpu = cpu_seconds(), len(spans.items), len(spans.cpu_items)
            before_invocations = len(spans.invocations)
            begun = time.monotonic()
            result = map_run(runtime, f"{prefix}{label}-{round_}.txt", languages)
            after_cpu, items = cpu_seconds(), spans.items[before_spans:]
            first = min((s[2] for s in items), default=begun)
            rounds[label].append({
                "seconds": result["seconds"],
                "cpu": {kind: after_cpu[kind] - before_cpu[kind] for kind in after_cpu},
                "branch_cpu": branch_cpu(spans.cpu_items[before_branch_cpu:]),
                "window": branches_window(spans.invocations[before_invocations:]),
                "breakdown": branch_breakdown(items, first)})
    return rounds


def print_probe(added_ms: float, one: float, three: float, probed: dict[str, list[dict]]) -> None:
    """What a ms of Python in every branch costs each Map: about 1 ms for one branch; for three, 3 ms where their
    Python runs one at a time (one GIL), 1.5 ms where it would spread over two cores."""
    one_after, three_after = (statistics.median(r["seconds"] for r in probed[label]) for label in ("one", "three"))
    per_branch = len(PROBED_FUNCTIONS) * added_ms / 1000
    print(f"\nGIL probe: {added_ms:.0f} ms of pure Python added to each Translate and Speak invocation "
          f"({per_branch * 1000:.0f} ms per branch): one language {one:.3f} -> {one_after:.3f} s, three "
          f"{three:.3f} -> {three_after:.3f} s. **Each ms of a branch's Python costs the one-language Map "
          f"{(one_after - one) / per_branch:.2f} ms and the three-language Map {(three_after - three) / per_branch:.2f} "
          f"ms** (3 would be the branches' Python running one at a time; 1.5 spread over two cores); three / one "
          f"{three_after / one_after:.2f}x with it")


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


def branch_cpu(items: list[tuple[str, str, float]]) -> dict[str, dict[str, float]]:
    """Per language, per thread or program: summed CPU-seconds."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for language, what, seconds in items:
        out[language][what] += seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gil-probe", type=float, default=0.0, metavar="MS",
                        help="then run the rounds again with MS ms of pure Python added to each Translate and Speak "
                             "invocation, and print what each ms of a branch's Python costs either Map")
    args = parser.parse_args()
    spans = Spans()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as home, OfflineRuntime(home=Path(home), persist=False) as runtime:
        instrument(runtime, spans)
        map_run(runtime, "warm-up.txt", "es,ca,it")  # load the engines once
        rounds = measure_rounds(runtime, spans, args.rounds, "")
        if args.gil_probe:
            spans.added_python = args.gil_probe / 1000
            probed = measure_rounds(runtime, spans, args.rounds, "probe-")
    load_after = os.getloadavg()
    median = {label: sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2] for label, runs in rounds.items()}
    one, three = (statistics.median(r["seconds"] for r in rounds[label]) for label in ("one", "three"))
    print(f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) before {_load(load_before)}, after "
          f"{_load(load_after)}\n")
    print("| languages | Map wall time (median s) | the branches' invocations (median round): s, CPU-s, cores busy | "
          "CPU-s of the median round's whole run: this process + engines' processes + Apertium pipelines = total |")
    print("|---|---|---|---|")
    for label, languages, seconds in (("one", "1 (es)", one), ("three", "3 (es, ca, it)", three)):
        cpu, (window, window_cpu) = median[label]["cpu"], median[label]["window"]
        print(f"| {languages} | {seconds:.3f} | {window:.3f} s, {window_cpu:.3f} CPU-s, {window_cpu / window:.2f} | "
              f"{cpu['process']:.2f} + {cpu['engines']:.2f} + {cpu['apertium']:.2f} = {sum(cpu.values()):.2f} |")
    listed = {label: ", ".join(f"{r['seconds']:.2f}" for r in runs) for label, runs in rounds.items()}
    print(f"\n**three / one = {three / one:.2f}x** (target <= 1.6x); rounds: one {listed['one']} s, three "
          f"{listed['three']} s")
    if args.gil_probe:
        print_probe(args.gil_probe, one, three, probed)
    for label in ("one", "three"):
        typical = median[label]
        print(f"\nCPU-s per branch (the median {label}-language round; the document's own stages are '?', the "
              "summary 'en'; Apertium's pipelines are shared, counted above):")
        for language, parts in sorted(typical["branch_cpu"].items()):
            print(f"- {language}: {describe_branch(parts)}")
        if label == "three":
            print(f"- the branches' window, {typical['window'][1]:.3f} CPU-s: {describe_window(typical)}")
        print("where each branch's time goes (seconds from the first span: first start - last end, busy):")
        for language in sorted(typical["breakdown"]):
            parts = sorted(typical["breakdown"][language].items(), key=lambda item: item[1][0])
            print(f"- {language}: " + "; ".join(f"{what} {a:.2f}-{b:.2f} ({busy:.2f})"
                                                for what, (a, b, busy) in parts))


def describe_branch(parts: dict[str, float]) -> str:
    """A Map branch's CPU-s split by what holds the GIL (Python in its Lambda threads) and what does not (the
    encoding inside the Speak thread, the engines' processes); other stages' parts as they are."""
    in_threads = sum(parts.get(name, 0.0) for name in BRANCH_FUNCTIONS)
    if not in_threads:
        return f"{sum(parts.values()):.3f} = " + " + ".join(
            f"{what} {seconds:.3f}" for what, seconds in sorted(parts.items(), key=lambda p: -p[1]))
    encoding = parts.get(ENCODING, 0.0)
    processes = {what: seconds for what, seconds in parts.items()
                 if what not in BRANCH_FUNCTIONS and what != ENCODING and not what.endswith("Function")}
    others = {what: seconds for what, seconds in parts.items() if what.endswith("Function")
              and what not in BRANCH_FUNCTIONS}
    total = in_threads + sum(processes.values())
    return (f"{total:.3f} = Python in its Translate/Speak threads {in_threads - encoding:.3f} (holds the GIL) + "
            f"encoding {encoding:.3f} (GIL released)" + "".join(f" + {what} {seconds:.3f}"
                                                                for what, seconds in processes.items())
            + "".join(f"; then {what} {seconds:.3f}" for what, seconds in others.items()))


def describe_window(round_: dict) -> str:
    """What the branches' window spent beyond the branches' own threads and processes: the Step Functions
    interpreter's threads (the Map's iterations, their states) and whatever else the process did meanwhile."""
    branches = {language: parts for language, parts in round_["branch_cpu"].items()
                if any(name in parts for name in BRANCH_FUNCTIONS)}
    own = sum(seconds for parts in branches.values() for what, seconds in parts.items()
              if what != ENCODING and not (what.endswith("Function") and what not in BRANCH_FUNCTIONS))
    return (f"{own:.3f} in the branches' threads and processes, {round_['window'][1] - own:.3f} elsewhere in the "
            "process (the Step Functions interpreter's threads: the Map's iterations and their states)")


def _load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.2f}" for value in load)


if __name__ == "__main__":
    main()
