"""The hostile corpus (tests/hostile_files.py) through `docpipe run`, as a user runs it: a subprocess with a
fresh data directory. Every file ends SUCCEEDED with its text, or QUARANTINED with a reason that names the
rule or cap it broke, in words; the process's peak memory stays under 1.5 GiB. Its wall time is a benchmark
figure (bench/hostile/README.md), not asserted here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.hostile_files import CORPUS, run_corpus, write_corpus
from tests.unit.test_errors import CLASS_NAME

pytestmark = [pytest.mark.slow, pytest.mark.offline_only(
    "runs `docpipe run` in a subprocess to measure its peak memory; a deployed stack has no such process")]

PEAK_MIB = 1536
CASES = [case for case in CORPUS if not case.bench_only]


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    write_corpus(base / "corpus", CASES)
    return run_corpus(base / "corpus", base / "home", base / "out"), base / "out"


def test_every_hostile_file_has_one_outcome_and_the_run_exits_cleanly(corpus_run):
    run, _ = corpus_run
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.outcomes) == sorted(case.name for case in CASES), run.stdout[-6000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_outcome_and_reason(corpus_run, case):
    run, out = corpus_run
    outcome = run.outcomes[case.name]
    assert outcome["status"] == case.status, outcome
    folder = out / outcome["doc_id"]
    if case.status == "QUARANTINED":
        assert re.search(case.expect, outcome["reason"]), outcome["reason"]
        assert not CLASS_NAME.search(outcome["reason"]), outcome["reason"]
        assert not (folder / "summary.md").exists()  # nothing was summarized, translated or spoken
        assert json.loads((folder / "reason.json").read_text())["reason"] == outcome["reason"]
    else:
        text = " ".join(page["text"] for page in json.loads((folder / "text.json").read_text())["pages"])
        assert case.expect in " ".join(text.split()), text[:500]
        assert "root:x:0:0" not in text  # no entity, image or link was resolved against this machine


def test_peak_memory_stays_under_the_budget(corpus_run):
    run, _ = corpus_run
    assert run.peak_mib < PEAK_MIB, f"docpipe run peaked at {run.peak_mib:.0f} MiB (budget {PEAK_MIB} MiB)"
