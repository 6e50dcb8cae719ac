"""The emulator mechanism: validated requests only, modeled errors, reproducible fault injection."""

import boto3
import pytest
from botocore.exceptions import ParamValidationError

from docpipe_local.emulators.base import Emulator, EmulatorHub, FaultInjector, ServiceError, parse_faults


class Echo(Emulator):
    service = "translate"

    def TranslateText(self, params):
        if params["Text"] == "too long":
            raise ServiceError("TextSizeLimitExceededException", "Input text size exceeds limit.")
        return {"TranslatedText": params["Text"][::-1], "SourceLanguageCode": params["SourceLanguageCode"],
                "TargetLanguageCode": params["TargetLanguageCode"]}


def client():
    return boto3.client("translate", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


def test_answers_only_valid_requests_and_raises_modeled_errors():
    with EmulatorHub() as hub:
        hub.register(Echo())
        translate = client()
        assert translate.translate_text(Text="abc", SourceLanguageCode="en", TargetLanguageCode="es")["TranslatedText"] == "cba"
        with pytest.raises(ParamValidationError):
            translate.translate_text(Text="abc", SourceLanguageCode="en")
        with pytest.raises(translate.exceptions.TextSizeLimitExceededException):
            translate.translate_text(Text="too long", SourceLanguageCode="en", TargetLanguageCode="es")
        assert hub.count("translate", "TranslateText") == 2  # the invalid request never reached it


def test_an_answered_request_is_validated_but_not_serialized():
    bodies = []

    def seen(params, model, **_):
        bodies.append(params["body"])
        if model.name == "ListTerminologies":  # not emulated: stop it before it is sent anywhere
            raise LookupError("not sent")

    translate = client()
    translate.meta.events.register_first("before-call.translate.*", seen)
    with EmulatorHub() as hub:
        hub.register(Echo())
        translate.translate_text(Text="abc", SourceLanguageCode="en", TargetLanguageCode="es")
        with pytest.raises(LookupError):
            translate.list_terminologies(MaxResults=5)
    assert bodies[0] == b""
    assert b'"MaxResults": 5' in bodies[1]  # botocore's JSON body


def test_faults_are_parsed_and_reproducible():
    faults = parse_faults("translate.TranslateText=ThrottlingException@0.5; textract.*=InternalServerError@1")
    assert faults[1].status == 500 and faults[1].applies("textract", "DetectDocumentText")
    outcomes = []
    for _ in range(2):
        injector, seen = FaultInjector(faults, seed=7), []
        for _ in range(20):
            try:
                injector.check("translate", "TranslateText")
                seen.append(False)
            except ServiceError as err:
                assert err.code == "ThrottlingException"
                seen.append(True)
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1] and 3 < sum(outcomes[0]) < 17


def test_injected_faults_reach_the_caller_as_service_errors():
    with EmulatorHub(FaultInjector(parse_faults("translate.*=ThrottlingException@1"))) as hub:
        hub.register(Echo())
        translate = client()
        with pytest.raises(translate.exceptions.ClientError, match="ThrottlingException"):
            translate.translate_text(Text="abc", SourceLanguageCode="en", TargetLanguageCode="es")


@pytest.mark.parametrize("spec", ["nonsense", "translate.X=Code@2", "translate=Code@0.1"])
def test_bad_fault_specs_are_refused(spec):
    with pytest.raises(ValueError):
        parse_faults(spec)


def test_only_one_hub_at_a_time():
    with EmulatorHub():
        with pytest.raises(RuntimeError):
            EmulatorHub().__enter__()


class Recorder(Emulator):
    """Keeps what it was handed, and rewrites it, as an emulator may."""

    service = "translate"

    def __init__(self):
        self.seen = None

    def TranslateText(self, params):
        self.seen = params
        params["Settings"]["Formality"] = "INFORMAL"
        params["TerminologyNames"].append("added")
        return {"TranslatedText": params["Text"], "SourceLanguageCode": "en", "TargetLanguageCode": "es"}


def test_an_emulator_gets_its_own_copy_of_the_request():
    request = {"Text": "abc", "SourceLanguageCode": "en", "TargetLanguageCode": "es",
               "TerminologyNames": ["glossary"], "Settings": {"Formality": "FORMAL", "Profanity": "MASK"}}
    with EmulatorHub() as hub:
        recorder = hub.register(Recorder())
        client().translate_text(**request)
    assert recorder.seen["TerminologyNames"] == ["glossary", "added"]  # the emulator saw the request
    assert request["Settings"] == {"Formality": "FORMAL", "Profanity": "MASK"}  # the caller's is untouched
    assert request["TerminologyNames"] == ["glossary"]
