"""Fine-tuning: DescribeTrainingJob, and decide whether to wait, retry from the checkpoints, evaluate or stop."""

from docpipe.logic.finetune import TaskInput, poll
from docpipe.task import lambda_task

handler = lambda_task("finetune_poll", TaskInput, poll)
