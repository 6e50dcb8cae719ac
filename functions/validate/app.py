"""Validate an uploaded object: decode its key, fingerprint, sniff and claim it, choose the route."""

from docpipe.logic.validate import validate_document
from docpipe.models import ValidateInput
from docpipe.task import lambda_task

handler = lambda_task("validate", ValidateInput, validate_document)
