"""Where offline state lives: one data directory, `.docpipe/` in the working directory by default."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "DOCPIPE_HOME"


def data_dir() -> Path:
    """The local data directory (created on first use); override with $DOCPIPE_HOME."""
    path = Path(os.environ.get(DATA_DIR_ENV) or ".docpipe").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_root() -> Path:
    """The project checkout: template.yaml, statemachines/ and functions/ are read from here."""
    return Path(__file__).resolve().parents[2]
