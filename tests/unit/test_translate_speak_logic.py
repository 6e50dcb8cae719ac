"""Pure parts of the translate and speak stages: request splitting and safe SSML."""

import boto3
from defusedxml import ElementTree
from hypothesis import given, strategies as st

from docpipe.logic.speak import ssml
from docpipe.logic.translate import split_for_translate
from docpipe_local.emulators.base import EmulatorHub
from docpipe_local.emulators.polly import PollyEmulator


@given(st.text(min_size=1, max_size=3000), st.integers(min_value=100, max_value=400))
def test_split_respects_the_byte_limit_and_keeps_every_word(text, limit):
    pieces = split_for_translate(text, limit)
    assert all(len(piece.encode()) <= limit for piece in pieces)
    assert "".join(" ".join(pieces).split()) == "".join(text.split())


def test_split_prefers_sentence_ends():
    text = "One sentence here. " * 20
    pieces = split_for_translate(text, 100)
    assert all(piece.endswith("here.") for piece in pieces)


def test_ssml_escapes_markup_and_ampersands_and_polly_speaks_it():
    text = "Costs < $5 & rising > 3% <break/> \"quoted\"\n\nSecond paragraph."
    markup = ssml(text)
    ElementTree.fromstring(markup)  # well-formed, no injected tags
    assert "<break/>" not in markup and "&lt;break/&gt;" in markup
    with EmulatorHub() as hub:
        hub.register(PollyEmulator())
        polly = boto3.client("polly", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
        audio = polly.synthesize_speech(Text=markup, TextType="ssml", VoiceId="Joanna", OutputFormat="mp3")
        assert len(audio["AudioStream"].read()) > 1000 and audio["RequestCharacters"] >= len("Second paragraph.")


def test_a_container_asks_polly_for_a_locales_voices_once(monkeypatch):
    from docpipe import clients
    from docpipe.logic.speak import choose_voice, voices_for

    voices_for.cache_clear()
    clients.reset_clients()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        with EmulatorHub() as hub:
            hub.register(PollyEmulator())
            first, again, catalan = choose_voice("es"), choose_voice("es"), choose_voice("ca")
            assert first == again and first != catalan
            # one DescribeVoices per locale, however many Speak invocations (branches) the container serves
            assert hub.count("polly", "DescribeVoices") == 2
    finally:
        voices_for.cache_clear()
        clients.reset_clients()
