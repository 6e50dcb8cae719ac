"""Record every AWS call a function makes offline, in IAM terms, for the least-privilege contract.

The Lambda emulator runs a handler inside `calling(logical_id)`; a botocore hook then translates each call
made in that context (`before-parameter-build` gives the caller's parameters) into what IAM authorizes
(`iam.actions`). Calls made outside a handler (the runtime, tests, the CLI, moto's Step Functions
interpreter) have no caller and are not attributed to a function. While a call is being answered the
caller is cleared, so whatever an emulator does to answer it (a Textract stand-in reading S3) is not put
on the function's account; a function invoked from there sets its own caller again.

Handlers fan work out to `docpipe.workers` pools; `install()` makes those pools carry the submitting
context into the work (contextvars.copy_context), so a call made on a worker thread is attributed to the
function that submitted it. Deployed code knows nothing of this: the pool class is swapped from outside.

Recordings accumulate for the whole process (every OfflineRuntime of a pytest session); with
DOCPIPE_IAM_RECORDING=<file> they are also written to that file at exit (tests/iam runs the flows in a
subprocess that way when the session did not run them).
"""

from __future__ import annotations

import atexit
import contextvars
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from botocore.handlers import BUILTIN_HANDLERS

from docpipe_local.iam.actions import Need, UnmappedCall, needs
from docpipe_local.template import REGION

_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar("docpipe_iam_caller", default=None)
_ANSWERING = "docpipe_iam_answering"
RECORDING_FILE_ENV = "DOCPIPE_IAM_RECORDING"


@dataclass(frozen=True)
class RecordedCall:
    function: str  # the function's logical id
    service: str
    operation: str
    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    kms: str | None = None
    error: str | None = None  # set when the call could not be translated (no IAM mapping)

    @property
    def context_dict(self) -> dict[str, list[str]]:
        return {key: list(values) for key, values in self.context}

    @classmethod
    def of(cls, function: str, service: str, operation: str, need: Need) -> "RecordedCall":
        context = tuple(sorted((k, tuple(v)) for k, v in need.context.items()))
        return cls(function, service, operation, need.action, need.resource, context, need.kms)


@dataclass
class Recording:
    """Distinct calls (with how often each was made) per function, for the whole process."""

    calls: dict[RecordedCall, int] = field(default_factory=dict)
    invoked: set[str] = field(default_factory=set)  # functions that ran, whether or not they called AWS
    enabled: bool = True  # tests/iam turns it off outside the flow tests
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, call: RecordedCall) -> None:
        if self.enabled:
            with self._lock:
                self.calls[call] = self.calls.get(call, 0) + 1

    def invoke(self, function: str) -> None:
        if self.enabled:
            with self._lock:
                self.invoked.add(function)

    def of(self, function: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.function == function]

    def merge(self, other: "Recording") -> None:
        for call, count in other.calls.items():
            with self._lock:
                self.calls[call] = self.calls.get(call, 0) + count
        with self._lock:
            self.invoked |= other.invoked

    def to_json(self) -> dict:
        return {"invoked": sorted(self.invoked),
                "calls": [{**asdict(call), "count": count} for call, count in self.calls.items()]}

    @classmethod
    def from_json(cls, data: dict) -> "Recording":
        recording = cls(invoked=set(data["invoked"]))
        for row in data["calls"]:
            count = row.pop("count")
            row["context"] = tuple((k, tuple(v)) for k, v in row["context"])
            recording.calls[RecordedCall(**row)] = count
        return recording


RECORDING = Recording()


@contextmanager
def calling(function: str) -> Iterator[None]:
    """Attribute the AWS calls made in this block (and in work it submits to docpipe.workers) to `function`."""
    RECORDING.invoke(function)
    token = _caller.set(function)
    try:
        yield
    finally:
        _caller.reset(token)


# --- botocore hooks -----------------------------------------------------------------------------------------
def _record(params: dict, event_name: str, **_: Any) -> None:
    function = _caller.get()
    if function is None:
        return
    _, service, operation = event_name.split(".", 2)
    try:
        found = needs(service, operation, params)
    except (UnmappedCall, KeyError) as exc:
        RECORDING.add(RecordedCall(function, service, operation, "?", "?", error=str(exc)))
        return
    for need in found:
        if need.resource.startswith("arn:aws:sagemaker:") and not need.action.startswith("sagemaker:Create"):
            need = Need(need.action, need.resource, {**need.context, **_resource_tags(need.resource)}, need.kms)
        RECORDING.add(RecordedCall.of(function, service, operation, need))


def _answering(context: dict, **_: Any) -> None:
    """Before the call is answered: nothing done to answer it is the function's own call."""
    if _caller.get() is not None:
        context[_ANSWERING] = _caller.set(None)


def _answered(context: dict, **_: Any) -> None:
    token = context.pop(_ANSWERING, None)
    if token is not None:
        _caller.reset(token)


_tags_lock = threading.Lock()
_tags_client: list[Any] = []


def _resource_tags(arn: str) -> dict[str, list[str]]:
    """aws:ResourceTag/<key> of a SageMaker resource as it is now (conditions on DeleteEndpoint use them)."""
    with _tags_lock:
        if not _tags_client:
            import boto3

            _tags_client.append(boto3.session.Session().client("sagemaker", region_name=REGION))
    token = _caller.set(None)
    try:
        tags = _tags_client[0].list_tags(ResourceArn=arn).get("Tags", [])
    except Exception:  # the resource does not exist (yet): it has no tags
        tags = []
    finally:
        _caller.reset(token)
    return {f"aws:ResourceTag/{t['Key']}": [t["Value"]] for t in tags}


class _ContextCarryingExecutor(ThreadPoolExecutor):
    """A pool whose work runs in a copy of the submitter's context (what asyncio's executors do)."""

    def submit(self, fn, /, *args, **kwargs):  # noqa: ANN001 - ThreadPoolExecutor's signature
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


_installed = False


def install() -> None:
    """Register the hooks (every botocore client created afterwards carries them) and wrap the pools."""
    global _installed
    if _installed:
        return
    _installed = True
    # before the emulators' own before-call answer (docpipe_local.emulators.base), so it runs cleared
    BUILTIN_HANDLERS.insert(0, ("before-call", _answering))
    BUILTIN_HANDLERS.extend([("before-parameter-build", _record), ("after-call", _answered)])
    from docpipe import workers

    workers.ThreadPoolExecutor = _ContextCarryingExecutor
    with workers._lock:  # pools created before: carried over to the context-carrying class
        for executor in workers._pools.values():
            executor.__class__ = _ContextCarryingExecutor
    if os.environ.get(RECORDING_FILE_ENV):
        atexit.register(save, Path(os.environ[RECORDING_FILE_ENV]))


def save(path: Path) -> None:
    path.write_text(json.dumps(RECORDING.to_json()))


def load(path: Path) -> Recording:
    return Recording.from_json(json.loads(path.read_text()))
