"""bench/batch: batch generation throughput against calling the local model directly in a loop, on the same
records, side by side in one run (target: the state machine reaches >= 80% of the loop's records/s).

    python bench/batch/run.py [--records 48] [--max-tokens 16] [--batch-size 6] [--concurrency 4]

Every record has its own prompt (no response-cache hits, which would flatter the pipeline). "direct" renders
each record as the Converse emulator does and calls LocalLLM.generate in a plain loop: no guardrail, no
Lambda, no Step Functions, no S3 or DynamoDB. "state machine" runs the whole batch_generation state machine
offline (plan -> Distributed Map of GenerateBatch -> aggregate), every record through the guardrail (input
and output) and the response cache. The loop runs before and after the state machine; its mean is the
baseline. Output tokens are reported too: the sampler is seeded, so both sides generate the same tokens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from docpipe_local.batch_cli import run_job
from docpipe_local.engines.llm import get_llm
from docpipe_local.runtime import OfflineRuntime

SUBJECTS = ["a harbour crane", "a rail bridge", "a river lock", "a tram depot", "a lighthouse", "a canal tunnel",
            "a toll plaza", "a ferry ramp", "a cargo pier", "a signal box", "a dry dock", "a water tower"]


def records(count: int, max_tokens: int) -> list[dict]:
    return [{"id": f"b{i}", "prompt": f"Write one short sentence about {SUBJECTS[i % len(SUBJECTS)]} number {i}.",
             "max_tokens": max_tokens, "temperature": 0.2} for i in range(count)]


def direct(rows: list[dict], system: str) -> tuple[float, int]:
    llm, tokens = get_llm(), 0
    start = time.perf_counter()
    for row in rows:
        result = llm.generate([{"role": "user", "content": row["prompt"]}], system=system,
                              max_tokens=row["max_tokens"], temperature=row["temperature"], top_p=0.9)
        tokens += result.output_tokens
    return time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=4, help="Distributed Map MaxConcurrency")
    args = parser.parse_args()
    from docpipe.prompts import prompt

    system = prompt("batch_system")
    rows = records(args.records, args.max_tokens)
    warm = records(4, args.max_tokens)
    for row in warm:
        row["id"], row["prompt"] = "w" + row["id"], row["prompt"].replace("sentence", "line")
    job = "\n".join(json.dumps(row) for row in rows).encode()
    with tempfile.TemporaryDirectory() as home:
        environment = {"DOCPIPE_BATCH_MAX_CONCURRENCY": str(args.concurrency)}
        with OfflineRuntime(home=Path(home), persist=False, environment=environment) as runtime:
            # warm-up: model, tokenizer, guardrail embeddings, handler imports (not timed)
            run_job(runtime, "\n".join(json.dumps(row) for row in warm).encode(), name="warm.jsonl")
            direct(warm, system)
            before = direct(rows, system)
            start = time.perf_counter()
            run = run_job(runtime, job, name="bench.jsonl", batch_size=args.batch_size)
            machine_s = time.perf_counter() - start
            after = direct(rows, system)
    assert run.execution.status == "SUCCEEDED", run.execution.cause
    assert run.report["counts"].get("succeeded") == args.records and run.report["model_calls"] == args.records
    loop_s = statistics.mean([before[0], after[0]])
    loop_rate, machine_rate = args.records / loop_s, args.records / machine_s
    print(f"\n{args.records} records, maxTokens {args.max_tokens}, batch size {args.batch_size}, "
          f"MaxConcurrency {args.concurrency}\n")
    print("| path | seconds | records/s | output tokens | output tokens/s | vs direct |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, seconds, tokens in (("direct loop (before)", *before), ("direct loop (after)", *after)):
        print(f"| {label} | {seconds:.1f} | {args.records / seconds:.2f} | {tokens} | {tokens / seconds:.1f} | |")
    out_tokens = run.report["tokens"]["output"]
    print(f"| state machine (guardrail, cache, Distributed Map) | {machine_s:.1f} | {machine_rate:.2f} | {out_tokens} "
          f"| {out_tokens / machine_s:.1f} | {machine_rate / loop_rate:.0%} |")


if __name__ == "__main__":
    main()
