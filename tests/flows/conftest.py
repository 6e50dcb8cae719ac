import os

import pytest

from docpipe_local.runtime import OfflineRuntime

from .targets import EdgeTarget, OfflineTarget, deployed_target_or_reason

# DOCPIPE_TEST_TARGET=edge: the flows that take `target` run over HTTP against `docpipe serve` in another
# process instead of in-process; offline-only flows still use the in-process runtime.
LOCAL_TARGET = "edge" if os.environ.get("DOCPIPE_TEST_TARGET") == "edge" else "offline"


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    with OfflineRuntime(home=tmp_path_factory.mktemp("docpipe-home"), persist=False) as runtime:
        yield OfflineTarget(runtime)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    from tests.edge.served import ServedRuntime

    with ServedRuntime(tmp_path_factory.mktemp("docpipe-edge") / "home") as served:
        yield EdgeTarget(served)


@pytest.fixture(scope="module", params=[LOCAL_TARGET, "deployed"])
def target(request):
    """Every flow runs offline (in-process, or over HTTP with DOCPIPE_TEST_TARGET=edge); the same flow runs
    against a deployed stack when one is configured."""
    if request.param in ("offline", "edge"):
        return request.getfixturevalue(request.param)
    deployed, reason = deployed_target_or_reason()
    if deployed is None:
        pytest.skip(reason)
    return deployed
