"""The `docpipe` command: the offline pipeline for people (see README)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from docpipe.logic.ask import AskRequest
from docpipe_local import batch_cli, disk_errors, endpoints_cli, finetune_cli
from docpipe_local.documents import DocumentSession, Report, Tracked, expand
from docpipe_local.runtime import OfflineRuntime

_STYLES = {"SUCCEEDED": "green", "QUARANTINED": "yellow", "FAILED": "red"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docpipe", description="Run docpipe's pipelines offline.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="process documents through the document pipeline")
    run.add_argument("paths", nargs="+", help="files or directories")
    _common(run)
    watch = commands.add_parser("watch", help="process every file that appears in a folder, until interrupted")
    watch.add_argument("folder")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between scans (default 1)")
    _common(watch)
    ask = commands.add_parser("ask", help="answer a question from the processed documents, with citations")
    ask.add_argument("question")
    ask.add_argument("--doc", help="only this doc_id")
    ask.add_argument("--top-k", type=int, default=5, help="passages to retrieve (default 5)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    delete = commands.add_parser("delete", help="delete a document from the inbox (its vectors go with it)")
    delete.add_argument("names", nargs="+", help="file names as uploaded (inbox keys without the prefix)")
    for sub in (ask, delete):
        sub.add_argument("--faults", default=None, help=argparse.SUPPRESS)
    endpoints_cli.add_parser(commands)
    batch_cli.add_parsers(commands)
    finetune_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "ask":  # a bad question is refused before the runtime starts
        try:
            args.request = AskRequest(question=args.question, top_k=args.top_k, doc_id=args.doc)
        except ValidationError as err:
            for problem in err.errors():
                print(f"docpipe ask: {_ASK_OPTIONS[problem['loc'][0]]}: {problem['msg']}", file=sys.stderr)
            return 2
    console = Console(stderr=True)

    def waiting(message: str) -> None:  # one unwrapped line: it names a process and a path
        console.print(f"[yellow]{escape(message)}[/]", soft_wrap=True)

    try:
        with OfflineRuntime(faults=args.faults, lock_wait=_lock_wait_seconds(), on_lock_wait=waiting) as runtime:
            for warning in runtime.warnings:
                console.print(f"[yellow]warning:[/] {warning}")
            if args.command == "endpoints":
                return endpoints_cli.run(runtime, args)
            if args.command == "finetune":
                return finetune_cli.main(runtime, args)
            if args.command in batch_cli.COMMANDS:
                return batch_cli.run(runtime, args, console)
            if args.command == "ask":
                return _ask(runtime, args)
            if args.command == "delete":
                return _delete(runtime, args.names, console)
            session = DocumentSession(runtime, Path(args.out), force=args.force, languages=args.languages,
                                      audio_formats=args.audio_formats)
            if args.command == "run":
                return _run(session, expand(args.paths), args.json, console)
            return _watch(session, Path(args.folder), args, console)
    except (FileNotFoundError, RuntimeError, ValueError) as err:  # StateError (the offline state) among them
        print(f"docpipe: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a read-only data directory: the saved state is intact (persistence.py)
        print(f"docpipe: {disk_errors.describe(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # waiting for the data directory, or mid-run: what was saved stays, the rest resumes
        print("docpipe: interrupted; documents without an outcome resume on the next start", file=sys.stderr)
        return 130


def _lock_wait_seconds() -> float:
    """How long a command waits for another holding the data directory ($DOCPIPE_LOCK_WAIT_SECONDS)."""
    raw = os.environ.get("DOCPIPE_LOCK_WAIT_SECONDS", "300")
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise SystemExit(f"docpipe: DOCPIPE_LOCK_WAIT_SECONDS must be a number of seconds, not {raw!r}") from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="docpipe-out", help="where results go: OUT/<doc_id>/ (default docpipe-out)")
    parser.add_argument("--json", action="store_true", help="one JSON object per document, one per line")
    parser.add_argument("--force", action="store_true",
                        help="process files again even when the same content was processed or is being resumed")
    parser.add_argument("--languages", help="translate and speak the summary in these, e.g. es,ca "
                                            "(default: the template's TargetLanguages)")
    parser.add_argument("--audio-formats", help="mp3 (default) and/or ogg, e.g. mp3,ogg")
    parser.add_argument("--faults", default=None,
                        help="inject faults, e.g. 'textract.*=ThrottlingException@0.3' (also $DOCPIPE_FAULTS)")


def _run(session: DocumentSession, files: list[Path], as_json: bool, console: Console) -> int:
    resumed = session.reconcile()
    if resumed:
        console.print(f"resuming {len(resumed)} unfinished document(s) from an earlier run")
    tracked = resumed + [item for path in files for item in session.submit(path)]
    reports: list[Report] = []
    live = None if as_json or not console.is_terminal else Live(console=console, refresh_per_second=8)
    if live:
        live.start()
    try:
        pending = list(tracked)
        while pending:
            for item in list(pending):
                report = _poll(session, item)
                if report is not None:
                    pending.remove(item)
                    reports.append(report)
                    if as_json:
                        print(json.dumps(report.as_json()), flush=True)
            if live:
                live.update(_progress(session, pending, reports))
            if pending:
                time.sleep(0.1)
    finally:
        if live:
            live.stop()
    if not as_json:
        Console().print(_summary(reports))
    return 0 if all(r.status in ("SUCCEEDED", "QUARANTINED") for r in reports) else 1


def _poll(session: DocumentSession, item: Tracked) -> Report | None:
    if item.arn is None:
        return session.finish(item, None)
    execution = session.runtime.describe(item.arn)
    if execution.status == "RUNNING":
        return None
    return session.finish(item, execution)


def _progress(session: DocumentSession, pending: list[Tracked], reports: list[Report]) -> Table:
    table = Table(title=f"docpipe: {len(reports)} done, {len(pending)} running", title_justify="left")
    for column in ("document", "state", "seconds"):
        table.add_column(column)
    for report in reports:
        table.add_row(Path(report.source).name, f"[{_STYLES[report.status]}]{report.status}[/]", f"{report.seconds:.1f}")
    for item in pending:
        state = session.runtime.current_state(item.arn) or "starting"
        table.add_row(Path(item.source).name, f"[cyan]{state}[/]", f"{time.monotonic() - item.started:.1f}")
    return table


def _summary(reports: list[Report]) -> Table:
    table = Table(title="docpipe results", title_justify="left")
    for column in ("document", "status", "doc_id", "pages", "seconds", "cost (USD)", "reason / results"):
        table.add_column(column, overflow="fold")
    for report in reports:
        pages = cost = ""
        if report.manifest and Path(report.manifest).exists():
            manifest = json.loads(Path(report.manifest).read_text())
            pages, cost = str(manifest["usage"]["pages"] or ""), f"{manifest['cost']['total_usd']:.6f}"
        made = ", ".join(Path(output).name for output in report.outputs if not output.endswith("manifest.json"))
        detail = "; ".join(filter(None, [report.reason, made]))
        seconds = "cached" if report.cached else f"{report.seconds:.1f}"
        table.add_row(Path(report.source).name, f"[{_STYLES[report.status]}]{report.status}[/]", report.doc_id or "",
                      pages, seconds, cost, detail)
    return table


_ASK_OPTIONS = {"question": "the question", "top_k": "--top-k", "doc_id": "--doc"}


def _ask(runtime: OfflineRuntime, args: argparse.Namespace) -> int:
    """Invoke the Ask function as its function URL would, and show the answer with its citations."""
    answer = runtime.invoke("AskFunction", args.request.model_dump(exclude_none=True))
    if args.json:
        print(json.dumps(answer))
        return 0
    console = Console()
    console.print(answer["answer"], markup=False)
    if answer.get("extractive"):
        console.print("[dim](quoted from the documents: the model's answer named figures or names they do not "
                      "contain, or not the figure asked for)[/]")
    elif answer.get("unsupported_sentences_dropped"):
        console.print(f"[dim]({answer['unsupported_sentences_dropped']} sentence(s) of the model's answer left out: "
                      "they named figures or names the documents do not contain, or misread a figure)[/]")
    for number, citation in enumerate(answer["citations"], 1):
        quote = escape(" ".join(citation["quote"].split()))  # a wrapped sentence on one line; "[" is not markup
        console.print(f"  [{number}] {citation['doc_id']} p.{citation['page']}: [italic]\"{quote}\"[/]")
    return 0


def _delete(runtime: OfflineRuntime, names: list[str], console: Console) -> int:
    for name in names:
        key = f"{runtime.inbox_prefix}{name}"
        try:
            runtime.s3.head_object(Bucket=runtime.bucket, Key=key)
        except runtime.s3.exceptions.ClientError:
            console.print(f"[red]no such document in the inbox:[/] {name}")
            return 1
        runtime.delete(key)
    runtime.lambdas.drain()
    console.print(f"deleted {len(names)} document(s); their vectors are gone from the index")
    return 0


def _stop_on_sigterm() -> None:
    """``docker stop`` and systemd stop a service with SIGTERM: stop as Ctrl-C does, so the offline state is
    saved on the way out."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def _watch(session: DocumentSession, folder: Path, args: argparse.Namespace, console: Console) -> int:
    """Poll the folder; a file is taken once its size and mtime held still for one interval."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    _stop_on_sigterm()
    console.print(f"watching {folder} (Ctrl-C to stop); results in {args.out}")
    seen: dict[Path, tuple[int, float]] = {}
    candidates: dict[Path, tuple[int, float]] = {}
    pending: list[Tracked] = session.reconcile()
    failures = 0
    try:
        while True:
            for path in expand([str(folder)]):
                stamp = (path.stat().st_size, path.stat().st_mtime)
                if seen.get(path) == stamp:
                    continue
                if candidates.get(path) == stamp:
                    seen[path] = stamp
                    pending += session.submit(path)
                else:
                    candidates[path] = stamp
            for item in list(pending):
                report = _poll(session, item)
                if report is not None:
                    pending.remove(item)
                    failures += report.status == "FAILED"
                    if args.json:
                        print(json.dumps(report.as_json()), flush=True)
                    else:
                        console.print(f"[{_STYLES[report.status]}]{report.status:<11}[/] {report.source} "
                                      f"{report.reason or report.manifest or ''}")
            time.sleep(args.interval)
    except KeyboardInterrupt:
        console.print(f"stopped; {len(pending)} document(s) were still running and will resume on the next start")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
