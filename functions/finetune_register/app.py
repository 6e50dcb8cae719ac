"""Fine-tuning: register the adapter as a model package (PendingManualApproval) with its metrics."""

from docpipe.logic.finetune import TaskInput, register
from docpipe.task import lambda_task

handler = lambda_task("finetune_register", TaskInput, register)
