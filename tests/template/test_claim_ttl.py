"""A document's claim must outlast the longest execution the document pipeline allows, or a live execution
could lose its document to a re-delivered event and both would process it.

The bound is computed from the ASL itself: every Task attempted as often as its Retry rules allow, each
attempt running to its TimeoutSeconds, each retry waiting its longest backoff; the poll loops (Wait ->
poll Task -> Choice) turning as often as the handlers allow (their max_polls settings); the Map's languages
in rounds of MaxConcurrency; the longest route through Choices and Catches to an end.
"""

import json
import math

from docpipe.logic.validate import MAX_LANGUAGES
from docpipe.settings import Settings

from .conftest import ROOT

DEFINITION = json.loads((ROOT / "statemachines" / "document_pipeline.asl.json").read_text())
DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}


def _setting(raw_template: dict, name: str) -> int:
    """A setting as deployed: the template's Globals environment, else the Settings default."""
    environment = raw_template["Globals"]["Function"]["Environment"]["Variables"]
    return int(environment.get(f"DOCPIPE_{name.upper()}", DEFAULTS[name]))


def poll_loops(raw_template: dict) -> dict[str, tuple[int, int]]:
    """Each poll loop's Wait state: (its longest wait, how many times the handler lets it turn)."""
    return {"WaitForTextDetection": (_setting(raw_template, "textract_poll_max_seconds"),
                                     _setting(raw_template, "textract_max_polls")),
            "WaitForSpeech": (_setting(raw_template, "polly_poll_seconds"), _setting(raw_template, "polly_max_polls"))}


def task_worst_seconds(state: dict) -> float:
    """Every attempt the Retry rules allow, each to its timeout, with the longest backoff between them."""
    attempts, waits = 1, 0.0
    for retrier in state.get("Retry", []):
        count = retrier.get("MaxAttempts", 3)
        attempts += count
        for attempt in range(count):
            delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** attempt
            waits += min(delay, retrier.get("MaxDelaySeconds", math.inf))
    return attempts * state["TimeoutSeconds"] + waits


def _successors(state: dict) -> set[str]:
    found = {state.get("Next"), state.get("Default")}
    found |= {choice["Next"] for choice in state.get("Choices", [])}
    found |= {catch["Next"] for catch in state.get("Catch", [])}
    return {name for name in found if name}


def longest_seconds(machine: dict, loops: dict[str, tuple[int, int]]) -> float:
    """The longest route from StartAt to an end; a poll loop's Wait counts for the whole loop."""
    states = machine["States"]

    def own(name: str) -> float:
        state = states[name]
        kind = state["Type"]
        if kind == "Task":
            return task_worst_seconds(state)
        if kind == "Wait":
            wait, turns = loops[name]
            poll_task = states[state["Next"]]
            return turns * (wait + task_worst_seconds(poll_task)) - task_worst_seconds(poll_task)
        if kind == "Map":
            rounds = math.ceil(MAX_LANGUAGES / (state.get("MaxConcurrency") or MAX_LANGUAGES))
            return rounds * longest_seconds(state.get("ItemProcessor") or state["Iterator"], loops)
        assert kind in ("Choice", "Pass", "Succeed", "Fail"), f"{name}: no bound for a {kind} state"
        return 0.0

    def walk(name: str, route: tuple[str, ...]) -> float:
        if name in route:  # a loop's back edge: its turns are counted in its Wait state
            cycle = route[route.index(name):]
            assert set(cycle) & set(loops), f"the loop {' -> '.join(cycle)} has no known bound on its turns"
            return 0.0
        return own(name) + max((walk(after, route + (name,)) for after in _successors(states[name])), default=0.0)

    return walk(machine["StartAt"], ())


def test_every_loop_in_the_pipeline_is_a_bounded_poll_loop(raw_template):
    loops = poll_loops(raw_template)
    waits = {name for name, state in _every_state(DEFINITION["States"]).items() if state["Type"] == "Wait"}
    assert waits == set(loops), "a new Wait state needs its bound (longest wait, most turns) here"
    assert all(wait > 0 and turns > 0 for wait, turns in loops.values())


def test_the_claim_outlasts_the_longest_execution(raw_template):
    longest = longest_seconds(DEFINITION, poll_loops(raw_template))
    claim_ttl = _setting(raw_template, "claim_ttl_seconds")
    print(f"longest execution the ASL allows: {longest:,.0f} s ({longest / 3600:.1f} h); claim TTL {claim_ttl:,} s")
    assert claim_ttl > longest


def test_the_bound_grows_with_what_the_definition_allows(raw_template):
    """The computation reads the ASL: one more retry on Summarize makes the longest execution longer."""
    loops = poll_loops(raw_template)
    longer = json.loads(json.dumps(DEFINITION))
    longer["States"]["Summarize"]["Retry"][0]["MaxAttempts"] += 1
    one_more_attempt = longer["States"]["Summarize"]["TimeoutSeconds"]
    assert longest_seconds(longer, loops) >= longest_seconds(DEFINITION, loops) + one_more_attempt


def _every_state(states: dict) -> dict:
    found = {}
    for name, state in states.items():
        found[name] = state
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found.update(_every_state(state[key]["States"]))
        for branch in state.get("Branches", []):
            found.update(_every_state(branch["States"]))
    return found
