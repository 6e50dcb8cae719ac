"""`docpipe endpoints ...`: each command is its own process-like runtime; the local endpoint's scaling
survives from one to the next (its own module: the CLI starts runtimes of its own)."""

from __future__ import annotations

import json
import time

import pytest

from docpipe_local.cli import main
from docpipe_local.emulators.sagemaker_endpoints import LOCAL_COMPONENT, LOCAL_ENDPOINT

pytestmark = pytest.mark.offline_only("`docpipe endpoints` is the offline runtime's command line, on its own "
                                      "endpoints in moto's SageMaker")


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_reap_then_status_across_commands(home, monkeypatch, capsys):
    monkeypatch.setenv("DOCPIPE_HOME", str(home))
    assert main(["endpoints", "status", "--json"]) == 0  # the first start creates the local endpoint
    capsys.readouterr()
    time.sleep(1)  # older than the 0.3 s idle window below, however fast this machine is
    assert main(["endpoints", "reap", "--idle-minutes", "0.005", "--json"]) == 0
    (decision,) = [d for d in _json(capsys)["decisions"] if d["component"] == LOCAL_COMPONENT]
    assert decision["action"] == "scale_to_zero" and decision["applied"]

    assert main(["endpoints", "status", "--json"]) == 0  # a new runtime: the copies come back from the data dir
    (endpoint,) = [e for e in _json(capsys)["endpoints"] if e["name"] == LOCAL_ENDPOINT]
    assert endpoint["tagged"] and endpoint["components"][0]["current_copies"] == 0

    assert main(["endpoints", "wake", "never-reaped"]) == 1  # nothing recorded under that name
    assert "no record" in capsys.readouterr().err
