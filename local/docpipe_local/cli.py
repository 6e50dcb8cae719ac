"""The `docpipe` command: the offline pipeline for people (see README)."""

from __future__ import annotations

import argparse
import difflib
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
from docpipe_local import cost as cost_cli
from docpipe_local.documents import DocumentSession, Inputs, Report, Tracked, doc_ids, expand, inbox_key_for
from docpipe_local.edge import server as edge_server
from docpipe_local.console import command as console_command
from docpipe_local.runtime import OfflineRuntime
from docpipe_local.safe_output import guard_standard_streams
from docpipe_local.tables import Rows, show

_STYLES = {"SUCCEEDED": "green", "QUARANTINED": "yellow", "FAILED": "red"}


def main(argv: list[str] | None = None) -> int:
    guard_standard_streams()  # `docpipe ... | head`, a closed stdout: printing stops, the work and its state do not
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
    ask.add_argument("question", help="{} to {:,} characters".format(*_limits("question")))
    ask.add_argument("--doc", help="only this doc_id (one `docpipe run` printed)")
    ask.add_argument("--top-k", type=int, default=5,
                     help="passages to retrieve, {} to {} (default 5)".format(*_limits("top_k")))
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    delete = commands.add_parser("delete", help="delete a document from the inbox (its vectors go with it)")
    delete.add_argument("names", nargs="+", help="documents by name as `run` shows it (a/report.txt, or report.txt "
                                                "when only one has that name) or by doc_id")
    for sub in (ask, delete):
        sub.add_argument("--faults", default=None, help=argparse.SUPPRESS)
    endpoints_cli.add_parser(commands)
    batch_cli.add_parsers(commands)
    finetune_cli.add_parser(commands)
    cost = commands.add_parser("cost", help="what everything processed cost at list prices, and a monthly projection")
    cost_cli.add_arguments(cost)
    cost.set_defaults(faults=None)
    edge_server.add_parser(commands)
    console_command.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "ask":  # a bad question is refused before the runtime starts
        try:
            args.request = AskRequest(question=args.question, top_k=args.top_k, doc_id=args.doc)
        except ValidationError as err:
            for problem in err.errors():
                print(f"docpipe ask: {_ASK_OPTIONS[problem['loc'][0]]}: {problem['msg']}", file=sys.stderr)
            return 2
    problem = _usage_problem(args)  # found before the runtime starts: nothing is uploaded or changed
    if problem:
        print(f"docpipe {args.command}: {problem}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    for skipped in getattr(args, "inputs", Inputs()).skipped:
        console.print(f"[yellow]skipped[/] {escape(skipped)}", soft_wrap=True, highlight=False)

    def waiting(message: str) -> None:  # one unwrapped line: it names a process and a path
        console.print(f"[yellow]{escape(message)}[/]", soft_wrap=True)

    try:
        with OfflineRuntime(faults=args.faults, lock_wait=_lock_wait_seconds(), on_lock_wait=waiting,
                            lambda_mode=getattr(args, "lambda_mode", "in-process")) as runtime:
            for warning in runtime.warnings:
                console.print(f"[yellow]warning:[/] {warning}")
            if args.command == "console":
                return console_command.run(runtime, args)
            if args.command == "serve":
                return edge_server.run(runtime, args)
            if args.command == "endpoints":
                return endpoints_cli.run(runtime, args)
            if args.command == "finetune":
                return finetune_cli.main(runtime, args)
            if args.command == "cost":
                return cost_cli.run(cost_cli.S3ManifestSource(runtime.s3, runtime.bucket), args, Console())
            if args.command in batch_cli.COMMANDS:
                return batch_cli.run(runtime, args, console)
            if args.command == "ask":
                return _ask(runtime, args)
            if args.command == "delete":
                return _delete(runtime, args.names, console)
            session = DocumentSession(runtime, Path(args.out), force=args.force, languages=args.languages,
                                      audio_formats=args.audio_formats)
            if args.command == "run":
                return _run(session, args.inputs, args.json, console)
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


def _usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, in one line, or None; normalizes what it checks."""
    if args.command in ("run", "watch") and args.languages is not None:
        args.languages, problem = _languages(args.languages)
        if problem:
            return problem
    if args.command == "run":
        try:
            args.inputs = expand(args.paths)
        except (FileNotFoundError, ValueError) as err:
            return str(err)
        if not args.inputs.files:
            skipped = f" ({len(args.inputs.skipped)} skipped: {'; '.join(args.inputs.skipped)})" \
                if args.inputs.skipped else ""
            return f"nothing to do: no files in {', '.join(args.paths)}{skipped}"
    if args.command == "endpoints":
        return endpoints_cli.usage_problem(args)
    return None


def _languages(raw: str) -> tuple[str, str | None]:
    """`--languages " es, CA"` -> "es,ca"; a code Amazon Translate does not support is named with the ones it does."""
    from docpipe_local.emulators.translate import TRANSLATE_LANGUAGES

    codes = []
    for code in (part.strip() for part in raw.split(",")):
        base, _, region = code.partition("-")
        code = f"{base.lower()}-{region.upper()}" if region else base.lower()
        if code and code not in codes:
            codes.append(code)
    unknown = [code for code in codes if code not in TRANSLATE_LANGUAGES]
    if not codes or unknown:
        verb = "is not a language" if len(unknown) == 1 else "are not languages"
        what = f"{', '.join(map(repr, unknown))} {verb} Amazon Translate supports" if unknown else "no language given"
        return raw, f"--languages: {what}; supported: {', '.join(sorted(TRANSLATE_LANGUAGES))}"
    return ",".join(codes), None


def _run(session: DocumentSession, inputs: Inputs, as_json: bool, console: Console) -> int:
    resumed = session.reconcile()
    if resumed:
        console.print(f"resuming {len(resumed)} unfinished document(s) from an earlier run")
    tracked = resumed + [item for source in inputs.files for item in session.submit(source)]
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
        show(_summary(reports))
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
        table.add_row(escape(report.name), f"[{_STYLES[report.status]}]{report.status}[/]", f"{report.seconds:.1f}")
    for item in pending:
        state = session.runtime.current_state(item.arn) or "starting"
        table.add_row(escape(item.key.removeprefix(session.runtime.inbox_prefix)), f"[cyan]{state}[/]",
                      f"{time.monotonic() - item.started:.1f}")
    return table


def _summary(reports: list[Report]) -> Rows:
    table = Rows("docpipe results", ["document", "status", "doc_id", "pages", "seconds", "cost (USD)",
                                     "reason / results"], identifiers={"document", "doc_id"}, styled="status")
    for report in reports:
        pages = cost = ""
        if report.manifest and Path(report.manifest).exists():
            manifest = json.loads(Path(report.manifest).read_text())
            pages, cost = str(manifest["usage"]["pages"] or ""), f"{manifest['cost']['total_usd']:.6f}"
        made = ", ".join(Path(output).name for output in report.outputs if not output.endswith("manifest.json"))
        detail = "; ".join(filter(None, [report.reason, made]))
        seconds = "cached" if report.cached else f"{report.seconds:.1f}"
        table.add(report.name, report.status, report.doc_id or "", pages, seconds, cost, detail,
                  style=_STYLES[report.status])
    return table


_ASK_OPTIONS = {"question": "the question", "top_k": "--top-k", "doc_id": "--doc"}


def _limits(field: str) -> tuple[int, int]:
    """The lower and upper bounds AskRequest puts on a field (what --help says is what is checked)."""
    bounds = {}
    for rule in AskRequest.model_fields[field].metadata:
        for name in ("min_length", "ge", "max_length", "le"):
            if hasattr(rule, name):
                bounds[name in ("min_length", "ge")] = getattr(rule, name)
    return bounds[True], bounds[False]


def _ask(runtime: OfflineRuntime, args: argparse.Namespace) -> int:
    """Invoke the Ask function as its function URL would, and show the answer with its citations."""
    if args.doc:  # a doc_id no document has is a mistake; a document that has no passages is answered as such
        known = doc_ids(runtime)
        if args.doc not in known:
            close = difflib.get_close_matches(args.doc, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else " (`docpipe run` prints each document's doc_id)"
            print(f"docpipe ask: --doc: no document has the doc_id {args.doc!r}{hint}", file=sys.stderr)
            return 2
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
    keys = []
    for name in names:  # every one found before any is deleted
        key, problem = inbox_key_for(runtime, name)
        if problem:
            console.print(f"[red]nothing deleted:[/] {escape(problem)}", soft_wrap=True, highlight=False)
            return 1
        keys.append(key)
    for key in dict.fromkeys(keys):
        runtime.delete(key)
    runtime.lambdas.drain()
    deleted = [key.removeprefix(runtime.inbox_prefix) for key in dict.fromkeys(keys)]
    console.print(f"deleted {', '.join(deleted)}; their vectors are gone from the index", soft_wrap=True,
                  highlight=False)
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
    failures, skipped = 0, set()
    try:
        while True:
            inputs = expand([str(folder)])
            for reason in set(inputs.skipped) - skipped:
                console.print(f"[yellow]skipped[/] {escape(reason)}", soft_wrap=True, highlight=False)
            skipped = set(inputs.skipped)
            for source in inputs.files:
                path = source.path
                stamp = (path.stat().st_size, path.stat().st_mtime)
                if seen.get(path) == stamp:
                    continue
                if candidates.get(path) == stamp:
                    seen[path] = stamp
                    pending += session.submit(source)
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
