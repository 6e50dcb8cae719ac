"""The web console in a real browser: Debian's chromium-headless-shell driven by Playwright (never
`playwright install`, which downloads a browser). One console, on one offline runtime, per test module."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"  # /usr/bin/chromium-headless-shell is a wrapper script
# the README's screenshots are rewritten only when asked (DOCPIPE_UPDATE_SCREENSHOTS=1), so a test run leaves
# the working tree as it found it; otherwise they go to a temporary folder
SCREENSHOTS = (Path(__file__).resolve().parents[2] / "docs" / "console"
               if os.environ.get("DOCPIPE_UPDATE_SCREENSHOTS") == "1"
               else Path(tempfile.gettempdir()) / "docpipe-console-screenshots")

needs_browser = pytest.mark.requires(
    files=[CHROMIUM], modules=["playwright"],
    why="the console's tests drive a real browser (Debian package chromium-headless-shell, pip playwright)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's headless shell; audio may start without a click."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--autoplay-policy=no-user-gesture-required"]}


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A console over a fresh offline runtime (its own data directory), served on a free local port."""
    from docpipe_local.console.server import BackgroundConsole
    from docpipe_local.runtime import OfflineRuntime

    with OfflineRuntime(home=tmp_path_factory.mktemp("docpipe-home"), persist=False) as runtime, \
            BackgroundConsole(runtime, upload_limit=8 * 1024 * 1024) as served:
        yield served
