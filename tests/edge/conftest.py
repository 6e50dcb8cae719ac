import subprocess

import boto3
import pytest
from botocore.config import Config

from tests.edge.served import REPO, ServedRuntime

AWS_CLI = REPO / ".venv-awscli" / "bin" / "aws"  # its own environment: it pins another botocore (bootstrap.sh)
BUCKET = "docpipe-local-documents-123456789012-us-east-1"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One `docpipe serve` per test module, in its own process and data directory."""
    with ServedRuntime(tmp_path_factory.mktemp("edge") / "home") as server:
        yield server


@pytest.fixture(scope="module")
def client(served):
    """boto3 clients of this process pointed at the edge (tests that must not share the process use `sdk`)."""
    def make(service: str, **kwargs):
        return boto3.client(service, endpoint_url=served.url, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}), **kwargs)
    return make


@pytest.fixture(scope="module")
def aws(served):
    """Run the AWS CLI v1 against the edge; returns the completed process (check=True)."""
    assert AWS_CLI.exists(), f"{AWS_CLI} missing: run scripts/bootstrap.sh --dev"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(AWS_CLI), *args], env=served.client_env, capture_output=True, text=True,
                              timeout=600)
        if check:
            assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
        return done
    return run
