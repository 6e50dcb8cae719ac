"""Batch generation: the job format, its record-by-record validation, and the contracts between its states.

A job is a JSONL file in S3, one record per line::

    {"id": "r1", "template": "batch_sentence_user", "variables": {"topic": "bridges"}}
    {"id": "r2", "prompt": "Name three {thing}.", "variables": {"thing": "rivers"}, "max_tokens": 32}
    {"id": "r3", "prompt": "...", "system": "...", "model_id": "amazon.nova-micro-v1:0", "temperature": 0.1}

`id` names the record (unique in the job); `template` names a prompt file of the layer (prompts/<name>.txt)
or `prompt` gives the prompt inline -- exactly one of the two; `variables` fill its `{name}` fields; `system`,
`model_id`, `max_tokens` and `temperature` are optional. A line that is not such a record is reported with
its line number and the reason, and the other records go on. Blank lines are not records.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from docpipe.models import S3Pointer

RecordStatus = Literal["succeeded", "blocked", "invalid", "failed"]
Mode = Literal["on_demand", "batch_inference", "done"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_TEMPLATE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
MAX_LINE_BYTES = 64 * 1024
MAX_PROMPT_CHARS = 20_000


class JobRecord(BaseModel):
    """One line of a job file, as written by its author."""

    model_config = ConfigDict(extra="forbid")

    id: str
    template: str | None = None
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)
    system: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    model_id: str | None = Field(default=None, max_length=256)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_prompt(self) -> "JobRecord":
        if not _ID.match(self.id):
            raise ValueError("id must be 1-128 characters of letters, digits, '_', '.', ':' or '-'")
        if (self.template is None) == (self.prompt is None):
            raise ValueError("give exactly one of 'template' (a prompt name) or 'prompt' (inline text)")
        if self.template is not None and not _TEMPLATE.match(self.template):
            raise ValueError("template must be a prompt name such as 'batch_sentence_user'")
        return self


class PreparedRecord(BaseModel):
    """A valid record, resolved to the exact Converse request it makes."""

    line: int
    id: str
    model_id: str
    system: str
    user: str
    max_tokens: int
    temperature: float
    fingerprint: str  # of the request: a record re-used with other content is generated again


class InvalidRecord(BaseModel):
    line: int
    id: str | None
    reason: str


def _fields(template: str) -> set[str]:
    names = set()
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None:
            if not name.isidentifier():
                raise ValueError(f"the prompt has a field {{{name}}} that is not a plain variable name")
            names.add(name)
    return names


def prepare(record: JobRecord, line: int, *, prompts: Any, default_model: str, default_system: str,
            allowed_models: set[str], default_max_tokens: int, default_temperature: float) -> PreparedRecord:
    """Resolve template, variables and defaults; ValueError names what is wrong."""
    if record.template is not None:
        try:
            text = prompts(record.template)
        except (FileNotFoundError, OSError):
            raise ValueError(f"no prompt template named '{record.template}'") from None
    else:
        text = record.prompt
    wanted = _fields(text)
    missing = sorted(wanted - set(record.variables))
    if missing:
        raise ValueError("missing variables: " + ", ".join(missing))
    unused = sorted(set(record.variables) - wanted)
    if unused:
        raise ValueError("variables not used by the prompt: " + ", ".join(unused))
    user = text.format(**{name: str(value) for name, value in record.variables.items()}) if wanted else text
    if not user.strip():
        raise ValueError("the prompt is blank")
    if len(user) > MAX_PROMPT_CHARS:
        raise ValueError(f"the prompt is {len(user)} characters, over the cap of {MAX_PROMPT_CHARS}")
    model = record.model_id or default_model
    if allowed_models and model not in allowed_models:
        raise ValueError(f"model '{model}' is not one this job may use ({', '.join(sorted(allowed_models))})")
    system = record.system if record.system is not None else default_system
    max_tokens = record.max_tokens or default_max_tokens
    temperature = default_temperature if record.temperature is None else record.temperature
    request = {"model": model, "system": system, "user": user, "max_tokens": max_tokens, "temperature": temperature}
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:32]
    return PreparedRecord(line=line, id=record.id, model_id=model, system=system, user=user, max_tokens=max_tokens,
                          temperature=temperature, fingerprint=fingerprint)


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_job(data: bytes, **defaults: Any) -> tuple[list[PreparedRecord | InvalidRecord], int]:
    """Every non-blank line of the job in order, prepared or rejected with its reason; and the line count."""
    entries: list[PreparedRecord | InvalidRecord] = []
    first_line: dict[str, int] = {}
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        record_id = None
        try:
            if len(raw) > MAX_LINE_BYTES:
                raise ValueError(f"the line is {len(raw)} bytes, over the cap of {MAX_LINE_BYTES}")
            try:
                value = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValueError("the line is not UTF-8") from None
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
            if not isinstance(value, dict):
                raise ValueError("a record must be a JSON object")
            if isinstance(value.get("id"), str):
                record_id = value["id"]
            try:
                record = JobRecord.model_validate(value)
            except ValidationError as exc:
                raise ValueError(_reason(exc)) from None
            if record.id in first_line:
                raise ValueError(f"duplicate id: first used on line {first_line[record.id]}")
            first_line[record.id] = number
            entries.append(prepare(record, number, **defaults))
        except ValueError as exc:
            entries.append(InvalidRecord(line=number, id=record_id, reason=str(exc)))
    return entries, len(lines)


# --- the states' contracts ------------------------------------------------------------------------------
class BatchRequest(BaseModel):
    """What a schedule (or `docpipe batch`) starts the state machine with."""

    job: S3Pointer
    job_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    batch_size: int | None = Field(default=None, ge=1, le=1000)
    mode: Literal["auto", "on_demand", "batch_inference"] = "auto"


class BatchJobInput(BaseModel):
    execution_id: str
    request: BatchRequest


class BatchFile(BaseModel):
    """One item of the Distributed Map: a file of up to N prepared records."""

    job_id: str
    index: int
    bucket: str
    key: str
    count: int


class InferenceJob(BaseModel):
    """A Bedrock batch inference job (CreateModelInvocationJob) and its polling."""

    arn: str
    input_key: str
    output_prefix: str
    status: str = "Submitted"
    message: str | None = None
    polls: int = 0
    wait_seconds: int = 60
    max_polls: int = 1000


class BatchPlan(BaseModel):
    """The plan's output, carried through the map (or the inference job's poll loop) to the aggregation."""

    execution_id: str
    job_id: str
    job: S3Pointer
    mode: Mode
    records: int  # non-blank lines
    valid: int
    invalid: int
    pending: int  # valid records not done by an earlier run
    batch_count: int
    index: S3Pointer  # every record's line, id and validity, in input order
    manifest: S3Pointer  # the batch files: what the Distributed Map's ItemReader reads
    work_prefix: str
    out_prefix: str
    max_concurrency: int
    model_id: str
    usage: dict[str, int] = Field(default_factory=dict)  # what the plan itself spent (input guardrail)
    inference_job: InferenceJob | None = None
    map_error: dict[str, Any] | None = None  # set by the Map's Catch


class PlanInput(BaseModel):
    execution_id: str
    plan: BatchPlan


class BatchWorkItem(BaseModel):
    execution_id: str
    batch: BatchFile


class BatchWorkResult(BaseModel):
    index: int
    records: int
    generated: int
    skipped: int
    cache_hits: int
    statuses: dict[str, int]
    result: S3Pointer


class BatchResult(BaseModel):
    """The execution's output."""

    job_id: str
    mode: Mode
    records: int
    counts: dict[str, int]
    results: S3Pointer
    report: S3Pointer
