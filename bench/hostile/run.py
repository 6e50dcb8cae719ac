"""The hostile corpus through `docpipe run`: every file's outcome, the run's wall time and peak memory.

    .venv/bin/python bench/hostile/run.py [--keep DIR]

Builds the corpus (tests/hostile_files.py) in a temporary folder, runs `docpipe run FOLDER --json` in a
fresh data directory exactly as a user would, and prints one row per file plus the totals that
bench/hostile/README.md records. Targets: every file SUCCEEDED or QUARANTINED with a reason naming what it
broke, peak resident memory under 1.5 GiB, the whole corpus within 5 minutes.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.hostile_files import CORPUS, run_corpus, write_corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build and run in this folder and keep it")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="docpipe-hostile-"))
    write_corpus(base / "corpus")
    run = run_corpus(base / "corpus", base / "home", base / "out")
    misses = 0
    print("| file | outcome | reason |\n|---|---|---|")
    for case in CORPUS:
        outcome = run.outcomes.get(case.name, {})
        reason = outcome.get("reason") or ""
        met = outcome.get("status") == case.status and (case.status == "SUCCEEDED" or re.search(case.expect, reason))
        misses += not met
        print(f"| `{case.name}` | {outcome.get('status', 'none')}{'' if met else ' (expected ' + case.status + ')'} "
              f"| {reason} |")
    print(f"\n{len(CORPUS)} files, {len(CORPUS) - misses} as expected; wall time {run.seconds:.0f} s; "
          f"peak memory {run.peak_mib:.0f} MiB; exit code {run.returncode}")
    return 1 if misses or run.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
