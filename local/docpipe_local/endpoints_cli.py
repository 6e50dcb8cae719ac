"""`docpipe endpoints status | reap [--dry-run] | wake NAME`: the idle-endpoint reaper, offline.

Each command invokes the template's EndpointReaperFunction (the deployed handler, through the Lambda
emulator) against moto's SageMaker, Application Auto Scaling and CloudWatch plus the inference-component
emulator. Offline there is always one tagged endpoint, ``docpipe-local-generation``, whose inference component is this
machine's model host: scaling it to zero unloads the local model, and the next request brings it back.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from docpipe_local.runtime import OfflineRuntime
from docpipe_local.tables import Rows, show


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    endpoints = commands.add_parser("endpoints", help="idle inference endpoints: status, reap (scale to zero), wake")
    actions = endpoints.add_subparsers(dest="endpoints_command", required=True)
    status = actions.add_parser("status", help="tagged endpoints, their components' copies and recent invocations")
    reap = actions.add_parser("reap", help="scale idle components to zero; record and delete idle endpoints")
    reap.add_argument("--dry-run", action="store_true", help="decide and report, change nothing")
    wake = actions.add_parser("wake", help="bring back an endpoint's components scaled to zero, or re-create an "
                                           "endpoint the reaper deleted, from its record")
    wake.add_argument("name", help="the endpoint's name, as `docpipe endpoints status` shows it")
    for sub in (status, reap, wake):
        sub.add_argument("--idle-minutes", type=float, default=None,
                         help="idle window, 0 or more (0: idle now); default: the template's EndpointIdleMinutes")
        sub.add_argument("--json", action="store_true", help="print the reaper's report as JSON")
    endpoints.set_defaults(faults=None)
    return endpoints


def usage_problem(args: argparse.Namespace) -> str | None:
    if args.idle_minutes is not None and not args.idle_minutes >= 0:  # NaN too
        return f"--idle-minutes must be 0 or more, not {args.idle_minutes:g}"
    return None


def run(runtime: OfflineRuntime, args: argparse.Namespace) -> int:
    event: dict = {"action": args.endpoints_command}
    if args.idle_minutes is not None:
        event["idle_minutes"] = args.idle_minutes
    if args.endpoints_command == "reap":
        event["dry_run"] = bool(args.dry_run)
    if args.endpoints_command == "wake":
        event["endpoint_name"] = args.name
    try:
        report = runtime.invoke("EndpointReaperFunction", event)
    except RuntimeError as err:  # "<function> failed: <error type>: <message>": the message is what a person reads
        print(f"docpipe endpoints {args.endpoints_command}: {str(err).split(': ', 2)[-1]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report))
        return 0
    console = Console()
    if report["action"] == "status":
        show(_status_table(report), console)
        if report["deleted"]:
            show(_deleted_table(report["deleted"]), console)
    elif report["action"] == "reap":
        show(_decisions_table(report), console)
    else:
        console.print(_woken(report["woken"]), soft_wrap=True, highlight=False)
    return 0


def _woken(woken: dict) -> str:
    name = woken["endpoint_name"]
    if woken["recreated"]:
        return (f"re-created endpoint {name} with config {woken['endpoint_config_name']} "
                f"(reaped {woken['deleted_at']})")
    if woken["components"]:
        return f"woke {name}: {', '.join(woken['components'])} back to 1 copy"
    return f"nothing to wake: {name} is {woken['status']} and none of its components is at zero copies"


def _status_table(report: dict) -> Rows:
    table = Rows(f"endpoints (invocations over the last {report['idle_minutes']:g} min)",
                 ["endpoint", "tagged", "status", "component", "copies", "min copies", "invocations"],
                 identifiers={"endpoint", "component"})
    for endpoint in report["endpoints"]:
        rows = endpoint["components"] or [None]
        for component in rows:
            table.add(endpoint["name"], "yes" if endpoint["tagged"] else "no", endpoint["status"],
                      component["name"] if component else "-",
                      "" if not component else f"{component['current_copies']}/{component['desired_copies']}",
                      "" if not component or component["min_capacity"] is None else str(component["min_capacity"]),
                      f"{(component or endpoint)['invocations']:g}")
    return table


def _deleted_table(records: list[dict]) -> Rows:
    table = Rows("reaped endpoints (docpipe endpoints wake NAME)", ["endpoint", "config", "deleted at"],
                 identifiers={"endpoint", "config"})
    for record in records:
        table.add(record["endpoint_name"], record["endpoint_config_name"], record["deleted_at"])
    return table


def _decisions_table(report: dict) -> Rows:
    title = "reaper decisions" + (" (dry run: nothing changed)" if report["dry_run"] else "")
    table = Rows(title, ["endpoint", "component", "decision", "applied", "reason"],
                 identifiers={"endpoint", "component"})
    for d in report["decisions"]:
        table.add(d["endpoint"], d["component"] or "-", d["action"], "yes" if d["applied"] else "no", d["reason"])
    if not report["decisions"]:
        table.add("-", "-", "-", "-", "no endpoint is tagged for the reaper")
    return table
