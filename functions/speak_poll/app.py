"""Poll a Polly speech synthesis task once; when complete, put its audio with the document's outputs."""

from docpipe.logic.speak import poll_speech
from docpipe.models import LanguageInput
from docpipe.task import lambda_task

handler = lambda_task("speak_poll", LanguageInput, poll_speech)
