"""The Translate emulator, through a real boto3 client: Apertium translations, routes, limits, terminology."""

from __future__ import annotations

import base64
import sys
import threading
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

try:
    import docpipe_local  # noqa: F401
except ImportError:  # running without the project's pythonpath settings
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "local"))

from docpipe_local.emulators.base import EmulatorHub  # noqa: E402
from docpipe_local.emulators.translate import (  # noqa: E402
    DEFAULT_MODES_DIR,
    TranslateEmulator,
    from_stream,
    to_stream,
)

REQUIRED_MODES = ["eng-spa", "spa-eng", "es-fr", "es-pt", "spa-ita"]
pytestmark = pytest.mark.requires(
    binaries=["apertium"], files=[DEFAULT_MODES_DIR / f"{mode}.mode" for mode in REQUIRED_MODES],
    why="The Translate emulator runs Apertium (Debian packages apertium, apertium-eng-spa, apertium-fr-es, "
        "apertium-es-pt, apertium-spa-ita).")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def emulator():
    # one emulator (and its long-lived Apertium pipelines) for the module; terminologies are cleaned per test
    emulator = TranslateEmulator()
    yield emulator
    emulator.close()


@pytest.fixture
def translate(emulator):
    hub = EmulatorHub()
    hub.register(emulator)
    with hub:
        yield boto3.client("translate", region_name="us-east-1")
    # EmulatorHub.__exit__ closes the emulators: pipelines restart lazily on the next use
    emulator.terminologies.clear()


def tr(client, text: str, source: str, target: str, **kwargs) -> dict:
    return client.translate_text(Text=text, SourceLanguageCode=source, TargetLanguageCode=target, **kwargs)


# ---- real translations ---------------------------------------------------------------------------


def test_english_to_spanish_is_a_real_translation(translate):
    response = tr(translate, "The bridge is old. I have a new car.", "en", "es")
    text = response["TranslatedText"]
    assert "puente" in text and "coche" in text and "viejo" in text
    assert response["SourceLanguageCode"] == "en" and response["TargetLanguageCode"] == "es"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("source,target,text,expected", [
    ("en", "es", "The house is big.", "casa"),
    ("es", "en", "El perro come.", "dog"),
    ("en", "it", "The bridge is old.", "ponte"),  # via Spanish
    ("en", "fr", "The bridge is old.", "pont"),  # via Spanish
    ("en", "pt", "The bridge is old.", "ponte"),  # via Spanish
    ("fr", "en", "Le chien mange.", "dog"),  # via Spanish
])
def test_known_words(translate, source, target, text, expected):
    assert expected in tr(translate, text, source, target)["TranslatedText"].lower()


def test_pairs_without_a_direct_mode_pivot_through_spanish(translate, emulator):
    assert [m.name for m in emulator.router.route("en", "fr")] == ["eng-spa", "es-fr"]
    assert [m.name for m in emulator.router.route("en", "pt-PT")] == ["eng-spa", "es-pt"]
    assert [m.name for m in emulator.router.route("en", "pt")][0] == "eng-spa"
    assert len(emulator.router.route("en", "es")) == 1
    text = tr(translate, "The house is big and the car is red.", "en", "fr")["TranslatedText"]
    assert "maison" in text and "voiture" in text and "rouge" in text


def test_a_code_translate_does_not_know_is_translates_error(translate):
    with pytest.raises(translate.exceptions.UnsupportedLanguagePairException) as excinfo:
        tr(translate, "Hello there.", "en", "xx")
    assert excinfo.value.response["Error"]["Message"] == "Unsupported language pair: en to xx."
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # the error shape's own members, where botocore puts them
    assert (excinfo.value.response["SourceLanguageCode"], excinfo.value.response["TargetLanguageCode"]) == ("en", "xx")


def test_a_pair_translate_supports_but_no_installed_pair_covers_says_so(translate, emulator):
    """Amazon Translate translates English to German; offline no Apertium mode does. The error says the
    pair is not installed here, never that Translate refuses it, and is not one botocore retries."""
    assert emulator.router.route("en", "de") is None  # the premise: Debian ships no English-German pair
    with pytest.raises(ClientError) as excinfo:
        tr(translate, "Hello there.", "en", "de")
    error = excinfo.value.response["Error"]
    assert error["Code"] == "OfflineEngineUnavailable"
    assert not isinstance(excinfo.value, translate.exceptions.UnsupportedLanguagePairException)
    assert "en to de is not installed offline" in error["Message"]
    assert "Amazon Translate supports en to de" in error["Message"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert excinfo.value.response["ResponseMetadata"].get("RetryAttempts", 0) == 0


def test_no_unknown_word_marks_and_formatting_survives(translate):
    text = "The flibbertigibbet costs #1 ~ 50% <b> & [x] {y} a\\b @home.\n\nSecond paragraph here."
    out = tr(translate, text, "en", "es")["TranslatedText"]
    assert "*" not in out and "flibbertigibbet" in out
    for kept in ("#1", "~", "50%", "<b>", "&", "[x]", "{y}", "\\b", "@"):
        assert kept in out, kept
    assert "\n\n" in out and out.count("\n") == 2


def test_whitespace_at_the_edges_is_kept(translate):
    out = tr(translate, "  The bridge is old.\n", "en", "es")["TranslatedText"]
    assert out.startswith("  El puente") and out.endswith("\n")


def test_same_language_comes_back_unchanged(translate):
    assert tr(translate, "Keep me as I am.", "en", "en")["TranslatedText"] == "Keep me as I am."


# ---- auto detection ------------------------------------------------------------------------------

needs_detector = pytest.mark.requires(modules=["py3langid"], why="SourceLanguageCode=auto needs py3langid.")



@needs_detector
def test_auto_detects_the_source_language(translate):
    response = tr(translate, "El puente es muy viejo y la casa es nueva.", "auto", "en")
    assert response["SourceLanguageCode"] == "es"
    assert "bridge" in response["TranslatedText"]
    assert tr(translate, "Buongiorno, come stai oggi?", "auto", "es")["SourceLanguageCode"] == "it"


@needs_detector
def test_auto_with_too_little_text_is_low_confidence(translate):
    with pytest.raises(translate.exceptions.DetectedLanguageLowConfidenceException) as excinfo:
        tr(translate, "ok", "auto", "es")
    assert "DetectedLanguageCode" in excinfo.value.response  # the language it would have guessed, if any
    with pytest.raises(translate.exceptions.DetectedLanguageLowConfidenceException):
        tr(translate, "12345 678", "auto", "es")


# ---- limits --------------------------------------------------------------------------------------


def test_text_over_10000_utf8_bytes_is_rejected(translate):
    with pytest.raises(translate.exceptions.TextSizeLimitExceededException) as excinfo:
        tr(translate, "é" * 5001, "en", "es")  # 5,001 characters but 10,002 bytes
    assert "10000 bytes" in excinfo.value.response["Error"]["Message"]
    assert "10002 bytes" in excinfo.value.response["Error"]["Message"]


def test_text_of_exactly_10000_bytes_is_translated(translate):
    sentence = "The bridge is old and the house is new. "
    text = (sentence * (10_000 // len(sentence) + 1))[:10_000]
    assert len(text.encode()) == 10_000
    out = tr(translate, text, "en", "es")["TranslatedText"]
    assert out.count("puente") >= 200


# ---- terminology ---------------------------------------------------------------------------------

CSV = b"en,es,fr\nbridge,viaducto,viaduc\nAmazon Photos,Amazon Photos,Amazon Photos\nbroken row\n"


def test_terminology_lifecycle_and_application(translate):
    imported = translate.import_terminology(Name="brand", MergeStrategy="OVERWRITE", Description="brand terms",
                                            TerminologyData={"File": CSV, "Format": "CSV"})
    props = imported["TerminologyProperties"]
    assert props["Name"] == "brand" and props["SourceLanguageCode"] == "en"
    assert props["TargetLanguageCodes"] == ["es", "fr"]
    assert props["TermCount"] == 2 and props["SkippedTermCount"] == 1
    assert props["Arn"].endswith(":terminology/brand/LATEST")

    response = tr(translate, "The bridge is old. I like Amazon Photos.", "en", "es", TerminologyNames=["brand"])
    assert "viaducto" in response["TranslatedText"] and "Amazon Photos" in response["TranslatedText"]
    assert "puente" not in response["TranslatedText"]
    applied = response["AppliedTerminologies"]
    assert applied[0]["Name"] == "brand"
    assert {"SourceText": "bridge", "TargetText": "viaducto"} in applied[0]["Terms"]

    # case-sensitive, whole words, as Translate matches terms
    response = tr(translate, "The Bridge and the bridges.", "en", "es", TerminologyNames=["brand"])
    assert "viaducto" not in response["TranslatedText"] and response["AppliedTerminologies"][0]["Terms"] == []

    fetched = translate.get_terminology(Name="brand", TerminologyDataFormat="CSV")
    location = fetched["TerminologyDataLocation"]["Location"]
    assert location.startswith("data:text/csv")
    assert base64.b64decode(location.split(",", 1)[1]).decode().splitlines()[1] == "bridge,viaducto,viaduc"

    listed = translate.list_terminologies()["TerminologyPropertiesList"]
    assert [t["Name"] for t in listed] == ["brand"]

    translate.delete_terminology(Name="brand")
    with pytest.raises(translate.exceptions.ResourceNotFoundException):
        tr(translate, "The bridge is old.", "en", "es", TerminologyNames=["brand"])
    with pytest.raises(translate.exceptions.ResourceNotFoundException):
        translate.delete_terminology(Name="brand")


def test_terminology_survives_a_pivot(translate):
    translate.import_terminology(Name="brand", MergeStrategy="OVERWRITE",
                                 TerminologyData={"File": CSV, "Format": "CSV"})
    out = tr(translate, "The bridge is old.", "en", "fr", TerminologyNames=["brand"])
    assert "viaduc" in out["TranslatedText"] and "pont" not in out["TranslatedText"]


def test_multi_directional_tmx_terminology(translate):
    tmx = ('<?xml version="1.0" encoding="UTF-8"?><tmx version="1.4"><header srclang="en"/><body>'
           '<tu><tuv xml:lang="en"><seg>flyover</seg></tuv><tuv xml:lang="es"><seg>viaducto</seg></tuv></tu>'
           '</body></tmx>').encode()
    translate.import_terminology(Name="roads", MergeStrategy="OVERWRITE",
                                 TerminologyData={"File": tmx, "Format": "TMX", "Directionality": "MULTI"})
    out = tr(translate, "El viaducto es viejo.", "es", "en", TerminologyNames=["roads"])
    assert "flyover" in out["TranslatedText"]


def test_hostile_tmx_is_refused(translate):
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><tmx><body>&a;</body></tmx>'
    with pytest.raises(translate.exceptions.InvalidParameterValueException):
        translate.import_terminology(Name="bomb", MergeStrategy="OVERWRITE",
                                     TerminologyData={"File": bomb, "Format": "TMX"})


def test_terminology_persists_in_the_state_dir(tmp_path):
    first = TranslateEmulator(state_dir=tmp_path)
    first.ImportTerminology({"Name": "brand", "MergeStrategy": "OVERWRITE",
                             "TerminologyData": {"File": CSV, "Format": "CSV"}})
    second = TranslateEmulator(state_dir=tmp_path)
    assert second.terminologies["brand"].pairs_for("en", "es")[0] == ("Amazon Photos", "Amazon Photos")


# ---- settings ------------------------------------------------------------------------------------


def test_profanity_mask_and_settings_echo(translate):
    out = tr(translate, "This is shit.", "en", "es", Settings={"Profanity": "MASK", "Formality": "FORMAL"})
    assert "?$#@$" in out["TranslatedText"] and "mierda" not in out["TranslatedText"]
    assert out["AppliedSettings"] == {"Profanity": "MASK", "Formality": "FORMAL"}
    # Formality is not applied to a target Translate does not support it for
    out = tr(translate, "Hello.", "en", "ca", Settings={"Formality": "FORMAL"})
    assert "AppliedSettings" not in out


# ---- engine --------------------------------------------------------------------------------------


def test_stream_escaping_round_trips():
    text = "a\\b [c] ^d$ /e/ @f <g> {h} ~i #j *k\n\nl"
    assert from_stream(to_stream(text)) == text


def test_concurrent_requests_get_their_own_answers(translate):
    results: dict[int, str] = {}

    def work(i: int) -> None:
        client = boto3.client("translate", region_name="us-east-1")
        results[i] = tr(client, f"I have {i} dogs.", "en", "es")["TranslatedText"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(f"{i} perros" in results[i] for i in range(8)), results


def test_a_dead_pipeline_is_restarted(translate, emulator):
    tr(translate, "The pipeline restart test starts here.", "en", "es")  # text no other test sends: it starts one
    pipeline = emulator._pipelines["eng-spa"]
    pipeline._proc.kill()
    pipeline._proc.wait()
    # new text: a hop translated before is answered from the recent hops without the pipeline
    assert "casa" in tr(translate, "The house is old.", "en", "es")["TranslatedText"]


def test_the_fan_out_translates_a_shared_pivot_hop_once(translate, emulator, monkeypatch):
    """es, it and pt of one summary at once: it and pt pivot through Spanish, whose hop is the es request's."""
    from docpipe_local.emulators import translate as module

    exchanges: dict[str, int] = {}
    exchange = module.ApertiumPipeline._exchange

    def counting(self, proc, payload):
        exchanges[self.mode.name] = exchanges.get(self.mode.name, 0) + 1
        return exchange(self, proc, payload)

    monkeypatch.setattr(module.ApertiumPipeline, "_exchange", counting)
    text = "The inspection found a crack in the steel beam of the old bridge."
    results: dict[str, str] = {}

    def work(target: str) -> None:
        results[target] = tr(boto3.client("translate", region_name="us-east-1"), text, "en", target)["TranslatedText"]

    threads = [threading.Thread(target=work, args=(target,)) for target in ("es", "it", "pt")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert "puente" in results["es"] and "ponte" in results["it"] and "ponte" in results["pt"], results
    assert exchanges["eng-spa"] == 1 and exchanges["spa-ita"] == 1, exchanges
    # the same answers as each language translated on its own, later, with nothing shared
    fresh = module.TranslateEmulator()
    try:
        assert all(fresh._translate(text, fresh.router.route("en", target), "en", target, [])[0] == results[target]
                   for target in results)
    finally:
        fresh.close()
