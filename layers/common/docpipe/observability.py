"""One Logger, Tracer and Metrics for every handler (powertools), configured by environment variables.

The Tracer is built on first use: creating it loads the X-Ray SDK, whose recorder builds a botocore
client (~200 ms), and a handler's cold import must stay small. It is the same single Tracer.

Metrics go through :func:`add_metric` and :func:`log_metrics`, which do nothing where powertools' own rule
says metrics are disabled (``POWERTOOLS_METRICS_DISABLED``, ``POWERTOOLS_DEV``; the offline runtime sets
the first). powertools 3.37 checks that rule only when it flushes: a disabled Metrics still keeps every
value (its flush clears nothing), prints the whole set as EMF to stdout whenever a metric reaches 100
values, and warns "No application metrics to publish" after that. A long offline session printed one such
blob every 100 invocations of a stage.
"""

from functools import lru_cache, wraps
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = "docpipe"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="docpipe", service=SERVICE)


@lru_cache(maxsize=1)
def tracer():
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def add_metric(name: str, unit: str, value: float) -> None:
    """``metrics.add_metric``, unless metrics are disabled (read at each call, as powertools reads it)."""
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=unit, value=value)


def log_metrics(handler: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
    """``metrics.log_metrics`` (publish the invocation's metrics when it ends), unless metrics are disabled."""
    publishing = metrics.log_metrics(handler)

    @wraps(handler)
    def run(event: dict, context: Any) -> Any:
        return handler(event, context) if is_metrics_disabled() else publishing(event, context)

    return run
