#!/usr/bin/env bash
# Security scan of template.yaml, as written and as it deploys (README "Security scan"):
#   cfn-lint with the serverless rules and checkov, on the SAM template and on its CloudFormation translation
#   (aws-sam-translator: the roles built from `Policies`, the generated permissions and URLs).
# Exits non-zero on any finding that is not skipped in the resource's Metadata with a reason.
# The tools live in their own virtual environment (.venv-scan): checkov pins its own boto3 and friends.
set -euo pipefail
cd "$(dirname "$0")/.."

PINS="cfn-lint==1.58.0 cfn-lint-serverless==0.3.6 checkov==3.3.30 aws-sam-translator==1.115.0"
VENV=.venv-scan
OUT=build/security-scan
REGION=us-east-1  # the translator and cfn-lint need one; nothing is called in it

if [[ "$(cat "$VENV/pins" 2>/dev/null)" != "$PINS" ]]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  # shellcheck disable=SC2086  # one argument per pin
  "$VENV/bin/python" -m pip install -q $PINS
  echo "$PINS" >"$VENV/pins"
fi
mkdir -p "$OUT"
export AWS_DEFAULT_REGION=$REGION

status=0
"$VENV/bin/python" scripts/sam_translate.py template.yaml "$OUT/template.translated.json"

# cfn-lint >= 1.54 validates SAM resources without transforming them: the translated file is linted as well.
for template in template.yaml "$OUT/template.translated.json"; do
  if "$VENV/bin/cfn-lint" --append-rules cfn_lint_serverless.rules --regions "$REGION" -- "$template"; then
    echo "cfn-lint $template: no findings"
  else
    echo "cfn-lint $template: findings above" >&2
    status=1
  fi
done

# --skip-download: no calls to the vendor's API (guidelines, severities); the checks themselves are local.
# checkov exits 1 on a failed check; the summary decides (a report it cannot read fails it too).
for pair in "sam:template.yaml" "translated:$OUT/template.translated.json"; do
  "$VENV/bin/checkov" --skip-download --framework cloudformation -o json -f "${pair#*:}" \
    >"$OUT/checkov.${pair%%:*}.json" || true
done
"$VENV/bin/python" scripts/checkov_summary.py "sam=$OUT/checkov.sam.json" \
  "translated=$OUT/checkov.translated.json" || status=1

if [[ $status -ne 0 ]]; then
  echo "security scan: FAILED (fix the finding, or skip it in the resource's Metadata with the reason)" >&2
else
  echo "security scan: clean"
fi
exit $status
