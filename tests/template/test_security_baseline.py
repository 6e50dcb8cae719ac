"""What the security scan asks of template.yaml, checked statically and fast (scripts/security_scan.sh runs the
scanners themselves): logs kept and encrypted, secrets at rest encrypted, failures kept, and every skip of a
scanner check true to its stated reason."""

from docpipe_local.lambda_router import LambdaContext, functions_from_template

KEY_ARN = {"Fn::GetAtt": ["DocumentsKey", "Arn"]}
# SAM event types whose service invokes the function asynchronously (Lambda retries, then drops the event)
ASYNC_EVENT_TYPES = {"S3", "SNS", "EventBridgeRule", "CloudWatchEvent", "Schedule", "ScheduleV2", "IoTRule"}


def _resources(raw, resource_type):
    return {name: spec for name, spec in raw["Resources"].items() if spec["Type"] == resource_type}


def _checkov_skips(spec) -> dict[str, str]:
    return {skip["id"]: skip.get("comment", "") for skip in spec.get("Metadata", {}).get("checkov", {}).get("skip", [])}


def _invoked_asynchronously(raw) -> set[str]:
    """Functions an EventBridge rule targets, or that have an asynchronous SAM event."""
    targeted = {target["Arn"]["Fn::GetAtt"][0] for rule in _resources(raw, "AWS::Events::Rule").values()
                for target in rule["Properties"]["Targets"] if "Fn::GetAtt" in target["Arn"]}
    with_events = {name for name, spec in _resources(raw, "AWS::Serverless::Function").items()
                   if any(event["Type"] in ASYNC_EVENT_TYPES for event in spec["Properties"].get("Events", {}).values())}
    return targeted | with_events


def _state_machine_tasks(raw) -> set[str]:
    return {value["Fn::GetAtt"][0] for spec in _resources(raw, "AWS::Serverless::StateMachine").values()
            for value in spec["Properties"]["DefinitionSubstitutions"].values()
            if isinstance(value, dict) and "Fn::GetAtt" in value}


def test_every_function_has_its_own_log_group_with_retention_and_the_key(raw_template):
    groups = {spec["Properties"]["LogGroupName"].get("Fn::Sub"): spec["Properties"]
              for spec in _resources(raw_template, "AWS::Logs::LogGroup").values()}
    functions = _resources(raw_template, "AWS::Serverless::Function")
    assert functions
    for name in functions:
        group = groups.get(f"/aws/lambda/${{{name}}}")
        assert group, f"{name} has no log group of its own"
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_log_group_is_encrypted_and_the_key_lets_cloudwatch_logs_use_it_for_this_stack_only(raw_template):
    groups = _resources(raw_template, "AWS::Logs::LogGroup")
    for name, spec in groups.items():
        assert spec["Properties"].get("KmsKeyId") == KEY_ARN, f"{name} is not encrypted with the stack's key"
        assert spec["Properties"].get("RetentionInDays"), f"{name} keeps its logs forever"
    statements = raw_template["Resources"]["DocumentsKey"]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if s["Principal"].get("Service") == {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}]
    allowed = [arn["Fn::Sub"] for arn in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]]
    assert all(":log-group:" in pattern and "${AWS::StackName}-*" in pattern for pattern in allowed)
    for spec in groups.values():  # every group's name falls under one of the allowed patterns
        name = spec["Properties"]["LogGroupName"]["Fn::Sub"]
        prefix = name.split("${")[0]
        assert any(pattern.endswith(f":log-group:{prefix}${{AWS::StackName}}-*") for pattern in allowed), name


def test_function_log_groups_are_the_ones_lambda_writes_to(template):
    """Offline, the group names resolve to /aws/lambda/<function name>, the name LambdaContext reports."""
    functions = {f.logical_id: f for f in functions_from_template(template).values()}
    for name, function in functions.items():
        group = template.physical_name(f"{name}LogGroup")
        assert group == LambdaContext(function.name, 128, function.arn, 1).log_group_name


def test_environment_variables_are_encrypted_and_every_role_may_decrypt_them(raw_template):
    assert raw_template["Globals"]["Function"]["KmsKeyArn"] == KEY_ARN
    for name, spec in _resources(raw_template, "AWS::Serverless::Function").items():
        assert "KmsKeyArn" not in spec["Properties"], f"{name} overrides the environment key"
        statements = [s for policy in spec["Properties"]["Policies"] for s in policy.get("Statement", [])]
        assert any(s.get("Effect") == "Allow" and "kms:Decrypt" in s["Action"] and s["Resource"] == KEY_ARN
                   for s in statements), f"{name} cannot decrypt its environment"


def test_asynchronously_invoked_functions_have_a_dead_letter_queue(raw_template):
    functions = _resources(raw_template, "AWS::Serverless::Function")
    asynchronous = _invoked_asynchronously(raw_template)
    assert {"ForgetFunction", "EndpointReaperFunction"} <= asynchronous
    for name in asynchronous:
        queue = functions[name]["Properties"].get("DeadLetterQueue")
        assert queue and queue["Type"] == "SQS", f"{name} is invoked asynchronously but has no dead-letter queue"
        assert raw_template["Resources"][queue["TargetArn"]["Fn::GetAtt"][0]]["Properties"]["KmsMasterKeyId"]


def test_a_skipped_dead_letter_queue_is_true_to_its_reason(raw_template):
    """The DLQ check may be skipped only for functions invoked synchronously: a state machine task or a URL."""
    tasks = _state_machine_tasks(raw_template)
    asynchronous = _invoked_asynchronously(raw_template)
    for name, spec in _resources(raw_template, "AWS::Serverless::Function").items():
        reason = _checkov_skips(spec).get("CKV_AWS_116")
        if reason is None:
            continue
        assert name not in asynchronous
        if "Step Functions" in reason:
            assert name in tasks, f"{name} says Step Functions invokes it, but no state machine does"
        else:
            assert "function URL" in reason and "FunctionUrlConfig" in spec["Properties"], name


def test_tables_that_hold_state_have_point_in_time_recovery(raw_template):
    for name, spec in _resources(raw_template, "AWS::DynamoDB::Table").items():
        props = spec["Properties"]
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True:
            continue
        assert "CKV_AWS_28" in _checkov_skips(spec), f"{name} has no point-in-time recovery"
        assert props["TimeToLiveSpecification"]["Enabled"] is True, f"{name} is skipped as a cache but never expires"


def test_queues_are_encrypted_and_subscriptions_keep_what_they_cannot_deliver(raw_template):
    queues = _resources(raw_template, "AWS::SQS::Queue")
    assert queues
    assert all(spec["Properties"]["KmsMasterKeyId"] == {"Ref": "DocumentsKey"} for spec in queues.values())
    for name, spec in _resources(raw_template, "AWS::SNS::Subscription").items():
        assert "RedrivePolicy" in spec["Properties"], f"{name} drops what it cannot deliver"
        target = spec["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert queues[target].get("Condition") == spec.get("Condition"), f"{name} and its queue exist together"


def test_the_documents_bucket_logs_access_to_a_bucket_that_accepts_only_its_logs(raw_template):
    logging = raw_template["Resources"]["DocumentsBucket"]["Properties"]["LoggingConfiguration"]
    target = logging["DestinationBucketName"]["Ref"]
    (policy,) = [p["Properties"]["PolicyDocument"] for p in _resources(raw_template, "AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": target}]
    (delivery,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["DocumentsBucket", "Arn"]}
    assert delivery["Resource"] == {"Fn::Sub": f"${{{target}.Arn}}/{logging['LogFilePrefix']}*"}


def test_every_scanner_skip_gives_its_reason(raw_template):
    for name, spec in raw_template["Resources"].items():
        for check, reason in _checkov_skips(spec).items():
            assert len(reason.split()) >= 5, f"{name} skips {check} without a reason"
