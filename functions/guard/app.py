"""Check the extracted text with the guardrail (INPUT) before any model reads it; mask or quarantine."""

from docpipe.logic.guard import guard_text
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("guard", TaskInput, guard_text)
