"""One Logger, Tracer and Metrics for every handler (powertools), configured by environment variables.

The Tracer is built on first use: creating it loads the X-Ray SDK, whose recorder builds a botocore
client (~200 ms), and a handler's cold import must stay small. It is the same single Tracer.
"""

from functools import lru_cache

from aws_lambda_powertools import Logger, Metrics

SERVICE = "docpipe"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="docpipe", service=SERVICE)


@lru_cache(maxsize=1)
def tracer():
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)
