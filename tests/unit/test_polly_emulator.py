"""The Polly emulator, through a real boto3 client: espeak-ng speech encoded by LAME (MP3) and sox (Ogg Vorbis),
limits, SSML, async tasks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
from botocore.exceptions import ClientError

try:
    import docpipe_local  # noqa: F401
except ImportError:  # running without the project's pythonpath settings
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "local"))

from docpipe_local.emulators.base import EmulatorHub  # noqa: E402
from docpipe_local.emulators.polly import PollyEmulator  # noqa: E402

pytestmark = pytest.mark.requires(binaries=["espeak-ng", "sox", "soxi"],
                                  why="The Polly emulator speaks with espeak-ng and encodes with sox "
                                      "(Debian packages espeak-ng, sox, libsox-fmt-mp3).")

SENTENCE = "The inspection of the old bridge found no structural damage, and the report was approved today."


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def emulator():
    return PollyEmulator()


@pytest.fixture
def polly(emulator):
    hub = EmulatorHub()
    hub.register(emulator)
    with hub:
        yield boto3.client("polly", region_name="us-east-1")


def speak(client, text: str, **kwargs) -> dict:
    kwargs.setdefault("VoiceId", "Joanna")
    kwargs.setdefault("OutputFormat", "mp3")
    response = client.synthesize_speech(Text=text, **kwargs)
    response["audio"] = response["AudioStream"].read()
    return response


def audio_info(tmp_path: Path, data: bytes, suffix: str) -> dict:
    path = tmp_path / f"audio{time.perf_counter_ns()}.{suffix}"
    path.write_bytes(data)
    duration = float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)
    rate = int(subprocess.run(["soxi", "-r", str(path)], capture_output=True, text=True, check=True).stdout)
    encoding = subprocess.run(["soxi", "-e", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    # decode it all the way: a broken stream fails here
    subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, check=True)
    return {"duration": duration, "rate": rate, "encoding": encoding}


# ---- voices --------------------------------------------------------------------------------------


def test_describe_voices_answers_real_polly_voices_for_installed_languages(polly):
    voices = {v["Id"]: v for v in polly.describe_voices()["Voices"]}
    expected = {"Joanna": ("en-US", "Female"), "Lucia": ("es-ES", "Female"), "Arlet": ("ca-ES", "Female"),
                "Lea": ("fr-FR", "Female"), "Vicki": ("de-DE", "Female"), "Ines": ("pt-PT", "Female"),
                "Bianca": ("it-IT", "Female"), "Matthew": ("en-US", "Male")}
    for voice_id, (language, gender) in expected.items():
        assert voices[voice_id]["LanguageCode"] == language and voices[voice_id]["Gender"] == gender
    assert voices["Lea"]["Name"] == "Léa" and voices["Lea"]["LanguageName"] == "French"
    assert set(voices["Joanna"]["SupportedEngines"]) >= {"standard", "neural"}
    assert voices["Arlet"]["SupportedEngines"] == ["neural"]

    spanish = polly.describe_voices(LanguageCode="es-ES")["Voices"]
    assert spanish and all(v["LanguageCode"] == "es-ES" for v in spanish)
    neural = polly.describe_voices(Engine="neural")["Voices"]
    assert neural and all("neural" in v["SupportedEngines"] for v in neural)


# ---- audio ---------------------------------------------------------------------------------------


def test_mp3_decodes_with_a_plausible_duration(polly, tmp_path):
    response = speak(polly, SENTENCE)
    assert response["ContentType"] == "audio/mpeg"
    assert response["RequestCharacters"] == len(SENTENCE)
    info = audio_info(tmp_path, response["audio"], "mp3")
    assert info["rate"] == 22050  # Polly's default for standard voices
    words_per_second = len(SENTENCE.split()) / info["duration"]
    assert 1.5 < words_per_second < 5.0, info

    longer = speak(polly, " ".join([SENTENCE] * 4))
    ratio = audio_info(tmp_path, longer["audio"], "mp3")["duration"] / info["duration"]
    assert 3.0 < ratio < 5.0


def test_neural_voices_default_to_24_khz(polly, tmp_path):
    response = speak(polly, "Hello from a neural voice.", Engine="neural")
    assert audio_info(tmp_path, response["audio"], "mp3")["rate"] == 24000


def test_ogg_vorbis(polly, tmp_path):
    response = speak(polly, "Bonjour tout le monde.", VoiceId="Lea", OutputFormat="ogg_vorbis", SampleRate="16000")
    assert response["ContentType"] == "audio/ogg"
    info = audio_info(tmp_path, response["audio"], "ogg")
    assert info["encoding"] == "Vorbis" and info["rate"] == 16000 and info["duration"] > 0.5


def test_pcm_is_headerless_16_bit_mono(polly, tmp_path):
    response = speak(polly, "Hola, ¿qué tal?", VoiceId="Lucia", OutputFormat="pcm")
    data = response["audio"]
    assert response["ContentType"] == "audio/pcm"
    assert not data.startswith(b"RIFF") and len(data) % 2 == 0
    assert 0.5 < len(data) / 2 / 16000 < 5.0  # 16 kHz default for pcm


@pytest.mark.parametrize("rate", ["8000", "16000", "22050", "24000"])
def test_mp3_at_each_polly_sample_rate_is_as_long_as_the_pcm(polly, tmp_path, rate):
    # espeak-ng speaks at 22,050 Hz: the other rates are resampled before LAME encodes them
    text = "Hola, buenos días a todos. El informe se aprobó hoy."
    pcm = speak(polly, text, VoiceId="Lucia", OutputFormat="pcm")["audio"]
    info = audio_info(tmp_path, speak(polly, text, VoiceId="Lucia", OutputFormat="mp3", SampleRate=rate)["audio"],
                      "mp3")
    assert info["rate"] == int(rate)
    # LAME adds its encoder delay and pads the last frame: a few frames at most
    assert 0 <= info["duration"] - len(pcm) / 2 / 16000 < 0.25, info


def test_concurrent_requests_encode_as_alone(polly):
    # MP3 is encoded in this process: requests on several threads at once must not share an encoder's state
    requests = [("Bon dia a tothom.", "Arlet", "mp3"), ("Buongiorno a tutti.", "Bianca", "mp3"),
                ("Buenos días a todos.", "Lucia", "pcm"), ("Good morning, everyone.", "Joanna", "mp3")]
    alone = [speak(polly, text, VoiceId=voice, Engine="neural", OutputFormat=fmt)["audio"]
             for text, voice, fmt in requests]
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        together = list(pool.map(lambda r: speak(polly, r[0], VoiceId=r[1], Engine="neural", OutputFormat=r[2]),
                                 requests * 2))
    assert [response["audio"] for response in together] == alone * 2


def test_voices_of_one_language_differ(polly):
    assert speak(polly, "Good morning.", VoiceId="Joanna")["audio"] != \
        speak(polly, "Good morning.", VoiceId="Matthew")["audio"]


# ---- SSML ----------------------------------------------------------------------------------------


def test_ssml_breaks_lengthen_the_audio(polly, tmp_path):
    plain = speak(polly, "<speak>First part. Second part.</speak>", TextType="ssml")
    paused = speak(polly, '<speak>First part. <break time="3s"/> Second part.</speak>', TextType="ssml")
    gap = audio_info(tmp_path, paused["audio"], "mp3")["duration"] - \
        audio_info(tmp_path, plain["audio"], "mp3")["duration"]
    assert 2.0 < gap < 3.5
    # tags are not billed
    assert paused["RequestCharacters"] == len("First part.  Second part.")


def test_ssml_prosody_rate_is_honoured(polly, tmp_path):
    normal = speak(polly, f"<speak>{SENTENCE}</speak>", TextType="ssml")
    slow = speak(polly, f'<speak><prosody rate="50%">{SENTENCE}</prosody></speak>', TextType="ssml")
    assert audio_info(tmp_path, slow["audio"], "mp3")["duration"] > \
        1.5 * audio_info(tmp_path, normal["audio"], "mp3")["duration"]


def test_escaped_lt_and_amp_in_ssml_synthesize(polly, tmp_path):
    response = speak(polly, "<speak>Tom &amp; Jerry said 3 &lt; 5 &gt; 2.</speak>", TextType="ssml")
    assert response["RequestCharacters"] == len("Tom & Jerry said 3 < 5 > 2.")
    assert audio_info(tmp_path, response["audio"], "mp3")["duration"] > 1.0
    # and in plain text they are just characters
    assert speak(polly, "Tom & Jerry < 5 <b>")["RequestCharacters"] == len("Tom & Jerry < 5 <b>")


def test_polly_ssml_tags_are_accepted(polly):
    ssml = ('<speak><p><s>Hello <emphasis level="strong">there</emphasis>.</s></p>'
            '<amazon:effect name="whispered">quietly</amazon:effect> <sub alias="World Wide Web">WWW</sub> '
            '<say-as interpret-as="characters">abc</say-as> <say-as interpret-as="digits">123</say-as>'
            '<mark name="here"/><amazon:breath/> <prosody pitch="+10%" volume="-6dB">done</prosody></speak>')
    assert len(speak(polly, ssml, TextType="ssml")["audio"]) > 1000


@pytest.mark.parametrize("ssml", [
    "<speak>unclosed",
    "plain text, no speak element",
    "<p>wrong root</p>",
    '<speak><audio src="/etc/passwd"/></speak>',
    '<speak>x<break time="11s"/></speak>',
    '<speak><prosody rate="fastest">x</prosody></speak>',
    '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY e "boom">]><speak>&e;</speak>',
    '<!DOCTYPE speak SYSTEM "file:///etc/passwd"><speak>x</speak>',
])
def test_invalid_ssml(polly, ssml):
    with pytest.raises(polly.exceptions.InvalidSsmlException):
        speak(polly, ssml, TextType="ssml")


# ---- limits and errors ---------------------------------------------------------------------------


def test_synthesize_speech_limits(polly):
    assert speak(polly, "a " * 1500, OutputFormat="pcm", SampleRate="8000")["RequestCharacters"] == 3000
    with pytest.raises(polly.exceptions.TextLengthExceededException) as excinfo:
        speak(polly, "a" * 3001)
    assert excinfo.value.response["Error"]["Message"] == "Maximum text length has been exceeded"
    # SSML: 2,000 billed characters are fine, but not with more than 6,000 characters in all
    heavy = "<speak>" + "<s>ab</s>" * 1000 + "</speak>"
    assert len(heavy) > 6000
    with pytest.raises(polly.exceptions.TextLengthExceededException):
        speak(polly, heavy, TextType="ssml")


def test_unknown_voice_is_a_validation_error(polly):
    with pytest.raises(ClientError) as excinfo:
        speak(polly, "hi", VoiceId="Nobody")
    error = excinfo.value.response["Error"]
    assert error["Code"] == "ValidationException" and "'Nobody' at 'voiceId'" in error["Message"]


def test_engine_not_supported_by_the_voice(polly):
    with pytest.raises(polly.exceptions.EngineNotSupportedException):
        speak(polly, "Bon dia.", VoiceId="Arlet")  # neural-only voice, standard engine by default
    assert speak(polly, "Bon dia a tothom.", VoiceId="Arlet", Engine="neural")["audio"]
    with pytest.raises(polly.exceptions.EngineNotSupportedException):
        speak(polly, "Hello.", VoiceId="Joanna", Engine="long-form")


def test_other_request_errors(polly):
    with pytest.raises(polly.exceptions.InvalidSampleRateException):
        speak(polly, "hi", OutputFormat="pcm", SampleRate="22050")
    with pytest.raises(polly.exceptions.MarksNotSupportedForFormatException):
        speak(polly, "hi", SpeechMarkTypes=["word"])
    with pytest.raises(polly.exceptions.SsmlMarksNotSupportedForTextTypeException):
        speak(polly, "hi", OutputFormat="json", SpeechMarkTypes=["ssml"])
    with pytest.raises(polly.exceptions.LexiconNotFoundException):
        speak(polly, "hi", LexiconNames=["missing"])


def test_speech_marks(polly):
    text = "Hello world. How are you today?"
    response = speak(polly, text, OutputFormat="json", SpeechMarkTypes=["sentence", "word"])
    assert response["ContentType"] == "application/x-json-stream"
    marks = [json.loads(line) for line in response["audio"].decode().splitlines()]
    words = [m for m in marks if m["type"] == "word"]
    assert [m["value"] for m in words] == ["Hello", "world", "How", "are", "you", "today"]
    assert all(text.encode()[m["start"]:m["end"]].decode() == m["value"] for m in words)
    times = [m["time"] for m in words]
    assert times == sorted(times) and times[-1] > 500
    assert [m["value"] for m in marks if m["type"] == "sentence"] == ["Hello world.", "How are you today?"]


# ---- asynchronous tasks --------------------------------------------------------------------------


def wait_for(client, task_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get_speech_synthesis_task(TaskId=task_id)["SynthesisTask"]
        if task["TaskStatus"] in ("completed", "failed"):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def test_async_task_writes_the_audio_to_s3(polly, emulator, tmp_path):
    from moto import mock_aws

    text = " ".join([SENTENCE] * 50)  # ~4,800 characters: over SynthesizeSpeech's 3,000
    assert len(text) > 3000
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="docpipe-audio")
        started = polly.start_speech_synthesis_task(Text=text, VoiceId="Joanna", OutputFormat="mp3",
                                                    OutputS3BucketName="docpipe-audio",
                                                    OutputS3KeyPrefix="out/doc1/audio")
        task = started["SynthesisTask"]
        assert task["TaskStatus"] in ("scheduled", "inProgress", "completed")
        assert task["RequestCharacters"] == len(text)
        task = wait_for(polly, task["TaskId"])
        assert task["TaskStatus"] == "completed", task.get("TaskStatusReason")
        uri = urlparse(task["OutputUri"])
        assert uri.netloc == "s3.us-east-1.amazonaws.com"
        bucket, key = uri.path.lstrip("/").split("/", 1)
        assert bucket == "docpipe-audio" and key == f"out/doc1/audio.{task['TaskId']}.mp3"
        obj = s3.get_object(Bucket=bucket, Key=key)
        assert obj["ContentType"] == "audio/mpeg"
        info = audio_info(tmp_path, obj["Body"].read(), "mp3")
        assert 2.0 < len(text.split()) / info["duration"] < 5.0

        listed = polly.list_speech_synthesis_tasks(Status="completed")["SynthesisTasks"]
        assert [t["TaskId"] for t in listed] == [task["TaskId"]]


def test_async_task_to_a_missing_bucket_fails(polly):
    from moto import mock_aws

    with mock_aws():
        task = polly.start_speech_synthesis_task(Text="Hello.", VoiceId="Joanna", OutputFormat="mp3",
                                                 OutputS3BucketName="no-such-bucket")["SynthesisTask"]
        task = wait_for(polly, task["TaskId"])
        assert task["TaskStatus"] == "failed" and "NoSuchBucket" in task["TaskStatusReason"]


def test_async_task_notifies_its_sns_topic():
    published = []

    class FakeSns:
        def publish(self, **kwargs):
            published.append(kwargs)

    class FakeS3:
        def put_object(self, **kwargs):
            assert kwargs["Body"] and kwargs["ContentType"] == "audio/mpeg"

    emulator = PollyEmulator(s3_client_factory=FakeS3, sns_client_factory=FakeSns)
    topic = "arn:aws:sns:us-east-1:123456789012:polly-done"
    task = emulator.StartSpeechSynthesisTask({"Text": "Done soon.", "VoiceId": "Brian", "OutputFormat": "mp3",
                                              "OutputS3BucketName": "docpipe-audio", "SnsTopicArn": topic})
    assert emulator.wait_for_tasks(30)
    emulator.close()
    assert emulator.GetSpeechSynthesisTask({"TaskId": task["SynthesisTask"]["TaskId"]})["SynthesisTask"][
        "TaskStatus"] == "completed"
    message = json.loads(published[0]["Message"])
    assert published[0]["TopicArn"] == topic
    assert message["taskStatus"] == "COMPLETED" and message["voiceId"] == "Brian"


def test_async_task_limits_and_lookups(polly):
    with pytest.raises(polly.exceptions.TextLengthExceededException):
        polly.start_speech_synthesis_task(Text="a" * 100_001, VoiceId="Joanna", OutputFormat="mp3",
                                          OutputS3BucketName="docpipe-audio")
    with pytest.raises(polly.exceptions.InvalidS3BucketException):
        polly.start_speech_synthesis_task(Text="hi", VoiceId="Joanna", OutputFormat="mp3",
                                          OutputS3BucketName="Not_A_Bucket")
    with pytest.raises(polly.exceptions.SynthesisTaskNotFoundException):
        polly.get_speech_synthesis_task(TaskId="0f7c1d2e-0000-4000-8000-000000000000")
    with pytest.raises(polly.exceptions.InvalidTaskIdException):
        polly.get_speech_synthesis_task(TaskId="bad id!")
