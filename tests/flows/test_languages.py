"""Translate and speak: a Map over the target languages, each branch independent."""

import subprocess

NOTE = (b"Harbor Bridge notice. The Pier 2 bearings will be replaced from March to June 2026. "
        b"One lane stays open in each direction, and full closures are limited to two weekends a year.\n")


def duration_seconds(target, key: str, tmp_path) -> float:
    path = tmp_path / key.rsplit("/", 1)[-1]
    path.write_bytes(target.read(key))
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


def test_every_language_gets_a_translation_and_decodable_audio(offline, tmp_path):
    key = offline.inbox + "notice-languages.txt"
    response = offline.s3.put_object(Bucket=offline.bucket, Key=key, Body=NOTE,
                                     Metadata={"languages": "es,ca", "audio-formats": "mp3,ogg"})
    from docpipe_local.trigger import s3_event
    event = s3_event("Object Created", offline.bucket, key, size=len(NOTE), etag=response["ETag"],
                     version_id=response["VersionId"], reason="PutObject")
    result = offline.finish(offline.runtime.emit(event))[0]
    manifest = result.manifest()
    assert {lang: outcome["status"] for lang, outcome in manifest["languages"].items()} == {"es": "SUCCEEDED",
                                                                                           "ca": "SUCCEEDED"}
    english = offline.read(f"out/{result.result['doc_id']}/summary.md").decode()
    for language in ("es", "ca"):
        translated = offline.read(f"out/{result.result['doc_id']}/summary.{language}.md").decode()
        assert translated.strip() and translated != english
        for ext in ("mp3", "ogg"):
            seconds = duration_seconds(offline, f"out/{result.result['doc_id']}/audio.{language}.{ext}", tmp_path)
            words = len(translated.split())
            assert words / 6 < seconds < words * 1.5, f"{language}.{ext}: {seconds:.1f} s for {words} words"
    assert "puente" in offline.read(f"out/{result.result['doc_id']}/summary.es.md").decode().lower()
    assert manifest["usage"]["characters_translated"] > 0 and manifest["usage"]["characters_synthesized"] > 0
    assert {"translate:es", "speak:ca"} <= {stage["name"] for stage in manifest["stages"]}


def test_an_unsupported_language_fails_only_its_branch(offline):
    key = offline.inbox + "notice-de.txt"
    response = offline.s3.put_object(Bucket=offline.bucket, Key=key, Body=NOTE, Metadata={"languages": "es,de"})
    from docpipe_local.trigger import s3_event
    event = s3_event("Object Created", offline.bucket, key, size=len(NOTE), etag=response["ETag"],
                     version_id=response["VersionId"], reason="PutObject")
    result = offline.finish(offline.runtime.emit(event))[0]
    assert result.result["status"] == "SUCCEEDED" and "de" in result.result["reason"]
    languages = result.manifest()["languages"]
    assert languages["es"]["status"] == "SUCCEEDED"
    assert languages["de"]["status"] == "FAILED" and "Unsupported language pair" in languages["de"]["reason"]
    assert not any("summary.de" in output for output in result.result["outputs"])
