"""Fine-tuning: check a JSONL dataset (schema, empty/duplicate rows, token lengths), split it, estimate time and cost."""

from docpipe.logic.finetune import ValidateInput, validate
from docpipe.task import lambda_task

handler = lambda_task("finetune_validate", ValidateInput, validate)
