"""Write the document's summary with Bedrock Converse behind the guardrail (map-reduce when long)."""

from docpipe.logic.summarize import summarize_document
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("summarize", TaskInput, summarize_document)
