"""The template parameters that bench/cost's naive configuration sets, honoured by the code that deploys."""

import hashlib
from functools import lru_cache

import boto3
import pytest
from moto import mock_aws

from docpipe.clients import reset_clients
from docpipe.models import DocumentRef, PipelineState, TaskInput
from docpipe.settings import get_settings
from docpipe_local.lambda_router import functions_from_template
from docpipe_local.paths import repo_root
from docpipe_local.template import Template

from tests.conftest import pdf_of


@lru_cache(maxsize=None)
def _functions(*parameters: tuple[str, str]) -> list:
    return list(functions_from_template(Template.load(repo_root(), dict(parameters))).values())


def _environment(parameters: dict[str, str], function: str) -> dict[str, str]:
    return next(f for f in _functions(*parameters.items()) if f.logical_id == function).environment


def test_enable_caches_false_leaves_the_cache_tables_unset_and_the_default_sets_them():
    default, naive = _environment({}, "EmbedFunction"), _environment({"EnableCaches": "false"}, "EmbedFunction")
    assert default["DOCPIPE_EMBEDDING_CACHE_TABLE"] and default["DOCPIPE_RESPONSE_CACHE_TABLE"]
    assert naive["DOCPIPE_EMBEDDING_CACHE_TABLE"] == naive["DOCPIPE_RESPONSE_CACHE_TABLE"] == ""


def test_extraction_mode_reaches_the_extract_function():
    assert _environment({}, "ExtractFunction")["DOCPIPE_EXTRACTION_MODE"] == "direct"
    assert _environment({"ExtractionMode": "ocr"}, "ExtractFunction")["DOCPIPE_EXTRACTION_MODE"] == "ocr"


@pytest.mark.parametrize("mode, route", [("direct", "native"), ("ocr", "ocr_sync")])
def test_a_born_digital_pdf_goes_to_textract_only_in_ocr_mode(monkeypatch, mode, route):
    from docpipe.logic.extract import extract_text

    data = pdf_of(["Inspection of the north pier bearings, March 2026."])
    monkeypatch.setenv("DOCPIPE_DOCUMENTS_BUCKET", "docs-bucket")
    monkeypatch.setenv("DOCPIPE_DOCUMENTS_TABLE", "docs-table")
    monkeypatch.setenv("DOCPIPE_EXTRACTION_MODE", mode)
    get_settings.cache_clear()
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="docs-bucket")
            version = s3.put_object(Bucket="docs-bucket", Key="inbox/a.pdf", Body=data).get("VersionId")
            document = DocumentRef(bucket="docs-bucket", key="inbox/a.pdf", version_id=version, doc_id="a-1",
                                   sha256=hashlib.sha256(data).hexdigest(), size=len(data), kind="pdf",
                                   media_type="application/pdf")
            reset_clients()
            result = extract_text(TaskInput(execution_id="e1", state=PipelineState(
                execution_id="e1", document=document, route="native")))
    finally:
        get_settings.cache_clear()
    assert result.state.route == route
    assert (result.state.text is None) == (mode == "ocr")  # OCR'd text is written by the Textract stages
