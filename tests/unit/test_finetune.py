"""Fine-tuning without training: dataset rules with line numbers, the estimate, the Neuron job request checked
against botocore's model of CreateTrainingJob, and the poll loop's decisions."""

import json

import boto3
import pytest
from botocore.validate import ParamValidator

from docpipe.finetune import (FineTuneSettings, estimate_training, hyperparameters, is_retryable,
                              training_job_request, validate_dataset)
from tests.conftest import SAMPLES

DATASETS = SAMPLES / "finetune"


def test_a_dataset_with_bad_rows_is_rejected_with_line_numbers():
    report, _, _ = validate_dataset((DATASETS / "bad_rows.jsonl").read_bytes(), FineTuneSettings())
    reasons = {row.line: row.reason for row in report.rejected}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert "not valid JSON" in reasons[2]
    assert reasons[3] == "prompt is empty"
    assert reasons[4] == "duplicate of line 1"
    assert "robot" in reasons[5]
    assert "neither chat form" in reasons[6]
    assert reasons[7] == "empty line"
    assert "96-token" in reasons[8]
    assert "at least two messages" in reasons[9]
    assert not report.ok and report.duplicates == 1
    assert report.summary().startswith("8 of 10 rows rejected: line 2: not valid JSON")


def test_the_shipped_dataset_is_accepted_and_split_deterministically():
    data = (DATASETS / "bridge_qa.jsonl").read_bytes()
    report, train, validation = validate_dataset(data, FineTuneSettings())
    assert report.ok and report.accepted == 30 and report.form == "mixed"
    assert len(train) + len(validation) == 30 and 3 <= len(validation) <= 12
    assert not set(train) & set(validation)
    assert validate_dataset(data, FineTuneSettings())[2] == validation  # same split every time


@pytest.mark.parametrize("text, reason", [
    (b"", "the dataset is empty"),
    (b'{"prompt": "a", "completion": "b"}\n' * 1, "only 1 rows"),
    (b'{"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q2"}]}\n',
     "the last message must be the assistant's answer"),
    (b'{"prompt": "a", "completion": "b", "extra": 1}\n', "unexpected fields"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_each_rule(text, reason):
    report, _, _ = validate_dataset(text, FineTuneSettings())
    assert any(reason in row.reason for row in report.rejected), report.rejected


def test_estimate_grows_with_size_and_spot_is_cheaper():
    report, _, _ = validate_dataset((DATASETS / "bridge_qa.jsonl").read_bytes(), FineTuneSettings())
    small = estimate_training(report, "ml.trn1.2xlarge", 1, 3, 96)
    more = estimate_training(report, "ml.trn1.2xlarge", 1, 30, 96)
    assert more["seconds"] > small["seconds"] and more["on_demand_usd"] > small["on_demand_usd"]
    assert 0 < small["spot_usd"] < small["on_demand_usd"]
    with pytest.raises(ValueError, match="no price"):
        estimate_training(report, "ml.p4d.24xlarge", 1, 3, 128)


NEURON_IMAGE = ("763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training-neuronx:"
                "2.8.0-transformers4.57.1-neuronx-py310-sdk2.26.0-ubuntu22.04")
CODE_URI = "s3://docs-bucket/finetune/code/0123abcd/sourcedir.tar.gz"


def _neuron_request(**overrides):
    settings = FineTuneSettings(**{"training_role_arn": "arn:aws:iam::111122223333:role/stack-TrainingRole-X",
                                   "training_image_uri": NEURON_IMAGE, **overrides})
    return settings, training_job_request(settings, "docs-bucket", "bridge-1234", 2,
                                          hyperparameters(settings, epochs=2), CODE_URI)


def test_the_neuron_job_request_is_valid_for_botocore():
    settings, request = _neuron_request(training_instance_type="ml.trn1.32xlarge", training_instance_count=2,
                                        training_kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k")
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    shape = sagemaker.meta.service_model.operation_model("CreateTrainingJob").input_shape
    errors = ParamValidator().validate(request, shape)
    assert not errors.has_errors(), errors.generate_report()
    resource = request["ResourceConfig"]
    assert resource["InstanceType"] == "ml.trn1.32xlarge" and resource["InstanceCount"] == 2
    assert resource["InstanceType"] in shape.members["ResourceConfig"].members["InstanceType"].enum
    assert "neuronx" in request["AlgorithmSpecification"]["TrainingImage"]
    assert request["EnableManagedSpotTraining"] is True
    stopping = request["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]
    assert request["CheckpointConfig"] == {"S3Uri": "s3://docs-bucket/finetune/bridge-1234/checkpoints/",
                                           "LocalPath": "/opt/ml/checkpoints"}
    assert request["TrainingJobName"] == "ft-bridge-1234-a2"
    assert request["HyperParameters"]["epochs"] == "2" and request["HyperParameters"]["sagemaker_program"] == "train.py"
    assert request["HyperParameters"]["sagemaker_submit_directory"] == CODE_URI
    assert request["RoleArn"] == "arn:aws:iam::111122223333:role/stack-TrainingRole-X"
    assert {c["ChannelName"] for c in request["InputDataConfig"]} == {"train", "validation"}
    assert request["OutputDataConfig"]["KmsKeyId"].startswith("arn:aws:kms")
    # botocore refuses what SageMaker would: a wrong type is caught before any call
    broken = {**request, "ResourceConfig": {**resource, "InstanceCount": "2"}}
    assert ParamValidator().validate(broken, shape).has_errors()


def test_on_demand_requests_have_no_max_wait():
    _, request = _neuron_request(training_spot=False)
    assert request["EnableManagedSpotTraining"] is False and "MaxWaitTimeInSeconds" not in request["StoppingCondition"]


@pytest.mark.parametrize("missing, variable", [("training_role_arn", "DOCPIPE_TRAINING_ROLE_ARN"),
                                               ("training_image_uri", "DOCPIPE_TRAINING_IMAGE_URI")])
def test_no_role_or_image_is_made_up_when_the_template_passes_none(missing, variable):
    # FineTuneSettings holds no account id or placeholder: what only the stack knows comes from its template
    assert FineTuneSettings().training_role_arn == "" and FineTuneSettings().inference_image_uri == ""
    with pytest.raises(ValueError, match=f"{variable} not set"):
        _neuron_request(**{missing: ""})


def test_only_trainium_instances_are_accepted():
    with pytest.raises(ValueError):
        FineTuneSettings(training_instance_type="ml.g5.xlarge")


class _FakeSageMaker:
    class exceptions:
        ClientError = Exception

    def __init__(self, description):
        self.description = description

    def describe_training_job(self, TrainingJobName):
        return {"TrainingJobName": TrainingJobName, **self.description}


@pytest.mark.parametrize("description, attempt, expected", [
    ({"TrainingJobStatus": "InProgress", "SecondaryStatus": "Interrupted"}, 1, "wait"),
    ({"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
      "ModelArtifacts": {"S3ModelArtifacts": "s3://b/k/model.tar.gz"}}, 1, "evaluate"),
    ({"TrainingJobStatus": "Failed", "FailureReason": "CapacityError: Unable to provision requested ML compute capacity"}, 1, "retry"),
    ({"TrainingJobStatus": "Failed", "FailureReason": "CapacityError: Unable to provision requested ML compute capacity"}, 3, "failed"),
    ({"TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: ExecuteUserScriptError: exit code 1"}, 1, "failed"),
    ({"TrainingJobStatus": "Stopped", "SecondaryStatus": "MaxWaitTimeExceeded"}, 1, "failed"),
])
def test_poll_decides(monkeypatch, description, attempt, expected):
    from docpipe.logic import finetune as logic

    monkeypatch.setattr(logic, "client", lambda name: _FakeSageMaker(description))
    state = logic.FineTuneState(run_id="ft-x", dataset={"bucket": "b", "key": "k"}, job_name="ft-x-a1", attempt=attempt)
    result = logic.poll(logic.TaskInput(state=state))
    assert result.next == expected
    if expected == "failed":
        assert result.failure.cause and result.failure.error.startswith("TrainingJob")


def test_retryable_failures():
    assert is_retryable("InsufficientInstanceCapacity: no trn1 capacity in us-east-1a")
    assert not is_retryable("AlgorithmError: out of memory")
    assert json.loads(FineTuneSettings().training_hyperparameters) == {}
