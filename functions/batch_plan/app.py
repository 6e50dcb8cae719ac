"""Validate a JSONL job record by record, split it into batch files, choose on-demand or Bedrock batch inference."""

from docpipe.batch import BatchJobInput
from docpipe.logic.batch import plan_batch_job
from docpipe.task import lambda_task

handler = lambda_task("batch_plan", BatchJobInput, plan_batch_job)
