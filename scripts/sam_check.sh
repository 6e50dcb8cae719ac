#!/usr/bin/env bash
# `sam validate --lint` and `sam build` in their own virtual environment (SAM CLI pins its own boto3).
# sam build needs the Lambda runtime's Python (3.13) on PATH; pyenv's is used when present.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv-sam/bin/sam ]]; then
  python3 -m venv .venv-sam
  .venv-sam/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv-sam/bin/python -m pip install -q "aws-sam-cli==1.170.0"
fi
# pyenv's shims answer to `python3.13` even when 3.13 is not selected: put a real 3.13 first.
for candidate in "$(pyenv root 2>/dev/null || echo /root/.pyenv)"/versions/3.13*/bin; do
  [[ -x "$candidate/python3.13" ]] && PATH="$candidate:$PATH" && break
done
python3.13 --version >/dev/null || { echo "sam build needs Python 3.13 on PATH" >&2; exit 1; }
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1
.venv-sam/bin/sam validate --lint --region us-east-1
.venv-sam/bin/sam build --parallel
# the layer must not carry a botocore of its own (layers/common/Makefile): it would shadow the runtime's
if compgen -G ".aws-sam/build/CommonLayer/python/botocore*" >/dev/null; then
  echo "the built CommonLayer bundles botocore" >&2
  exit 1
fi
# fine-tuning's training code travels in the start function's package (functions/finetune_start/training)
if ! cmp -s training/train.py .aws-sam/build/FineTuneStartFunction/training/train.py; then
  echo "the built FineTuneStartFunction does not carry training/train.py" >&2
  exit 1
fi
