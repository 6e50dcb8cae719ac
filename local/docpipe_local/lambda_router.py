"""Lambda Invoke, answered in-process by the function's real handler.

moto's Step Functions interpreter invokes Lambda tasks through a boto3 client; this emulator answers that
Invoke (and anyone else's) by importing functions/<name>/app.py and calling its handler with the payload and
a LambdaContext (in serve mode, by handing it to a worker process of the function: lambda_workers), returning
Lambda's own response shape: StatusCode, ExecutedVersion, Payload and, when the handler raised, FunctionError
"Unhandled" with the errorType/errorMessage payload Step Functions matches on.
tests/unit/test_lambda_routing.py is the canary for a moto upgrade that changes that path.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from docpipe_local.emulators.base import Emulator, ServiceError, streaming_body
from docpipe_local.iam.recorder import calling
from docpipe_local.lambda_workers import WorkerPool
from docpipe_local.template import REGION, Template


@dataclass
class LambdaFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    layers: list[Path] = field(default_factory=list)  # each layer's content folder (/opt/python in Lambda)
    _module: ModuleType | None = None

    def load(self) -> Callable[[dict, Any], Any]:
        """Import the handler module once (a cold start), under a name unique to the function."""
        if self._module is None:
            module_name, _ = self.handler.rsplit(".", 1)
            path = self.code_dir / f"{module_name.replace('.', '/')}.py"
            spec = importlib.util.spec_from_file_location(f"docpipe_function_{self.logical_id}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            self._module = module
        return getattr(self._module, self.handler.rsplit(".", 1)[1])


@dataclass
class LambdaContext:
    """What Lambda passes as `context` (the attributes powertools reads)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "offline"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    function: str
    started: float
    duration_s: float
    error: str | None


def functions_from_template(template: Template) -> dict[str, LambdaFunction]:
    """Every AWS::Serverless::Function with Globals merged in, keyed by name and by ARN."""
    defaults = template.resolve(template.body.get("Globals", {}).get("Function", {}))
    layer_folders = {template.get_att(layer, "Arn"): template.root / template.properties(layer)["ContentUri"]
                     for layer in template.of_type("AWS::Serverless::LayerVersion")}
    functions: dict[str, LambdaFunction] = {}
    for logical_id in template.of_type("AWS::Serverless::Function"):
        props = {**defaults, **template.properties(logical_id)}
        environment = {**defaults.get("Environment", {}).get("Variables", {}),
                       **props.get("Environment", {}).get("Variables", {})}
        function = LambdaFunction(
            logical_id=logical_id, name=template.physical_name(logical_id),
            arn=template.get_att(logical_id, "Arn"), code_dir=template.root / props["CodeUri"],
            handler=props["Handler"], memory_mb=int(props.get("MemorySize", 128)),
            timeout_s=int(props.get("Timeout", 3)), environment={k: str(v) for k, v in environment.items()},
            layers=[layer_folders[arn] for arn in props.get("Layers", []) if arn in layer_folders])
        functions[function.name] = functions[function.arn] = function
    return functions


class LambdaEmulator(Emulator):
    service = "lambda"

    def __init__(self, functions: dict[str, LambdaFunction], workers: WorkerPool | None = None):
        """workers: run each invocation in a worker process of its function (`docpipe serve`), not in this one."""
        self.functions = functions
        self.workers = workers
        self.invocations: list[Invocation] = []
        # called after each invocation with (function, event, result or error payload, failed): tools that
        # watch what the functions receive (tests/events/generate.py records the events/ catalogue this way)
        self.observers: list[Callable[[LambdaFunction, dict, Any, bool], None]] = []
        self._load_lock = threading.Lock()
        self._record_lock = threading.Lock()
        # one worker: asynchronous invocations of the same event source run in order, as a small queue
        self._async = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-async")

    def _function(self, name: str) -> LambdaFunction:
        # FunctionName may be a name, an ARN, or an ARN with a qualifier
        base = name.split(":$LATEST")[0]
        function = self.functions.get(base) or self.functions.get(base.rsplit(":", 1)[0])
        if function is None:
            raise ServiceError("ResourceNotFoundException", f"Function not found: {name}", 404)
        return function

    def Invoke(self, params: dict) -> dict:
        function = self._function(params["FunctionName"])
        invocation_type = params.get("InvocationType", "RequestResponse")
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        raw = params.get("Payload") or b"{}"
        try:
            event = json.loads(raw)
        except ValueError:
            raise ServiceError("InvalidRequestContentException", "Could not parse request body into json") from None
        if invocation_type == "Event":  # asynchronous: queued, answered 202 at once
            self._async.submit(self._run, function, event)
            return {"StatusCode": 202}
        return self._run(function, event)

    def drain(self) -> None:
        """Wait for asynchronous invocations queued so far."""
        self._async.submit(lambda: None).result()

    def close(self) -> None:
        self._async.shutdown(wait=True)
        if self.workers is not None:
            self.workers.close()

    def _run(self, function: LambdaFunction, event: dict) -> dict:
        started = time.monotonic()  # the clock the emulators log with, for overhead accounting
        if self.workers is not None:  # serve mode: an execution environment of its own
            outcome = self.workers.invoke(function, event)
            result, error = outcome.payload, outcome.payload if outcome.error else None
        else:
            result, error = self._in_process(function, event)
        duration = time.monotonic() - started
        with self._record_lock:
            self.invocations.append(Invocation(function.name, started, duration, error and error["errorType"]))
        response = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        if error is not None:
            response["FunctionError"] = "Unhandled"
            result = error
        for observe in self.observers:
            observe(function, event, result, error is not None)
        response["Payload"] = streaming_body(json.dumps(result).encode())
        return response

    def _in_process(self, function: LambdaFunction, event: dict) -> tuple[Any, dict | None]:
        """The handler called in this process: its timeout can only be reported after it returns."""
        with self._load_lock:
            handler = function.load()
        context = LambdaContext(function.name, function.memory_mb, function.arn, function.timeout_s)
        started = time.monotonic()
        try:
            with calling(function.logical_id):  # its AWS calls are recorded for the IAM contract (docpipe_local.iam)
                result = handler(event, context)
        except Exception as exc:  # what Lambda reports for an unhandled exception
            return None, {"errorMessage": str(exc), "errorType": type(exc).__name__,
                          "requestId": context.aws_request_id, "stackTrace": traceback.format_tb(exc.__traceback__)}
        duration = time.monotonic() - started
        if duration > function.timeout_s:
            return None, {"errorMessage": f"Task timed out after {duration:.2f} seconds", "errorType": "Sandbox.Timedout"}
        return result, None


def environment_of(functions: dict[str, LambdaFunction]) -> dict[str, str]:
    """The union of the functions' environments: in-process they share one os.environ, so they must agree."""
    merged: dict[str, str] = {}
    for function in functions.values():
        for key, value in function.environment.items():
            if merged.setdefault(key, value) != value:
                raise ValueError(f"functions disagree on {key} ({merged[key]!r} vs {value!r}); the offline "
                                 "runtime runs them in one process and needs one value")
    merged.setdefault("AWS_REGION", REGION)
    return merged
