"""Shared fixtures. Tests never reach the internet; AWS is moto + the emulators, in-process."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

# The layer's settings model needs these even in unit tests that never start a runtime.
os.environ.setdefault("DOCPIPE_DOCUMENTS_BUCKET", "unit-test-bucket")
os.environ.setdefault("DOCPIPE_DOCUMENTS_TABLE", "unit-test-table")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

# The handlers' logger (powertools) takes sys.stdout when first imported: import it here, before any test runs,
# not inside a test using capsys, whose stream is closed after that test and then written to by later ones.
import docpipe.observability  # noqa: E402,F401


def pdf_of(pages: list[str]) -> bytes:
    """A born-digital PDF with one page per text (fpdf2, Helvetica 11 pt)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private data directory, so tests never touch the user's .docpipe/."""
    path = tmp_path / "docpipe-home"
    path.mkdir()
    return path


# ---- a test that cannot run fails, naming what is missing; only deployed-stack variants skip ------------
#
#   pytestmark = pytest.mark.requires(binaries=["espeak-ng"], modules=["llama_cpp"], why="...")
#
# `scripts/bootstrap.sh --dev` installs every binary, package and model the suite needs, so a missing one is
# a broken install: the test fails with what is missing and why the test needs it, instead of skipping
# silently. The only skips allowed are the flows' deployed-stack variants (tests/flows/conftest.py `target`)
# when no stack is configured; any other skip is turned into a failure, and the summary counts the skips.

DEPLOYED_VARIANT = "deployed"


def _missing(marker: pytest.Mark) -> list[str]:
    import importlib.util
    import shutil

    missing = [f"the binary {name!r} (not on PATH)" for name in marker.kwargs.get("binaries", ())
               if shutil.which(name) is None]
    missing += [f"the Python package {name!r} (not importable)" for name in marker.kwargs.get("modules", ())
                if importlib.util.find_spec(name) is None]
    missing += [f"the file {str(path)!r}" for path in marker.kwargs.get("files", ()) if not Path(path).exists()]
    return missing


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("requires"):
        missing = _missing(marker)
        if missing:
            said = [f"cannot run: missing {', '.join(missing)}.", marker.kwargs.get("why", ""),
                    "Install the offline toolchain with `scripts/bootstrap.sh --dev`."]
            pytest.fail(" ".join(part for part in said if part), pytrace=False)


def _is_deployed_variant(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("target") == DEPLOYED_VARIANT


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and not _is_deployed_variant(item):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"skipped outside a deployed-stack variant, which this suite does not allow (a test "
                           f"that cannot run fails): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped:  # a whole module skipped (pytest.importorskip, a module-level skip)
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} was skipped as a whole, which this suite does not allow: {reason}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every flow test runs against the `target` fixture (offline, and a deployed stack when configured) or
    says why it is offline-only with @pytest.mark.offline_only("reason")."""
    flows = ROOT / "tests" / "flows"
    unmarked = []
    for item in items:
        if flows not in Path(str(item.path)).parents or "target" in getattr(item, "fixturenames", ()):
            continue
        marker = item.get_closest_marker("offline_only")
        if marker is None or not (marker.args and str(marker.args[0]).strip()):
            unmarked.append(item.nodeid)
    if unmarked:
        raise pytest.UsageError(
            "flow tests must take the `target` fixture or carry @pytest.mark.offline_only(\"why\"); these do "
            "neither:\n  " + "\n  ".join(unmarked))


# ---- the IAM contract's evidence: what the flow tests' offline runtimes called (tests/iam) ----------------

RECORDINGS_DIR_ENV = "DOCPIPE_IAM_RECORDINGS"  # where each session (each xdist worker) saves its recording


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Only the flow tests' calls are the contract's evidence (unit tests call handlers with made-up input)."""
    from docpipe_local.iam.recorder import RECORDING

    RECORDING.enabled = ROOT / "tests" / "flows" in Path(str(item.path)).parents
    yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get(RECORDINGS_DIR_ENV)
    if folder:
        from docpipe_local.iam.recorder import RECORDING, save

        if RECORDING.invoked:
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            save(Path(folder) / f"{worker}-{os.getpid()}.json")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reasons[reason.removeprefix("Skipped: ")] = reasons.get(reason.removeprefix("Skipped: "), 0) + 1
    terminalreporter.section("skips (only deployed-stack variants may skip)")
    for reason, count in sorted(reasons.items(), key=lambda pair: -pair[1]):
        terminalreporter.write_line(f"{count} skipped: {reason}")
