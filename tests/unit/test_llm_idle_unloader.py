"""The local model host unloads an idle model within one window and reloads it on the next call."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is the offline text-generation engine")

from docpipe_local.engines.llm import IdleUnloader, LocalLLM, ModelFilesMissing, default_model_path  # noqa: E402


@pytest.fixture(scope="module")
def llm():
    try:
        default_model_path()
    except ModelFilesMissing as err:
        pytest.fail(f"the local model is part of the offline install: {err}")
    host = LocalLLM(n_ctx=512, verify=False)  # the pinned hash is checked by test_converse_emulator
    yield host
    host.unload()


def test_an_idle_model_is_unloaded_within_one_window_and_reloads(llm):
    unloader = IdleUnloader(llm, window_s=0.6, interval_s=0.05).start()
    try:
        first = llm.generate([{"role": "user", "content": "Say hi."}], max_tokens=3, temperature=0)
        assert first.output_tokens > 0 and llm.loaded
        loads = llm.loads
        deadline = time.monotonic() + 0.6 + 1.0  # one window, plus the check interval and a loaded machine's slack
        while llm.loaded and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not llm.loaded and unloader.unloads == 1
        second = llm.generate([{"role": "user", "content": "Say hi."}], max_tokens=3, temperature=0)
        assert second.text == first.text and llm.loads == loads + 1  # same answer from the reloaded model
    finally:
        unloader.stop()


def test_a_model_in_use_is_not_unloaded(llm):
    unloader = IdleUnloader(llm, window_s=0.3, interval_s=10)  # checked by hand, not by the timer
    llm.load()
    llm.last_used = time.monotonic() - 5
    held, release = threading.Event(), threading.Event()

    def generating() -> None:  # a generate in progress (another thread) holds the host's lock
        with llm._lock:
            held.set()
            release.wait(5)
    worker = threading.Thread(target=generating)
    worker.start()
    held.wait(5)
    try:
        assert unloader.check() is False and llm.loaded
    finally:
        release.set()
        worker.join()
    llm.last_used = time.monotonic()
    assert unloader.check() is False and llm.loaded  # used within the window
    llm.last_used = time.monotonic() - 1
    assert unloader.check() is True and not llm.loaded
