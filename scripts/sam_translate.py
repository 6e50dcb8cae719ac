"""Translate template.yaml to plain CloudFormation with aws-sam-translator, as `sam deploy` would.

The scanners (checkov, cfn-lint) then see what deploys: the roles SAM builds from `Policies`, the log
groups, permissions and schedules its resources expand into. Local paths (CodeUri, ContentUri,
DefinitionUri) become placeholder S3 URIs, as `sam package` would make them; no credentials are needed.

With passthrough_metadata, every resource SAM generates keeps the `Metadata` of the SAM resource it came
from, so a checkov skip written beside a function also covers the role SAM builds for it.

Usage: python scripts/sam_translate.py template.yaml out.json  (run in .venv-scan; region us-east-1)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

LOCAL_PATHS = {  # what `sam package` uploads and replaces with an S3 URI
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
PLACEHOLDER_BUCKET = "docpipe-scan-placeholder"


class NoLookups(ManagedPolicyLoader):
    """SAM's bundled map resolves AWS managed policy names; nothing here asks IAM (no credentials)."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        return {}


def with_placeholder_uris(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template.get("Resources", {}).values():
        prop = LOCAL_PATHS.get(resource.get("Type"))
        value = resource.get("Properties", {}).get(prop)
        if isinstance(value, str) and not value.startswith("s3://"):
            resource["Properties"][prop] = f"s3://{PLACEHOLDER_BUCKET}/{value.strip('/')}"
    return template


def main(source_path: str, output_path: str) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the pseudo parameters need a region
    source = json.loads(json.dumps(cfn_yaml.load(source_path)))  # short-form tags to plain dicts
    translated = transform(with_placeholder_uris(source), {}, NoLookups(), passthrough_metadata=True)
    Path(output_path).write_text(json.dumps(translated, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
