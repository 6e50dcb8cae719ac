from datetime import datetime, timezone

import pytest

from docpipe.models import StageRecord, Usage
from docpipe.pricing import cost_breakdown, lambda_gb_seconds, price_table


def stage(ms: float, mb: int, **usage) -> StageRecord:
    return StageRecord(name="s", started_at=datetime.now(timezone.utc), duration_ms=ms, memory_mb=mb,
                       usage=Usage(**usage))


def test_price_table_is_dated_and_complete():
    table = price_table()
    assert table["as_of"] and table["currency"] == "USD"
    unbilled = {"pages", "characters", "embedding_calls", "embedding_cache_hits"}  # counts, not billed units
    assert set(Usage.model_fields) - unbilled <= set(table["unit_prices"])


def test_lambda_bills_rounded_milliseconds_times_memory():
    assert lambda_gb_seconds([stage(100.2, 1024), stage(50, 512)]) == pytest.approx(0.101 + 0.025)


def test_cost_adds_every_priced_unit():
    stages = [stage(1000, 1024, textract_pages=2, s3_get=1)]
    cost = cost_breakdown(stages, Usage(textract_pages=2, s3_get=1, s3_put=3), transitions=8)
    prices = price_table()["unit_prices"]
    expected = (2 * prices["textract_pages"] + prices["s3_get"] + 3 * prices["s3_put"] + 8 *
                prices["stepfunctions_standard_transition"] + prices["lambda_gb_second_arm64"] + prices["lambda_request"])
    assert cost["total_usd"] == pytest.approx(expected, abs=1e-7)  # lines are rounded to 1e-8 USD
    assert cost["lines"]["textract_pages"]["quantity"] == 2


def test_unknown_usage_units_are_refused():
    with pytest.raises(ValueError):
        Usage(tokens=3)
