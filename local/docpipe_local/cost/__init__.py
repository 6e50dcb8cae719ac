"""`docpipe cost`: what everything processed cost at list prices, where, and what the defaults saved.

The report is a function over a manifest source (list + read of one bucket's keys), so the same code runs
offline over the data directory (`docpipe cost`) and deployed over the stack's bucket with the user's
credentials (`python -m docpipe_local.cost --bucket B`): no function, table or schedule of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from docpipe_local.cost.report import cost_report, start_of
from docpipe_local.cost.source import ManifestSource, S3ManifestSource

__all__ = ["cost_report", "S3ManifestSource", "ManifestSource", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="only what finished on or after this date (YYYY-MM-DD, UTC)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--monthly", type=float, metavar="DOCS_PER_DAY",
                        help="add a monthly total-cost-of-ownership table at this many documents a day")
    parser.add_argument("--pages-per-doc", type=float, metavar="N",
                        help="pages per document for --monthly (default: the average measured)")


def run(source: ManifestSource, args: argparse.Namespace, console: Any) -> int:
    """Print the report; 2 with one line on stderr for a bad option."""
    try:
        report = cost_report(source, start_of(args.since) if args.since else None, args.monthly, args.pages_per_doc)
    except ValueError as err:
        print(f"docpipe cost: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report))
        return 0
    from docpipe_local.cost.table import render

    render(report, console)
    return 0
