"""What a document cost at list prices, from the usage units each stage recorded and a dated price table."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

from docpipe.models import StageRecord, Usage


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    return json.loads(resources.files("docpipe").joinpath("data/prices.json").read_text())


def lambda_gb_seconds(stages: list[StageRecord]) -> float:
    """Lambda bills each invocation's duration rounded up to the millisecond, times its memory."""
    return sum(math.ceil(stage.duration_ms) / 1000 * stage.memory_mb / 1024 for stage in stages)


def cost_breakdown(stages: list[StageRecord], usage: Usage, transitions: int | None) -> dict[str, Any]:
    table = price_table()
    prices = table["unit_prices"]
    quantities: dict[str, float] = {name: value for name, value in usage.model_dump().items() if name in prices}
    quantities["lambda_gb_second_arm64"] = lambda_gb_seconds(stages)
    quantities["lambda_request"] = len(stages)
    if transitions is not None:
        quantities["stepfunctions_standard_transition"] = transitions
    lines = {name: {"quantity": round(quantity, 6), "unit_usd": prices[name],
                    "usd": round(quantity * prices[name], 8)}
             for name, quantity in quantities.items() if quantity}
    return {"currency": table["currency"], "prices_as_of": table["as_of"], "region": table["region"],
            "lines": lines, "total_usd": round(sum(line["usd"] for line in lines.values()), 8)}
