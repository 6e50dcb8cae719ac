"""Summarise checkov JSON reports; exit 1 on any failed check or any skip without a reason.

checkov accepts a `Metadata: checkov: skip` entry with no comment; here a skip counts as justified only when
its comment says why. Usage: python scripts/checkov_summary.py NAME=REPORT.json [NAME=REPORT.json ...]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

NO_COMMENT = {"", "No comment provided"}  # what checkov records for a skip without a comment


def load(path: Path) -> tuple[dict, dict]:
    report = json.loads(path.read_text())
    if isinstance(report, list):  # one entry per framework; this scan asks for cloudformation only
        (report,) = report
    return report["summary"], report["results"]


def main(arguments: list[str]) -> int:
    problems = 0
    for argument in arguments:
        name, _, path = argument.partition("=")
        summary, results = load(Path(path))
        print(f"checkov {name}: {summary['passed']} passed, {summary['failed']} failed, "
              f"{summary['skipped']} skipped with a reason, {summary['resource_count']} resources")
        for check in results.get("failed_checks", []):
            print(f"  FAILED {check['check_id']} {check['resource']}: {check['check_name']}")
            problems += 1
        skips = Counter()
        for check in results.get("skipped_checks", []):
            reason = (check["check_result"].get("suppress_comment") or "").strip()
            if reason in NO_COMMENT:
                print(f"  SKIPPED WITHOUT A REASON {check['check_id']} {check['resource']}")
                problems += 1
            skips[(check["check_id"], reason)] += 1
        for (check_id, reason), count in sorted(skips.items()):
            print(f"  skip {check_id} x{count}: {reason}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
