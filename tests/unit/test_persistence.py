"""Offline state survives between runtimes (processes), in the data directory."""

from docpipe_local.runtime import OfflineRuntime


def test_objects_and_items_survive_a_restart(home):
    body = b"x" * 10_000  # large enough to be stored as a content-addressed blob
    with OfflineRuntime(home=home) as runtime:
        runtime.s3.put_object(Bucket=runtime.bucket, Key="work/a/blob.bin", Body=body)
        runtime.dynamodb.put_item(TableName=runtime.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                  Item={"doc_id": {"S": "a"}, "status": {"S": "SUCCEEDED"}})
    assert any(path.stat().st_size == len(body) for path in (home / "state" / "blobs").iterdir())
    with OfflineRuntime(home=home) as runtime:
        assert runtime.read("work/a/blob.bin") == body
        item = runtime.dynamodb.get_item(TableName=runtime.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                         Key={"doc_id": {"S": "a"}})["Item"]
        assert item["status"]["S"] == "SUCCEEDED"
        # a bucket restored from disk is registered: creating more objects does not replace it
        runtime.s3.put_object(Bucket=runtime.bucket, Key="work/b", Body=b"1")
        assert runtime.read("work/a/blob.bin") == body


def test_state_from_another_moto_version_is_skipped_with_a_warning(home):
    with OfflineRuntime(home=home) as runtime:
        runtime.s3.put_object(Bucket=runtime.bucket, Key="work/a", Body=b"1")
    path = home / "state" / "aws-state.pickle"
    path.write_bytes(path.read_bytes().replace(b"5.2.5", b"0.0.0"))  # as if an older moto had written it
    with OfflineRuntime(home=home) as runtime:
        assert "moto 0.0.0" in runtime.warnings[0]
        assert runtime.s3.list_objects_v2(Bucket=runtime.bucket).get("KeyCount") == 0


def test_a_second_process_on_the_same_data_directory_is_refused(home):
    import pytest

    with OfflineRuntime(home=home):
        other = OfflineRuntime(home=home)
        with pytest.raises(RuntimeError, match="another docpipe process"):
            other.__enter__()
