"""Chunk the extracted text and embed every chunk (Titan Text Embeddings V2, cached by content hash)."""

from docpipe.logic.embed import embed_document
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("embed", TaskInput, embed_document)
