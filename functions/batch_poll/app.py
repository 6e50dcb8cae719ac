"""Poll the Bedrock batch inference job."""

from docpipe.batch import PlanInput
from docpipe.logic.batch import poll_inference_job
from docpipe.task import lambda_task

handler = lambda_task("batch_poll", PlanInput, poll_inference_job)
