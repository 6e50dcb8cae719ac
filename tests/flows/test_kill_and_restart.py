"""`kill -9` of `docpipe run` or `docpipe watch` at chosen points, then the same command again: every inbox
object ends with exactly one outcome, one version (nothing uploaded twice), one output folder, and the
vector index holds exactly the vectors of the documents that succeeded.

Kill points are picked by hooks (tests/flows/crash_runner.py), not by timing.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docpipe_local.runtime import OfflineRuntime
from tests.conftest import SAMPLES

pytestmark = pytest.mark.offline_only("kills and restarts `docpipe` processes on a data directory of their own")

FILES = ["faq.md", "inspection_notes.txt"]
QUARANTINED = SAMPLES / "bad" / "empty.pdf"


def _command(home: Path, *args: str, crash: str | None = None) -> subprocess.Popen:
    entry = ["-m", "tests.flows.crash_runner", crash] if crash else ["-m", "docpipe_local.cli"]
    env = {**os.environ, "DOCPIPE_HOME": str(home), "DOCPIPE_LOCK_WAIT_SECONDS": "60"}
    return subprocess.Popen([sys.executable, *entry, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=Path(__file__).resolve().parents[2])


@pytest.fixture
def documents(tmp_path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in FILES:
        shutil.copy(SAMPLES / name, folder / name)
    shutil.copy(QUARANTINED, folder / "empty.pdf")
    return folder


def _run_to_the_end(home: Path, folder: Path, out: Path) -> list[dict]:
    process = _command(home, "run", str(folder), "--json", "--out", str(out), "--languages", "es")
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-3000:]
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _assert_one_outcome_each(home: Path, folder: Path, out: Path, reports: list[dict]) -> None:
    names = sorted(path.name for path in folder.iterdir())
    assert sorted(Path(r["source"]).name for r in reports) == names, "one report per file, none twice"
    assert {r["status"] for r in reports} <= {"SUCCEEDED", "QUARANTINED"}
    assert next(r for r in reports if r["source"].endswith("empty.pdf"))["status"] == "QUARANTINED"
    doc_ids = {r["doc_id"] for r in reports}
    assert sorted(p.name for p in out.iterdir()) == sorted(doc_ids), "one output folder per document"
    with OfflineRuntime(home=home) as runtime:
        table = runtime.environment["DOCPIPE_DOCUMENTS_TABLE"]
        items = runtime.dynamodb.scan(TableName=table)["Items"]
        ledger = {item["doc_id"]["S"]: item for item in items}
        for name in names:
            key = runtime.inbox_prefix + name
            versions = runtime.s3.list_object_versions(Bucket=runtime.bucket, Prefix=key).get("Versions", [])
            assert len(versions) == 1, f"{name} was uploaded {len(versions)} times"
        assert set(ledger) == doc_ids, "a document recorded that no report names (processed twice?)"
        assert all(item["status"]["S"] in ("SUCCEEDED", "QUARANTINED") for item in items)
        import boto3
        s3vectors = boto3.client("s3vectors", region_name=runtime.s3.meta.region_name)
        keys = [v["key"] for page in s3vectors.get_paginator("list_vectors").paginate(
            vectorBucketName=runtime.environment["DOCPIPE_VECTOR_BUCKET"],
            indexName=runtime.environment["DOCPIPE_VECTOR_INDEX"]) for v in page["vectors"]]
        expected = {f"{doc_id}#{i:05d}" for doc_id, item in ledger.items()
                    for i in range(int(item.get("vector_count", {"N": "0"})["N"]))}
        assert sorted(keys) == sorted(expected), "vectors without a document, or a document without its vectors"
        succeeded = {r["doc_id"] for r in reports if r["status"] == "SUCCEEDED"}
        assert {key.rpartition("#")[0] for key in keys} == succeeded


# Each kill point is reached whatever the one before it left: emit:2 while the second file is uploaded;
# vectors:1 in the first document's Index stage; saved:1 right after the first outcome is saved (the other
# documents mid-execution); saving:1 during the next save (a document's outcome, or the save at exit).
KILLS = ["emit:2", "vectors:1", "saved:1", "saving:1"]


@pytest.mark.slow
def test_docpipe_run_killed_again_and_again_then_run_to_the_end(tmp_path, documents):
    home, out = tmp_path / "home", tmp_path / "out"
    for point in KILLS:
        killed = _command(home, "run", str(documents), "--json", "--out", str(out), "--languages", "es", crash=point)
        stdout, stderr = killed.communicate(timeout=900)
        assert killed.returncode == -signal.SIGKILL, (f"the kill point {point} was never reached:\n"
                                                      f"{stdout[-3000:]}\n{stderr[-3000:]}")
    reports = _run_to_the_end(home, documents, out)
    _assert_one_outcome_each(home, documents, out, reports)


@pytest.mark.slow
def test_docpipe_watch_killed_after_its_first_outcome_then_run(tmp_path, documents):
    home, out = tmp_path / "home", tmp_path / "out"
    watch = _command(home, "watch", str(documents), "--json", "--interval", "0.2", "--out", str(out),
                     "--languages", "es", crash="saved:1")
    _, stderr = watch.communicate(timeout=900)
    assert watch.returncode == -signal.SIGKILL, stderr[-3000:]
    reports = _run_to_the_end(home, documents, out)
    _assert_one_outcome_each(home, documents, out, reports)


@pytest.mark.slow
def test_a_second_command_waits_for_the_data_directory_then_runs(tmp_path, documents):
    home, out = tmp_path / "home", tmp_path / "out"
    with OfflineRuntime(home=home):  # another docpipe holds the data directory
        second = _command(home, "run", str(documents / "faq.md"), "--json", "--out", str(out), "--languages", "es")
        deadline, said = time.monotonic() + 50, ""
        while "waiting up to 60 s" not in said and time.monotonic() < deadline:
            said += second.stderr.readline()
        assert f"pid {os.getpid()}" in said and "nothing has been changed" in said, said
    stdout, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr[-3000:]
    assert json.loads(stdout.splitlines()[-1])["status"] == "SUCCEEDED"


def test_a_second_command_that_waited_its_bound_changes_nothing(tmp_path, documents):
    home = tmp_path / "home"
    with OfflineRuntime(home=home) as holder:
        env = {**os.environ, "DOCPIPE_HOME": str(home), "DOCPIPE_LOCK_WAIT_SECONDS": "1"}
        second = subprocess.run([sys.executable, "-m", "docpipe_local.cli", "run", str(documents / "faq.md")],
                                capture_output=True, text=True, env=env, timeout=300)
        assert second.returncode == 2
        assert f"pid {os.getpid()}" in second.stderr and "nothing was changed" in second.stderr
        assert "Traceback" not in second.stderr
        assert holder.s3.list_objects_v2(Bucket=holder.bucket, Prefix=holder.inbox_prefix).get("KeyCount", 0) == 0
