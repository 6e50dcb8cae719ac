"""Read text-native documents (born-digital PDF, DOCX, TXT, Markdown, HTML) without Textract."""

from docpipe.logic.extract import extract_text
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("extract", TaskInput, extract_text)
