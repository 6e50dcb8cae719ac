"""The fine-tuning state machine offline: a real LoRA training job (training/train.py in a subprocess with
SageMaker's layout), a spot interruption mid-way that resumes from the S3 checkpoint, evaluation on the
held-out set, and a model package carrying the metrics. Each test has a runtime of its own."""

import io
import json
import tarfile

import pytest

from docpipe_local import finetune_cli
from docpipe_local.runtime import OfflineRuntime
from tests.conftest import SAMPLES

# The template's hyperparameters (LoRA r=8 on q/k/v/o, lr 5e-3, batches of 4 rows of 96 tokens) for one
# epoch: 6 steps on the shipped dataset's 22 training rows - what `docpipe finetune ... --epochs 1` runs.
EPOCHS = 1


@pytest.mark.offline_only("runs the FineTune state machine on a runtime of its own (the CLI's path)")
def test_a_dataset_with_bad_rows_stops_the_run_with_line_numbers(home):
    with OfflineRuntime(home=home, persist=False) as runtime:
        result = finetune_cli.run(runtime, SAMPLES / "finetune" / "bad_rows.jsonl", timeout=120)
        assert result.status == "FAILED" and result.error == "DatasetRejected"
        assert result.cause.startswith("8 of 10 rows rejected: line 2: not valid JSON")
        assert "line 4: duplicate of line 1" in result.cause and "line 7: empty line" in result.cause
        assert result.job_names == [] and not runtime.training.jobs  # nothing was trained


@pytest.mark.slow
@pytest.mark.offline_only("reclaims the emulated spot instance mid-training, which only the offline runtime can do")
def test_the_shipped_dataset_trains_resumes_after_a_spot_interruption_and_registers(home):
    with OfflineRuntime(home=home, persist=False, parameters={"FineTuneMinImprovement": "0.1"}) as runtime:
        runtime.training.spot_interrupt_at_step = 3  # reclaim the instance once, after checkpoint-3 reached S3
        result = finetune_cli.run(runtime, SAMPLES / "finetune" / "bridge_qa.jsonl", epochs=EPOCHS, timeout=900)
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        output = result.output
        [name] = result.job_names
        job = runtime.training.jobs[name]

        # the job was killed mid-way and resumed from its checkpoint, not from scratch
        assert job.interruptions == 1
        statuses = [t["Status"] for t in job.transitions]
        assert statuses.index("Interrupted") < len(statuses) - 1 and statuses[-1] == "Completed"
        log = job.log_path.read_text()
        assert "resuming from checkpoint-3" in log
        evaluation = output["evaluation"]
        assert evaluation["resumed_from"] == "checkpoint-3" and evaluation["global_step"] == 6

        # it really trained: the held-out loss went down by at least 10% (the gate the template sets here)
        assert evaluation["final_eval_loss"] < evaluation["initial_eval_loss"] * 0.9
        assert all(evaluation["checks"].values())

        # the adapter is in model.tar.gz; DescribeTrainingJob reports the metrics from the log
        bucket, key = output["model_artifacts"][5:].split("/", 1)
        with tarfile.open(fileobj=io.BytesIO(runtime.s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
            assert {"adapter_model.safetensors", "adapter_config.json", "metrics.json"} <= set(tar.getnames())
        described = runtime.training.DescribeTrainingJob({"TrainingJobName": name})
        final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
        assert final["validation:final_loss"] == pytest.approx(evaluation["final_eval_loss"], rel=1e-4)
        checkpoints = runtime.s3.list_objects_v2(Bucket=runtime.bucket, Prefix=f"finetune/{output['run_id']}/checkpoints/")
        assert any(item["Key"].endswith("checkpoint-6/trainer_state.json") for item in checkpoints["Contents"])

        # the model package waits for approval and carries the metrics
        import boto3

        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        package = sagemaker.describe_model_package(ModelPackageName=output["model_package_arn"])
        assert package["ModelApprovalStatus"] == "PendingManualApproval"
        assert package["ModelPackageGroupName"] == "docpipe-finetuned"
        metadata = package["CustomerMetadataProperties"]
        assert float(metadata["final_eval_loss"]) == pytest.approx(evaluation["final_eval_loss"], rel=1e-5)
        assert metadata["training_job"] == name
        statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
        stored = json.loads(runtime.s3.get_object(Bucket=runtime.bucket, Key=statistics.split("/", 3)[3])["Body"].read())
        assert stored["eval_loss_improvement"] == pytest.approx(evaluation["eval_loss_improvement"])


# Two steps of the template's LoRA setup: enough to run train.py end to end from the code in S3.
TINY = json.dumps({"epochs": "1", "max_steps": "2", "save_steps": "2", "batch_size": "4", "max_seq_length": "96",
                   "learning_rate": "0.005", "lora_target_modules": "q_proj,k_proj,v_proj,o_proj"})


@pytest.mark.slow
@pytest.mark.offline_only("starts a fresh offline stack of its own, with two-step training parameters")
def test_a_fresh_stack_trains_on_the_code_its_start_function_carries(home):
    from docpipe.training_code import code_key, source_archive
    from tests.conftest import ROOT

    parameters = {"TrainingHyperparameters": TINY, "FineTuneMinImprovement": "0"}
    with OfflineRuntime(home=home, persist=False, parameters=parameters) as runtime:
        # what a deploy leaves: the stack's resources, and no training code in S3
        assert runtime.s3.list_objects_v2(Bucket=runtime.bucket, Prefix="finetune/").get("KeyCount") == 0
        result = finetune_cli.run(runtime, SAMPLES / "finetune" / "bridge_qa.jsonl", timeout=1800)
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        run_id = result.output["run_id"]
        [name] = result.job_names
        assert not run_id.startswith("ft-") and name == f"ft-{run_id}-a1"  # the prefix the template's IAM allows

        # StartTraining put training/ in S3 by content hash, and the job ran exactly that
        key = code_key("finetune/", source_archive(ROOT / "training"))
        code = runtime.s3.list_objects_v2(Bucket=runtime.bucket, Prefix="finetune/code/")["Contents"]
        assert [item["Key"] for item in code] == [key]
        job = runtime.training.jobs[name]
        assert job.request["HyperParameters"]["sagemaker_submit_directory"] == f"s3://{runtime.bucket}/{key}"
        ran = job.root / "opt" / "ml" / "code" / "train.py"
        assert ran.read_bytes() == (ROOT / "training" / "train.py").read_bytes()
        assert result.output["evaluation"]["global_step"] == 2
