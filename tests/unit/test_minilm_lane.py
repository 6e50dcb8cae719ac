"""The MiniLM engine's priority lane: the guardrail's few short model calls do not wait behind Embed's batches.

Ordering is asserted by recorded events (infer requests that hold their batch until released), never by time.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

from docpipe_local.engines.minilm import DIMENSION, MiniLMEngine, coalesced, get_engine, priority_lane
from docpipe_local.guardrails import GuardrailEngine, load_example_properties

DEADLOCK_GUARD_S = 60  # only so that a broken lane fails instead of hanging: nothing here is timed


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class HeldRequests:
    """Stand-ins for the engine's infer requests that hold each batch until released, recording events: the
    engine's streams stay busy with batch work for as long as the test wants."""

    def __init__(self, events: list[str]):
        self.events, self.lock = events, threading.Lock()
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def record(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def request(self):
        held = self

        class Request:
            def infer(self, inputs):
                held.record("batch started")
                held.started.release()
                held.release.wait()
                held.record("batch finished")
                return {"pooled": np.zeros((inputs["input_ids"].shape[0], DIMENSION), dtype=np.float32)}
        return Request()


@contextmanager
def holding_requests(engine: MiniLMEngine, events: list[str], callers: list[threading.Thread]):
    """The engine's infer requests swapped for held ones; afterwards the batches are released, the callers
    joined and the real requests put back."""
    held = HeldRequests(events)
    real = [engine._requests.get() for _ in range(engine.requests)]
    for _ in range(engine.requests):
        engine._requests.put(held.request())
    try:
        yield held
    finally:
        held.release.set()
        for caller in callers:
            caller.join(DEADLOCK_GUARD_S)
        for _ in range(engine.requests):
            engine._requests.get()
        for request in real:
            engine._requests.put(request)


@pytest.fixture(scope="module")
def engine() -> MiniLMEngine:
    """An engine of its own (one stream, two infer requests), so that its requests can be swapped."""
    return MiniLMEngine(parallel=1).warm_up()


def test_a_priority_call_finishes_while_batch_calls_hold_every_request_and_more_wait(engine):
    events: list[str] = []
    batch_callers = [threading.Thread(target=engine.encode, args=([f"bridge inspection report {i}"],))
                     for i in range(engine.requests + 2)]  # every request taken, two more callers queued
    with holding_requests(engine, events, batch_callers) as held:
        for caller in batch_callers:
            caller.start()
        for _ in range(engine.requests):
            assert held.started.acquire(timeout=DEADLOCK_GUARD_S), "the batch calls never started"
        urgent: dict[str, np.ndarray] = {}

        def priority_call():
            with priority_lane():
                urgent["vectors"] = engine.encode(["investment advice", "capital fund grant"])
            held.record("priority finished")
        caller = threading.Thread(target=priority_call)
        caller.start()
        caller.join(DEADLOCK_GUARD_S)
        assert "vectors" in urgent, "the priority call waited for a request the batch calls held"
    # the priority call finished before any batch it overtook, and every batch call then ran
    assert events.index("priority finished") < events.index("batch finished")
    assert events.count("batch started") == events.count("batch finished") == len(batch_callers)
    # the lane runs the same model: its vectors are the streams' (to bfloat16 rounding at most)
    assert cosines(urgent["vectors"], engine.encode(["investment advice", "capital fund grant"])).min() >= 0.99999


def test_the_lane_runs_a_call_of_several_batches_with_the_same_vectors(engine):
    texts = [f"word{i} " * (i % 9 + 1) for i in range(80)]  # more than one padded batch
    before = dict(engine.lane_batches)
    expected = engine.encode(texts)
    on_streams = engine.lane_batches["batch"] - before["batch"]
    with priority_lane():
        got = engine.encode(texts)
    assert on_streams > 1 and engine.lane_batches["priority"] - before["priority"] == on_streams
    assert cosines(got, expected).min() >= 0.99999


def test_every_embedding_the_guardrail_makes_runs_on_the_priority_lane():
    model = get_engine().warm_up()
    embed = coalesced(lambda texts: model.encode(texts))  # as the offline runtime wires it: batches of callers
    guardrail = GuardrailEngine(load_example_properties(), embed=embed)
    page = ("The committee recommends that the capital fund grant be spent on the elastomeric bearings.\n"
            "Should I buy shares in the contractor before the tender is announced?\n")
    before = dict(model.lane_batches)
    response = guardrail.apply([page], source="INPUT")
    assert response["action"] in ("NONE", "GUARDRAIL_INTERVENED")
    # "elastomeric" is outside the vocabulary's table: scored live
    assert guardrail.topic_counts["words_scored"] > 0 and guardrail.topic_counts["sentences_scored"] > 0
    assert model.lane_batches["priority"] > before["priority"]
    assert model.lane_batches["batch"] == before["batch"]  # topic definitions, words, sentences: all in the lane
    # outside the guardrail, the same calls take the engine's streams
    guardrail.topic_scores([page])
    assert model.lane_batches["batch"] > before["batch"]


def test_bulk_batches_leave_a_stream_to_priority_work_while_it_is_open():
    engine = MiniLMEngine(parallel=2).warm_up()  # two streams, four infer requests
    events: list[str] = []
    opened, close = threading.Event(), threading.Event()

    def screening():  # a page being screened: its priority block stays open until the test closes it
        with priority_lane():
            opened.set()
            close.wait(DEADLOCK_GUARD_S)
            held.record("priority block closed")
    page = threading.Thread(target=screening)
    callers = [threading.Thread(target=engine.encode, args=([f"bridge deck joint {i}"],)) for i in range(3)]
    with holding_requests(engine, events, callers) as held:
        try:
            page.start()
            assert opened.wait(DEADLOCK_GUARD_S)
            for caller in callers:
                caller.start()
            assert held.started.acquire(timeout=DEADLOCK_GUARD_S), "no bulk batch started"
            deadline = time.monotonic() + DEADLOCK_GUARD_S
            while engine.bulk_waits < len(callers) - 1:  # the other two wait for the stream left to the page
                assert time.monotonic() < deadline, f"{engine.bulk_waits} bulk batches waited"
                time.sleep(0.005)
            assert events == ["batch started"]
            close.set()
            page.join(DEADLOCK_GUARD_S)
            for _ in range(len(callers) - 1):  # the block closed: the streams are all bulk work's again
                assert held.started.acquire(timeout=DEADLOCK_GUARD_S), "the waiting bulk batches never started"
        finally:
            close.set()  # the page's block closes before the callers are joined
    assert events[:2] == ["batch started", "priority block closed"]
    assert events.count("batch started") == events.count("batch finished") == len(callers)
