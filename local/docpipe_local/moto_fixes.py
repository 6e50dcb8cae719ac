"""Where moto is less faithful than AWS in a way the offline runtime's threads expose, fixed in one place.

- DynamoDB applies a conditional write atomically; moto checks the condition and writes without a lock, so
  two handlers racing for the same document claim (re-delivered events, in threads here) could both win. The
  runtime serializes moto's DynamoDB writes. tests/flows/test_offline_behaviour.py races four claims.
- Step Functions parses a state machine once; moto's interpreter parses the definition again (ANTLR, in pure
  Python) for every execution: ~90 ms of CPU each for the document pipeline, holding the GIL while the
  documents of one upload start together. The parsed program is declarative (executions keep their state in
  their own Environment, and moto's Map iterations already evaluate one parsed ItemProcessor from several
  threads at once), so executions of one definition share it; the runtime caches the parse.
"""

from __future__ import annotations

import functools
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

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


def parse_each_definition_once() -> None:
    parse = AmazonStateLanguageParser.parse
    if getattr(parse, "docpipe_cached", False):
        return
    # CreateStateMachine's validation parses first, so executions find the program parsed
    cached = functools.lru_cache(maxsize=64)(parse)
    cached.docpipe_cached = True
    AmazonStateLanguageParser.parse = staticmethod(cached)
