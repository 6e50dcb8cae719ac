"""The policy evaluator against the examples of AWS's IAM documentation (policy evaluation logic, the
IAM JSON policy elements Action/NotAction/Resource/NotResource/Condition, and condition operators)."""

from docpipe_local.iam.evaluate import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Request, evaluate

BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"


def decide(statements, action, resource="*", principal=None, **context):
    request = Request(action, resource, {k.replace("__", ":").replace("_", "/"): v if isinstance(v, list) else [v]
                                         for k, v in context.items()}, principal)
    return evaluate(statements, request).effect


def test_nothing_allowed_is_an_implicit_deny():
    assert decide([], "s3:GetObject", f"{BUCKET}/a") == IMPLICIT_DENY


def test_an_explicit_deny_overrides_any_allow():
    statements = [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                  {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/*"}]
    assert decide(statements, "s3:GetObject", f"{BUCKET}/a") == ALLOW
    assert decide(statements, "s3:DeleteObject", f"{BUCKET}/a") == EXPLICIT_DENY


def test_action_wildcards_match_case_insensitively():
    statements = [{"Effect": "Allow", "Action": ["iam:*AccessKey*", "s3:Get*"], "Resource": "*"}]
    assert decide(statements, "iam:CreateAccessKey") == ALLOW
    assert decide(statements, "IAM:listaccesskeys") == ALLOW
    assert decide(statements, "s3:getobject") == ALLOW
    assert decide(statements, "s3:PutObject") == IMPLICIT_DENY


def test_resource_wildcards_are_case_sensitive_and_question_mark_is_one_character():
    statements = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/work/doc-?/*"}]
    assert decide(statements, "s3:GetObject", f"{BUCKET}/work/doc-1/text.json") == ALLOW
    assert decide(statements, "s3:GetObject", f"{BUCKET}/work/doc-12/text.json") == IMPLICIT_DENY
    assert decide(statements, "s3:GetObject", f"{BUCKET}/Work/doc-1/text.json") == IMPLICIT_DENY


def test_allow_with_not_action_allows_everything_but_the_listed_actions():
    # the documentation's "NotAction with Allow": everything except IAM
    statements = [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]
    assert decide(statements, "s3:ListAllMyBuckets") == ALLOW
    assert decide(statements, "iam:CreateUser") == IMPLICIT_DENY


def test_deny_with_not_action_denies_everything_but_the_listed_actions_unless_mfa():
    # the documentation's "NotAction with Deny": without MFA, deny all but the IAM calls that set it up
    statements = [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                  {"Effect": "Deny", "NotAction": ["iam:CreateVirtualMFADevice", "iam:ListMFADevices"],
                   "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]
    assert decide(statements, "s3:GetObject", f"{BUCKET}/a", aws__MultiFactorAuthPresent="false") == EXPLICIT_DENY
    assert decide(statements, "s3:GetObject", f"{BUCKET}/a") == EXPLICIT_DENY  # IfExists: absent key matches
    assert decide(statements, "s3:GetObject", f"{BUCKET}/a", aws__MultiFactorAuthPresent="true") == ALLOW
    assert decide(statements, "iam:ListMFADevices", aws__MultiFactorAuthPresent="false") == ALLOW


def test_not_resource():
    statements = [{"Effect": "Deny", "Action": "s3:*", "NotResource": [BUCKET, f"{BUCKET}/*"]},
                  {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
    assert decide(statements, "s3:GetObject", f"{BUCKET}/a") == ALLOW
    assert decide(statements, "s3:GetObject", "arn:aws:s3:::other/a") == EXPLICIT_DENY


def test_list_bucket_with_a_prefix_condition():
    statements = [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
                   "Condition": {"StringLike": {"s3:prefix": ["work/batch/*", "home/"]}}}]
    assert decide(statements, "s3:ListBucket", BUCKET, s3__prefix="work/batch/job-1/") == ALLOW
    assert decide(statements, "s3:ListBucket", BUCKET, s3__prefix="home/") == ALLOW
    assert decide(statements, "s3:ListBucket", BUCKET, s3__prefix="out/") == IMPLICIT_DENY
    assert decide(statements, "s3:ListBucket", BUCKET) == IMPLICIT_DENY  # no prefix in the request


def test_condition_keys_are_anded_values_are_ored_and_key_names_ignore_case():
    statements = [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*", "Condition": {
        "StringEquals": {"iam:PassedToService": ["sagemaker.amazonaws.com", "bedrock.amazonaws.com"]},
        "StringLike": {"aws:RequestTag/team": "doc*"}}}]
    assert decide(statements, "iam:PassRole", IAM__PassedToService="bedrock.amazonaws.com",
                  aws__RequestTag_team="docpipe") == ALLOW
    assert decide(statements, "iam:PassRole", iam__PassedToService="ec2.amazonaws.com",
                  aws__RequestTag_team="docpipe") == IMPLICIT_DENY
    assert decide(statements, "iam:PassRole", iam__PassedToService="bedrock.amazonaws.com") == IMPLICIT_DENY


def test_negated_operators_match_when_the_key_is_missing():
    statements = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                   "Condition": {"StringNotEquals": {"s3:ExistingObjectTag/secret": "yes"}}}]
    assert decide(statements, "s3:GetObject") == ALLOW
    assert decide(statements, "s3:GetObject", s3__ExistingObjectTag_secret="no") == ALLOW
    assert decide(statements, "s3:GetObject", s3__ExistingObjectTag_secret="yes") == IMPLICIT_DENY


def test_null_checks_presence():
    statements = [{"Effect": "Deny", "Action": "sagemaker:Create*", "Resource": "*",
                   "Condition": {"Null": {"aws:RequestTag/docpipe:stack": "true"}}},
                  {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}]
    assert decide(statements, "sagemaker:CreateEndpoint") == EXPLICIT_DENY
    assert decide(statements, "sagemaker:CreateEndpoint", aws__RequestTag_docpipe__stack="x") == ALLOW


def test_set_qualifiers():
    any_of = [{"Effect": "Allow", "Action": "sagemaker:AddTags", "Resource": "*",
               "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}}]
    all_of = [{"Effect": "Allow", "Action": "sagemaker:AddTags", "Resource": "*",
               "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}}]
    assert decide(any_of, "sagemaker:AddTags", aws__TagKeys=["a", "z"]) == ALLOW
    assert decide(any_of, "sagemaker:AddTags") == IMPLICIT_DENY  # nothing to match any of
    assert decide(all_of, "sagemaker:AddTags", aws__TagKeys=["a", "z"]) == IMPLICIT_DENY
    assert decide(all_of, "sagemaker:AddTags", aws__TagKeys=["a", "b"]) == ALLOW
    assert decide(all_of, "sagemaker:AddTags") == ALLOW  # ForAllValues of an empty set is true


def test_arn_like_compares_each_part_and_numeric_and_bool_operators():
    statements = [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                   "Action": "kms:GenerateDataKey", "Resource": "*",
                   "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:111122223333:rule/docpipe-*"},
                                 "NumericLessThanEquals": {"kms:RecipientAttestation:Count": "3"},
                                 "Bool": {"aws:SecureTransport": "true"}}}]
    ok = dict(aws__SourceArn="arn:aws:events:us-east-1:111122223333:rule/docpipe-inbox",
              kms__RecipientAttestation__Count="2", aws__SecureTransport="true")
    service = "service:events.amazonaws.com"
    assert decide(statements, "kms:GenerateDataKey", principal=service, **ok) == ALLOW
    assert decide(statements, "kms:GenerateDataKey", principal=service,
                  **{**ok, "aws__SourceArn": "arn:aws:events:us-east-1:444455556666:rule/docpipe-inbox"}) == IMPLICIT_DENY
    assert decide(statements, "kms:GenerateDataKey", principal=service,
                  **{**ok, "kms__RecipientAttestation__Count": "4"}) == IMPLICIT_DENY
    assert decide(statements, "kms:GenerateDataKey", principal="service:sns.amazonaws.com", **ok) == IMPLICIT_DENY


def test_resource_policy_principals():
    statements = [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                   "Action": "kms:*", "Resource": "*"}]
    assert decide(statements, "kms:Decrypt", principal="arn:aws:iam::111122223333:root") == ALLOW
    assert decide(statements, "kms:Decrypt", principal="arn:aws:iam::111122223333:role/x") == IMPLICIT_DENY
