"""The events/ catalogue: sample events for every function, as `sam local invoke -e` and the tests use them.

events/<FunctionLogicalId>/<case>.json holds one event a function receives in one of the cases it handles:
each Task's Payload as the state machines pass it (statemachines/*.asl.json), the S3 "Object Deleted" event
EventBridge delivers, the Scheduler input the template declares, and the function URL request. The
pipeline events were recorded from real runs (tests/events/generate.py) and name the objects that
`put_sources` puts first, by key and without a version id, so that they read the latest version anyone
uploaded under that key.
"""

from __future__ import annotations

import ast
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from tests.conftest import ROOT, SAMPLES

EVENTS = ROOT / "events"

# The stack the recorded events come from, and the one the tests invoke them on: two-step training, speech
# long enough for Polly's asynchronous task, and a Bedrock batch inference job from ten records.
TRAINING = {"epochs": "1", "max_steps": "2", "save_steps": "2", "batch_size": "4", "max_seq_length": "96",
            "learning_rate": "0.005", "lora_target_modules": "q_proj,k_proj,v_proj,o_proj"}
PARAMETERS = {"TrainingHyperparameters": json.dumps(TRAINING), "FineTuneMinImprovement": "0"}
ENVIRONMENT = {"DOCPIPE_POLLY_SYNC_MAX_CHARS": "50", "DOCPIPE_BATCH_INFERENCE_MIN_RECORDS": "10",
               "DOCPIPE_BEDROCK_BATCH_MIN_RECORDS": "10"}

# inbox uploads: a born-digital PDF (native), a photo (synchronous OCR), a two-page scan (asynchronous OCR), an empty file
DOCUMENTS = {"inbox/bridge_report.pdf": SAMPLES / "bridge_report.pdf",
             "inbox/site_photo.png": SAMPLES / "site_photo.png",
             "inbox/scanned_letter.pdf": SAMPLES / "scanned_letter.pdf",
             "inbox/empty.pdf": SAMPLES / "bad" / "empty.pdf"}
DATASET_KEY = "finetune/datasets/bridge_qa.jsonl"
FINETUNE_RUN_ID = "bridge-qa-example"
LARGE_JOB_KEY = "jobs/large.jsonl"  # mode batch_inference: Bedrock batch inference, polled by BatchPoll
TOPICS = ["bridges", "rivers", "harbours", "tunnels", "railways", "canals", "roads", "dams", "ferries", "locks",
          "piers", "viaducts"]


def job_file(count: int) -> bytes:
    return "\n".join(json.dumps({"id": f"r{n}", "prompt": f"Name one thing about {TOPICS[n % len(TOPICS)]}.",
                                 "max_tokens": 8}) for n in range(count)).encode()


def scheduled_job(template) -> dict:
    """The input EventBridge Scheduler gives the batch state machine (template.yaml, BatchGenerationSchedule)."""
    return json.loads(template.properties("BatchGenerationSchedule")["Target"]["Input"])


def sources(template) -> dict[str, bytes]:
    """Every object the events name, by key in the documents bucket."""
    found = {key: path.read_bytes() for key, path in DOCUMENTS.items()}
    found[scheduled_job(template)["job"]["key"]] = job_file(3)
    found[LARGE_JOB_KEY] = job_file(12)
    found[DATASET_KEY] = (SAMPLES / "finetune" / "bridge_qa.jsonl").read_bytes()
    return found


def put_sources(runtime) -> None:
    for key, body in sources(runtime.template).items():
        runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=body)


# The order the tests invoke functions in: each case's events follow the state machines' order, so every
# object an event names was written by an earlier one.
FUNCTION_ORDER = [
    "ValidateFunction", "ExtractFunction", "TextractDetectFunction", "TextractStartFunction",
    "TextractPollFunction", "GuardFunction", "EmbedFunction", "IndexFunction", "SummarizeFunction",
    "TranslateFunction", "SpeakFunction", "SpeakPollFunction", "PublishFunction", "QuarantineFunction",
    "AskFunction", "ForgetFunction",
    "BatchPlanFunction", "BatchGenerateFunction", "BatchPollFunction", "BatchAggregateFunction",
    "FineTuneValidateFunction", "FineTuneStartFunction", "FineTunePollFunction", "FineTuneEvaluateFunction",
    "FineTuneRegisterFunction",
    "EndpointReaperFunction",
]


@dataclass(frozen=True)
class Event:
    function: str
    case: str
    path: Path

    @property
    def body(self) -> dict:
        return json.loads(self.path.read_text())


def as_delivered(event: dict, runtime) -> dict:
    """The event as AWS would send it for the objects `put_sources` put: on the versioned bucket, S3's event and
    every pointer to one of those objects name its current version (the files name none, to fit any bucket)."""
    versions = {key: runtime.s3.head_object(Bucket=runtime.bucket, Key=key)["VersionId"] for key in DOCUMENTS}

    def fill(value):
        if isinstance(value, list):
            return [fill(item) for item in value]
        if not isinstance(value, dict):
            return value
        filled = {name: fill(item) for name, item in value.items()}
        if filled.get("key") in versions and "version_id" in filled:  # a pointer in a Task's Payload
            filled["version_id"] = versions[filled["key"]]
        if isinstance(filled.get("object"), dict) and filled["object"].get("key") in versions:  # S3's event
            filled["object"]["version-id"] = versions[filled["object"]["key"]]
        return filled

    return fill(event)


def catalogue() -> list[Event]:
    """Every event file, in FUNCTION_ORDER, cases by name."""
    found = []
    for function in FUNCTION_ORDER:
        found += [Event(function, path.stem, path) for path in sorted((EVENTS / function).glob("*.json"))]
    return found


def input_model(template, function: str) -> type[BaseModel]:
    """The pydantic model the function's handler parses its event with: the model passed to `lambda_task`
    in functions/<name>/app.py, read from its source (importing a handler would start its clients)."""
    app = template.root / template.properties(function)["CodeUri"] / "app.py"
    tree = ast.parse(app.read_text())
    imported = {alias.asname or alias.name: (node.module, alias.name)
                for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lambda_task":
            module, name = imported[node.args[1].id]
            return getattr(importlib.import_module(module), name)
    raise LookupError(f"{app} builds no handler with lambda_task(stage, Model, logic)")
