"""Start an asynchronous Textract text detection job for multi-page or large scans."""

from docpipe.logic.ocr import start_text_detection
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("textract_start", TaskInput, start_text_detection)
