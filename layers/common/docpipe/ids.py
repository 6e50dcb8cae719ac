"""Names derived from an object: the decoded key and the document id."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import unquote_plus


def decode_event_key(raw_key: str) -> str:
    """S3 event keys are URL-encoded with '+' for space; decode exactly once ('%2B' is a literal '+')."""
    return unquote_plus(raw_key)


def doc_id_for(bucket: str, key: str, version_id: str | None, sha256: str) -> str:
    """A readable, stable id: a slug of the file name plus a hash of where and what the object is.

    A re-delivered event for the same object version maps to the same id (idempotency).
    """
    digest = hashlib.sha256("\n".join([bucket, key, version_id or "", sha256]).encode()).hexdigest()[:16]
    stem = unicodedata.normalize("NFKD", PurePosixPath(key).stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:40] or "document"
    return f"{slug}-{digest}"
