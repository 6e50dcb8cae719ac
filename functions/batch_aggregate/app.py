"""Write results.jsonl in input order and the job report."""

from docpipe.batch import PlanInput
from docpipe.logic.batch import aggregate_batch
from docpipe.task import lambda_task

handler = lambda_task("batch_aggregate", PlanInput, aggregate_batch)
