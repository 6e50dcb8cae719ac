"""Fine-tuning: start the SageMaker training job on Trainium (Neuron image, managed spot, checkpoints in S3).

The job's code travels in this function's package: ``training`` here links to the repository's training/,
which `sam build` copies in; the first start puts it in S3 as the job's sourcedir.tar.gz.
"""

from functools import partial
from pathlib import Path

from docpipe.logic.finetune import TaskInput, start
from docpipe.task import lambda_task

TRAINING_CODE = Path(__file__).resolve().parent / "training"

handler = lambda_task("finetune_start", TaskInput, partial(start, code_dir=TRAINING_CODE))
