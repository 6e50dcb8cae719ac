"""The local model host unloads an idle model within one window and reloads it on the next call.

The windows are measured on a clock the test moves (the host's ``time.monotonic``), and the unloader's
checks are observed as they happen: nothing depends on how fast this machine is."""

from __future__ import annotations

import threading
import types

import pytest

from docpipe_local.engines import llm as llm_module
from docpipe_local.engines.llm import IdleUnloader, LocalLLM, ModelFilesMissing, default_model_path

pytestmark = pytest.mark.requires(modules=["llama_cpp"], why="llama-cpp-python is the offline text-generation engine.")


class Clock:
    """The host's monotonic clock, moved by the test."""

    def __init__(self, monkeypatch):
        self.now = 1000.0
        monkeypatch.setattr(llm_module, "time", types.SimpleNamespace(monotonic=lambda: self.now))


class ObservedChecks:
    """Counts the unloader's background checks, so the test can wait for the next ones."""

    def __init__(self, unloader: IdleUnloader):
        self.count, self._cond, check = 0, threading.Condition(), unloader.check

        def counted() -> bool:
            result = check()
            with self._cond:
                self.count += 1
                self._cond.notify_all()
            return result
        unloader.check = counted

    def wait_for(self, checks: int) -> None:
        """Wait until `checks` more checks have run (each begun after this call: the first may be one in
        flight, so one more than asked)."""
        with self._cond:
            target = self.count + checks + 1
            assert self._cond.wait_for(lambda: self.count >= target, 60), "the unloader stopped checking"


@pytest.fixture(scope="module")
def llm():
    try:
        default_model_path()
    except ModelFilesMissing as err:
        pytest.fail(f"the local model is part of the offline install: {err}")
    host = LocalLLM(n_ctx=512, verify=False)  # the pinned hash is checked by test_converse_emulator
    yield host
    host.unload()


def test_an_idle_model_is_unloaded_within_one_window_and_reloads(llm, monkeypatch):
    clock = Clock(monkeypatch)
    unloader = IdleUnloader(llm, window_s=60, interval_s=0.01)
    checks = ObservedChecks(unloader)
    unloader.start()
    try:
        first = llm.generate([{"role": "user", "content": "Say hi."}], max_tokens=3, temperature=0)
        assert first.output_tokens > 0 and llm.loaded
        loads, last_call = llm.loads, clock.now
        clock.now = last_call + 59.9  # idle, but not for a whole window: checks leave it loaded
        checks.wait_for(2)
        assert llm.loaded and unloader.unloads == 0
        clock.now = last_call + 60  # one window idle: the next check unloads it
        checks.wait_for(1)
        assert not llm.loaded and unloader.unloads == 1
        second = llm.generate([{"role": "user", "content": "Say hi."}], max_tokens=3, temperature=0)
        assert second.text == first.text and llm.loads == loads + 1  # same answer from the reloaded model
    finally:
        unloader.stop()


def test_a_model_in_use_is_not_unloaded(llm, monkeypatch):
    clock = Clock(monkeypatch)
    unloader = IdleUnloader(llm, window_s=0.3, interval_s=10)  # checked by hand, not by the timer
    llm.load()
    llm.last_used = clock.now - 5
    held, release = threading.Event(), threading.Event()

    def generating() -> None:  # a generate in progress (another thread) holds the host's lock
        with llm._lock:
            held.set()
            release.wait(60)
    worker = threading.Thread(target=generating)
    worker.start()
    assert held.wait(60)
    try:
        assert unloader.check() is False and llm.loaded
    finally:
        release.set()
        worker.join()
    llm.last_used = clock.now
    assert unloader.check() is False and llm.loaded  # used within the window
    clock.now += 1  # idle for more than the window
    assert unloader.check() is True and not llm.loaded
