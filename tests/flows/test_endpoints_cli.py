"""`docpipe endpoints ...`: each command is its own process-like runtime; the local endpoint's scaling
survives from one to the next (its own module: the CLI starts runtimes of its own)."""

from __future__ import annotations

import json

import pytest

from docpipe_local.cli import main
from docpipe_local.emulators.sagemaker_endpoints import LOCAL_COMPONENT, LOCAL_ENDPOINT

pytestmark = pytest.mark.offline_only("`docpipe endpoints` is the offline runtime's command line, on its own "
                                      "endpoints in moto's SageMaker")


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_reap_then_status_across_commands(home, monkeypatch, capsys):
    monkeypatch.setenv("DOCPIPE_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "80")  # a CI log's width; captured output is not a terminal
    assert main(["endpoints", "status", "--json"]) == 0  # the first start creates the local endpoint
    capsys.readouterr()
    assert main(["endpoints", "reap", "--idle-minutes", "0", "--json"]) == 0  # 0: idle now, not "the default"
    report = _json(capsys)
    (decision,) = [d for d in report["decisions"] if d["component"] == LOCAL_COMPONENT]
    assert report["idle_minutes"] == 0 and decision["action"] == "scale_to_zero" and decision["applied"]

    assert main(["endpoints", "status"]) == 0  # a new runtime: the copies come back from the data dir
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [LOCAL_ENDPOINT, "yes", "InService", LOCAL_COMPONENT, "0/0", "0"] in rows  # one plain line, names whole

    assert main(["endpoints", "wake", LOCAL_ENDPOINT]) == 0  # as a request would: one copy back
    assert capsys.readouterr().out == f"woke {LOCAL_ENDPOINT}: {LOCAL_COMPONENT} back to 1 copy\n"
    assert main(["endpoints", "status", "--json"]) == 0
    (endpoint,) = [e for e in _json(capsys)["endpoints"] if e["name"] == LOCAL_ENDPOINT]
    assert endpoint["components"][0]["current_copies"] == 1
    assert main(["endpoints", "wake", LOCAL_ENDPOINT]) == 0
    assert capsys.readouterr().out.startswith(f"nothing to wake: {LOCAL_ENDPOINT} is InService")

    assert main(["endpoints", "wake", "docpipe-local"]) == 1  # a name cut short: neither an endpoint nor a record
    assert capsys.readouterr().err == ("docpipe endpoints wake: no endpoint named 'docpipe-local' and no record of "
                                       f"a reaped one; endpoints: {LOCAL_ENDPOINT}\n")
