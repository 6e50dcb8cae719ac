"""`docpipe finetune DATASET.jsonl [--epochs N]`: the fine-tuning state machine, offline, with progress.

The dataset goes to the documents bucket (``finetune/datasets/``) and one execution of the FineTune state
machine runs: ValidateDataset -> StartTraining -> Wait/PollTraining -> Evaluate -> Register, as deployed:
StartTraining puts the training code in S3 itself (docpipe.training_code), nothing is uploaded here first.
The training job really runs (training/train.py in a subprocess, see emulators/sagemaker_training.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from docpipe_local.runtime import OfflineRuntime

STATE_MACHINE = "FineTune"


@dataclass
class FineTuneRun:
    arn: str
    status: str
    output: dict | None
    error: str | None
    cause: str | None
    seconds: float
    job_names: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("finetune", help="fine-tune the small model on a JSONL dataset (Trainium job, run here on CPU)")
    parser.add_argument("dataset", help="JSONL: chat `messages` or `prompt`/`completion` rows")
    parser.add_argument("--epochs", type=float, default=None, help="training epochs (default: the template's)")
    parser.add_argument("--out", default="docpipe-out", help="the adapter and metrics go to OUT/finetune/<run>/")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--spot-interrupt-at-step", type=int, default=0,
                        help="reclaim the spot instance once after this step's checkpoint (shows the resume)")
    parser.add_argument("--faults", default=None, help=argparse.SUPPRESS)


def start(runtime: OfflineRuntime, dataset: Path, epochs: float | None = None) -> str:
    if not dataset.is_file():
        raise FileNotFoundError(f"no such dataset: {dataset}")
    key = f"finetune/datasets/{uuid.uuid4().hex[:8]}-{dataset.name}"
    runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=dataset.read_bytes())
    request: dict[str, Any] = {"dataset": {"bucket": runtime.bucket, "key": key}}
    if epochs is not None:
        request["epochs"] = epochs
    return runtime.sfn.start_execution(stateMachineArn=runtime.state_machines[STATE_MACHINE],
                                       name=f"finetune-{uuid.uuid4().hex[:12]}", input=json.dumps(request))["executionArn"]


def job_names(runtime: OfflineRuntime, arn: str) -> list[str]:
    """Training jobs this execution created, from its history (StartTraining outputs)."""
    names = []
    for event in runtime.history(arn):
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails")
        if details and details.get("output"):
            try:
                output = json.loads(details["output"])
            except ValueError:
                continue
            name = (output.get("Payload") or output).get("job_name") if isinstance(output, dict) else None
            if name and name not in names:
                names.append(name)
    return names


def run(runtime: OfflineRuntime, dataset: Path, epochs: float | None = None, timeout: float = 3600,
        progress: Callable[[str, str | None, dict], None] | None = None) -> FineTuneRun:
    started = time.monotonic()
    arn = start(runtime, dataset, epochs)
    last = None
    while True:
        execution = runtime.describe(arn)
        if execution.status != "RUNNING":
            break
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"fine-tuning still running after {timeout:.0f} s")
        if progress:
            state = runtime.current_state(arn)
            job = _latest_job(runtime)
            line = (state, job.secondary if job else None, dict((k, v[0]) for k, v in job.metrics.items()) if job else {})
            if line != last:
                progress(*line)
                last = line
        time.sleep(0.5)
    return FineTuneRun(arn, execution.status, execution.output, execution.error, execution.cause,
                       time.monotonic() - started, job_names(runtime, arn))


def _latest_job(runtime: OfflineRuntime):
    jobs = list(runtime.training.jobs.values())
    return jobs[-1] if jobs else None


def main(runtime: OfflineRuntime, args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    # the ASL engine logs every Fail state at ERROR level; the outcome is printed below
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    if args.spot_interrupt_at_step:
        runtime.training.spot_interrupt_at_step = args.spot_interrupt_at_step

    def show(state: str | None, secondary: str | None, metrics: dict) -> None:
        shown = " ".join(f"{name}={value:.4f}" for name, value in sorted(metrics.items()))
        console.print(f"[cyan]{state or 'starting'}[/] {secondary or ''} {shown}".rstrip())

    result = run(runtime, Path(args.dataset), args.epochs, progress=None if args.json else show)
    summary = _summary(runtime, result, Path(args.out))
    if args.json:
        print(json.dumps(summary))
    elif result.succeeded:
        evaluation = summary["evaluation"]
        console.print(f"[green]registered[/] {summary['model_package_arn']} (PendingManualApproval) after "
                      f"{summary['seconds']:.0f} s", soft_wrap=True)
        console.print(f"held-out loss {evaluation['initial_eval_loss']:.4f} -> {evaluation['final_eval_loss']:.4f} "
                      f"({evaluation['eval_loss_improvement']:.1%} lower) on {evaluation['held_out_rows']} rows; "
                      f"estimate on {summary['estimate'].get('instance_type')}: ~{summary['estimate'].get('seconds')} s, "
                      f"${summary['estimate'].get('on_demand_usd')} on demand / ${summary['estimate'].get('spot_usd')} spot")
        console.print(f"adapter and metrics: {summary['outputs']}")
    else:
        console.print(f"[red]{result.status}[/] {result.error}: {result.cause}")
    return 0 if result.succeeded else 1


def _summary(runtime: OfflineRuntime, result: FineTuneRun, out: Path) -> dict:
    output = result.output or {}
    summary = {"execution": result.arn, "status": result.status, "error": result.error, "cause": result.cause,
               "seconds": round(result.seconds, 1), "training_jobs": result.job_names,
               "run_id": output.get("run_id"), "model_package_arn": output.get("model_package_arn"),
               "evaluation": output.get("evaluation", {}), "estimate": output.get("estimate", {}), "outputs": None}
    if result.succeeded and output.get("model_artifacts"):
        target = out / "finetune" / output["run_id"]
        target.mkdir(parents=True, exist_ok=True)
        bucket, key = output["model_artifacts"][5:].split("/", 1)
        (target / "model.tar.gz").write_bytes(runtime.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        (target / "evaluation.json").write_text(json.dumps(output.get("evaluation", {}), indent=2))
        summary["outputs"] = str(target)
    return summary
