"""`docpipe run` on the inputs people give it: one name in two subfolders, the same file given twice, a dangling
link, a CI log's 80 columns; then `delete` and `ask --doc` on what it made (the `cached` flag of a re-run:
test_cli.py). Separate processes, as a user runs
them, sharing one data directory (one pipeline run; the other commands start no execution)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.offline_only("the docpipe command line is the offline runtime's own face")

FACTS = {"a": "Alpha report. The alpha pump station will be rebuilt in 2027 by Norcast.\n",
         "b": "Beta report. The beta reservoir dam will be inspected by Halvorsen in May 2026.\n"}


def _docpipe(home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCPIPE_HOME": str(home), "COLUMNS": "80"}  # captured: not a terminal
    return subprocess.run([sys.executable, "-m", "docpipe_local.cli", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    col = root / "col"
    for folder, text in FACTS.items():
        (col / folder).mkdir(parents=True)
        (col / folder / "report.txt").write_text(text)
    (col / "b" / "gone.txt").symlink_to(root / "deleted.txt")
    # the folder twice, and one of its files directly as well: two documents, not five
    first = _docpipe(root / "home", "run", str(col), str(col / "a" / "report.txt"), str(col),
                     "--languages", " ES", "--out", str(root / "out"))
    return root, first


def test_one_name_in_two_subfolders_is_two_documents_keyed_by_their_path(processed):
    root, first = processed
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"skipped {root / 'col' / 'b' / 'gone.txt'}: a link to {root / 'deleted.txt'}, which does not exist" \
        in first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "docpipe results" and lines[1].split()[:3] == ["document", "status", "doc_id"]
    rows = sorted(re.split(r"\s{2,}", line) for line in lines[2:])  # one plain line per document, nothing cut
    assert [row[:2] for row in rows] == [["a/report.txt", "SUCCEEDED"], ["b/report.txt", "SUCCEEDED"]]
    doc_ids = [row[2] for row in rows]
    assert all(re.fullmatch(r"report-[0-9a-f]{16}", doc_id) for doc_id in doc_ids) and len(set(doc_ids)) == 2
    assert sorted(os.listdir(root / "out")) == sorted(doc_ids)  # the file given twice made no third document
    for folder, doc_id in zip(FACTS, doc_ids):
        manifest = json.loads((root / "out" / doc_id / "manifest.json").read_text())
        assert manifest["source"]["key"] == f"inbox/{folder}/report.txt"
        assert manifest["source"]["metadata"]["languages"] == "es"  # " ES" as Translate spells it


def test_delete_names_an_ambiguous_name_and_takes_a_doc_id(processed):
    root, first = processed
    a_id, b_id = (row[2] for row in sorted(re.split(r"\s{2,}", line) for line in first.stdout.splitlines()[2:4]))
    ambiguous = _docpipe(root / "home", "delete", "report.txt")
    assert ambiguous.returncode == 1
    assert " ".join(ambiguous.stderr.split()) == ("nothing deleted: 'report.txt' is ambiguous: 2 documents have that "
                                                  "name (a/report.txt, b/report.txt); give one of these, or a doc_id")
    by_id = _docpipe(root / "home", "delete", b_id)
    assert by_id.returncode == 0, by_id.stderr[-3000:]
    assert "deleted b/report.txt" in by_id.stderr
    # a doc_id no document has is a mistake (exit 2, the nearest one named), unlike one that is not indexed
    typo = _docpipe(root / "home", "ask", "Who rebuilds the alpha pump station?", "--doc", a_id[:-1] + "x")
    assert typo.returncode == 2 and typo.stdout == ""
    assert typo.stderr == f"docpipe ask: --doc: no document has the doc_id '{a_id[:-1]}x'; did you mean {a_id}?\n"
