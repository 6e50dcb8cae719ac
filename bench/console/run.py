"""bench/console: the web console's three targets, measured in headless Chromium (Playwright, Debian's
chromium-headless-shell) against a console serving an offline runtime in this process.

    python bench/console/run.py [--documents 200] [--loads 7] [--cycles 2] [--files samples/faq.md samples/bad ...]

1. interactive: the documents page with N documents listed, from the request to the page's script having
   wired its handlers (DOMContentLoaded, event stream opened): median of --loads loads (target <= 300 ms),
   measured first with one document listed (what any page costs on this machine at the time).
   One document is processed for real; the other N-1 are its ledger item and manifest copied under new
   doc_ids, so the page lists N rows of the real shape without N pipeline runs.
2. latency: a document processed with its page open; for every message the page receives, the time from the
   history event the runtime recorded (its timestamp) to the message's arrival in the page (target <= 250 ms,
   median and max reported).
3. overhead: the same files processed twice in this process, alternately without and with the console serving
   a documents page open in the browser (wall time from submit to the last outcome); ratio with/without
   (target <= 1.05). Each run has its own data directory, so nothing is a cache hit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from docpipe_local.console.server import BackgroundConsole
from docpipe_local.documents import DocumentSession, Source
from docpipe_local.runtime import OfflineRuntime

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"


def files_of(paths: list[str]) -> list[Path]:
    found = []
    for raw in paths:
        path = ROOT / raw
        found += sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return found


def process(runtime: OfflineRuntime, files: list[Path], timeout: float = 3600) -> float:
    """Submit the files as `docpipe run` does; seconds until every execution stopped."""
    session = DocumentSession(runtime, Path(tempfile.mkdtemp()))
    started = time.perf_counter()
    arns = [t.arn for path in files for t in session.submit(Source(path, path.name)) if t.arn]
    runtime.wait(arns, timeout=timeout)
    return time.perf_counter() - started


def seed(runtime: OfflineRuntime, count: int) -> None:
    """Copies of the one processed document's ledger item and manifest, under new doc_ids."""
    table = runtime.environment["DOCPIPE_DOCUMENTS_TABLE"]
    item = next(i for i in runtime.dynamodb.scan(TableName=table)["Items"] if i.get("status", {}).get("S") == "SUCCEEDED")
    doc_id = item["doc_id"]["S"]
    manifest = json.loads(runtime.read(f"out/{doc_id}/manifest.json"))
    for number in range(1, count):
        copy = f"{doc_id.rsplit('-', 1)[0]}-copy{number:04d}"
        runtime.dynamodb.put_item(TableName=table, Item={**item, "doc_id": {"S": copy}})
        runtime.s3.put_object(Bucket=runtime.bucket, Key=f"out/{copy}/manifest.json",
                              Body=json.dumps({**manifest, "doc_id": copy}).encode())


def interactive(browser, url: str, loads: int) -> dict[str, list[float]]:
    """Per load, ms from the request: the page's HTML received (server time), and the page interactive
    (DOMContentLoaded handled: the table's handlers and its event stream wired). 'cold': a new browser context
    each time (nothing cached); 'warm': reloads in one context (scripts and styles from the browser's cache)."""
    times: dict[str, list[float]] = {"cold": [], "warm": [], "html": []}
    timing = "(() => { const t = performance.getEntriesByType('navigation')[0]; return [t.responseEnd, t.domContentLoadedEventEnd]; })()"
    for _ in range(loads):
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_function("document.body.dataset.ready === 'yes'")
        html, ready = page.evaluate(timing)
        times["cold"].append(ready)
        times["html"].append(html)
        page.close()
    page = browser.new_page()
    page.goto(url + "/")
    for _ in range(loads):
        page.reload()
        page.wait_for_function("document.body.dataset.ready === 'yes'")
        times["warm"].append(page.evaluate(timing)[1])
    page.close()
    return times


def latencies(browser, console: BackgroundConsole, runtime: OfflineRuntime, path: Path) -> list[float]:
    """Process one file with its document page open: arrival minus recording, per message, in ms."""
    session = DocumentSession(runtime, Path(tempfile.mkdtemp()))
    tracked = session.submit(Source(path, f"latency-{path.name}"))[0]
    page = browser.new_page()
    page.goto(console.url + "/")
    page.evaluate("""url => { window.latencies = []; const source = new EventSource(url);
        source.addEventListener('states', m => { const d = JSON.parse(m.data);
          if (d.recorded_at) window.latencies.push(Date.now() - d.recorded_at * 1000); }); }""",
                  "/events?execution=" + tracked.arn)
    runtime.wait([tracked.arn], timeout=3600)
    time.sleep(0.5)
    found = page.evaluate("window.latencies")
    page.close()
    return found[1:]  # the first message is the page's snapshot on connecting, not a change


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--files", nargs="+", default=["samples/faq.md", "samples/site_photo.txt", "samples/bad"],
                        help="what the overhead runs process (default: a text sample, a note and the hostile files)")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--cycles", type=int, default=2, help="ABBA cycles of the overhead runs (default 2: 8 runs)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        with tempfile.TemporaryDirectory() as home:
            with OfflineRuntime(home=Path(home), persist=False) as runtime:
                process(runtime, [ROOT / "samples" / "site_photo.txt"])
                for count in (1, args.documents):  # one document first: what the page costs on this machine now
                    seed(runtime, count)
                    with BackgroundConsole(runtime) as console:
                        loads = interactive(browser, console.url, args.loads)
                        results[f"interactive_ms_{count}"] = {
                            "documents": len(console.app.state.console.catalog.rows),
                            **{f"{kind}_median": statistics.median(values) for kind, values in loads.items()},
                            "cold_max": max(loads["cold"]), "warm_max": max(loads["warm"])}
                        print("interactive", results[f"interactive_ms_{count}"], flush=True)
                with BackgroundConsole(runtime) as console:
                    found = latencies(browser, console, runtime, ROOT / "samples" / "faq.md")
                    results["latency_ms"] = {"messages": len(found), "median": statistics.median(found),
                                             "p90": sorted(found)[int(0.9 * (len(found) - 1))], "max": max(found)}
                    print("latency", results["latency_ms"], flush=True)
        if not args.skip_overhead:
            files = files_of(args.files)
            runs = {"without": [], "with": []}
            for mode in ("without", "with", "with", "without") * args.cycles:  # ABBA: drift on a shared machine cancels
                with tempfile.TemporaryDirectory() as home, OfflineRuntime(home=Path(home), persist=False) as runtime:
                    if mode == "with":
                        with BackgroundConsole(runtime) as console:
                            page = browser.new_page()
                            page.goto(console.url + "/")
                            runs[mode].append(process(runtime, files))
                            page.close()
                    else:
                        runs[mode].append(process(runtime, files))
                print(mode, f"{runs[mode][-1]:.1f} s", flush=True)
            without, with_page = statistics.mean(runs["without"]), statistics.mean(runs["with"])
            results["overhead"] = {"files": len(files), "without_s": without, "with_s": with_page,
                                   "ratio": with_page / without, "runs": runs}
            print("overhead", results["overhead"], flush=True)
        browser.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
