"""Speak the translated summary with Polly: synchronously, or by starting a speech synthesis task."""

from docpipe.logic.speak import speak_summary
from docpipe.models import LanguageInput
from docpipe.task import lambda_task

handler = lambda_task("speak", LanguageInput, speak_summary)
