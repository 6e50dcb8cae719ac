"""AWS clients: created lazily, once per cold start, shared by every invocation of the container.

boto3 comes from the Lambda runtime; importing it is deferred until a client is first needed so a
handler's cold import stays small.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


@lru_cache(maxsize=None)
def _client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Retries: adaptive mode backs off on throttling; Step Functions retries what still fails.
    config = Config(retries={"mode": "adaptive", "max_attempts": 4}, user_agent_extra="docpipe")
    return boto3.client(service, config=config)


def client(service: str) -> Any:
    with _lock:  # boto3 client creation is not thread-safe
        return _client(service)


def reset_clients() -> None:
    """Forget cached clients (the offline runtime calls this when it starts a fresh mock)."""
    with _lock:
        _client.cache_clear()
