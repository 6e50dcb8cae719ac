"""OCR an image or a single scanned page with Textract's synchronous DetectDocumentText."""

from docpipe.logic.ocr import detect_text
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("textract_detect", TaskInput, detect_text)
