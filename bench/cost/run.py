"""bench/cost: one workload priced under the template's defaults and under a naive configuration, both run
offline through the real state machines and priced by `docpipe cost` from what the runs recorded.

    python bench/cost/run.py [--records 100] [--epochs 1] [--hours 24] [--busy-hours 4] [--only defaults|naive]

The workload, the same for both configurations:
1. the shipped samples (samples/: born-digital PDF, scans, a photo, DOCX, HTML, Markdown, text), translated
   and spoken in the template's TargetLanguages (es, ca);
2. the same samples again "a day later" (uploaded again: new S3 versions, new documents, the same content);
3. a 100-record batch generation job;
4. one fine-tuning run on the shipped dataset (samples/finetune/bridge_qa.jsonl, one epoch: its real CPU
   time here, priced as that long on the template's ml.trn1.2xlarge);
5. the local inference endpoint through a day: requests in 4 of 24 "hours" and idle in the other 20, the
   reaper running once an hour (ReaperIntervalMinutes=60). An hour is compressed to a few seconds: the reaper's
   idle window is passed in seconds (its `idle_minutes` input), its observations each stand for one hour.

The configurations are template parameters only (the code that deploys honours each):
- defaults: the template's defaults, with BatchInferenceMinRecords=100 (Bedrock's minimum; the template's
  default, 1000, would send this 100-record job on demand too);
- naive: ExtractionMode=ocr (every PDF page through Textract), EnableCaches=false (no embedding or response
  cache), BatchInferenceMinRecords=1000000 (batch jobs on demand), TrainingUseSpot=false, ReaperDryRun=true
  (the endpoint is never scaled to zero: always on).
Target: the defaults cost <= 0.5x the naive configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
DATASET = SAMPLES / "finetune" / "bridge_qa.jsonl"
COMMON = {"ReaperIntervalMinutes": "60"}
CONFIGS = {
    "defaults": {**COMMON, "BatchInferenceMinRecords": "100"},
    "naive": {**COMMON, "ExtractionMode": "ocr", "EnableCaches": "false", "BatchInferenceMinRecords": "1000000",
              "TrainingUseSpot": "false", "ReaperDryRun": "true"},
}
SUBJECTS = ["a harbour crane", "a rail bridge", "a river lock", "a tram depot", "a lighthouse", "a canal tunnel",
            "a toll plaza", "a ferry ramp", "a cargo pier", "a signal box"]


def sample_files() -> list[Path]:
    """The shipped documents (a .txt beside a scan or photo of the same name is its known text, not a sample)."""
    files = sorted(p for p in SAMPLES.iterdir() if p.is_file() and p.suffix != ".py")
    images = {p.stem for p in files if p.suffix in (".pdf", ".png")}
    return [p for p in files if not (p.suffix == ".txt" and p.stem in images)]


def batch_job(records: int) -> bytes:
    return "\n".join(json.dumps({"id": f"r{i}", "prompt": f"Write one short sentence about {SUBJECTS[i % 10]} "
                                 f"number {i}.", "max_tokens": 16, "temperature": 0.2})
                     for i in range(records)).encode()


def process_samples(runtime, files: list[Path], day: int) -> list[str]:
    arns = []
    for path in files:
        arns += runtime.upload(path.read_bytes(), f"{runtime.inbox_prefix}{path.name}")
    done = runtime.wait(arns, timeout=3600)
    statuses = [done[arn].status for arn in arns]
    print(f"  day {day}: {len(arns)} documents, executions {sorted(set(statuses))}", flush=True)
    return arns


def endpoint_day(runtime, hours: int, busy_hours: int, window_s: float) -> list[int]:
    """Requests in the first `busy_hours`, none after; the reaper once an "hour". Returns copies held."""
    import boto3
    from docpipe_local.emulators.sagemaker_endpoints import LOCAL_COMPONENT, LOCAL_ENDPOINT
    from docpipe_local.template import REGION

    client = boto3.client("sagemaker-runtime", region_name=REGION)
    body = json.dumps({"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}).encode()
    held = []
    for hour in range(hours):
        if hour < busy_hours:
            for _ in range(100):  # a request at zero copies brings one back, as the scale-out alarm does
                try:
                    client.invoke_endpoint(EndpointName=LOCAL_ENDPOINT, InferenceComponentName=LOCAL_COMPONENT,
                                           Body=body, ContentType="application/json")
                    break
                except client.exceptions.ValidationError:
                    time.sleep(0.2)
        else:
            time.sleep(window_s * 1.3)  # past the idle window: no request in it
        report = runtime.invoke("EndpointReaperFunction", {"action": "reap", "idle_minutes": window_s / 60})
        held.append(sum(0 if d["applied"] else (d.get("copies") or 0) for d in report["decisions"]))
    return held


def run_config(name: str, parameters: dict[str, str], args: argparse.Namespace) -> dict:
    from docpipe_local.batch_cli import run_job
    from docpipe_local.cost import S3ManifestSource, cost_report
    from docpipe_local.finetune_cli import run as finetune
    from docpipe_local.runtime import OfflineRuntime

    print(f"\n{name}: {json.dumps(parameters)}", flush=True)
    timings = {}
    with tempfile.TemporaryDirectory() as home:
        with OfflineRuntime(home=Path(home), persist=False, parameters=parameters) as runtime:
            files = sample_files()
            start = time.perf_counter()
            process_samples(runtime, files, 1)
            process_samples(runtime, files, 2)
            timings["documents_s"] = time.perf_counter() - start
            start = time.perf_counter()
            batch = run_job(runtime, batch_job(args.records), name="bench-cost.jsonl")
            timings["batch_s"] = time.perf_counter() - start
            assert batch.execution.status == "SUCCEEDED", batch.execution.cause
            print(f"  batch: {batch.report['mode']}, {batch.report['counts']}", flush=True)
            start = time.perf_counter()
            trained = finetune(runtime, DATASET, epochs=args.epochs)
            timings["finetune_s"] = time.perf_counter() - start
            print(f"  fine-tuning: {trained.status} in {trained.seconds:.0f} s", flush=True)
            start = time.perf_counter()
            held = endpoint_day(runtime, args.hours, args.busy_hours, args.window)
            timings["endpoint_s"] = time.perf_counter() - start
            print(f"  endpoint copies per hour: {held}", flush=True)
            report = cost_report(S3ManifestSource(runtime.s3, runtime.bucket), docs_per_day=1000)
    report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    return report


def table(reports: dict[str, dict]) -> str:
    names = list(reports)
    services = sorted({s for r in reports.values() for s in r["by_service"]},
                      key=lambda s: -max(r["by_service"].get(s, 0) for r in reports.values()))
    lines = ["| service | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for service in services:
        lines.append(f"| {service} | " + " | ".join(f"${reports[n]['by_service'].get(service, 0):.4f}" for n in names) + " |")
    lines.append("| **total** | " + " | ".join(f"**${reports[n]['total_usd']:.4f}**" for n in names) + " |")
    lines.append("| documents / pages | " + " | ".join(f"{reports[n]['documents']} / {reports[n]['pages']}" for n in names) + " |")
    lines.append("| per 1,000 pages (documents) | " + " | ".join(f"${reports[n]['per_1000_pages_usd']:.4f}" for n in names) + " |")
    lines.append("| saved (as `docpipe cost` counts it) | " + " | ".join(f"${reports[n]['saved_usd']:.4f}" for n in names) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--busy-hours", type=int, default=4)
    parser.add_argument("--window", type=float, default=1.5, help="the reaper's idle window, seconds")
    parser.add_argument("--only", choices=sorted(CONFIGS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "cost" / "results.json",
                        help="the reports, written as each configuration finishes")
    parser.add_argument("--tables", type=Path, nargs="+", metavar="RESULTS",
                        help="print the table from results files of earlier runs (e.g. one per --only)")
    args = parser.parse_args()
    if args.tables:
        reports = {name: report for path in args.tables for name, report in json.loads(path.read_text()).items()}
        return summarize(reports)
    os.environ.setdefault("DOCPIPE_LOCAL_SCALE_OUT_SECONDS", "0.5")
    reports = {}
    for name, parameters in CONFIGS.items():
        if args.only in (None, name):
            reports[name] = run_config(name, parameters, args)
            args.out.write_text(json.dumps(reports, indent=2, default=str))
    print(f"(reports: {args.out})")
    return summarize(reports)


def summarize(reports: dict[str, dict]) -> int:
    print()
    print(table(reports))
    if len(reports) == 2:
        ratio = reports["defaults"]["total_usd"] / reports["naive"]["total_usd"]
        print(f"\ndefaults / naive: {ratio:.3f} (target <= 0.5): {'met' if ratio <= 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
