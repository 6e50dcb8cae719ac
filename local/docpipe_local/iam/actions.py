"""What IAM authorizes for one AWS API call: actions, resource ARNs, condition keys, and KMS use.

`needs(service, operation, params)` answers from the call's own parameters (the dict botocore builds the
request from), as the Service Authorization Reference describes each operation: S3 HeadObject is
authorized as s3:GetObject (s3:GetObjectVersion with a VersionId), ListObjectsV2 as s3:ListBucket with
s3:prefix, CopyObject as GetObject on the source and PutObject on the target, Converse as
bedrock:InvokeModel (plus bedrock:ApplyGuardrail on its guardrail), a create with Tags also as AddTags
with aws:RequestTag/aws:TagKeys, a role in the request as iam:PassRole with iam:PassedToService.

`kms` on a need says what the service asks KMS for on the caller's behalf when the resource is encrypted
with a customer managed key (reading S3 objects: Decrypt; writing: GenerateDataKey); which key encrypts a
resource is the template's business (iam.template). An operation with no entry here is an error, so a new
call cannot slip past the contract unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from docpipe_local.template import ACCOUNT_ID, REGION

DECRYPT, ENCRYPT = "kms:Decrypt", "kms:GenerateDataKey"


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)
    kms: str | None = None  # kms:Decrypt or kms:GenerateDataKey when the resource is KMS-encrypted


class UnmappedCall(LookupError):
    """A call this module cannot translate into IAM terms (add it to OPERATIONS)."""


def _arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT_ID) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


# --- S3 -------------------------------------------------------------------------------------------------
def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _read_object(p: dict) -> list[Need]:
    action = "s3:GetObjectVersion" if p.get("VersionId") else "s3:GetObject"
    return [Need(action, _object(p["Bucket"], p["Key"]), kms=DECRYPT)]


def _head_object(p: dict) -> list[Need]:  # metadata only: no KMS
    action = "s3:GetObjectVersion" if p.get("VersionId") else "s3:GetObject"
    return [Need(action, _object(p["Bucket"], p["Key"]))]


def _put_object(p: dict) -> list[Need]:
    return [Need("s3:PutObject", _object(p["Bucket"], p["Key"]), kms=ENCRYPT)]


def _delete_object(p: dict) -> list[Need]:
    action = "s3:DeleteObjectVersion" if p.get("VersionId") else "s3:DeleteObject"
    return [Need(action, _object(p["Bucket"], p["Key"]))]


def _copy_object(p: dict) -> list[Need]:
    source = p["CopySource"]
    if isinstance(source, str):
        path, _, query = source.lstrip("/").partition("?versionId=")
        bucket, _, key = path.partition("/")
        source = {"Bucket": bucket, "Key": key, **({"VersionId": query} if query else {})}
    return _read_object(source) + _put_object(p)


def _list_bucket(p: dict) -> list[Need]:
    context = {"s3:prefix": [p["Prefix"]]} if p.get("Prefix") is not None else {}
    return [Need("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", context)]


def _list_bucket_versions(p: dict) -> list[Need]:
    context = {"s3:prefix": [p["Prefix"]]} if p.get("Prefix") is not None else {}
    return [Need("s3:ListBucketVersions", f"arn:aws:s3:::{p['Bucket']}", context)]


# --- DynamoDB --------------------------------------------------------------------------------------------
def _table(name: str) -> str:
    return name if name.startswith("arn:") else _arn("dynamodb", f"table/{name}")


def _item_op(action: str) -> Callable[[dict], list[Need]]:
    def need(p: dict) -> list[Need]:
        table = _table(p["TableName"])
        if p.get("IndexName"):
            table = f"{table}/index/{p['IndexName']}"
        return [Need(action, table, kms=DECRYPT)]
    return need


def _batch_op(action: str, key: str) -> Callable[[dict], list[Need]]:
    return lambda p: [Need(action, _table(name), kms=DECRYPT) for name in p[key]]


# --- Bedrock ---------------------------------------------------------------------------------------------
def model_arn(model_id: str) -> str:
    """A model id as Bedrock authorizes it: a foundation model, or an inference profile of this account."""
    if model_id.startswith("arn:"):
        return model_id
    prefix = model_id.split(".", 1)[0]
    if prefix in ("us", "eu", "apac", "us-gov", "global", "jp", "au", "ca"):  # cross-Region inference profiles
        return _arn("bedrock", f"inference-profile/{model_id}")
    return f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}"


def _guardrail_arn(identifier: str) -> str:
    return identifier if identifier.startswith("arn:") else _arn("bedrock", f"guardrail/{identifier}")


def _invoke_model(action: str) -> Callable[[dict], list[Need]]:
    def need(p: dict) -> list[Need]:
        needs = [Need(action, model_arn(p["modelId"]))]
        guardrail = p.get("guardrailConfig") or (
            {"guardrailIdentifier": p["guardrailIdentifier"]} if p.get("guardrailIdentifier") else None)
        if guardrail:
            needs.append(Need("bedrock:ApplyGuardrail", _guardrail_arn(guardrail["guardrailIdentifier"])))
        return needs
    return need


def _apply_guardrail(p: dict) -> list[Need]:
    return [Need("bedrock:ApplyGuardrail", _guardrail_arn(p["guardrailIdentifier"]))]


def _pass_role(role_arn: str, service: str) -> Need:
    return Need("iam:PassRole", role_arn, {"iam:PassedToService": [service]})


def _tag_context(tags: list[dict] | None) -> dict[str, list[str]]:
    """aws:RequestTag/<key> and aws:TagKeys for Tags given as [{Key, Value}]."""
    pairs = {t["Key"]: t["Value"] for t in tags or []}
    context = {f"aws:RequestTag/{k}": [v] for k, v in pairs.items()}
    if pairs:
        context["aws:TagKeys"] = list(pairs)
    return context


def _create_batch_job(p: dict) -> list[Need]:
    job = _arn("bedrock", f"model-invocation-job/{p['jobName']}")
    context = _tag_context([{"Key": t["key"], "Value": t["value"]} for t in p.get("tags", [])])
    needs = [Need("bedrock:CreateModelInvocationJob", job, context),
             Need("bedrock:CreateModelInvocationJob", model_arn(p["modelId"]), context),
             _pass_role(p["roleArn"], "bedrock.amazonaws.com")]
    if p.get("tags"):
        needs.append(Need("bedrock:TagResource", job, context))
    return needs


# --- S3 Vectors ------------------------------------------------------------------------------------------
def _vector_index(p: dict) -> str:
    if p.get("indexArn"):
        return p["indexArn"]
    return _arn("s3vectors", f"bucket/{p['vectorBucketName']}/index/{p['indexName']}")


def _query_vectors(p: dict) -> list[Need]:
    index = _vector_index(p)
    needs = [Need("s3vectors:QueryVectors", index, kms=DECRYPT)]
    if p.get("returnMetadata") or p.get("filter") is not None:  # AWS: metadata and filters also need GetVectors
        needs.append(Need("s3vectors:GetVectors", index, kms=DECRYPT))
    return needs


# --- SageMaker -------------------------------------------------------------------------------------------
def sagemaker_arn(kind: str, name: str) -> str:
    return _arn("sagemaker", f"{kind}/{name.lower()}")  # SageMaker ARNs carry names in lower case


def _sagemaker_create(action: str, kind: str, name_key: str, role_key: str | None = None
                      ) -> Callable[[dict], list[Need]]:
    def need(p: dict) -> list[Need]:
        arn, context = sagemaker_arn(kind, p[name_key]), _tag_context(p.get("Tags"))
        needs = [Need(action, arn, context)]
        if p.get("Tags"):
            needs.append(Need("sagemaker:AddTags", arn, context))
        role = p.get(role_key) if role_key else None
        if role:
            needs.append(_pass_role(role, "sagemaker.amazonaws.com"))
        return needs
    return need


def _sagemaker_named(action: str, kind: str, name_key: str) -> Callable[[dict], list[Need]]:
    return lambda p: [Need(action, sagemaker_arn(kind, p[name_key]))]


def _create_model_package(p: dict) -> list[Need]:
    group = p["ModelPackageGroupName"]
    return [Need("sagemaker:CreateModelPackage", sagemaker_arn("model-package", f"{group}/1"))]


def _anywhere(action: str) -> Callable[[dict], list[Need]]:
    """Actions with no resource-level permissions (Textract, Translate, Polly synthesis, List*)."""
    return lambda p: [Need(action, "*")]


def _textract(action: str, location_key: str) -> Callable[[dict], list[Need]]:
    def need(p: dict) -> list[Need]:  # Textract reads the S3 object with the caller's permissions
        s3_object = (p.get(location_key) or {}).get("S3Object")
        needs = [Need(action, "*")]
        if s3_object:
            needs += _read_object({"Bucket": s3_object["Bucket"], "Key": s3_object["Name"],
                                   "VersionId": s3_object.get("Version")})
        return needs
    return need


def _polly_task(p: dict) -> list[Need]:  # Polly writes the task's output with the caller's permissions
    key = f"{p.get('OutputS3KeyPrefix', '')}<task-id>.{p.get('OutputFormat', 'mp3')}"
    return [Need("polly:StartSpeechSynthesisTask", "*"), *_put_object({"Bucket": p["OutputS3BucketName"], "Key": key})]


def _translate(p: dict) -> list[Need]:
    needs = [Need("translate:TranslateText", "*")]
    needs += [Need("translate:GetTerminology", _arn("translate", f"terminology/{name}"))
              for name in p.get("TerminologyNames", [])]
    return needs


def _execution(action: str, key: str) -> Callable[[dict], list[Need]]:
    return lambda p: [Need(action, p[key])]


def _invoke_function(p: dict) -> list[Need]:
    name = p["FunctionName"]
    arn = name if name.startswith("arn:") else _arn("lambda", f"function:{name}")
    return [Need("lambda:InvokeFunction", arn)]


OPERATIONS: dict[tuple[str, str], Callable[[dict], list[Need]]] = {
    ("s3", "GetObject"): _read_object,
    ("s3", "HeadObject"): _head_object,
    ("s3", "PutObject"): _put_object,
    ("s3", "DeleteObject"): _delete_object,
    ("s3", "CopyObject"): _copy_object,
    ("s3", "ListObjectsV2"): _list_bucket,
    ("s3", "ListObjects"): _list_bucket,
    ("s3", "ListObjectVersions"): _list_bucket_versions,
    ("dynamodb", "GetItem"): _item_op("dynamodb:GetItem"),
    ("dynamodb", "PutItem"): _item_op("dynamodb:PutItem"),
    ("dynamodb", "UpdateItem"): _item_op("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): _item_op("dynamodb:DeleteItem"),
    ("dynamodb", "Query"): _item_op("dynamodb:Query"),
    ("dynamodb", "Scan"): _item_op("dynamodb:Scan"),
    ("dynamodb", "BatchGetItem"): _batch_op("dynamodb:BatchGetItem", "RequestItems"),
    ("dynamodb", "BatchWriteItem"): _batch_op("dynamodb:BatchWriteItem", "RequestItems"),
    ("bedrock-runtime", "InvokeModel"): _invoke_model("bedrock:InvokeModel"),
    ("bedrock-runtime", "InvokeModelWithResponseStream"): _invoke_model("bedrock:InvokeModelWithResponseStream"),
    ("bedrock-runtime", "Converse"): _invoke_model("bedrock:InvokeModel"),
    ("bedrock-runtime", "ConverseStream"): _invoke_model("bedrock:InvokeModelWithResponseStream"),
    ("bedrock-runtime", "ApplyGuardrail"): _apply_guardrail,
    ("bedrock", "CreateModelInvocationJob"): _create_batch_job,
    ("bedrock", "GetModelInvocationJob"): lambda p: [Need("bedrock:GetModelInvocationJob", p["jobIdentifier"])],
    ("s3vectors", "PutVectors"): lambda p: [Need("s3vectors:PutVectors", _vector_index(p), kms=ENCRYPT)],
    ("s3vectors", "DeleteVectors"): lambda p: [Need("s3vectors:DeleteVectors", _vector_index(p))],
    ("s3vectors", "GetVectors"): lambda p: [Need("s3vectors:GetVectors", _vector_index(p), kms=DECRYPT)],
    ("s3vectors", "QueryVectors"): _query_vectors,
    ("textract", "DetectDocumentText"): _textract("textract:DetectDocumentText", "Document"),
    ("textract", "AnalyzeDocument"): _textract("textract:AnalyzeDocument", "Document"),
    ("textract", "StartDocumentTextDetection"): _textract("textract:StartDocumentTextDetection", "DocumentLocation"),
    ("textract", "GetDocumentTextDetection"): _anywhere("textract:GetDocumentTextDetection"),
    ("translate", "TranslateText"): _translate,
    ("polly", "SynthesizeSpeech"): _anywhere("polly:SynthesizeSpeech"),
    ("polly", "DescribeVoices"): _anywhere("polly:DescribeVoices"),
    ("polly", "StartSpeechSynthesisTask"): _polly_task,
    ("polly", "GetSpeechSynthesisTask"): _anywhere("polly:GetSpeechSynthesisTask"),
    ("sagemaker", "CreateTrainingJob"): _sagemaker_create("sagemaker:CreateTrainingJob", "training-job",
                                                          "TrainingJobName", "RoleArn"),
    ("sagemaker", "DescribeTrainingJob"): _sagemaker_named("sagemaker:DescribeTrainingJob", "training-job",
                                                           "TrainingJobName"),
    ("sagemaker", "DescribeModelPackageGroup"): _sagemaker_named("sagemaker:DescribeModelPackageGroup",
                                                                 "model-package-group", "ModelPackageGroupName"),
    ("sagemaker", "CreateModelPackageGroup"): _sagemaker_create("sagemaker:CreateModelPackageGroup",
                                                                "model-package-group", "ModelPackageGroupName"),
    ("sagemaker", "CreateModelPackage"): _create_model_package,
    ("sagemaker", "ListEndpoints"): _anywhere("sagemaker:ListEndpoints"),
    ("sagemaker", "ListInferenceComponents"): _anywhere("sagemaker:ListInferenceComponents"),
    ("sagemaker", "ListTags"): lambda p: [Need("sagemaker:ListTags", p["ResourceArn"])],
    ("sagemaker", "DescribeEndpoint"): _sagemaker_named("sagemaker:DescribeEndpoint", "endpoint", "EndpointName"),
    ("sagemaker", "DescribeEndpointConfig"): _sagemaker_named("sagemaker:DescribeEndpointConfig", "endpoint-config",
                                                              "EndpointConfigName"),
    ("sagemaker", "DescribeInferenceComponent"): _sagemaker_named("sagemaker:DescribeInferenceComponent",
                                                                  "inference-component", "InferenceComponentName"),
    ("sagemaker", "UpdateInferenceComponentRuntimeConfig"): _sagemaker_named(
        "sagemaker:UpdateInferenceComponentRuntimeConfig", "inference-component", "InferenceComponentName"),
    ("sagemaker", "CreateEndpoint"): _sagemaker_create("sagemaker:CreateEndpoint", "endpoint", "EndpointName"),
    ("sagemaker", "CreateEndpointConfig"): _sagemaker_create("sagemaker:CreateEndpointConfig", "endpoint-config",
                                                             "EndpointConfigName", "ExecutionRoleArn"),
    ("sagemaker", "DeleteEndpoint"): _sagemaker_named("sagemaker:DeleteEndpoint", "endpoint", "EndpointName"),
    ("sagemaker-runtime", "InvokeEndpoint"): _sagemaker_named("sagemaker:InvokeEndpoint", "endpoint", "EndpointName"),
    ("cloudwatch", "GetMetricStatistics"): _anywhere("cloudwatch:GetMetricStatistics"),
    ("application-auto-scaling", "DescribeScalableTargets"): _anywhere("application-autoscaling:DescribeScalableTargets"),
    ("sfn", "GetExecutionHistory"): _execution("states:GetExecutionHistory", "executionArn"),
    ("sfn", "DescribeExecution"): _execution("states:DescribeExecution", "executionArn"),
    ("sfn", "StartExecution"): _execution("states:StartExecution", "stateMachineArn"),
    ("lambda", "Invoke"): _invoke_function,
}


def needs(service: str, operation: str, params: dict) -> list[Need]:
    try:
        translate = OPERATIONS[(service, operation)]
    except KeyError:
        raise UnmappedCall(f"{service}.{operation} has no IAM mapping: add it to docpipe_local/iam/actions.py "
                           "(its actions, resource ARNs and condition keys, from the Service Authorization "
                           "Reference)") from None
    return translate(params)
