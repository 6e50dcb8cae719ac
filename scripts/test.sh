#!/usr/bin/env bash
# The test suite as CI runs it (the README's second command, after scripts/bootstrap.sh --dev):
#   1. every test but tests/iam, one test file at a time on each of two pytest-xdist workers (a file's
#      module-scoped runtime stays in one process); each worker saves what its flows called in AWS terms;
#   2. tests/iam in a session of its own, whose least-privilege contract reads those recordings.
# For a part of the suite, run pytest itself (`.venv/bin/python -m pytest tests/unit`): tests/iam then runs the
# flows it lacks in a subprocess of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

recordings=$(mktemp -d)
trap 'rm -rf "$recordings"' EXIT
export DOCPIPE_IAM_RECORDINGS="$recordings"

status=0
.venv/bin/python -m pytest -n 2 --dist loadfile --ignore=tests/iam || status=$?
.venv/bin/python -m pytest tests/iam || status=$?
exit "$status"
