"""Publish the normalized text and manifest.json under out/<doc_id>/."""

from docpipe.logic.publish import publish_results
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("publish", TaskInput, publish_results)
