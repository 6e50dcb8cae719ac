"""Put a document's chunk vectors into S3 Vectors and retire the vectors of the versions it replaces."""

from docpipe.logic.index import index_document
from docpipe.models import TaskInput
from docpipe.task import lambda_task

handler = lambda_task("index", TaskInput, index_document)
