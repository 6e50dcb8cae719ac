"""The training code a deployed stack runs: the FineTuneStart package carries training/, the archive is
reproducible byte for byte, and it reaches S3 once per content, by a conditional write."""

import io
import os
import shutil
import tarfile

import boto3
import pytest
from moto import mock_aws

from docpipe.clients import reset_clients
from docpipe.training_code import code_key, ensure_uploaded, source_archive
from tests.conftest import ROOT

PACKAGED = ROOT / "functions" / "finetune_start" / "training"


@pytest.fixture
def code(tmp_path):
    directory = tmp_path / "training"
    shutil.copytree(ROOT / "training", directory, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def test_the_start_function_package_carries_the_repository_training_code():
    # sam build copies what the link points to (scripts/sam_check.sh checks the built package too)
    assert (PACKAGED / "train.py").read_bytes() == (ROOT / "training" / "train.py").read_bytes()
    assert source_archive(PACKAGED) == source_archive(ROOT / "training")


def test_the_archive_depends_only_on_paths_contents_and_modes(code):
    first = source_archive(code)
    for path in code.iterdir():
        os.utime(path, (1, 1))  # a fresh checkout: other times
    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "train.cpython-313.pyc").write_bytes(b"compiled")
    assert source_archive(code) == first
    with tarfile.open(fileobj=io.BytesIO(first.body), mode="r:gz") as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == sorted(p.name for p in (ROOT / "training").iterdir() if p.is_file())
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert first.body[4:8] == b"\0\0\0\0"  # no gzip timestamp either

    (code / "train.py").write_text((code / "train.py").read_text() + "\n# changed\n")
    changed = source_archive(code)
    assert changed.sha256 != first.sha256 and code_key("finetune/", changed) != code_key("finetune/", first)


def test_a_directory_without_the_entry_point_is_refused(code):
    (code / "train.py").unlink()
    with pytest.raises(FileNotFoundError, match="holds no train.py"):
        source_archive(code)


def test_the_archive_is_put_once_per_content_and_never_overwritten(code):
    with mock_aws():
        reset_clients()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="docs")
        s3.put_bucket_versioning(Bucket="docs", VersioningConfiguration={"Status": "Enabled"})
        uri = ensure_uploaded("docs", "finetune/", code)
        key = code_key("finetune/", source_archive(code))
        assert uri == f"s3://docs/{key}" and key.startswith("finetune/code/")
        assert ensure_uploaded("docs", "finetune/", code) == uri  # the second start finds it there
        versions = s3.list_object_versions(Bucket="docs", Prefix="finetune/code/")["Versions"]
        assert [v["Key"] for v in versions] == [key]  # one version: the conditional write did not overwrite
        body = s3.get_object(Bucket="docs", Key=key)["Body"].read()
        assert body == source_archive(code).body
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            assert archive.extractfile("train.py").read() == (code / "train.py").read_bytes()
    reset_clients()
