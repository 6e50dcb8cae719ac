"""Quarantine a rejected document with a readable reason; the manifest says what happened."""

from docpipe.logic.quarantine import quarantine_document
from docpipe.models import QuarantineInput
from docpipe.task import lambda_task

handler = lambda_task("quarantine", QuarantineInput, quarantine_document)
