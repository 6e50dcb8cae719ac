"""Deployed code imports nothing that exists only offline, and a handler's cold import stays small."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))
OFFLINE_ONLY = ("docpipe_local", "moto", "tesserocr", "PIL", "yaml", "rich", "filelock")
# X-Ray (Tracer) patches botocore at import, by design; boto3 clients and parsers wait for first use.
HEAVY = ("boto3", "pypdfium2", "defusedxml", "numpy")

PROBE = """
import json, sys
sys.path[:0] = [{layer!r}, {function!r}]
import app
assert callable(app.handler)
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("name", HANDLERS)
def test_cold_import_loads_no_offline_or_heavy_module(name):
    code = PROBE.format(layer=str(ROOT / "layers/common"), function=str(ROOT / "functions" / name))
    env = {"PATH": "/usr/bin:/bin", "DOCPIPE_DOCUMENTS_BUCKET": "b-b-b", "DOCPIPE_DOCUMENTS_TABLE": "t-t-t",
           "AWS_LAMBDA_FUNCTION_NAME": name, "POWERTOOLS_SERVICE_NAME": "docpipe"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    modules = {module.split(".")[0] for module in json.loads(out)}
    assert not modules & set(OFFLINE_ONLY), modules & set(OFFLINE_ONLY)
    assert not modules & set(HEAVY), modules & set(HEAVY)
