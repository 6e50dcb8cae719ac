"""Lambda invocations in worker processes, as Lambda and `sam local invoke` run them (`docpipe serve`).

Each worker is one execution environment of one function: a Python process started with only that
function's environment (the template's Variables, Lambda's own AWS_LAMBDA_* / AWS_REGION / _HANDLER
variables, credentials of its own, and AWS_ENDPOINT_URL pointing at the served endpoint), never the parent's
os.environ. It imports the handler once (the cold start) and serves invocations one at a time while warm;
concurrent invocations get more workers, and a worker idle for `idle_seconds` is stopped (the next
invocation is cold). The function's Timeout and MemorySize are enforced from outside: a worker past its
deadline or above its memory is killed, and the invocation fails as Lambda reports it (`Sandbox.Timedout`,
`Runtime.OutOfMemory`).

Parent and worker speak JSON lines: requests on the worker's stdin, results on a pipe of their own, so that
what a handler prints goes with its log lines (stdout and stderr, like CloudWatch) and never into results.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from docpipe_local.template import REGION

IDLE_SECONDS = 300.0  # how long a warm worker waits for its next invocation (DOCPIPE_LAMBDA_IDLE_SECONDS)
RSS_POLL_SECONDS = 0.05
INIT_SECONDS = 10.0  # Lambda's limit on a cold start's init phase, which the function's Timeout does not include
PYTHON_RUNTIME = "python3.13"  # what AWS_EXECUTION_ENV names; the worker runs this machine's Python

# A worker signs with the offline key pair the endpoint knows, and a session token naming its function (in AWS
# the token would be its execution role's), so that the endpoint can tell which function made a call (for the
# IAM recorder's `calling`): `function_of_session_token` reads it back from X-Amz-Security-Token.
ACCESS_KEY = SECRET_KEY = "offline"
SESSION_TOKEN_PREFIX = "docpipe-lambda:"


def session_token_for(logical_id: str) -> str:
    return f"{SESSION_TOKEN_PREFIX}{logical_id}"


def function_of_session_token(token: str | None) -> str | None:
    """The logical id of the function whose worker signed with this session token, else None."""
    if token and token.startswith(SESSION_TOKEN_PREFIX) and len(token) > len(SESSION_TOKEN_PREFIX):
        return token[len(SESSION_TOKEN_PREFIX):]
    return None


def function_environment(function: Any, endpoint_url: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """What a Lambda execution environment of `function` holds, and nothing from this process.

    `overrides` are applied last, as `sam local invoke --env-vars` applies its file.
    """
    code_dir, layers = Path(function.code_dir).resolve(), [str(Path(path).resolve()) for path in function.layers]
    environment = {
        **function.environment,
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": function.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout_s),  # set by SAM local (Lambda passes it in the context)
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"$LATEST/{uuid.uuid4().hex}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{PYTHON_RUNTIME}",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": session_token_for(function.logical_id),
        "LAMBDA_TASK_ROOT": str(code_dir), "_HANDLER": function.handler,
        "PYTHONPATH": os.pathsep.join([str(code_dir), *layers]),  # /var/task, then /opt/python
        "PATH": os.defpath, "LANG": "en_US.UTF-8", "TZ": ":UTC", "PYTHONUNBUFFERED": "1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,  # no ~/.aws in Lambda
        **(overrides or {}),
        "AWS_ENDPOINT_URL": endpoint_url,
    }
    return {key: str(value) for key, value in environment.items()}


@dataclass
class Outcome:
    """One invocation's result: the handler's return value, or the error payload Lambda would return."""

    payload: Any
    error: bool
    pid: int
    cold: bool
    max_memory_mb: float = 0.0


@dataclass(eq=False)  # identity: a worker is one process
class _Worker:
    function: Any
    process: subprocess.Popen
    results: IO[str]
    last_used: float = field(default_factory=time.monotonic)
    invocations: int = 0
    peak_kb: int = 0  # its resident set's peak so far (VmHWM): Lambda's "Max Memory Used"

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the handler's own children too
            except ProcessLookupError:
                pass
        self.process.wait()
        for stream in (self.process.stdin, self.results):
            try:
                stream.close()
            except OSError:
                pass


class WorkerPool:
    """Execution environments of the template's functions, started on demand and stopped when idle."""

    def __init__(self, endpoint_url: str, *, idle_seconds: float | None = None,
                 overrides: dict[str, str] | None = None, log_path: Path | None = None):
        self.endpoint_url = endpoint_url
        self.idle_seconds = float(idle_seconds if idle_seconds is not None
                                  else os.environ.get("DOCPIPE_LAMBDA_IDLE_SECONDS", IDLE_SECONDS))
        self.overrides = dict(overrides or {})
        self.log_path = log_path
        self._idle: dict[str, list[_Worker]] = {}
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reaper = threading.Thread(target=self._reap_idle, name="lambda-workers-idle", daemon=True)
        self._reaper.start()

    # --- invoking ---------------------------------------------------------------------------------------
    def invoke(self, function: Any, event: Any, request_id: str | None = None) -> Outcome:
        if not self.endpoint_url:
            raise RuntimeError("Lambda workers need the endpoint they reach AWS through (OfflineRuntime.set_lambda_endpoint)")
        request_id = request_id or str(uuid.uuid4())
        worker, cold = self._acquire(function)
        if cold:  # the init phase (importing the handler) has a limit of its own, outside the function's Timeout
            ready = self._await(worker, function, request_id, INIT_SECONDS, cold)
            if isinstance(ready, Outcome):
                return ready
        try:
            worker.process.stdin.write(json.dumps({"event": event, "request_id": request_id}) + "\n")
            worker.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._lost(worker, request_id, cold)
        answer = self._await(worker, function, request_id, function.timeout_s, cold)
        if isinstance(answer, Outcome):
            return answer
        if answer.get("exit"):  # the worker could not start the handler (an init error): it has exited
            self._forget(worker)
            worker.kill()
        else:
            self._release(worker)
        failed = "error" in answer
        return Outcome(answer["error"] if failed else answer["result"], failed, worker.pid, cold,
                       worker.peak_kb / 1024)

    def _await(self, worker: _Worker, function: Any, request_id: str, seconds: float, cold: bool) -> dict | Outcome:
        """The worker's next line, or the Outcome of its end: past `seconds`, above MemorySize, or dead."""
        deadline = time.monotonic() + seconds
        limit_kb = function.memory_mb * 1024
        while True:
            ready, _, _ = select.select([worker.results], [], [], RSS_POLL_SECONDS)
            worker.peak_kb = max(worker.peak_kb, _memory_kb(worker.pid, "VmHWM"))
            if worker.peak_kb > limit_kb:  # Lambda stops the environment the moment it passes MemorySize
                worker.kill()
                self._forget(worker)
                return Outcome(_error("Runtime.OutOfMemory",
                                      f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
                               True, worker.pid, cold, worker.peak_kb / 1024)
            if ready:
                line = worker.results.readline()
                return json.loads(line) if line else self._lost(worker, request_id, cold)
            if time.monotonic() >= deadline:
                worker.kill()
                self._forget(worker)
                return Outcome(_error("Sandbox.Timedout", f"{_now()} {request_id} Task timed out after "
                                      f"{seconds:.2f} seconds"), True, worker.pid, cold, worker.peak_kb / 1024)

    def _lost(self, worker: _Worker, request_id: str, cold: bool) -> Outcome:
        """The worker died without answering (a crash, os._exit, a signal)."""
        code = worker.process.wait()
        self._forget(worker)
        worker.kill()
        status = f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}" if code < 0 else f"exit status {code}"
        return Outcome(_error("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {status}"),
                       True, worker.pid, cold)

    # --- the pool ---------------------------------------------------------------------------------------
    def _acquire(self, function: Any) -> tuple[_Worker, bool]:
        with self._lock:
            idle = self._idle.get(function.logical_id, [])
            while idle:
                worker = idle.pop()
                if worker.process.poll() is None:
                    self._busy.add(worker)
                    return worker, False
                worker.kill()  # it died while idle: close its pipes
        worker = self._start(function)
        with self._lock:
            self._busy.add(worker)
        return worker, True

    def _release(self, worker: _Worker) -> None:
        worker.last_used, worker.invocations = time.monotonic(), worker.invocations + 1
        with self._lock:
            self._busy.discard(worker)
            if self._stopped.is_set():
                worker.kill()
            else:
                self._idle.setdefault(worker.function.logical_id, []).append(worker)

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)

    def _start(self, function: Any) -> _Worker:
        read_fd, write_fd = os.pipe()
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            spec = {"logical_id": function.logical_id, "name": function.name, "arn": function.arn,
                    "code_dir": str(Path(function.code_dir).resolve()), "handler": function.handler,
                    "memory_mb": function.memory_mb, "timeout_s": function.timeout_s, "results_fd": write_fd}
            process = subprocess.Popen(
                [sys.executable, "-m", "docpipe_local.lambda_workers", json.dumps(spec)],
                env=function_environment(function, self.endpoint_url, self.overrides), cwd=Path(function.code_dir).resolve(),
                stdin=subprocess.PIPE, stdout=log, stderr=log, pass_fds=(write_fd,), text=True,
                start_new_session=True)  # its own process group: a kill takes whatever the handler started
        finally:
            os.close(write_fd)
            if log is not subprocess.DEVNULL:
                log.close()
        return _Worker(function, process, os.fdopen(read_fd, "r"))

    def warm_pids(self, logical_id: str) -> list[int]:
        with self._lock:
            return [worker.pid for worker in self._idle.get(logical_id, [])]

    def _reap_idle(self) -> None:
        while not self._stopped.wait(min(1.0, max(self.idle_seconds / 4, 0.05))):
            horizon = time.monotonic() - self.idle_seconds
            with self._lock:
                doomed = [w for workers in self._idle.values() for w in workers if w.last_used < horizon]
                for workers in self._idle.values():
                    workers[:] = [w for w in workers if w not in doomed]
            for worker in doomed:
                worker.kill()

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            workers = [w for ws in self._idle.values() for w in ws] + list(self._busy)
            self._idle.clear()
        for worker in workers:
            worker.kill()


def _memory_kb(pid: int, field_name: str) -> int:
    """A field of /proc/<pid>/status in kB (VmHWM: the peak resident set), 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _error(error_type: str, message: str) -> dict:
    return {"errorType": error_type, "errorMessage": message}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


# --- the worker process -----------------------------------------------------------------------------------
def _serve(spec: dict) -> int:
    """Import the handler (cold start), then answer requests from stdin until it closes."""
    from docpipe_local.lambda_router import LambdaContext, LambdaFunction

    results = os.fdopen(spec.pop("results_fd"), "w")
    function = LambdaFunction(logical_id=spec["logical_id"], name=spec["name"], arn=spec["arn"],
                              code_dir=Path(spec["code_dir"]), handler=spec["handler"], memory_mb=spec["memory_mb"],
                              timeout_s=spec["timeout_s"], environment={})
    handler, init_error = None, None
    try:
        handler = function.load()
    except Exception as exc:  # Lambda reports an init failure on the invocation that found it
        module = function.handler.rsplit(".", 1)[0]
        init_error = _error("Runtime.ImportModuleError", f"Unable to import module '{module}': {exc}")
    results.write(json.dumps({"ready": True}) + "\n")  # the init phase is over
    results.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            results.write(json.dumps({"error": init_error, "exit": True}) + "\n")
            results.flush()
            return 1
        context = LambdaContext(function.name, function.memory_mb, function.arn, function.timeout_s,
                                aws_request_id=request["request_id"])
        try:
            answer = {"result": handler(request["event"], context)}
        except Exception as exc:  # what Lambda's Python runtime reports for an unhandled exception
            answer = {"error": {"errorMessage": str(exc), "errorType": type(exc).__name__,
                                "requestId": request["request_id"], "stackTrace": traceback.format_tb(exc.__traceback__)}}
        try:
            text = json.dumps(answer)
        except (TypeError, ValueError) as exc:
            text = json.dumps({"error": _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")})
        results.write(text + "\n")
        results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve(json.loads(sys.argv[1])))
