"""bench/languages: does the language fan-out run concurrently? The Map state's wall time for three target
languages against one, for the same summaries, in the same run (target: three take <= 1.6x one).

    .venv/bin/python bench/languages/run.py [--rounds 3]

Each round processes the shipped FAQ with languages "es" and then "es,ca,it" (fresh document names; the
summary comes from the response cache, translation and speech are done anew), and reads the
TranslateAndSpeak state's entered/exited timestamps from the execution history.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from docpipe_local.runtime import OfflineRuntime
from docpipe_local.trigger import s3_event

# the shipped FAQ: its summary (served from the response cache after the warm-up, so every round translates
# and speaks the same text) is a realistic length for the fan-out
NOTE = (Path(__file__).resolve().parents[2] / "samples" / "faq.md").read_bytes()


def map_seconds(runtime: OfflineRuntime, name: str, languages: str) -> float:
    key = runtime.inbox_prefix + name
    response = runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=NOTE, Metadata={"languages": languages})
    event = s3_event("Object Created", runtime.bucket, key, size=len(NOTE), etag=response["ETag"],
                     version_id=response["VersionId"], reason="PutObject")
    arn = runtime.emit(event)[0]
    execution = runtime.wait([arn])[arn]
    assert execution.output["status"] == "SUCCEEDED" and not execution.output.get("reason"), execution.output
    events = runtime.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = next(e["timestamp"] for e in events if e["type"] == "MapStateEntered")
    exited = next(e["timestamp"] for e in events if e["type"] == "MapStateExited")
    return (exited - entered).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, OfflineRuntime(home=Path(home), persist=False) as runtime:
        map_seconds(runtime, "warm-up.txt", "es,ca,it")  # load the engines once
        one, three = [], []
        for round_ in range(args.rounds):
            one.append(map_seconds(runtime, f"one-{round_}.txt", "es"))
            three.append(map_seconds(runtime, f"three-{round_}.txt", "es,ca,it"))
    ratio = statistics.median(three) / statistics.median(one)
    print("| languages | Map wall time (median s) |\n|---|---|")
    print(f"| 1 (es) | {statistics.median(one):.2f} |\n| 3 (es, ca, it) | {statistics.median(three):.2f} |")
    print(f"\nthree / one = {ratio:.2f}x (target <= 1.6x)")


if __name__ == "__main__":
    main()
