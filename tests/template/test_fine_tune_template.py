"""Fine-tuning resources: Trainium only, the execution role least-privileged, PassRole scoped to it."""

from .conftest import ROOT  # noqa: F401  (same fixtures as the other template tests)


def _statements(policies):
    for policy in policies:
        yield from policy.get("Statement", policy.get("PolicyDocument", {}).get("Statement", []))


def test_training_parameters_allow_only_trainium(raw_template):
    params = raw_template["Parameters"]
    assert all(value.startswith("ml.trn1") for value in params["TrainingInstanceType"]["AllowedValues"])
    assert "neuronx" in params["TrainingImageUri"]["Default"]
    assert params["TrainingUseSpot"]["Default"] == "true"


def test_only_the_start_function_may_pass_the_training_role_and_only_to_sagemaker(raw_template):
    passing = {}
    for name, spec in raw_template["Resources"].items():
        for statement in _statements(spec.get("Properties", {}).get("Policies", [])):
            actions = statement.get("Action", [])
            if "iam:PassRole" in (actions if isinstance(actions, list) else [actions]) and "TrainingRole" in str(statement["Resource"]):
                passing[name] = statement
    assert list(passing) == ["FineTuneStartFunction"]
    statement = passing["FineTuneStartFunction"]
    assert statement["Resource"] == {"Fn::GetAtt": ["TrainingRole", "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_training_role_is_for_sagemaker_and_scoped_to_the_finetune_prefix(raw_template):
    role = raw_template["Resources"]["TrainingRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    for statement in _statements(role["Policies"]):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            text = str(resource)
            if any(action.startswith("s3:") and action != "s3:ListBucket" for action in statement["Action"]):
                assert "/finetune/" in text, statement
            if resource == "*":
                assert statement["Action"] in (["ecr:GetAuthorizationToken"], ["cloudwatch:PutMetricData"]), statement


def test_fine_tune_machine_invokes_only_its_functions(raw_template):
    props = raw_template["Resources"]["FineTune"]["Properties"]
    invoked = {p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in props["Policies"] if "LambdaInvokePolicy" in p}
    assert invoked == {key[:-len("Arn")] for key in props["DefinitionSubstitutions"]}


def _training_job_patterns(raw_template, action):
    """The training-job name patterns the template lets a function use `action` on."""
    patterns = {}
    for name, spec in raw_template["Resources"].items():
        for statement in _statements(spec.get("Properties", {}).get("Policies", [])):
            actions = statement.get("Action", [])
            if action in (actions if isinstance(actions, list) else [actions]):
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                patterns[name] = [str(r.get("Fn::Sub", r)).split(":training-job/", 1)[1] for r in resources]
    return patterns


def test_every_training_job_name_is_one_the_start_and_poll_policies_allow(raw_template):
    import re
    from fnmatch import fnmatchcase

    from docpipe.finetune import job_name
    from docpipe.logic.finetune import FineTuneRequest

    create = _training_job_patterns(raw_template, "sagemaker:CreateTrainingJob")
    describe = _training_job_patterns(raw_template, "sagemaker:DescribeTrainingJob")
    assert list(create) == ["FineTuneStartFunction"] and "FineTunePollFunction" in describe
    # run ids as a caller may name them (none starts with ft-), and the longest the request model accepts
    longest = "r" + "-9" * 27 + "x"
    run_ids = ["bridge-qa-1a2b3c4d-5e6f70", "run-1", "Ab", "ft-already", longest[:56]]
    for run_id in run_ids:
        FineTuneRequest(dataset={"bucket": "b", "key": "k"}, run_id=run_id)  # an accepted run id
        for attempt in (1, 9):
            name = job_name(run_id, attempt)
            assert len(name) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
            for patterns in (create["FineTuneStartFunction"], describe["FineTunePollFunction"]):
                assert any(fnmatchcase(name, pattern) for pattern in patterns), (name, patterns)
