"""Where moto is less faithful than AWS in a way the offline runtime's threads expose, fixed in one place.

- DynamoDB applies a conditional write atomically; moto checks the condition and writes without a lock, so
  two handlers racing for the same document claim (re-delivered events, in threads here) could both win. The
  runtime serializes moto's DynamoDB writes. tests/flows/test_offline_behaviour.py races four claims.
- Step Functions parses a state machine once; moto's interpreter parses the definition again (ANTLR, in pure
  Python) for every execution: ~90 ms of CPU each for the document pipeline, holding the GIL while the
  documents of one upload start together. The parsed program is declarative (executions keep their state in
  their own Environment, and moto's Map iterations already evaluate one parsed ItemProcessor from several
  threads at once), so executions of one definition share it; the runtime caches the parse.
- moto's interpreter creates a new boto3 client for every Task state it runs (each Lambda invoke, each SDK
  integration call): ~5-20 ms of GIL-held CPU each, six times per document. boto3 clients are thread-safe
  once made, so the runtime makes one per region, service and interception mode and reuses it.
- The interpreter parses every JSONPath again (jsonpath_ng builds a ply parser for each: ~0.27 ms) each
  time a state reads its input, result or parameters: about 20 times a document. A parsed path is only
  read when it is applied, so the runtime keeps one per path string.
- The interpreter deep-copies the state's JSON each time a state reads its input, a path or a result (some
  50 times a document): copy.deepcopy's memo and dispatch cost 5-10x the copy of plain data. Its modules
  copy with :func:`docpipe_local.plain_copy.copy_plain` instead (the same values; anything but plain data
  still goes to copy.deepcopy).
- The runtime waits for executions to end. Asking for their status (DescribeExecution through botocore and
  moto: ~4 ms of CPU holding the GIL) 20 times a second takes that CPU from the executions' own threads, a
  tenth of a language branch's; moto's interpreter now announces each execution's end, and the runtime asks
  only then (and once a second, in case an execution ended without its interpreter saying so).
- GetExecutionHistory: moto ignores ``maxResults``, ``nextToken``, ``reverseOrder`` and ``includeExecutionData``
  (every event, oldest first, with its data), so "the state an execution is in now" read as AWS allows (the
  newest events first) found the first state instead; and its generic serializer visits every member of the
  HistoryEvent shape for every event (~40 ms of GIL-held CPU for one document's 90 events, read by each
  document's Publish task). The runtime pages, orders and trims the events as AWS does and writes the
  events' own fields as JSON (the same wire format; tests/unit/test_moto_fixes.py compares the two).
- moto re-executes its S3 URL module (``importlib.reload``: file stats and a read, each letting go of the
  GIL) on every S3 request, to pick up ``MOTO_S3_CUSTOM_ENDPOINTS`` changed at run time. The runtime never
  changes it, so the module is read once.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib
import json
import sys
import threading
import types
from datetime import datetime
from typing import Any, Callable

from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from docpipe_local.plain_copy import copy_plain

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_LOCK = threading.RLock()


def make_dynamodb_writes_atomic() -> None:
    for name in _WRITES:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "docpipe_atomic", False):
            continue

        @functools.wraps(method)
        def locked(self, *args, _method=method, **kwargs):
            with _LOCK:
                return _method(self, *args, **kwargs)

        locked.docpipe_atomic = True
        setattr(DynamoDBBackend, name, locked)


def _memoized(parse: Callable, maxsize: int) -> Callable:
    """``parse`` with an LRU cache (a parse function memoized here before, as it is)."""
    if getattr(parse, "docpipe_cached", False):
        return parse
    cached = functools.lru_cache(maxsize=maxsize)(parse)
    cached.docpipe_cached = True
    return cached


def parse_each_definition_once() -> None:
    # CreateStateMachine's validation parses first, so executions find the program parsed
    AmazonStateLanguageParser.parse = staticmethod(_memoized(AmazonStateLanguageParser.parse, 64))


_JSON_PATH_USERS = ("moto.stepfunctions.parser.asl.utils.json_path",  # extract_json (jsonpath_ng.ext)
                    "moto.stepfunctions.parser.asl.component.common.path.result_path")  # ResultPath


def parse_each_json_path_once() -> None:
    for name in _JSON_PATH_USERS:
        module = importlib.import_module(name)
        module.parse = _memoized(module.parse, 4096)


_ASL = "moto.stepfunctions.parser.asl."
_STATE_COPIERS = tuple(_ASL + name for name in (  # moto 5.2.5's interpreter modules that `import copy`
    "component.common.path.result_path", "component.common.string.string_expression",
    "component.intrinsic.function.statesfunction.json_manipulation.json_merge", "component.state.exec.execute_state",
    "component.state.exec.state_map.item_reader.item_reader_decl", "component.state.exec.state_map.iteration.job",
    "component.state.exec.state_map.result_writer.result_writer_decl", "component.state.exec.state_map.state_map",
    "component.state.exec.state_parallel.state_parallel", "component.state.exec.state_task.mock_eval_utils",
    "component.state.exec.state_task.service.state_task_service", "eval.environment", "eval.event.event_manager",
    "eval.states"))


def copy_state_data_plainly() -> None:
    plain = types.SimpleNamespace(deepcopy=copy_plain, copy=copy.copy)  # what `import copy` gave them
    for name in _STATE_COPIERS:
        module = importlib.import_module(name)
        if getattr(module, "copy", None) is copy:
            module.copy = plain


def read_s3_urls_once() -> None:
    from moto.s3 import urls
    from moto.s3.models import S3Backend

    if not getattr(S3Backend._url_module.fget, "docpipe_cached", False):
        importlib.reload(urls)  # what moto's property does, once: custom endpoints set by now count
        loaded = property(lambda self: urls)
        loaded.fget.docpipe_cached = True
        S3Backend._url_module = loaded


_TASK_CLIENT_USERS = (  # the modules of moto 5.2.5's interpreter that import boto_client_for by name
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_factory",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
)


def reuse_task_clients() -> None:
    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.utils import boto_client

    make = boto_client.boto_client_for
    if getattr(make, "docpipe_cached", False):
        return
    clients: dict[tuple, object] = {}
    lock = threading.Lock()

    @functools.wraps(make)
    def reused(region: str, service: str, state_credentials=None):
        # moto passes every Task state's credentials and makes the same client whatever they are (fixed
        # test keys), so the client depends on the region, the service and whether moto intercepts calls
        key = (region, service, botocore_stubber.enabled)
        with lock:  # creating clients is not thread-safe; using them is
            if key not in clients:
                clients[key] = make(region, service)
            return clients[key]

    reused.docpipe_cached = True
    for name in _TASK_CLIENT_USERS:
        importlib.import_module(name)  # the factory imports every service integration module
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is make:
            module.boto_client_for = reused
    boto_client.boto_client_for = reused


class ExecutionEnds:
    """How many executions have ended so far, and a way to sleep until the next one does."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    @property
    def count(self) -> int:
        return self._count

    def ended(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_after(self, seen: int, timeout: float) -> None:
        """Return once an execution has ended since ``count`` was ``seen``, or after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen, timeout)


EXECUTION_ENDS = ExecutionEnds()


def announce_execution_ends() -> None:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    terminated = BaseExecutionWorkerCommunication.terminated  # the interpreter's thread, once the status is set
    if getattr(terminated, "docpipe_announced", False):
        return

    @functools.wraps(terminated)
    def announced(self) -> None:
        try:
            terminated(self)
        finally:
            EXECUTION_ENDS.ended()

    announced.docpipe_announced = True
    BaseExecutionWorkerCommunication.terminated = announced


HISTORY_PAGE = 100  # AWS's page of history events when maxResults is 0 or absent (1,000 at most)
_EXECUTION_DATA = ("input", "output")  # the fields includeExecutionData=false leaves out of an event's details


def serve_execution_history_as_aws_does() -> None:
    from moto.core.serialize import TimestampSerializer
    from moto.stepfunctions.exceptions import InvalidToken
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse.get_execution_history, "docpipe_paged", False):
        return

    def wire(value: Any) -> Any:
        """The events' JSON as moto's serializer writes it: no empty members, timestamps in epoch seconds."""
        if isinstance(value, dict):
            return {key: wire(item) for key, item in value.items() if item is not None}
        if isinstance(value, list):
            return [wire(item) for item in value]
        if isinstance(value, datetime):
            return TimestampSerializer._timestamp_unixtimestamp(value)
        return value

    def without_execution_data(event: dict) -> dict:
        """The event with its details' inputs and outputs left out (its name, resource and the rest kept)."""
        return {key: {k: v for k, v in value.items() if k not in _EXECUTION_DATA}
                if key.endswith("Details") and isinstance(value, dict) else value for key, value in event.items()}

    def offset(arn: str, token: str | None, reverse: bool) -> int:
        if token is None:
            return 0
        try:
            token_arn, token_reverse, start = base64.urlsafe_b64decode(token.encode()).decode().rsplit("|", 2)
            if token_arn == arn and token_reverse == str(reverse) and int(start) >= 0:
                return int(start)
        except ValueError:
            pass
        raise InvalidToken("the token was not issued for this execution's history in this order")

    def get_execution_history(self: StepFunctionResponse) -> str:
        arn, reverse = self._get_param("executionArn"), bool(self._get_param("reverseOrder", False))
        events = list(self.stepfunction_backend.get_execution_history(arn)["events"])
        if reverse:
            events.reverse()
        start = offset(arn, self._get_param("nextToken"), reverse)
        end = start + (self._get_param("maxResults") or HISTORY_PAGE)
        page = events[start:end]
        if not self._get_param("includeExecutionData", True):
            page = [without_execution_data(event) for event in page]
        body: dict[str, Any] = {"events": page}
        if end < len(events):
            body["nextToken"] = base64.urlsafe_b64encode(f"{arn}|{reverse}|{end}".encode()).decode()
        return json.dumps(wire(body))

    get_execution_history.docpipe_paged = True
    get_execution_history.docpipe_moto = StepFunctionResponse.get_execution_history  # for the test comparing the two
    StepFunctionResponse.get_execution_history = get_execution_history
