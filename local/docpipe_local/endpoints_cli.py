"""`docpipe endpoints status | reap [--dry-run] | wake NAME`: the idle-endpoint reaper, offline.

Each command invokes the template's EndpointReaperFunction (the deployed handler, through the Lambda
emulator) against moto's SageMaker, Application Auto Scaling and CloudWatch plus the inference-component
emulator. Offline there is always one tagged endpoint, ``docpipe-local-generation``, whose inference component is this
machine's model host: scaling it to zero unloads the local model, and the next request brings it back.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from docpipe_local.runtime import OfflineRuntime


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    endpoints = commands.add_parser("endpoints", help="idle inference endpoints: status, reap (scale to zero), wake")
    actions = endpoints.add_subparsers(dest="endpoints_command", required=True)
    status = actions.add_parser("status", help="tagged endpoints, their components' copies and recent invocations")
    reap = actions.add_parser("reap", help="scale idle components to zero; record and delete idle endpoints")
    reap.add_argument("--dry-run", action="store_true", help="decide and report, change nothing")
    wake = actions.add_parser("wake", help="re-create an endpoint the reaper deleted, from its record")
    wake.add_argument("name")
    for sub in (status, reap, wake):
        sub.add_argument("--idle-minutes", type=float, default=None,
                         help="idle window (default: the template's EndpointIdleMinutes)")
        sub.add_argument("--json", action="store_true", help="print the reaper's report as JSON")
    endpoints.set_defaults(faults=None)
    return endpoints


def run(runtime: OfflineRuntime, args: argparse.Namespace) -> int:
    event: dict = {"action": args.endpoints_command}
    if args.idle_minutes:
        event["idle_minutes"] = args.idle_minutes
    if args.endpoints_command == "reap":
        event["dry_run"] = bool(args.dry_run)
    if args.endpoints_command == "wake":
        event["endpoint_name"] = args.name
    try:
        report = runtime.invoke("EndpointReaperFunction", event)
    except RuntimeError as err:
        Console(stderr=True).print(f"[red]{err}[/]")
        return 1
    if args.json:
        print(json.dumps(report))
        return 0
    console = Console()
    if report["action"] == "status":
        console.print(_status_table(report))
        if report["deleted"]:
            console.print(_deleted_table(report["deleted"]))
    elif report["action"] == "reap":
        console.print(_decisions_table(report))
    else:
        woken = report["woken"]
        console.print(f"re-created endpoint [bold]{woken['endpoint_name']}[/] with config "
                      f"{woken['endpoint_config_name']} (reaped {woken['deleted_at']})")
    return 0


def _status_table(report: dict) -> Table:
    table = Table(title=f"endpoints (invocations over the last {report['idle_minutes']:g} min)", title_justify="left")
    for column in ("endpoint", "tagged", "status", "component", "copies", "min copies", "invocations"):
        table.add_column(column)
    for endpoint in report["endpoints"]:
        rows = endpoint["components"] or [None]
        for component in rows:
            table.add_row(endpoint["name"], "yes" if endpoint["tagged"] else "no", endpoint["status"],
                          component["name"] if component else "-",
                          "" if not component else f"{component['current_copies']}/{component['desired_copies']}",
                          "" if not component or component["min_capacity"] is None else str(component["min_capacity"]),
                          f"{(component or endpoint)['invocations']:g}")
    return table


def _deleted_table(records: list[dict]) -> Table:
    table = Table(title="reaped endpoints (docpipe endpoints wake NAME)", title_justify="left")
    for column in ("endpoint", "config", "deleted at"):
        table.add_column(column)
    for record in records:
        table.add_row(record["endpoint_name"], record["endpoint_config_name"], record["deleted_at"])
    return table


def _decisions_table(report: dict) -> Table:
    title = "reaper decisions" + (" (dry run: nothing changed)" if report["dry_run"] else "")
    table = Table(title=title, title_justify="left")
    for column in ("endpoint", "component", "decision", "applied", "reason"):
        table.add_column(column, overflow="fold")
    for d in report["decisions"]:
        table.add_row(d["endpoint"], d["component"] or "-", d["action"], "yes" if d["applied"] else "no", d["reason"])
    if not report["decisions"]:
        table.add_row("-", "-", "-", "-", "no endpoint is tagged for the reaper")
    return table
