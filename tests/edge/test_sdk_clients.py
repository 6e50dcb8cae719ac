"""SDKs against `docpipe serve`: boto3 in a process of its own configured only by environment variables,
boto3 here, and localstack-client (with the gaps it has)."""

import json
import subprocess
import sys
import textwrap

import pytest

from tests.edge.conftest import BUCKET

BOTO3_ONLY_BY_ENVIRONMENT = textwrap.dedent('''
    import json, boto3
    s3 = boto3.client("s3")  # no endpoint_url, no keys in code: AWS_ENDPOINT_URL and friends
    s3.put_object(Bucket="%s", Key="notes/from-boto3.txt", Body=b"written by another process")
    body = s3.get_object(Bucket="%s", Key="notes/from-boto3.txt")["Body"].read().decode()
    translated = boto3.client("translate").translate_text(
        Text="Good morning", SourceLanguageCode="en", TargetLanguageCode="ca")["TranslatedText"]
    vectors = boto3.client("s3vectors").list_vector_buckets()["vectorBuckets"]
    print(json.dumps({"endpoint": s3.meta.endpoint_url, "body": body, "translated": translated,
                      "vector_buckets": [v["vectorBucketName"] for v in vectors]}))
''' % (BUCKET, BUCKET))


def test_boto3_in_another_process_configured_only_by_aws_endpoint_url(served):
    done = subprocess.run([sys.executable, "-c", BOTO3_ONLY_BY_ENVIRONMENT], env=served.client_env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["endpoint"] == served.url
    assert answer["body"] == "written by another process"
    assert answer["translated"] == "Bon dia"
    assert answer["vector_buckets"]  # the template's vector bucket, provisioned by the served runtime


def test_converse_stream_sends_the_answer_in_pieces_as_the_model_decodes(client):
    bedrock = client("bedrock-runtime")
    request = {"modelId": "amazon.nova-lite-v1:0",
               "messages": [{"role": "user", "content": [{"text": "List three fruits."}]}],
               "inferenceConfig": {"maxTokens": 40, "temperature": 0}}
    whole = bedrock.converse(**request)
    events = list(bedrock.converse_stream(**request)["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert len(deltas) > 3  # token by token, not one block at the end
    assert "".join(deltas) == whole["output"]["message"]["content"][0]["text"]
    assert events[-1]["metadata"]["usage"] == whole["usage"]


def test_converse_stream_validation_errors_come_before_the_stream(client):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        client("bedrock-runtime").converse_stream(
            modelId="amazon.nova-lite-v1:0", messages=[{"role": "assistant", "content": [{"text": "hi"}]}])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_dynamodb_sqs_and_events_answer_through_moto(client):
    tables = client("dynamodb").list_tables()["TableNames"]
    assert tables  # the template's tables (idempotency, caches...)
    queue = client("sqs").create_queue(QueueName="edge-test")["QueueUrl"]
    client("sqs").send_message(QueueUrl=queue, MessageBody="hello")
    assert client("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "hello"
    assert client("events").list_event_buses()["EventBuses"]


LOCALSTACK_CLIENT = textwrap.dedent('''
    import json, os
    import localstack_client.session as session
    s = session.Session()
    buckets = [b["Name"] for b in s.client("s3").list_buckets()["Buckets"]]
    machines = [m["name"] for m in s.client("stepfunctions").list_state_machines()["stateMachines"]]
    tables = s.client("dynamodb").list_tables()["TableNames"]
    print(json.dumps({"buckets": buckets, "machines": machines, "tables": tables}))
''')


def test_localstack_client_reaches_the_services_it_knows(served):
    env = {**served.client_env}
    del env["AWS_ENDPOINT_URL"]  # localstack-client's own way: LOCALSTACK_HOST
    env["LOCALSTACK_HOST"] = served.url.removeprefix("http://")
    done = subprocess.run([sys.executable, "-c", LOCALSTACK_CLIENT], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert BUCKET in answer["buckets"]
    assert any(name.endswith("document-pipeline") for name in answer["machines"]) and answer["tables"]


LOCALSTACK_GAPS = textwrap.dedent('''
    import json, boto3
    import localstack_client.config as config
    import localstack_client.patch as patch
    known = set(config.get_service_endpoints())
    patch.enable_local_endpoints()
    textract = boto3.client("textract", region_name="us-east-1")
    print(json.dumps({"known": sorted(known), "textract": textract.meta.endpoint_url}))
''')


def test_localstack_client_lacks_the_ai_services_and_sends_textract_to_real_aws(served):
    """README, "docpipe serve": use AWS_ENDPOINT_URL for these, not localstack-client."""
    env = {**served.client_env}
    del env["AWS_ENDPOINT_URL"]
    done = subprocess.run([sys.executable, "-c", LOCALSTACK_GAPS], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert not {"bedrock-runtime", "textract", "translate", "polly", "s3vectors"} & set(answer["known"])
    assert answer["textract"] == "https://textract.us-east-1.amazonaws.com"
