"""One Logger, Tracer and Metrics for every handler (powertools), configured by environment variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "docpipe"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="docpipe", service=SERVICE)
