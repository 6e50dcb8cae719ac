"""Lambda workers (serve mode): each invocation runs in a process of its function, with only that function's
environment, warm between invocations and cold after the idle time; Timeout and MemorySize are enforced
the way Lambda reports them; a real handler's AWS calls go to the endpoint, signed as that function."""

from __future__ import annotations

import json
import os
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from docpipe_local.lambda_router import LambdaFunction, functions_from_template
from docpipe_local.lambda_workers import WorkerPool, function_of_session_token
from docpipe_local.template import Template
from tests.conftest import ROOT

HANDLERS = textwrap.dedent('''
    import os, time

    def environment(event, context):
        return {"pid": os.getpid(), "environ": dict(os.environ), "remaining_ms": context.get_remaining_time_in_millis(),
                "request_id": context.aws_request_id, "memory": context.memory_limit_in_mb}

    def sleep(event, context):
        time.sleep(event["seconds"])
        return {"pid": os.getpid()}

    def allocate(event, context):
        hoard = bytearray(event["mb"] * 1024 * 1024)
        hoard[::4096] = b"x" * len(hoard[::4096])  # touch every page: resident, not just reserved
        return {"pid": os.getpid(), "size": len(hoard)}

    def fail(event, context):
        raise ValueError("the event has no 'name'")
''')


def _function(code: Path, handler: str, *, timeout: int = 10, memory: int = 256, **environment) -> LambdaFunction:
    name = f"docpipe-{handler}"
    return LambdaFunction(logical_id=f"{handler.title()}Function", name=name,
                          arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}", code_dir=code,
                          handler=f"app.{handler}", memory_mb=memory, timeout_s=timeout, environment=environment)


@pytest.fixture
def code(tmp_path) -> Path:
    (tmp_path / "app.py").write_text(HANDLERS)
    return tmp_path


@pytest.fixture
def pool():
    workers = WorkerPool("http://127.0.0.1:9", idle_seconds=60)
    yield workers
    workers.close()


def test_a_worker_has_its_functions_environment_and_not_the_parents(code, pool, monkeypatch):
    monkeypatch.setenv("DOCPIPE_PARENT_ONLY", "secret-of-the-parent")
    function = _function(code, "environment", DOCPIPE_STAGE="dev", DOCPIPE_DOCUMENTS_BUCKET="docs")
    outcome = pool.invoke(function, {}, request_id="req-1")
    assert not outcome.error, outcome.payload
    environ = outcome.payload["environ"]
    assert "DOCPIPE_PARENT_ONLY" not in environ and outcome.payload["pid"] != os.getpid()
    assert environ["DOCPIPE_STAGE"] == "dev" and environ["DOCPIPE_DOCUMENTS_BUCKET"] == "docs"
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == "docpipe-environment"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and environ["AWS_REGION"] == "us-east-1"
    assert environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9" and environ["_HANDLER"] == "app.environment"
    assert function_of_session_token(environ["AWS_SESSION_TOKEN"]) == "EnvironmentFunction"
    assert environ["AWS_ACCESS_KEY_ID"] == "offline"  # a key pair the endpoint knows
    assert outcome.payload["request_id"] == "req-1" and outcome.payload["memory"] == 256
    assert 0 < outcome.payload["remaining_ms"] <= 10_000


def test_a_worker_stays_warm_between_invocations_and_goes_cold_when_idle(code):
    function = _function(code, "environment")
    pool = WorkerPool("http://127.0.0.1:9", idle_seconds=0.5)
    try:
        first, second = pool.invoke(function, {}), pool.invoke(function, {})
        assert first.cold and not second.cold
        assert first.payload["pid"] == second.payload["pid"]  # the same process: the handler stayed imported
        deadline = time.monotonic() + 30  # bounds a hang only
        while pool.warm_pids(function.logical_id):
            assert time.monotonic() < deadline, "the idle worker was never stopped"
            time.sleep(0.1)
        third = pool.invoke(function, {})
        assert third.cold and third.payload["pid"] != first.payload["pid"]
    finally:
        pool.close()


def test_concurrent_invocations_get_workers_of_their_own(code, pool):
    function = _function(code, "sleep")
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(pool.invoke(function, {"seconds": 1}))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({outcome.payload["pid"] for outcome in outcomes}) == 2


def test_a_handler_past_its_timeout_is_killed_and_reported_as_lambda_does(code, pool):
    function = _function(code, "sleep", timeout=1)
    outcome = pool.invoke(function, {"seconds": 30}, request_id="req-slow")
    assert outcome.error and outcome.payload["errorType"] == "Sandbox.Timedout"
    assert outcome.payload["errorMessage"].endswith("req-slow Task timed out after 1.00 seconds")
    with pytest.raises(ProcessLookupError):
        os.kill(outcome.pid, 0)  # stopped, not left running
    after = pool.invoke(function, {"seconds": 0})  # the next invocation gets a fresh environment
    assert not after.error and after.cold and after.payload["pid"] != outcome.pid


def test_a_handler_above_its_memory_size_is_killed_as_out_of_memory(code, pool):
    function = _function(code, "allocate", memory=128)
    outcome = pool.invoke(function, {"mb": 400}, request_id="req-big")
    assert outcome.error and outcome.payload == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": "RequestId: req-big Error: Runtime exited with error: signal: killed"}
    assert outcome.max_memory_mb > 128
    assert not pool.invoke(_function(code, "allocate", memory=512), {"mb": 16}).error


def test_an_unhandled_exception_and_an_import_error_are_reported_as_lambda_does(code, pool):
    outcome = pool.invoke(_function(code, "fail"), {})
    assert outcome.error and outcome.payload["errorType"] == "ValueError"
    assert outcome.payload["errorMessage"] == "the event has no 'name'" and outcome.payload["stackTrace"]
    (code / "broken.py").write_text("import not_a_module_anywhere\n")
    broken = _function(code, "environment")
    broken.handler = "broken.handler"
    outcome = pool.invoke(broken, {})
    assert outcome.payload["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'broken'" in outcome.payload["errorMessage"]


class _Recorder(BaseHTTPRequestHandler):
    """An endpoint that records each request and answers as S3 does for a missing key."""

    seen: list[dict] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).seen.append({"path": self.path, "token": self.headers.get("X-Amz-Security-Token")})
        body = b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
        self.send_response(404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def test_a_real_handlers_aws_calls_reach_the_endpoint_signed_as_its_function():
    """ValidateFunction with its events/ event: its S3 read goes to AWS_ENDPOINT_URL (here a recording endpoint
    answering NoSuchKey, as S3 would for an object never put), with the template's bucket and the function's key."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    template = Template.load(ROOT)
    function = functions_from_template(template)[template.physical_name("ValidateFunction")]
    event = json.loads((ROOT / "events" / "ValidateFunction" / "bridge_report.json").read_text())
    pool = WorkerPool(f"http://127.0.0.1:{server.server_address[1]}",
                      overrides={"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"})
    try:
        outcome = pool.invoke(function, event)
    finally:
        pool.close()
        server.shutdown()
    assert outcome.error and outcome.payload["errorType"] == "NoSuchKey", outcome.payload
    bucket = function.environment["DOCPIPE_DOCUMENTS_BUCKET"]
    [request] = [r for r in _Recorder.seen if r["path"].startswith(f"/{bucket}/inbox/bridge_report.pdf")]
    assert function_of_session_token(request["token"]) == "ValidateFunction"
