"""The cost report of a deployed stack, from the manifests in its documents bucket, with your credentials:

    python -m docpipe_local.cost --bucket <DocumentsBucket> [--since DATE] [--json] [--monthly N] [--pages-per-doc N]

It needs s3:ListBucket and s3:GetObject on the bucket (and kms:Decrypt on its key), nothing else; it runs
where you run it and leaves nothing behind in the account.
"""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from docpipe_local.cost import S3ManifestSource, add_arguments, run


def main(argv: list[str] | None = None, s3: object | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docpipe_local.cost",
                                     description="What a deployed docpipe stack's processing cost at list prices.")
    parser.add_argument("--bucket", required=True, help="the stack's documents bucket (output DocumentsBucket)")
    parser.add_argument("--profile", help="an AWS profile to use (default: the usual credential chain)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if s3 is None:
        import boto3

        s3 = boto3.Session(profile_name=args.profile).client("s3")
    from rich.console import Console

    try:
        return run(S3ManifestSource(s3, args.bucket), args, Console())
    except (ClientError, BotoCoreError) as err:
        print(f"docpipe cost: could not read s3://{args.bucket}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
