"""bench/pipeline: documents per minute through `docpipe run`, and what the orchestration costs, side by
side with a plain script that does the same extraction without any pipeline, in the same process.

    .venv/bin/python bench/pipeline/run.py [--copies N]

Scanned set: the shipped scanned letter (2 pages) and notice (1 page), N copies each: heavy OCR work.
Born-digital set: the shipped 4-page report, 10 copies: light work, where orchestration shows.
The pipeline runs all documents of a set at once (as uploads arrive); the plain script loops over them.
The pipeline goes on to guard, embed, summarize and translate; the comparison with the plain script is
about extraction, so the GuardText calls are held (bench/benchlib.py's HeldCalls) until every document's text is
extracted, and the pipeline's wall time runs from the first upload until the last document entered
GuardText, read from the execution histories; the executions are then stopped. Overhead = that wall time
minus the time inside handlers and emulated services in it (union of their intervals), as a share of it.
Runtime start-up is excluded and reported on its own.
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
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import HeldCalls, interval_union  # noqa: E402


def plain_extract(path: Path) -> str:
    """What a user would write without docpipe: PDFium's text layer, else Tesseract on 300 dpi renders."""
    import pypdfium2 as pdfium
    import tesserocr

    from docpipe_local.emulators.textract import find_tessdata

    pdf, texts = pdfium.PdfDocument(path), []
    with tesserocr.PyTessBaseAPI(path=find_tessdata(), lang="eng") as api:
        for page in pdf:
            text = page.get_textpage().get_text_bounded()
            if len(text.strip()) < 16:
                api.SetImage(page.render(scale=300 / 72).to_pil())
                text = api.GetUTF8Text()
            texts.append(text)
    return "\n".join(texts)


def run_pipeline(files: list[Path]) -> dict:
    from docpipe_local.documents import DocumentSession
    from docpipe_local.runtime import OfflineRuntime

    with tempfile.TemporaryDirectory() as home:
        started = time.monotonic()
        with OfflineRuntime(home=Path(home), persist=False) as runtime:
            ready, ready_wall = time.monotonic(), time.time()
            session = DocumentSession(runtime, Path(home) / "out")
            hold = HeldCalls(runtime.lambdas, suffix="GuardFunction")
            arns = [item.arn for path in files for item in session.submit(path)]
            while hold.held < len(arns):  # every document extracted and waiting at GuardText
                assert all(runtime.describe(arn).status == "RUNNING" for arn in arns), "an execution ended early"
                hold.wait_for_more(hold.held, timeout=0.05)
            extracted = max(_extracted_at(runtime, arn) for arn in arns) - ready_wall + ready
            for arn in arns:
                runtime.sfn.stop_execution(executionArn=arn, error="Benchmark.Stopped", cause="extraction measured")
            hold.release()
            textract = next(e for e in runtime.hub.emulators["textract"])
            busy = [(i.started, i.started + i.duration_s) for i in runtime.lambdas.invocations]
            busy += [(start, stop) for _, _, start, stop in textract.page_log]
    window = [(max(a, ready), min(b, extracted)) for a, b in busy if a < extracted]
    wall = extracted - ready
    busy_s = interval_union(window)
    return {"startup_s": ready - started, "wall_s": wall, "busy_s": busy_s, "overhead_share": 1 - busy_s / wall}


def _extracted_at(runtime, arn: str) -> float:
    """When the execution entered GuardText (its text was extracted), as a Unix time."""
    return next(e["timestamp"].timestamp() for e in runtime.history(arn)
                if e.get("stateEnteredEventDetails", {}).get("name") == "GuardText")


def run_plain(files: list[Path]) -> float:
    started = time.monotonic()
    for path in files:
        assert plain_extract(path).strip()
    return time.monotonic() - started


def copies(names: list[str], count: int, folder: Path) -> list[Path]:
    made = []
    for index in range(count):
        for name in names:
            target = folder / f"{Path(name).stem}-{index}{Path(name).suffix}"
            target.write_bytes((SAMPLES / name).read_bytes())
            made.append(target)
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=3, help="copies of each scanned sample (default 3)")
    args = parser.parse_args()
    os.environ.setdefault("DOCPIPE_HOME", tempfile.mkdtemp())
    with tempfile.TemporaryDirectory() as folder:
        scanned = copies(["scanned_letter.pdf", "scanned_notice.pdf"], args.copies, Path(folder))
        digital = copies(["bridge_report.pdf"], 10, Path(folder))
        rows = []
        for label, files in (("scanned (OCR)", scanned), ("born-digital", digital)):
            plain = run_plain(files)
            pipeline = run_pipeline(files)
            rows.append({
                "set": label, "documents": len(files),
                "plain_docs_per_min": round(len(files) / plain * 60, 1),
                "pipeline_docs_per_min": round(len(files) / pipeline["wall_s"] * 60, 1),
                "throughput_ratio": round(plain / pipeline["wall_s"], 2),
                "added_s_per_doc": round((pipeline["wall_s"] - plain) / len(files), 3),
                "overhead_share": round(pipeline["overhead_share"], 3),
                "runtime_startup_s": round(pipeline["startup_s"], 2),
            })
    print(json.dumps(rows, indent=2))
    print("\n| set | docs | plain script docs/min | pipeline docs/min | pipeline / plain | added s/doc | "
          "orchestration overhead | runtime start-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['documents']} | {r['plain_docs_per_min']} | {r['pipeline_docs_per_min']} | "
              f"{r['throughput_ratio']:.2f}× | {r['added_s_per_doc']:+.3f} | {r['overhead_share']:.1%} | "
              f"{r['runtime_startup_s']} s |")


if __name__ == "__main__":
    sys.exit(main())
