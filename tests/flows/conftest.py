import pytest

from docpipe_local.runtime import OfflineRuntime

from .targets import OfflineTarget, deployed_target_or_reason


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    with OfflineRuntime(home=tmp_path_factory.mktemp("docpipe-home"), persist=False) as runtime:
        yield OfflineTarget(runtime)


@pytest.fixture(scope="module", params=["offline", "deployed"])
def target(request, offline):
    """Every flow runs offline; the same flow runs against a deployed stack when one is configured."""
    if request.param == "offline":
        return offline
    deployed, reason = deployed_target_or_reason()
    if deployed is None:
        pytest.skip(reason)
    return deployed
