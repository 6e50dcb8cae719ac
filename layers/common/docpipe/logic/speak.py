"""Speak one language of the summary with Polly: a voice per language (neural where it has one), SSML built
safely from the text, SynthesizeSpeech up to Polly's synchronous limit and a speech synthesis task (polled
by the state machine) beyond it; MP3, and OGG on request."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote, urlparse
from xml.sax.saxutils import escape

from docpipe.clients import client
from docpipe.errors import ExtractionFailed
from docpipe.languages import polly_locale
from docpipe.models import LanguageInput, LanguageState, SpeechJob, Usage
from docpipe.settings import get_settings
from docpipe.storage import copy_object, out_key, read_bytes, work_key
from docpipe.task import StageResult

_EXTENSIONS = {"mp3": "mp3", "ogg_vorbis": "ogg"}


class NoVoice(Exception):
    """Permanent for this language: Polly has no voice for it."""


def ssml(text: str) -> str:
    """Escaped text in <speak>, a pause between paragraphs: `<` and `&` in a summary never break SSML."""
    paragraphs = [escape(" ".join(p.split())) for p in text.split("\n\n") if p.strip()]
    return "<speak>" + '<break time="500ms"/>'.join(paragraphs) + "</speak>"


@lru_cache(maxsize=None)
def voices_for(locale: str) -> tuple[dict, ...]:
    """Polly's voices for a locale, asked once per container: they change with Polly releases, not between
    invocations, and each branch of the language fan-out would otherwise ask again."""
    return tuple(client("polly").describe_voices(LanguageCode=locale)["Voices"])


def choose_voice(language: str) -> tuple[str, str]:
    """(voice id, engine): an override, else the first neural voice of the locale, else a standard one."""
    overrides = dict(item.split("=", 1) for item in get_settings().voice_overrides.split(",") if "=" in item)
    locale = polly_locale(language)
    if locale is None:
        raise NoVoice(f"Polly has no voice for language {language!r}")
    voices = list(voices_for(locale))
    if language in overrides:
        chosen = next((v for v in voices if v["Id"] == overrides[language]), None)
        if chosen is None:
            raise NoVoice(f"the voice override {overrides[language]!r} does not speak {locale}")
        voices = [chosen]
    if not voices:
        raise NoVoice(f"Polly has no voice for {locale}")
    for engine in ("neural", "standard"):
        for voice in voices:
            if engine in voice.get("SupportedEngines", []):
                return voice["Id"], engine
    return voices[0]["Id"], "standard"


def formats(state: LanguageState) -> list[str]:
    requested = state.document.metadata.get("audio-formats") or get_settings().speech_formats
    chosen = ["ogg_vorbis" if f.strip() == "ogg" else f.strip() for f in requested.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in _EXTENSIONS]
    if unknown:
        raise NoVoice(f"unsupported audio format(s) {unknown}: use mp3 and/or ogg")
    return chosen or ["mp3"]


def speak_summary(payload: LanguageInput) -> StageResult:
    state, settings = payload.state, get_settings()
    text = read_bytes(state.translation.bucket, state.translation.key).decode().strip()
    markup = ssml(text)
    billed = len(text)
    voice, engine = choose_voice(state.language)
    polly, outputs, audio_formats = client("polly"), list(state.outputs), formats(state)
    detail = {"language": state.language, "voice": voice, "engine": engine, "characters": billed}
    if billed > settings.polly_sync_max_chars:
        fmt = audio_formats[0]  # a long text: one task, in the first format asked for
        task = polly.start_speech_synthesis_task(
            Text=markup, TextType="ssml", VoiceId=voice, Engine=engine, OutputFormat=fmt,
            OutputS3BucketName=state.document.bucket,
            OutputS3KeyPrefix=work_key(state.document.doc_id, f"speech-{state.language}"))["SynthesisTask"]
        job = SpeechJob(task_id=task["TaskId"], output_uri=task["OutputUri"], status=task["TaskStatus"],
                        wait_seconds=settings.polly_poll_seconds)
        state = state.model_copy(update={"speech_job": job, "route": "async"})
        return StageResult(state, Usage(s3_get=1, characters_synthesized=billed), {**detail, "api": "task"})
    for fmt in audio_formats:
        audio = polly.synthesize_speech(Text=markup, TextType="ssml", VoiceId=voice, Engine=engine,
                                        OutputFormat=fmt)["AudioStream"].read()
        key = out_key(state.document.doc_id, f"audio.{state.language}.{_EXTENSIONS[fmt]}")
        client("s3").put_object(Bucket=state.document.bucket, Key=key, Body=audio,
                                ContentType="audio/mpeg" if fmt == "mp3" else "audio/ogg")
        outputs.append(key)
    state = state.model_copy(update={"outputs": outputs, "route": "done"})
    usage = Usage(s3_get=1, s3_put=len(audio_formats), characters_synthesized=billed * len(audio_formats))
    return StageResult(state, usage, {**detail, "api": "SynthesizeSpeech", "formats": audio_formats})


def poll_speech(payload: LanguageInput) -> StageResult:
    """One poll of the synthesis task; when it completes, copy its audio next to the other outputs."""
    state, settings = payload.state, get_settings()
    job = state.speech_job
    task = client("polly").get_speech_synthesis_task(TaskId=job.task_id)["SynthesisTask"]
    status = task["TaskStatus"]
    if status == "failed":
        raise ExtractionFailed(f"the speech synthesis task failed: {task.get('TaskStatusReason', 'no reason')}")
    if status != "completed":
        if job.polls + 1 >= settings.polly_max_polls:
            raise ExtractionFailed(f"the speech synthesis task {job.task_id} did not finish in time")
        waited = job.model_copy(update={"status": status, "polls": job.polls + 1})
        return StageResult(state.model_copy(update={"speech_job": waited}), detail={"task_status": status})
    source_key = unquote(urlparse(task["OutputUri"]).path.split("/", 2)[2])
    key = out_key(state.document.doc_id, f"audio.{state.language}.{_EXTENSIONS[task['OutputFormat']]}")
    copy_object(state.document.bucket, source_key, None, key)
    done = job.model_copy(update={"status": status, "polls": job.polls + 1})
    state = state.model_copy(update={"speech_job": done, "route": "done", "outputs": [*state.outputs, key]})
    return StageResult(state, Usage(s3_put=1), {"task_status": status, "polls": done.polls})
