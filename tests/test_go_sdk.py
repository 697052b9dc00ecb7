"""The AWS SDK for Go v2 (what Terraform's AWS provider uses) through
``credential_process = credproc get dev``: its processcreds provider runs the
command with ``sh -c``, passes stdin and stderr through to the user and gives
up after one minute. So, unlike under botocore, what credproc prints on stderr
when it succeeds is seen: only the one-time key-file note may be there."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox, credproc_executable
from sdk_clients import account_of, go_client

SOURCE_KEYS = "[default]\naws_access_key_id = AKIADEFAULTPROFILE01\naws_secret_access_key = default-profile-secret\n"


def go_user(sandbox: Sandbox, config: str) -> dict[str, str]:
    """A Go user: a credproc profile selected by AWS_PROFILE, the source keys in
    ~/.aws/credentials (Go would prefer keys in the environment to any profile)."""
    sandbox.write_config(config)
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[profile dev]\ncredential_process = {credproc_executable()} get dev\nregion = us-east-2\n"
    )
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(SOURCE_KEYS)
    env = {
        name: value for name, value in sandbox.env.items() if name not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    # The key file store (what a headless machine without a keychain gets), not the tests' keyring.
    env.pop("PYTHON_KEYRING_BACKEND")
    return {**env, "AWS_PROFILE": "dev"}


def test_a_cold_chain_fits_the_minute_and_the_user_sees_only_the_key_file_note_once(
    sandbox: Sandbox, go_whoami: Path
) -> None:
    env = go_user(sandbox, TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')
    client = go_client(go_whoami)
    started = time.monotonic()
    cold = client.whoami(env)
    took = time.monotonic() - started
    assert account_of(cold) == DEV_ACCOUNT, cold.stderr
    # Go passed credproc's stderr through: the one-time note, nothing else.
    assert cold.stderr.strip().splitlines() == [
        f"credproc: created the cache key file {sandbox.env['CREDPROC_DATA_DIR']}/cache.key (no OS keychain available)"
    ], cold.stderr
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2
    print(f"cold chain through the Go SDK: {took:.1f} s (its processcreds timeout is 60 s)")
    warm = client.whoami(env)
    assert account_of(warm) == DEV_ACCOUNT and warm.stderr == ""
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2


def test_a_failure_shows_credprocs_one_line_to_the_go_user(sandbox: Sandbox, go_whoami: Path) -> None:
    env = go_user(sandbox, TWO_HOP_CONFIG)
    Path(env["AWS_CONFIG_FILE"]).write_text(f"[profile dev]\ncredential_process = {credproc_executable()} get nosuch\n")
    result = go_client(go_whoami).whoami(env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("credproc: ")]
    assert len(lines) == 1 and "nosuch" in lines[0] and "(fix: " in lines[0], result.stderr


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="no pseudo-terminals on this platform")
def test_the_mfa_prompt_reaches_the_go_user_on_the_terminal(sandbox: Sandbox, go_whoami: Path) -> None:
    from test_mfa import CODE, answer_mfa_on_a_terminal, mfa_config

    env = go_user(sandbox, mfa_config(None))
    result = answer_mfa_on_a_terminal([str(go_whoami)], env)
    assert result.returncode == 0, result.stderr
    assert account_of(result) == DEV_ACCOUNT
    assert "MFA code" not in result.stderr  # the prompt went to the terminal, not through Go's stderr
    [token_call] = sandbox.sts.recorder.of("GetSessionToken")
    assert token_call.access_key_id == "AKIADEFAULTPROFILE01" and token_call.params["TokenCode"] == CODE
