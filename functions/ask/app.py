"""Answer a question over the indexed documents with citations (function URL with IAM auth, or invoke)."""

from docpipe.http import function_url
from docpipe.logic.ask import AskRequest, answer_question
from docpipe.task import lambda_task

handler = function_url(lambda_task("ask", AskRequest, answer_question), AskRequest)
