"""The code a fine-tuning job runs: training/ as script mode's ``sourcedir.tar.gz``, in S3 by content hash.

The FineTuneStart function carries training/ in its own package (functions/finetune_start/training links to
the repository's training/, and `sam build` copies the files in), so a deployed stack needs no upload step:
StartTraining builds the archive and puts it at ``<finetune prefix>code/<sha256>/sourcedir.tar.gz`` unless
that key already holds it (a conditional write, If-None-Match: *). The archive is reproducible (sorted
members, fixed times, owners and modes, no gzip timestamp) and the key is the hash of its tar stream, so
unchanged code keeps its key across containers and deploys, and a job always runs the code its function was
deployed with.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from docpipe.clients import client

ENTRY_POINT = "train.py"  # the job's sagemaker_program


@dataclass(frozen=True)
class SourceArchive:
    body: bytes  # sourcedir.tar.gz
    sha256: str  # of the uncompressed tar stream: the content, whatever zlib build compressed it


def _members(directory: Path) -> list[Path]:
    return sorted((path for path in directory.rglob("*") if path.is_file() and path.suffix != ".pyc"
                   and "__pycache__" not in path.relative_to(directory).parts),
                  key=lambda path: path.relative_to(directory).as_posix())


def source_archive(directory: Path) -> SourceArchive:
    """``directory`` as a tar.gz whose bytes depend only on the files' paths, contents and executable bits."""
    members = _members(directory)
    if not any(path.relative_to(directory).as_posix() == ENTRY_POINT for path in members):
        raise FileNotFoundError(f"no training code to upload: {directory} holds no {ENTRY_POINT}")
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in members:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(directory).as_posix())
            info.size, info.mtime, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0, 0, "", ""
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            archive.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as stream:
        stream.write(tar.getvalue())
    return SourceArchive(compressed.getvalue(), hashlib.sha256(tar.getvalue()).hexdigest())


def code_key(prefix: str, archive: SourceArchive) -> str:
    return f"{prefix}code/{archive.sha256}/sourcedir.tar.gz"


def ensure_uploaded(bucket: str, prefix: str, directory: Path) -> str:
    """The ``s3://`` URI of ``directory``'s archive, written first if the key does not hold it yet."""
    archive = source_archive(directory)
    key = code_key(prefix, archive)
    s3 = client("s3")
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=archive.body, ContentType="application/gzip", IfNoneMatch="*")
    except s3.exceptions.ClientError as err:
        # 412: an earlier start already put this content there, which is all the job needs
        if err.response.get("Error", {}).get("Code") != "PreconditionFailed":
            raise
    return f"s3://{bucket}/{key}"
