"""One docpipe process per data directory: a second waits (saying for whom), then gives up clearly."""

import os
import threading

import pytest

from docpipe_local.data_dir_lock import DataDirLock


def test_a_second_holder_waits_for_the_first_and_says_so(tmp_path):
    messages = []
    first = DataDirLock(tmp_path, 0).__enter__()
    threading.Timer(0.5, first.__exit__, (None, None, None)).start()
    with DataDirLock(tmp_path, 30, messages.append):
        pass
    assert len(messages) == 1
    assert f"pid {os.getpid()}" in messages[0] and "waiting up to 30 s" in messages[0]


def test_a_second_holder_gives_up_after_its_bound_naming_the_holder(tmp_path):
    with DataDirLock(tmp_path, 0):
        with pytest.raises(RuntimeError) as refused:
            with DataDirLock(tmp_path, 0.2):
                pass
    assert f"pid {os.getpid()}" in str(refused.value) and "nothing was changed" in str(refused.value)
    with DataDirLock(tmp_path, 0):  # released by the first holder: free again
        pass


def test_an_unreadable_holder_note_still_gives_a_message(tmp_path):
    with DataDirLock(tmp_path, 0):
        (tmp_path / "runtime.lock.holder").write_text("not json")
        with pytest.raises(RuntimeError, match="^another docpipe process is still using"):
            with DataDirLock(tmp_path, 0):
                pass
