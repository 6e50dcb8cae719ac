"""Poll the Textract job once; when it is done, page through its results and save the text."""

from docpipe.logic.ocr import poll_text_detection
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("textract_poll", TaskInput, poll_text_detection)
