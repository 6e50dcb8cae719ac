"""Translate the summary into one target language, guarded on output (one branch of the language Map)."""

from docpipe.logic.translate import translate_summary
from docpipe.models import LanguageInput
from docpipe.task import lambda_task

handler = lambda_task("translate", LanguageInput, translate_summary)
