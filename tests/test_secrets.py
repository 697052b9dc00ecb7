"""Secrets never leak: not on stderr (even with --verbose, even on error
paths), not in plaintext on disk. The secrets checked are the source's secret
key and every secret and session token credproc obtained, read back from the
encrypted cache with the user's key."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox
from local_sts import sts_error

from credproc import keystore
from credproc.cache import Cache
from credproc.log import Log

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"


def cached_secrets(sandbox: Sandbox) -> set[str]:
    """Every secret key and session token in the cache (decrypted with the user's key)."""
    key, _ = keystore.load_key("auto", sandbox.env, Log())
    cache = Cache(sandbox.cache_dir, key, Log())
    found: set[str] = set()
    for _, entry in cache.entries():
        found.add(entry.credentials.secret_access_key)
        if entry.credentials.session_token:
            found.add(entry.credentials.session_token)
    return found


def files_under(root: Path) -> list[Path]:
    return [Path(folder) / name for folder, _, names in os.walk(root) for name in names]


def test_no_secret_on_stderr_or_in_plain_files(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    stderr: list[str] = []
    outputs: list[str] = []
    for args in (
        ("get", "dev", "--verbose"),  # cold
        ("get", "dev", "--verbose"),  # warm
        ("get", "prod", "--verbose", "--refresh"),
        ("cache", "list", "--verbose"),
        ("cache", "list", "--json", "--verbose"),
        ("accounts", "--json", "--verbose"),
    ):
        result = sandbox.run(*args)
        assert result.returncode == 0, result.stderr
        stderr.append(result.stderr)
        outputs.append(result.stdout)

    # error paths, with --verbose (which adds tracebacks of the cause)
    sandbox.sts.recorder.faults.append(
        lambda params: sts_error("AccessDenied", "not allowed") if params.get("RoleArn") == DEV_ROLE else None
    )
    denied = sandbox.run("get", "dev", "--verbose", "--refresh")
    assert denied.returncode == 0  # the still-valid cached session is handed out with a warning
    stderr.append(denied.stderr)
    denied_no_cache = sandbox.run("get", "dev", "--verbose", "--no-cache")
    assert denied_no_cache.returncode == 4
    stderr.append(denied_no_cache.stderr)

    secrets = cached_secrets(sandbox) | {sandbox.env["AWS_SECRET_ACCESS_KEY"]}
    assert len(secrets) >= 5  # source secret + secret and token of hub, dev, prod sessions
    for text in stderr:
        for secret in secrets:
            assert secret not in text
    # cache list / accounts print no secret either (only `get` prints credentials)
    for text in outputs[3:]:
        for secret in secrets:
            assert secret not in text
    # nothing on disk holds them in the clear: cache, data dir, config, HOME, temp files
    for path in files_under(sandbox.root):
        data = path.read_bytes()
        for secret in secrets - {sandbox.env["AWS_SECRET_ACCESS_KEY"]}:
            assert secret.encode() not in data, path
