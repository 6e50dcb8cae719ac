"""bench/cold_import: each handler's cold import in AWS mode (fresh interpreter, nothing offline on the
path), against the interpreter's own start-up measured the same way in the same run.

    .venv/bin/python bench/cold_import/run.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import sys, time; sys.path[:0] = [{layer!r}, {function!r}]; t = time.perf_counter(); {body}; "
         "print((time.perf_counter() - t) * 1000)")
ENV = {"PATH": "/usr/bin:/bin", "DOCPIPE_DOCUMENTS_BUCKET": "bucket", "DOCPIPE_DOCUMENTS_TABLE": "table",
       "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def measure(function: str, body: str, repeat: int) -> float:
    code = PROBE.format(layer=str(ROOT / "layers/common"), function=str(ROOT / "functions" / function), body=body)
    runs = [float(subprocess.run([sys.executable, "-c", code],
                                 capture_output=True, text=True, env=ENV, check=True).stdout) for _ in range(repeat)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    baseline = measure("validate", "import json", args.repeat)
    print("| handler | cold import (median ms) | vs `import json` |")
    print("|---|---|---|")
    for path in sorted((ROOT / "functions").glob("*/app.py")):
        ms = measure(path.parent.name, "import app", args.repeat)
        print(f"| {path.parent.name} | {ms:.0f} | {ms / max(baseline, 0.01):.0f}× |")


if __name__ == "__main__":
    main()
