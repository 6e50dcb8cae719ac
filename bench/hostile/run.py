"""The hostile corpus through `docpipe run`: every file's outcome, the run's wall time and peak memory.

    .venv/bin/python bench/hostile/run.py [--keep DIR]

Builds the corpus (tests/hostile_files.py) in a temporary folder and runs `docpipe run FOLDER --json` on it
in a fresh data directory, exactly as a user would; then, the same way, the one file kept out of the flow
test (a megabyte of prose on one line, whose summary is the slow part). Prints one row per file and the
totals that bench/hostile/README.md records. Targets: every file SUCCEEDED or QUARANTINED with a reason
naming what it broke, peak resident memory under 1.5 GiB, the corpus within 5 minutes.
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
    groups = {"corpus": [case for case in CORPUS if not case.bench_only],
              "prose": [case for case in CORPUS if case.bench_only]}
    misses, totals = 0, []
    print("| file | outcome | reason |\n|---|---|---|")
    for label, cases in groups.items():
        write_corpus(base / label / "files", cases)
        run = run_corpus(base / label / "files", base / label / "home", base / label / "out")
        for case in cases:
            outcome = run.outcomes.get(case.name, {})
            reason = outcome.get("reason") or ""
            met = outcome.get("status") == case.status and (case.status == "SUCCEEDED"
                                                            or re.search(case.expect, reason))
            misses += not met
            print(f"| `{case.name}` | {outcome.get('status', 'none')}"
                  f"{'' if met else ' (expected ' + case.status + ')'} | {reason} |")
        totals.append(f"{label}: {len(cases)} files, wall time {run.seconds:.0f} s, peak memory "
                      f"{run.peak_mib:.0f} MiB, exit code {run.returncode}")
        misses += bool(run.returncode)
    print("\n" + "\n".join(totals) + f"\n{len(CORPUS) - misses} of {len(CORPUS)} files as expected")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
