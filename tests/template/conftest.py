import json
from pathlib import Path

import pytest

from docpipe_local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def raw_template() -> dict:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="session")
def template() -> Template:
    return Template.load(ROOT)


def state_machines(raw: dict) -> dict[str, tuple[dict, dict]]:
    """logical id -> (resource properties, parsed ASL)"""
    machines = {}
    for name, spec in raw["Resources"].items():
        if spec["Type"] == "AWS::Serverless::StateMachine":
            props = spec["Properties"]
            machines[name] = (props, json.loads((ROOT / props["DefinitionUri"]).read_text()))
    return machines
