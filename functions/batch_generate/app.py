"""Generate one batch file's records through the guarded Converse path, skipping records already done."""

from docpipe.batch import BatchWorkItem
from docpipe.logic.batch import generate_batch
from docpipe.task import lambda_task

handler = lambda_task("batch_generate", BatchWorkItem, generate_batch)
