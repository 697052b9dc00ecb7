"""Every S3 bucket in the selected accounts, and whether it blocks public access.

    python buckets_across_accounts.py 'prod-*' --label eu

Credentials come from credproc exactly as ``credproc get`` obtains them (one
hub AssumeRole for all the accounts behind it, the encrypted cache), and each
boto3 session refreshes itself through credproc, so the script may run for
hours. Exit code: 0, or credproc's for a bad selector, or 1 when an account
could not be read.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

import credproc
from credproc.errors import CredprocError


def buckets(account: credproc.Account) -> list[str]:
    """One line per bucket of ``account``: alias, bucket, and PUBLIC where nothing blocks it."""
    s3 = credproc.boto3_session(account.alias).client("s3")
    lines = []
    for bucket in s3.list_buckets().get("Buckets", []):
        name = str(bucket["Name"])
        try:
            block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
            public = not all(block.values())
        except s3.exceptions.ClientError:  # no public access block at all
            public = True
        lines.append(f"{account.alias}\t{account.id}\t{name}\t{'PUBLIC' if public else 'blocked'}")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("selectors", nargs="*", help="aliases, account ids or globs (default: every account)")
    parser.add_argument("--label", action="append", default=[], help="only accounts with this label (repeatable)")
    args = parser.parse_args(argv)
    try:
        picked = credproc.accounts(*args.selectors, labels=args.label)
    except CredprocError as error:
        print(error.one_line(), file=sys.stderr)
        return int(error.exit_code)
    failed = 0
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = {account.alias: pool.submit(buckets, account) for account in picked}
        for alias, future in futures.items():
            try:
                print("\n".join(future.result()) or f"{alias}\t-\tno buckets")
            except CredprocError as error:  # this account's credentials: the others go on
                print(f"{alias}: {error.one_line()}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
