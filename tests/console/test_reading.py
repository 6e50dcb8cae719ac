"""What the console reads and draws, without a browser: the graph from the ASL, execution histories as AWS
shapes them, names made safe, the moto hook that rings on each history event (a canary)."""

from __future__ import annotations

import datetime
import re
import json
import threading
import uuid
from pathlib import Path
from xml.etree import ElementTree

import pytest

from docpipe_local.console import changes, graph, history
from docpipe_local.console.safety import safe_name

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def _definition() -> dict:
    return json.loads((ROOT / "statemachines" / "document_pipeline.asl.json").read_text())


def test_the_graph_draws_every_state_choice_branch_and_catch_from_the_asl():
    definition = _definition()
    svg = ElementTree.fromstring(graph.render(definition, {"TranslateAndSpeak": ["es", "ca", "de"]}))
    groups = {g.get("id"): g for g in svg.iter(f"{SVG}g") if g.get("id", "").startswith("state-")}
    for name in definition["States"]:
        assert f"state-{name}" in groups
    inner = definition["States"]["TranslateAndSpeak"]["ItemProcessor"]["States"]
    for row in range(3):  # the language Map: one row of its states per language
        for name in inner:
            assert f"state-TranslateAndSpeak.{row}.{name}" in groups
    labels = [t.text for t in svg.iter(f"{SVG}text") if "row-label" in (t.get("class") or "")]
    assert labels == ["es", "ca", "de"]
    edges = [g for g in svg.iter(f"{SVG}g") if "edge" in (g.get("class") or "").split()]
    catches = {(g.get("data-source"), g.get("data-target")) for g in edges if "catch" in g.get("class").split()}
    for name, state in definition["States"].items():
        for catcher in state.get("Catch", []):
            assert (name, catcher["Next"]) in catches
    route = definition["States"]["Route"]
    branches = {(g.get("data-source"), g.get("data-target")) for g in edges
                if set(g.get("class").split()) & {"choice", "default"}}
    for rule in route["Choices"]:
        assert ("Route", rule["Next"]) in branches
    assert ("Route", route["Default"]) in branches


def test_a_loop_is_drawn_back_up_not_as_a_layer_below():
    definition = _definition()
    laid = graph.layout(definition["States"], definition["StartAt"])
    assert laid.layer["WaitForTextDetection"] < laid.layer["GetTextDetection"] < laid.layer["TextDetectionDone"]
    loop = [e for e in laid.edges if (e.source, e.target) == ("TextDetectionDone", "WaitForTextDetection")]
    assert loop and loop[0].back


def _event(number: int, previous: int, kind: str, **details) -> dict:
    at = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=number)
    return {"id": number, "previousEventId": previous, "type": kind, "timestamp": at, **details}


def _entered(name: str, value: dict | None = None) -> dict:
    return {"stateEnteredEventDetails": {"name": name, "input": json.dumps(value or {})}}


def _exited(name: str, value: dict | None = None) -> dict:
    return {"stateExitedEventDetails": {"name": name, "output": json.dumps(value or {})}}


def test_a_history_gives_each_state_and_each_map_iteration_its_own_status():
    events = [
        _event(1, 0, "ExecutionStarted"),
        _event(2, 1, "TaskStateEntered", **_entered("Summarize", {"doc": 1})),
        _event(3, 2, "TaskFailed", taskFailedEventDetails={"error": "ThrottlingException", "cause": "slow down"}),
        _event(4, 3, "TaskScheduled"),  # retried
        _event(19, 4, "TaskSucceeded"),
        _event(5, 4, "TaskStateExited", **_exited("Summarize", {"summary": "s"})),
        _event(6, 5, "MapStateEntered", **_entered("TranslateAndSpeak", {"languages": ["es", "de"]})),
        _event(7, 6, "MapIterationStarted", mapIterationStartedEventDetails={"name": "TranslateAndSpeak", "index": 0}),
        _event(8, 6, "MapIterationStarted", mapIterationStartedEventDetails={"name": "TranslateAndSpeak", "index": 1}),
        _event(9, 7, "TaskStateEntered", **_entered("Translate")),
        _event(10, 8, "TaskStateEntered", **_entered("Translate")),
        _event(11, 10, "TaskFailed", taskFailedEventDetails={"error": "OfflineEngineUnavailable", "cause": "no en-de"}),
        _event(12, 11, "PassStateEntered", **_entered("LanguageFailed")),
        _event(13, 9, "TaskStateExited", **_exited("Translate", {"language": "es"})),
        _event(14, 12, "PassStateExited", **_exited("LanguageFailed")),
        _event(15, 14, "MapIterationSucceeded", mapIterationSucceededEventDetails={"name": "TranslateAndSpeak", "index": 1}),
        _event(16, 13, "MapIterationSucceeded", mapIterationSucceededEventDetails={"name": "TranslateAndSpeak", "index": 0}),
        _event(17, 16, "MapStateExited", **_exited("TranslateAndSpeak")),
        _event(18, 17, "TaskStateEntered", **_entered("Publish")),
    ]
    runs = history.read(events)
    assert runs["Summarize"].status == "succeeded"
    assert runs["Summarize"].error == "ThrottlingException"  # the retried error stays visible
    assert runs["Summarize"].output == {"summary": "s"} and runs["Summarize"].duration_ms == 3000
    assert runs["TranslateAndSpeak"].status == "succeeded"
    assert runs["TranslateAndSpeak.0.Translate"].status == "succeeded"
    assert runs["TranslateAndSpeak.1.Translate"].status == "caught"
    assert runs["TranslateAndSpeak.1.Translate"].cause == "no en-de"
    assert runs["TranslateAndSpeak.1.LanguageFailed"].status == "succeeded"
    assert "TranslateAndSpeak.0.LanguageFailed" not in runs
    assert runs["Publish"].status == "running" and runs["Publish"].duration_ms is None
    assert history.failed_state(runs) == "TranslateAndSpeak.1.Translate"
    assert history.rows_of(events) == {"TranslateAndSpeak": ["es", "de"]}


def test_a_caught_failure_whose_state_moto_exits_is_caught():
    """moto records TaskStateExited after a TaskFailed that a Catch handles (AWS goes on to the Catch's state)."""
    events = [_event(1, 0, "ExecutionStarted"), _event(2, 1, "TaskStateEntered", **_entered("ExtractNative")),
              _event(3, 2, "TaskScheduled"),
              _event(4, 3, "TaskFailed", taskFailedEventDetails={"error": "DocumentRejected", "cause": "encrypted"}),
              _event(5, 4, "TaskStateExited", **_exited("ExtractNative")),
              _event(6, 5, "TaskStateEntered", **_entered("Quarantine"))]
    runs = history.read(events)
    assert runs["ExtractNative"].status == "caught" and runs["ExtractNative"].cause == "encrypted"
    assert history.failed_state(runs) == "ExtractNative"


def test_an_uncaught_failure_ends_its_state_failed():
    events = [_event(1, 0, "ExecutionStarted"), _event(2, 1, "TaskStateEntered", **_entered("Quarantine")),
              _event(3, 2, "TaskFailed", taskFailedEventDetails={"error": "Boom", "cause": "c"}),
              _event(4, 3, "FailStateEntered", **_entered("QuarantineFailed")),
              _event(5, 4, "ExecutionFailed", executionFailedEventDetails={"error": "QuarantineFailed", "cause": "x"})]
    runs = history.read(events)
    assert runs["Quarantine"].status == "caught"
    assert runs["QuarantineFailed"].status == "failed"


@pytest.mark.parametrize("raw, safe", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\scan 1.png", "scan_1.png"),
    (".hidden.txt", "hidden.txt"),
    ("rm -rf $(x);.pdf", "rm_-rf_x_.pdf"),
    ("", "upload"),
    ("\u202egnp.exe", "gnp.exe"),
    ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
])
def test_upload_names_are_only_names(raw, safe):
    assert safe_name(raw) == safe


def test_canary_moto_records_history_through_the_hooked_event_manager():
    """docpipe_local.console.changes wraps moto's EventManager.add_event: an execution must ring it."""
    import boto3
    from moto import mock_aws

    rang = threading.Event()
    unsubscribe = changes.subscribe(rang.set)
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            machine = sfn.create_state_machine(
                name="canary", roleArn="arn:aws:iam::123456789012:role/canary",
                definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
            sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=uuid.uuid4().hex, input="{}")
            assert rang.wait(30)
    finally:
        unsubscribe()


def test_fine_tuning_runs_are_read_from_each_jobs_log_and_plotted(tmp_path):
    from types import SimpleNamespace

    from docpipe_local.console import operations

    log = tmp_path / "sagemaker" / "docpipe-ft-1" / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("initial_eval_loss=4.2\nstep=1 loss=4.1\nstep=2 loss=3.0 eval_loss=3.5\n"
                   "checkpoint saved step=2\nstep=3 loss=1.5\nstep=4 loss=0.9 eval_loss=1.1\ntraining complete\n")
    console = SimpleNamespace(runtime=SimpleNamespace(home=tmp_path, training=SimpleNamespace(jobs={})))
    [run] = operations.finetune_runs(console)
    assert run["name"] == "docpipe-ft-1"
    assert [s["step"] for s in run["steps"]] == [1, 2, 3, 4]
    assert [s.get("eval_loss") for s in run["steps"]] == [None, 3.5, None, 1.1]
    chart = ElementTree.fromstring(run["chart"])
    lines = {p.get("class"): p.get("points").split() for p in chart.iter(f"{SVG}polyline")}
    assert len(lines["series loss"]) == 4 and len(lines["series eval_loss"]) == 2
    heights = [float(point.split(",")[1]) for point in lines["series loss"]]
    assert heights == sorted(heights)  # the loss falls: each point lower on the chart (larger y) than the last


def test_ocr_lines_are_boxed_over_the_page_image_with_their_confidence():
    from jinja2 import Environment, PackageLoader, select_autoescape

    from docpipe_local.console.catalog import Row
    from docpipe_local.console.document_view import highlight

    templates = Environment(loader=PackageLoader("docpipe_local.console", "templates"),
                            autoescape=select_autoescape(["html"]))
    templates.globals.update(token="t", money=str, seconds=str, row_html=str)
    text = "NOTICE\nBridge closed"
    page = {"page": 1, "text": text, "confidence": 91.5, "image": True, "pieces": highlight(text, "Bridge closed"),
            "lines": [{"text": "NOTICE", "confidence": 96.0, "bbox": [0.1, 0.05, 0.3, 0.04]},
                      {"text": "Bridge <closed>", "confidence": 87.25, "bbox": [0.1, 0.12, 0.5, 0.04]}]}
    html = templates.get_template("document.html").render(
        row=Row("d-1", "scan.pdf", "inbox/scan.pdf", "SUCCEEDED"), page="documents", svg="", states={},
        failed_state=None, has_history=False, manifest=None, outputs={}, pages=[page], quote="Bridge closed",
        summary=None, translations=[], cost_lines=[], by_service=[])
    boxes = re.findall(r'<span class="ocr-box" style="([^"]+)"\s+title="([^"]+)"', html)
    assert boxes[0] == ("left:10.0%;top:5.0%;width:30.0%;height:4.0%", "NOTICE — confidence 96.0")
    assert boxes[1][1] == "Bridge &lt;closed&gt; — confidence 87.2"  # escaped, never markup
    assert "OCR confidence 91.5" in html
    assert '<mark id="quote">Bridge closed</mark>' in html
