"""`docpipe` usage errors: found before any runtime starts (nothing uploaded, nothing changed), exit status 2,
one line on stderr that says what is wrong in words."""

from __future__ import annotations

import pytest

from docpipe_local import cli


@pytest.fixture
def no_runtime(home, monkeypatch):
    monkeypatch.setenv("DOCPIPE_HOME", str(home))
    monkeypatch.setattr(cli, "OfflineRuntime", None)  # starting one would fail the test


def _refused(capsys, *argv: str) -> str:
    assert cli.main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    return captured.err


def test_unknown_languages_are_refused_naming_the_supported_ones(no_runtime, tmp_path, capsys):
    note = tmp_path / "note.txt"
    note.write_text("A note.\n")
    err = _refused(capsys, "run", str(note), "--languages", "es,xx")
    assert err.startswith("docpipe run: --languages: 'xx' is not a language Amazon Translate supports")
    assert "es, es-MX, et" in err and "pt-PT" in err
    assert "'zz', 'qq' are not languages" in _refused(capsys, "watch", str(tmp_path), "--languages", "zz, QQ")
    assert "no language given" in _refused(capsys, "run", str(note), "--languages", " , ")


def test_languages_are_normalized_before_anything_starts(tmp_path):
    assert cli._languages(" es, CA ,es,pt-pt") == ("es,ca,pt-PT", None)


def test_two_files_that_would_share_an_inbox_name_are_refused(no_runtime, tmp_path, capsys):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "report.txt").write_text(f"Report from {folder}.\n")
    err = _refused(capsys, "run", str(tmp_path / "x" / "report.txt"), str(tmp_path / "y" / "report.txt"))
    assert "would both be uploaded as 'report.txt'" in err and "give the folder that holds both" in err


def test_nothing_to_do_is_a_usage_error_that_names_what_was_skipped(no_runtime, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _refused(capsys, "run", str(empty)) == f"docpipe run: nothing to do: no files in {empty}\n"
    (empty / "gone.txt").symlink_to(tmp_path / "deleted.txt")
    err = _refused(capsys, "run", str(empty))
    assert f"1 skipped: {empty / 'gone.txt'}: a link to {tmp_path / 'deleted.txt'}, which does not exist" in err
    assert "which does not exist" in _refused(capsys, "run", str(empty / "gone.txt"))  # given directly


@pytest.mark.parametrize("command", ["status", "reap", "wake docpipe-local-generation"])
def test_a_negative_idle_window_is_a_usage_error(no_runtime, capsys, command):
    err = _refused(capsys, "endpoints", *command.split(), "--idle-minutes", "-5")
    assert err == "docpipe endpoints: --idle-minutes must be 0 or more, not -5\n"


def test_ask_help_states_the_question_limits(capsys):
    with pytest.raises(SystemExit):
        cli.main(["ask", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "3 to 2,000 characters" in help_text and "1 to 30 (default 5)" in help_text
