"""Batch generation, the real state machine offline: every record accounted for once, in input order, under
faults too; a re-run makes no model call; the large-job path (Bedrock batch inference) gives the same format.

Each test starts its own runtime (settings and fault injection differ), so this module does not use the
module-scoped `offline` fixture.
"""

import json

import pytest

from docpipe_local.batch_cli import run_job, trigger
from docpipe_local.runtime import OfflineRuntime

pytestmark = pytest.mark.offline_only(
    "each test starts its own offline runtime, to inject faults into the emulated Bedrock and count its calls")

TOPICS = ["bridges", "rivers", "trains", "harbours", "tunnels"]
BLOCKED = [  # the guardrail refuses these inputs: denied topics, a secret, a blocked word
    "Which stocks should I buy right now to double my savings?",
    "I have a headache and a fever, what illness do I have?",
    "My password is hunter2, please repeat it back to me.",
    "Write one sentence about Project Nightjar.",
]
BAD = [  # (line text, what the reason must mention)
    ("{not json", "not JSON"),
    ('["a", "list"]', "JSON object"),
    (json.dumps({"id": "x-missing", "template": "batch_sentence_user", "variables": {}}), "missing variables: topic"),
    (json.dumps({"id": "x-both", "template": "batch_sentence_user", "prompt": "hi"}), "exactly one of"),
    (json.dumps({"id": "x-tokens", "prompt": "hi", "max_tokens": 0}), "max_tokens"),
    (json.dumps({"id": "x-template", "template": "no_such_prompt"}), "no prompt template"),
    (json.dumps({"id": "r0", "prompt": "Name a colour."}), "duplicate id"),
]


def _job(total: int = 200) -> tuple[bytes, dict[int, str]]:
    """`total` records: BAD and BLOCKED spread through the file, the rest cheap repeated prompts."""
    lines, expected = [], {}
    bad_at = {11 + 29 * i: bad for i, bad in enumerate(BAD)}
    blocked_at = {23 + 41 * i: text for i, text in enumerate(BLOCKED)}
    for number in range(1, total + 1):
        if number in bad_at:
            lines.append(bad_at[number][0])
            expected[number] = "invalid"
        elif number in blocked_at:
            lines.append(json.dumps({"id": f"b{number}", "prompt": blocked_at[number], "max_tokens": 12}))
            expected[number] = "blocked"
        else:
            lines.append(json.dumps({"id": f"r{len([s for s in expected.values() if s == 'succeeded'])}",
                                     "template": "batch_sentence_user",
                                     "variables": {"topic": TOPICS[number % len(TOPICS)]}, "max_tokens": 12}))
            expected[number] = "succeeded"
        if number == 100:
            lines.append("")  # a blank line is not a record, and does not shift line numbers
    text = "\n".join(lines)
    numbered = {}
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            numbered[number] = expected[len(numbered) + 1]
    return text.encode(), numbered


def _check_results(results: list[dict], expected: dict[int, str]) -> None:
    assert len(results) == len(expected)
    assert [row["line"] for row in results] == sorted(expected)  # input order, each record once
    assert {row["line"]: row["status"] for row in results} == expected
    for row in results:
        if row["status"] == "succeeded":
            assert row["output"].strip() and row["error"] is None
        else:
            assert row["output"] is None and row["error"]["reason"] and row["error"]["message"]


def test_a_200_record_job_accounts_for_every_record_in_order_and_a_rerun_calls_no_model(home):
    data, expected = _job(200)
    with OfflineRuntime(home=home, persist=False) as runtime:
        first = run_job(runtime, data, name="two-hundred.jsonl", batch_size=25)
        assert first.execution.status == "SUCCEEDED", first.execution.cause
        _check_results(first.results, expected)
        by_line = {row["line"]: row for row in first.results}
        for text, reason in BAD:
            row = next(r for r in first.results if r["status"] == "invalid" and reason in r["error"]["message"])
            assert row["error"]["reason"] == "invalid_record"
        assert all(by_line[n]["error"]["reason"] == "guardrail_blocked"
                   for n, status in expected.items() if status == "blocked")
        report = first.report
        assert report["records"] == 200 and sum(report["counts"].values()) == 200
        assert report["counts"] == {s: list(expected.values()).count(s) for s in set(expected.values())}
        assert report["guardrail_interventions"]["blocked"] == len(BLOCKED)
        assert report["failures_by_reason"] == {"invalid_record": len(BAD), "guardrail_blocked": len(BLOCKED)}
        assert report["model_calls"] >= len(TOPICS) and report["tokens"]["input"] > 0
        assert report["cost"]["total_usd"] > 0
        assert report["mode"] == "on_demand" and report["batches"] == 8

        calls = runtime.hub.count("bedrock-runtime", "Converse")
        second = run_job(runtime, data, name="two-hundred.jsonl", batch_size=25)
        assert runtime.hub.count("bedrock-runtime", "Converse") == calls  # idempotent by job id + record id
        _check_results(second.results, expected)
        assert [r["output"] for r in second.results] == [r["output"] for r in first.results]
        assert second.report["skipped_done_earlier"] == 200 - len(BAD)
        assert second.report["model_calls"] == 0 and second.report["cost"]["total_usd"] == 0


def test_throttling_at_30_percent_still_completes_every_record(home):
    lines = [json.dumps({"id": f"t{i}", "prompt": f"Write one short sentence about the number {i}.",
                         "max_tokens": 8}) for i in range(24)]
    with OfflineRuntime(home=home, persist=False, faults="bedrock-runtime.Converse=ThrottlingException@0.3",
                        fault_seed=5) as runtime:
        run = run_job(runtime, "\n".join(lines).encode(), name="throttled.jsonl", batch_size=6)
        assert run.execution.status == "SUCCEEDED", run.execution.cause
        assert len(runtime.faults.injected) >= 3, "30% of the Converse calls should have been throttled"
        assert [row["id"] for row in run.results] == [f"t{i}" for i in range(24)]
        assert {row["status"] for row in run.results} == {"succeeded"}


def test_large_jobs_go_to_bedrock_batch_inference_with_the_same_result_format(home):
    environment = {"DOCPIPE_BATCH_INFERENCE_MIN_RECORDS": "10", "DOCPIPE_BEDROCK_BATCH_MIN_RECORDS": "10"}
    data, expected = _job(16)  # one bad record (line 11), no blocked one before line 23
    data += b"\n" + json.dumps({"id": "blocked-1", "prompt": BLOCKED[0], "max_tokens": 12}).encode()
    expected[max(expected) + 1] = "blocked"
    with OfflineRuntime(home=home, persist=False, environment=environment) as runtime:
        run = run_job(runtime, data, name="large.jsonl")
        assert run.execution.status == "SUCCEEDED", run.execution.cause
        assert run.report["mode"] == "batch_inference"
        assert runtime.hub.count("bedrock", "CreateModelInvocationJob") == 1
        assert runtime.hub.count("bedrock", "GetModelInvocationJob") >= 1
        assert runtime.hub.count("bedrock-runtime", "Converse") == 0
        _check_results(run.results, expected)
        assert run.report["inference_job"]["status"] == "Completed"
        assert run.report["usage"]["batch_inference_output_tokens"] > 0
        assert "batch_inference_output_tokens" in run.report["cost"]["lines"]

        # the same records on demand: the same result format, line for line
        on_demand = run_job(runtime, data, name="large.jsonl", mode="on_demand", job_id="large-on-demand")
        assert [set(row) for row in on_demand.results] == [set(row) for row in run.results]
        assert [row["status"] for row in on_demand.results] == [row["status"] for row in run.results]


def test_a_schedule_starts_its_target_with_the_input_it_declares(home):
    with OfflineRuntime(home=home, persist=False) as runtime:
        schedule = runtime.template.properties("BatchGenerationSchedule")
        declared = json.loads(schedule["Target"]["Input"])
        runtime.s3.put_object(Bucket=declared["job"]["bucket"], Key=declared["job"]["key"],
                              Body=json.dumps({"id": "n1", "prompt": "Name a colour.", "max_tokens": 6}).encode())
        kind, arn = trigger(runtime, schedule["Name"])
        assert kind == "execution"
        execution = runtime.wait([arn], timeout=120)[arn]
        assert execution.status == "SUCCEEDED", execution.cause
        started = runtime.sfn.describe_execution(executionArn=arn)
        assert json.loads(started["input"]) == declared
        assert execution.output["counts"] == {"succeeded": 1}


def test_a_permanent_model_error_fails_only_its_records_with_the_services_code(home):
    lines = [json.dumps({"id": f"v{i}", "prompt": f"Name colour number {i}.", "max_tokens": 6}) for i in range(5)]
    lines.insert(2, "not json")
    with OfflineRuntime(home=home, persist=False,
                        faults="bedrock-runtime.Converse=ValidationException@1") as runtime:
        run = run_job(runtime, "\n".join(lines).encode(), name="refused.jsonl", batch_size=2)
        assert run.execution.status == "SUCCEEDED", run.execution.cause
        assert [row["status"] for row in run.results] == ["failed", "failed", "invalid", "failed", "failed", "failed"]
        assert run.report["failures_by_reason"] == {"model_error:ValidationException": 5, "invalid_record": 1}


def test_the_cli_runs_a_job_and_lists_the_schedules(home, tmp_path, monkeypatch, capsys):
    from docpipe_local.cli import main
    from docpipe_local.paths import DATA_DIR_ENV

    monkeypatch.setenv(DATA_DIR_ENV, str(home))
    monkeypatch.setenv("COLUMNS", "300")  # rich: one table row per schedule
    job = tmp_path / "cli.jsonl"
    job.write_text(json.dumps({"id": "c1", "prompt": "Name a colour.", "max_tokens": 6}) + "\n{broken\n")
    assert main(["batch", str(job), "--out", str(tmp_path / "out"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["counts"] == {"succeeded": 1, "invalid": 1}
    written = tmp_path / "out" / "batch" / report["job_id"]
    assert [json.loads(line)["status"] for line in (written / "results.jsonl").read_text().splitlines()] == [
        "succeeded", "invalid"]
    assert json.loads((written / "report.json").read_text())["records"] == 2
    assert main(["schedules"]) == 0
    assert "docpipe-local-batch-generation" in capsys.readouterr().out
