"""API calls in IAM terms, as the Service Authorization Reference describes them."""

import pytest

from docpipe_local.iam.actions import DECRYPT, ENCRYPT, UnmappedCall, needs

BUCKET = "docs"


def test_s3_reads_writes_copies_and_lists():
    assert [(n.action, n.resource, n.kms) for n in needs("s3", "GetObject", {"Bucket": BUCKET, "Key": "a/b"})] == \
        [("s3:GetObject", "arn:aws:s3:::docs/a/b", DECRYPT)]
    versioned = needs("s3", "HeadObject", {"Bucket": BUCKET, "Key": "k", "VersionId": "v1"})
    assert [(n.action, n.kms) for n in versioned] == [("s3:GetObjectVersion", None)]  # metadata: no KMS
    copy = needs("s3", "CopyObject", {"Bucket": BUCKET, "Key": "out/x", "CopySource": {"Bucket": BUCKET, "Key": "work/x"}})
    assert [(n.action, n.resource, n.kms) for n in copy] == [
        ("s3:GetObject", "arn:aws:s3:::docs/work/x", DECRYPT), ("s3:PutObject", "arn:aws:s3:::docs/out/x", ENCRYPT)]
    listed = needs("s3", "ListObjectsV2", {"Bucket": BUCKET, "Prefix": "work/batch/j/"})[0]
    assert (listed.action, listed.resource, listed.context) == ("s3:ListBucket", "arn:aws:s3:::docs",
                                                                {"s3:prefix": ["work/batch/j/"]})
    deleted = needs("s3", "DeleteObject", {"Bucket": BUCKET, "Key": "k", "VersionId": "v"})[0]
    assert deleted.action == "s3:DeleteObjectVersion"


def test_converse_is_invoke_model_plus_the_guardrail_it_names():
    found = needs("bedrock-runtime", "Converse", {"modelId": "amazon.nova-lite-v1:0", "messages": [],
                                                  "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"}})
    assert [(n.action, n.resource) for n in found] == [
        ("bedrock:InvokeModel", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"),
        ("bedrock:ApplyGuardrail", "arn:aws:bedrock:us-east-1:123456789012:guardrail/g1")]
    stream = needs("bedrock-runtime", "ConverseStream", {"modelId": "us.amazon.nova-lite-v1:0", "messages": []})
    assert [(n.action, n.resource) for n in stream] == [
        ("bedrock:InvokeModelWithResponseStream",
         "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0")]


def test_batch_inference_job_needs_the_model_and_passes_its_role_to_bedrock():
    found = needs("bedrock", "CreateModelInvocationJob", {
        "jobName": "j", "modelId": "amazon.nova-micro-v1:0", "roleArn": "arn:aws:iam::123456789012:role/r",
        "inputDataConfig": {}, "outputDataConfig": {}})
    assert [(n.action, n.resource, n.context) for n in found] == [
        ("bedrock:CreateModelInvocationJob", "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/j", {}),
        ("bedrock:CreateModelInvocationJob", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0", {}),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/r", {"iam:PassedToService": ["bedrock.amazonaws.com"]})]


def test_sagemaker_creates_with_tags_also_need_add_tags_with_the_request_tags():
    found = needs("sagemaker", "CreateEndpoint", {"EndpointName": "Legacy-Idle", "EndpointConfigName": "c",
                                                  "Tags": [{"Key": "docpipe:idle-reaper", "Value": "enabled"}]})
    assert [n.action for n in found] == ["sagemaker:CreateEndpoint", "sagemaker:AddTags"]
    assert found[0].resource.endswith(":endpoint/legacy-idle")  # SageMaker ARNs carry names in lower case
    assert found[1].context == {"aws:RequestTag/docpipe:idle-reaper": ["enabled"], "aws:TagKeys": ["docpipe:idle-reaper"]}


def test_vectors_query_with_metadata_also_needs_get_vectors():
    query = {"vectorBucketName": "v", "indexName": "i", "topK": 3, "queryVector": {"float32": [0.1]},
             "returnMetadata": True}
    assert [n.action for n in needs("s3vectors", "QueryVectors", query)] == ["s3vectors:QueryVectors",
                                                                            "s3vectors:GetVectors"]
    assert needs("s3vectors", "PutVectors", {"vectorBucketName": "v", "indexName": "i", "vectors": []})[0].kms == ENCRYPT


def test_textract_reads_the_object_with_the_callers_permissions():
    found = needs("textract", "DetectDocumentText", {"Document": {"S3Object": {"Bucket": BUCKET, "Name": "inbox/x.png"}}})
    assert [(n.action, n.resource) for n in found] == [("textract:DetectDocumentText", "*"),
                                                       ("s3:GetObject", "arn:aws:s3:::docs/inbox/x.png")]


def test_an_operation_without_a_mapping_is_an_error_not_a_pass():
    with pytest.raises(UnmappedCall, match="s3.DeleteBucket has no IAM mapping"):
        needs("s3", "DeleteBucket", {"Bucket": BUCKET})
