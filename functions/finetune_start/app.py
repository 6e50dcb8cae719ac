"""Fine-tuning: start the SageMaker training job on Trainium (Neuron image, managed spot, checkpoints in S3)."""

from docpipe.logic.finetune import TaskInput, start
from docpipe.task import lambda_task

handler = lambda_task("finetune_start", TaskInput, start)
