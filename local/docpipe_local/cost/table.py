"""The cost report for people: rich tables, with a bar per service."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table

BAR_WIDTH = 30


def _usd(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.4f}" if value >= 0.01 else f"${value:,.6f}"


def _share_table(title: str, totals: dict[str, float], total: float, bars: bool) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(title.split(" ")[-1].capitalize())
    table.add_column("USD", justify="right")
    table.add_column("share", justify="right")
    if bars:
        table.add_column("")
    for name, usd in totals.items():
        share = usd / total if total else 0.0
        cells = [name, _usd(usd), f"{share:.1%}"]
        if bars:
            cells.append("[cyan]" + "█" * round(share * BAR_WIDTH) + "[/]")
        table.add_row(*cells)
    return table


def render(report: dict[str, Any], console: Console) -> None:
    console.print(f"[bold]docpipe cost[/]: {report['documents']} documents, {report['pages']} pages, "
                  f"total [bold]{_usd(report['total_usd'])}[/] at list prices of {report['prices_as_of']} "
                  f"({report['region']})")
    console.print(f"per document {_usd(report['per_document_usd'])}, per 1,000 pages "
                  f"{_usd(report['per_1000_pages_usd'])} (document processing only)")
    total = report["total_usd"]
    console.print(Group(_share_table("cost by service", report["by_service"], total, bars=True),
                        _share_table("cost by stage", report["by_stage"], total, bars=False)))
    if report["savings"]:
        saved = Table(title=f"saved: {_usd(report['saved_usd'])}", title_justify="left")
        for column in ("by", "USD", "how it is known"):
            saved.add_column(column, justify="right" if column == "USD" else "left")
        for what, entry in report["savings"].items():
            saved.add_row(what, _usd(entry["usd"]), entry["basis"])
        console.print(saved)
    monthly = report.get("monthly")
    if monthly:
        table = Table(title=f"monthly TCO: {monthly['docs_per_day']:g} documents a day, {monthly['pages_per_doc']:g} "
                            f"pages each ({monthly['hours']} hours)", title_justify="left")
        for column in ("item", "unit cost", "usage", "monthly cost"):
            table.add_column(column, justify="left" if column == "item" else "right")
        for row in monthly["rows"]:
            cost = _usd(row["monthly_usd"]) if row["in_total"] else f"({_usd(row['monthly_usd'])})"
            table.add_row(row["item"], f"{_usd(row['unit_usd'])} / {row['unit']}", f"{row['usage']:,.3f}", cost)
        table.add_row("[bold]total[/]", "", "", f"[bold]{_usd(monthly['total_usd'])}[/]")
        console.print(table)
        console.print("(in brackets: shown for comparison, not in the total)")
