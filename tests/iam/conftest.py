"""The IAM contract evaluates what the offline flows recorded, so it runs after them, whatever the order.

`pytest tests/`: the flows run first in this process (every OfflineRuntime adds to the recording) and the
contract test is moved to the end of the session. `scripts/test.sh`: the flows run in pytest-xdist's worker
processes, each saving its recording to $DOCPIPE_IAM_RECORDINGS at its end, and then tests/iam runs in a
session of its own that reads them. `pytest tests/iam/...` alone, or with only some flows:
the `recording` fixture runs the flow files that cover the functions and state machines the session did
not exercise, in a subprocess that writes its recording to a file, and merges it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from docpipe_local.iam.recorder import RECORDING, RECORDING_FILE_ENV, Recording, load

from tests.conftest import RECORDINGS_DIR_ENV

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_MARK = "iam_contract"

# The flow files that exercise each function and state machine (what `recording` runs when they are missing).
COVERING_FLOWS = {
    "tests/flows/test_document_pipeline.py": {
        "DocumentPipeline", "ValidateFunction", "ExtractFunction", "TextractDetectFunction", "TextractStartFunction",
        "TextractPollFunction", "GuardFunction", "EmbedFunction", "IndexFunction", "SummarizeFunction",
        "TranslateFunction", "SpeakFunction", "PublishFunction", "QuarantineFunction"},
    "tests/flows/test_faults_and_restarts.py::test_texts_over_the_service_limits_take_the_long_paths": {
        "SpeakPollFunction"},
    "tests/flows/test_unmasked_text.py": {"GuardFunction", "QuarantineFunction"},  # deleting every version of text
    "tests/flows/test_knowledge.py": {"AskFunction", "ForgetFunction"},
    "tests/flows/test_batch_generation.py": {"BatchGeneration", "BatchPlanFunction", "BatchGenerateFunction",
                                             "BatchPollFunction", "BatchAggregateFunction"},
    "tests/flows/test_finetune.py": {"FineTune", "FineTuneValidateFunction", "FineTuneStartFunction",
                                     "FineTunePollFunction", "FineTuneEvaluateFunction", "FineTuneRegisterFunction"},
    "tests/flows/test_endpoints.py": {"EndpointReaperFunction"},
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{CONTRACT_MARK}: evaluates the session's recording; runs last")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker(CONTRACT_MARK) is not None)  # stable: others keep order


def missing(recording: Recording, principals: set[str]) -> set[str]:
    return principals - recording.invoked


def run_flows(files: list[str], out: Path) -> subprocess.CompletedProcess:
    """The flow files in a fresh interpreter that writes its recording to `out` at exit."""
    env = {**os.environ, RECORDING_FILE_ENV: str(out)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
                          cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture(scope="session")
def recording(tmp_path_factory) -> Recording:
    """Everything the session's offline runtimes recorded, and the earlier sessions' recordings saved to
    $DOCPIPE_IAM_RECORDINGS (scripts/test.sh: the flows ran in worker processes before this session),
    completed by running the flows it still lacks."""
    if os.environ.get(RECORDINGS_DIR_ENV):
        for saved in sorted(Path(os.environ[RECORDINGS_DIR_ENV]).glob("*.json")):
            RECORDING.merge(load(saved))
    wanted = set().union(*COVERING_FLOWS.values())
    lacking = missing(RECORDING, wanted)
    files = [path for path, covers in COVERING_FLOWS.items() if covers & lacking]
    if files:
        out = tmp_path_factory.mktemp("iam") / "recording.json"
        ran = run_flows(files, out)
        assert out.exists(), f"the flows ({' '.join(files)}) wrote no recording:\n{ran.stdout[-3000:]}{ran.stderr[-3000:]}"
        RECORDING.merge(load(out))
    return RECORDING
