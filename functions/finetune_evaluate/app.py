"""Fine-tuning: check the job's metrics against its metrics file and the held-out set; the improvement gate."""

from docpipe.logic.finetune import TaskInput, evaluate
from docpipe.task import lambda_task

handler = lambda_task("finetune_evaluate", TaskInput, evaluate)
