"""`docpipe ask` for people: a bad question is refused with the option it concerns, before any runtime starts,
and an empty index is named as such (not as "nothing relevant")."""

from __future__ import annotations

import json

import pytest

from docpipe.logic.ask import NOTHING_INDEXED
from docpipe_local import cli

pytestmark = pytest.mark.offline_only("`docpipe ask` is the offline runtime's command line")


def test_a_bad_question_is_refused_before_the_runtime_starts(home, monkeypatch, capsys):
    monkeypatch.setenv("DOCPIPE_HOME", str(home))
    monkeypatch.setattr(cli, "OfflineRuntime", None)  # starting one would fail this test
    assert cli.main(["ask", "hi"]) == 2
    assert cli.main(["ask", "What is the span?", "--top-k", "0"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "docpipe ask: the question: String should have at least 3 characters",
        "docpipe ask: --top-k: Input should be greater than or equal to 1"]


def test_asking_before_anything_is_indexed_says_so(home, monkeypatch, capsys):
    monkeypatch.setenv("DOCPIPE_HOME", str(home))
    assert cli.main(["ask", "How long is the main span?", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["found"] is False and answer["answer"] == NOTHING_INDEXED and answer["citations"] == []
