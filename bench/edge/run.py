"""bench/edge: what putting the offline runtime on the wire costs. In one run, the same calls in-process
(boto3 under the runtime's mock, as `docpipe run` makes them) and over HTTP (`docpipe serve` in another
process, boto3 pointed at it):

(a) latency: Converse and TranslateText, median of each, HTTP minus in-process (target: <= 5 ms more);
(b) load: 16 concurrent clients for --seconds (default 60) of mixed S3 PutObject, Converse, TranslateText and
    QueryVectors: errors, objects lost (every key a client was told it wrote is listed afterwards), and
    throughput over HTTP against in-process (target: >= 80%, no errors, nothing lost);
(c) streaming: ConverseStream over HTTP, time to the first text against time to the whole answer (target:
    the first text arrives before generation finishes).

    .venv/bin/python bench/edge/run.py [--seconds 60] [--clients 16] [--rounds 20]

One runtime answers both: it is served here as `docpipe serve` serves it (`create_app` on uvicorn, in a
thread), the in-process calls are made in this process, and the HTTP clients run in a child process of this
script (`--client URL`), which imports nothing of the runtime (its botocore hooks stay out of the clients).
The same model and engines answer both, one phase after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]

REGION = "us-east-1"

CONVERSE = {"modelId": "amazon.nova-lite-v1:0", "inferenceConfig": {"maxTokens": 8, "temperature": 0},
            "messages": [{"role": "user", "content": [{"text": "Name one colour."}]}]}
STREAM = {"modelId": "amazon.nova-lite-v1:0", "inferenceConfig": {"maxTokens": 120, "temperature": 0},
          "messages": [{"role": "user", "content": [{"text": "Describe a bridge inspection in a few sentences."}]}]}
TRANSLATE = {"Text": "The north pier needs new bearings before winter.", "SourceLanguageCode": "en",
             "TargetLanguageCode": "es"}
CONFIG = Config(retries={"total_max_attempts": 1}, max_pool_connections=64, read_timeout=600)


class Calls:
    """The benchmark's calls against one set of clients (in-process or HTTP)."""

    def __init__(self, make_client, environment: dict[str, str]):
        self.bedrock, self.translate = make_client("bedrock-runtime"), make_client("translate")
        self.s3, self.vectors = make_client("s3"), make_client("s3vectors")
        self.bucket = environment["DOCPIPE_DOCUMENTS_BUCKET"]
        self.vector_bucket, self.index = environment["DOCPIPE_VECTOR_BUCKET"], environment["DOCPIPE_VECTOR_INDEX"]
        self.dimension = int(environment["DOCPIPE_EMBEDDING_DIMENSIONS"])
        self.run_id = uuid.uuid4().hex[:8]

    def seed_vectors(self) -> None:
        rng = random.Random(7)
        vectors = [{"key": f"bench-{self.run_id}-{i}", "metadata": {"doc_id": f"bench-{self.run_id}"},
                    "data": {"float32": [rng.random() for _ in range(self.dimension)]}} for i in range(200)]
        for start in range(0, len(vectors), 100):
            self.vectors.put_vectors(vectorBucketName=self.vector_bucket, indexName=self.index,
                                     vectors=vectors[start:start + 100])

    def converse(self) -> None:
        self.bedrock.converse(**CONVERSE)

    def translate_text(self) -> None:
        self.translate.translate_text(**TRANSLATE)

    def put(self, written: list[str]) -> None:
        key = f"bench/edge/{self.run_id}/{uuid.uuid4().hex}.txt"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=key.encode() * 64)
        written.append(key)

    def query(self, rng: random.Random) -> None:
        self.vectors.query_vectors(vectorBucketName=self.vector_bucket, indexName=self.index, topK=5,
                                   queryVector={"float32": [rng.random() for _ in range(self.dimension)]})

    def listed(self) -> set[str]:
        keys, pages = set(), self.s3.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=f"bench/edge/{self.run_id}/"):
            keys.update(item["Key"] for item in page.get("Contents", ()))
        return keys


def latency(calls: Calls, rounds: int) -> dict[str, float]:
    for _ in range(3):  # warm: model loaded, Apertium's pipelines up, the served process past its start-up work
        calls.converse()
    for _ in range(20):
        calls.translate_text()
    result = {}
    for name, call, n in (("Converse", calls.converse, rounds), ("TranslateText", calls.translate_text, rounds * 3)):
        times = []
        for _ in range(n):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        result[name] = statistics.median(times) * 1000
    return result


def load(calls: Calls, clients: int, seconds: float) -> dict:
    calls.seed_vectors()
    deadline = time.monotonic() + seconds
    counts, errors, written, lock = Counter(), Counter(), [], threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        mine: list[str] = []
        kinds = [("PutObject", lambda: calls.put(mine)), ("Converse", calls.converse),
                 ("TranslateText", calls.translate_text), ("QueryVectors", lambda: calls.query(rng))]
        i = number
        while time.monotonic() < deadline:
            name, call = kinds[i % len(kinds)]
            i += 1
            try:
                call()
                with lock:
                    counts[name] += 1
            except Exception as err:  # noqa: BLE001 -- counted and reported, the run goes on
                with lock:
                    errors[f"{name}: {type(err).__name__}: {str(err)[:120]}"] += 1
        with lock:
            written.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    lost = set(written) - calls.listed()
    return {"ops": sum(counts.values()), "per_second": sum(counts.values()) / elapsed, "counts": dict(counts),
            "errors": dict(errors), "written": len(written), "lost": len(lost)}


def streaming(calls: Calls, rounds: int) -> dict[str, float]:
    first, whole = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        first_text = None
        for event in calls.bedrock.converse_stream(**STREAM)["stream"]:
            if first_text is None and "contentBlockDelta" in event:
                first_text = time.perf_counter() - started
        whole.append(time.perf_counter() - started)
        first.append(first_text)
    return {"first_ms": statistics.median(first) * 1000, "whole_ms": statistics.median(whole) * 1000}


def serve_in_thread(runtime) -> tuple[str, object]:
    """The runtime on the wire as `docpipe serve` puts it (edge/server.py), on a free port."""
    import socket

    import uvicorn

    from docpipe_local.edge.app import create_app

    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def over_http(url: str, phase: str, args: argparse.Namespace) -> dict:
    """Run one phase in a child process whose clients talk to `url` only."""
    import subprocess

    command = [sys.executable, __file__, "--client", url, "--phase", phase, "--seconds", str(args.seconds),
               "--clients", str(args.clients), "--rounds", str(args.rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO,
                          env={**os.environ, "BENCH_EDGE_ENVIRONMENT": json.dumps(args.environment)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def client_main(args: argparse.Namespace, environment: dict[str, str]) -> int:
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    calls = Calls(lambda service: session.client(service, endpoint_url=args.client, config=CONFIG), environment)
    phases = {"latency": lambda: latency(calls, args.rounds), "load": lambda: load(calls, args.clients, args.seconds),
              "stream": lambda: streaming(calls, max(3, args.rounds // 4))}
    print(json.dumps(phases[args.phase]()))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the child process: the edge's URL
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:  # nothing of the runtime is imported here: a client as any other
        return client_main(args, json.loads(os.environ["BENCH_EDGE_ENVIRONMENT"]))
    from docpipe_local.runtime import OfflineRuntime

    results: dict = {"in_process": {}, "http": {}}
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        with OfflineRuntime(home=Path(tmp), persist=False) as runtime:
            environment = args.environment = dict(runtime.environment)
            url, server = serve_in_thread(runtime)
            calls = Calls(lambda service: boto3.client(service, region_name=REGION, config=CONFIG), environment)
            results["in_process"]["latency_ms"] = latency(calls, args.rounds)
            results["http"]["latency_ms"] = over_http(url, "latency", args)
            results["in_process"]["load"] = load(calls, args.clients, args.seconds)
            results["http"]["load"] = over_http(url, "load", args)
            results["http"]["stream"] = over_http(url, "stream", args)
            server.should_exit = True
    inproc, http = results["in_process"], results["http"]
    print(json.dumps(results, indent=2))
    print("\n| measure | in-process | over HTTP | result | target |\n|---|---|---|---|---|")
    for name in ("Converse", "TranslateText"):
        extra = http["latency_ms"][name] - inproc["latency_ms"][name]
        print(f"| {name} median | {inproc['latency_ms'][name]:.1f} ms | {http['latency_ms'][name]:.1f} ms | "
              f"{extra:+.1f} ms | <= +5 ms |")
    ratio = http["load"]["per_second"] / inproc["load"]["per_second"]
    print(f"| {args.clients} clients x {args.seconds:.0f} s, mixed | {inproc['load']['per_second']:.1f} ops/s, "
          f"{sum(inproc['load']['errors'].values())} errors, {inproc['load']['lost']} lost | "
          f"{http['load']['per_second']:.1f} ops/s, {sum(http['load']['errors'].values())} errors, "
          f"{http['load']['lost']} lost of {http['load']['written']} | {ratio:.0%} | >= 80%, 0 errors, 0 lost |")
    stream = http["stream"]
    print(f"| ConverseStream first text / whole answer | | {stream['first_ms']:.0f} / {stream['whole_ms']:.0f} ms | "
          f"{stream['first_ms'] / stream['whole_ms']:.0%} of the answer's time | first event before the end |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
