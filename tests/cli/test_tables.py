"""Tables at 80 columns: the names a user types next are never cut; a plain line per row when the table
cannot fit with them whole, or when the output is not a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from docpipe_local.tables import Rows, show

NAME = "docpipe-local-batch-generation-with-a-long-name"


def _rows() -> Rows:
    rows = Rows("schedules", ["name", "state", "input"], identifiers={"name"}, styled="state")
    rows.add(NAME, "SUCCEEDED", '{"job": {"bucket": "docpipe-local-documents", "key": "jobs/nightly.jsonl"}}',
             style="green")
    return rows


def _render(width: int, terminal: bool) -> str:
    out = io.StringIO()
    show(_rows(), Console(file=out, width=width, force_terminal=terminal, color_system=None))
    return out.getvalue()


def test_a_terminal_table_keeps_identifiers_and_statuses_whole_and_wraps_the_rest():
    text = _render(80, terminal=True)
    assert "┃" in text and NAME in text and "SUCCEEDED" in text  # a rich table, nothing cut
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "jobs/nightly.jsonl" not in text  # the input column wrapped instead


def test_narrow_or_not_a_terminal_gives_one_plain_line_per_row():
    for text in (_render(50, terminal=True), _render(80, terminal=False)):
        lines = text.splitlines()
        assert lines[0] == "schedules" and lines[1].split() == ["name", "state", "input"]
        assert lines[2].startswith(f"{NAME}  SUCCEEDED  ") and lines[2].endswith('"jobs/nightly.jsonl"}}')
        assert len(lines) == 3
