"""Translate and speak: a Map over the target languages, each branch independent."""

import subprocess

import pytest

from tests.unit.test_errors import CLASS_NAME

NOTE = (b"Harbor Bridge notice. The Pier 2 bearings will be replaced from March to June 2026. "
        b"One lane stays open in each direction, and full closures are limited to two weekends a year.\n")


def duration_seconds(target, key: str, tmp_path) -> float:
    path = tmp_path / key.rsplit("/", 1)[-1]
    path.write_bytes(target.read(key))
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


@pytest.mark.requires(binaries=["soxi"], why="The audio's length is read with soxi (Debian sox).")
def test_every_language_gets_a_translation_and_decodable_audio(target, tmp_path):
    result = target.process(NOTE, "notice-languages.txt", metadata={"languages": "es,ca", "audio-formats": "mp3,ogg"})
    manifest = result.manifest()
    assert {lang: outcome["status"] for lang, outcome in manifest["languages"].items()} == {"es": "SUCCEEDED",
                                                                                           "ca": "SUCCEEDED"}
    english = target.read(f"out/{result.result['doc_id']}/summary.md").decode()
    for language in ("es", "ca"):
        translated = target.read(f"out/{result.result['doc_id']}/summary.{language}.md").decode()
        assert translated.strip() and translated != english
        for ext in ("mp3", "ogg"):
            # the length of the speech (its content, not how long it took to make): 1.5 to 6 words a second
            seconds = duration_seconds(target, f"out/{result.result['doc_id']}/audio.{language}.{ext}", tmp_path)
            words = len(translated.split())
            assert words / 6 < seconds < words * 1.5, f"{language}.{ext}: {seconds:.1f} s for {words} words"
    assert "puente" in target.read(f"out/{result.result['doc_id']}/summary.es.md").decode().lower()
    assert manifest["usage"]["characters_translated"] > 0 and manifest["usage"]["characters_synthesized"] > 0
    assert {"translate:es", "speak:ca"} <= {stage["name"] for stage in manifest["stages"]}


@pytest.mark.offline_only("Amazon Translate supports English to German; only the offline engine lacks the pair "
                          "(Debian ships no Apertium en-de), so only offline does this branch fail")
def test_a_pair_not_installed_offline_fails_only_its_branch_saying_so(offline):
    result = offline.process(NOTE, "notice-de.txt", metadata={"languages": "es,de"})
    assert result.result["status"] == "SUCCEEDED" and "de" in result.result["reason"]
    languages = result.manifest()["languages"]
    assert languages["es"]["status"] == "SUCCEEDED"
    reason = languages["de"]["reason"]
    assert languages["de"]["status"] == "FAILED"
    # what a person reads: the pair is missing on this machine, and AWS is not the one refusing it
    assert "en to de is not installed offline" in reason and "Amazon Translate supports en to de" in reason, reason
    assert "Unsupported" not in reason and not CLASS_NAME.search(reason), reason
    assert not any("summary.de" in output for output in result.result["outputs"])
