"""Where moto is less faithful than AWS in a way the offline runtime's threads expose, fixed in one place.

DynamoDB applies a conditional write atomically; moto checks the condition and writes without a lock, so two
handlers racing for the same document claim (re-delivered events, in threads here) could both win. The
runtime serializes moto's DynamoDB writes. tests/flows/test_offline_behaviour.py races four claims.
"""

from __future__ import annotations

import functools
import threading

from moto.dynamodb.models import DynamoDBBackend

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_LOCK = threading.RLock()


def make_dynamodb_writes_atomic() -> None:
    for name in _WRITES:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "docpipe_atomic", False):
            continue

        @functools.wraps(method)
        def locked(self, *args, _method=method, **kwargs):
            with _LOCK:
                return _method(self, *args, **kwargs)

        locked.docpipe_atomic = True
        setattr(DynamoDBBackend, name, locked)
