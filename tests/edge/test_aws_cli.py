"""The AWS CLI (v1, from PyPI) against `docpipe serve`, configured only by AWS_ENDPOINT_URL and keys."""

import json
import subprocess
import time

from tests.conftest import SAMPLES
from tests.edge.conftest import BUCKET


def wait_for_execution(aws, machine_arn: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = json.loads(aws("stepfunctions", "list-executions", "--state-machine-arn", machine_arn).stdout)
        executions = listed["executions"]
        if executions and all(e["status"] != "RUNNING" for e in executions):
            return executions[0]
        time.sleep(1)
    raise TimeoutError("the execution did not finish")


def test_s3_cp_into_the_inbox_runs_the_pipeline_and_its_outputs_appear(aws, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("The river crossing was inspected in March. The north pier needs new bearings before winter.\n"
                    "Traffic may continue on both lanes while the work is planned.\n")
    aws("s3", "cp", str(note), f"s3://{BUCKET}/inbox/note.txt")
    machines = json.loads(aws("stepfunctions", "list-state-machines").stdout)["stateMachines"]
    pipeline = next(m["stateMachineArn"] for m in machines if m["name"].endswith("document-pipeline"))
    execution = wait_for_execution(aws, pipeline)
    assert execution["status"] == "SUCCEEDED"
    described = json.loads(aws("stepfunctions", "describe-execution", "--execution-arn",
                               execution["executionArn"]).stdout)
    event = json.loads(described["input"])
    assert event["detail-type"] == "Object Created" and event["detail"]["object"]["key"] == "inbox/note.txt"
    output = json.loads(described["output"])
    listing = aws("s3", "ls", f"s3://{BUCKET}/{output['manifest'].rsplit('/', 1)[0]}/").stdout
    assert "manifest.json" in listing and "summary.md" in listing
    aws("s3", "cp", f"s3://{BUCKET}/{output['manifest']}", str(tmp_path / "manifest.json"))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "SUCCEEDED" and manifest["source"]["key"] == "inbox/note.txt"


def test_textract_detect_document_text_reads_an_image_from_s3(aws, tmp_path):
    page = tmp_path / "page.png"
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 200), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    ImageDraw.Draw(image).text((30, 70), "Harbor Bridge inspection", fill="black", font=font)
    image.save(page)
    aws("s3", "cp", str(page), f"s3://{BUCKET}/scans/page.png")
    done = aws("textract", "detect-document-text", "--document",
               json.dumps({"S3Object": {"Bucket": BUCKET, "Name": "scans/page.png"}}))
    blocks = json.loads(done.stdout)["Blocks"]
    lines = [b["Text"] for b in blocks if b["BlockType"] == "LINE"]
    assert lines == ["Harbor Bridge inspection"]
    assert {b["BlockType"] for b in blocks} == {"PAGE", "LINE", "WORD"}


def test_bedrock_runtime_converse(aws):
    done = aws("bedrock-runtime", "converse", "--model-id", "amazon.nova-lite-v1:0",
               "--messages", json.dumps([{"role": "user", "content": [{"text": "Name a colour."}]}]),
               "--inference-config", json.dumps({"maxTokens": 16, "temperature": 0}))
    answer = json.loads(done.stdout)
    assert answer["output"]["message"]["role"] == "assistant"
    assert answer["output"]["message"]["content"][0]["text"].strip()
    assert answer["usage"]["outputTokens"] <= 16 and answer["stopReason"] in ("end_turn", "max_tokens")


def test_bedrock_runtime_refuses_what_bedrock_refuses(aws):
    done = aws("bedrock-runtime", "converse", "--model-id", "amazon.titan-embed-text-v2:0",
               "--messages", json.dumps([{"role": "user", "content": [{"text": "hi"}]}]), check=False)
    assert done.returncode != 0 and "ValidationException" in done.stderr


def test_translate_translate_text(aws):
    done = aws("translate", "translate-text", "--text", "The house is red.", "--source-language-code", "en",
               "--target-language-code", "es")
    translated = json.loads(done.stdout)
    assert translated["TranslatedText"] == "La casa es roja." and translated["TargetLanguageCode"] == "es"


def test_translate_error_carries_the_modeled_fields(aws):
    done = aws("translate", "translate-text", "--text", "hello", "--source-language-code", "en",
               "--target-language-code", "xx", check=False)
    assert done.returncode != 0 and "UnsupportedLanguagePairException" in done.stderr


def test_polly_synthesize_speech_writes_a_playable_mp3(aws, tmp_path):
    audio = tmp_path / "hello.mp3"
    done = aws("polly", "synthesize-speech", "--output-format", "mp3", "--voice-id", "Joanna",
               "--text", "Hello from the offline cloud. This sentence takes a couple of seconds to say.", str(audio))
    assert json.loads(done.stdout)["ContentType"] == "audio/mpeg"
    data = audio.read_bytes()
    assert data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)  # ID3 tag or an MPEG frame sync
    seconds = float(subprocess.run(["soxi", "-D", str(audio)], capture_output=True, text=True, check=True).stdout)
    assert 1.5 < seconds < 15


def test_stepfunctions_list_state_machines_and_executions(aws):
    machines = json.loads(aws("stepfunctions", "list-state-machines").stdout)["stateMachines"]
    assert {m["name"].rsplit("-", 2)[-2] + "-" + m["name"].rsplit("-", 1)[-1] for m in machines} >= {
        "document-pipeline", "batch-generation"}
    for machine in machines:
        listed = json.loads(aws("stepfunctions", "list-executions", "--state-machine-arn",
                                machine["stateMachineArn"]).stdout)
        assert isinstance(listed["executions"], list)
