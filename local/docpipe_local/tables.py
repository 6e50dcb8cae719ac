"""Tables a person reads and copies names from, at any width.

On a terminal wide enough for it, a rich table whose identifier columns (names a user types next: documents,
doc_ids, endpoints, schedules) never wrap or shorten; the other columns wrap first. When the terminal is too
narrow for that, or the output is not a terminal (a CI log, a pipe, a file), one plain line per row: the
columns joined by two spaces, padded to line up, nothing cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_LONGEST_UNCUT_WORD = 12  # "QUARANTINED", "scale_to_zero"; longer words (a path, JSON) fold


@dataclass
class Rows:
    title: str
    columns: list[str]
    identifiers: set[str] = field(default_factory=set)  # columns never wrapped nor cut
    styled: str | None = None  # the column whose cell takes a row's style (a status)
    rows: list[tuple[list[str], str | None]] = field(default_factory=list)  # cells, and the styled cell's style

    def add(self, *cells: str, style: str | None = None) -> None:
        self.rows.append(([str(cell) for cell in cells], style))


def show(rows: Rows, console: Console | None = None) -> None:
    console = console or Console()
    table = _rich_table(rows)
    # each column's own minimum, its padding (1 each side) and the borders between and around columns
    needed = sum(column.min_width + 2 for column in table.columns) + len(table.columns) + 1
    if console.is_terminal and needed <= console.width:
        console.print(table)
        return
    console.print(escape(rows.title), soft_wrap=True, highlight=False)
    for line in plain_lines(rows):
        console.print(escape(line), soft_wrap=True, highlight=False)


def plain_lines(rows: Rows) -> list[str]:
    """The header and one line per row, columns padded to line up (the last one unpadded)."""
    lines = [rows.columns] + [cells for cells, _ in rows.rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(rows.columns))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths)) + "  " + line[-1]
            if len(line) > 1 else line[0] for line in lines]


def _rich_table(rows: Rows) -> Table:
    table = Table(title=rows.title, title_justify="left")
    for index, column in enumerate(rows.columns):
        cells = [column] + [cells[index] for cells, _ in rows.rows]
        if column in rows.identifiers:
            table.add_column(column, no_wrap=True, overflow="ignore", min_width=max(map(len, cells)))
        else:  # wraps between words; a word (a status, a number) is cut only past _LONGEST_UNCUT_WORD
            longest_word = max((len(word) for cell in cells for word in cell.split()), default=1)
            table.add_column(column, overflow="fold", min_width=min(longest_word, _LONGEST_UNCUT_WORD))
    for cells, style in rows.rows:
        table.add_row(*(f"[{style}]{escape(cell)}[/]" if style and column == rows.styled else escape(cell)
                        for column, cell in zip(rows.columns, cells)))
    return table
