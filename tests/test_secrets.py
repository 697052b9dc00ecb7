"""Secrets never leak: not on stderr (even with --verbose, even on error
paths), not in plaintext on disk. The secrets checked are the source's secret
key and every secret and session token credproc obtained, read back from the
encrypted cache with the user's key."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest
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

    # A refusal below drops dev's cached session: read the secrets first.
    secrets = cached_secrets(sandbox) | {sandbox.env["AWS_SECRET_ACCESS_KEY"]}
    # error paths, with --verbose (which adds tracebacks of the cause)
    sandbox.sts.recorder.faults.append(
        lambda params: sts_error("AccessDenied", "not allowed") if params.get("RoleArn") == DEV_ROLE else None
    )
    denied = sandbox.run("get", "dev", "--verbose", "--refresh")
    assert denied.returncode == 4  # refused: the cached session is dropped, not handed out
    stderr.append(denied.stderr)
    denied_no_cache = sandbox.run("get", "dev", "--verbose", "--no-cache")
    assert denied_no_cache.returncode == 4
    stderr.append(denied_no_cache.stderr)

    secrets |= cached_secrets(sandbox)
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


MFA_CODE = "918273"
ORG_READER = "arn:aws:iam::999999999999:role/OrgReader"
DENIED_ORG_READER = "arn:aws:iam::999999999999:role/DeniedOrgReader"
# Lists every process's command line (and, under `exec`, the secrets it was
# handed) into a JSON-lines file; given a second file it prints that file's
# content as an MFA code, so it can be the mfa_process too.
PROC_SCANNER = """\
import json, os, sys
lines = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                lines.append(handle.read().replace(b"\\0", b" ").decode("utf-8", "replace"))
        except OSError:
            pass
with open(sys.argv[1], "a") as out:
    handed = [os.environ.get(name, "") for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
    out.write(json.dumps({"cmdlines": lines, "handed": handed}) + "\\n")
if len(sys.argv) > 2:
    with open(sys.argv[2]) as code:
        print(code.read().strip())
"""


def secrets_printed(stdout: str) -> set[str]:
    """The secrets `get` (JSON) or `env` (export lines) printed by design."""
    found: set[str] = set()
    if stdout.startswith("{"):
        data = json.loads(stdout)
        found |= {data["SecretAccessKey"], data["SessionToken"]}
    for line in stdout.splitlines():
        for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if line.startswith(f"export {name}="):
                found.add(shlex.split(line.partition("=")[2])[0])
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc (Linux)")
def test_every_command_keeps_secrets_off_stderr_and_command_lines(sandbox: Sandbox) -> None:
    scanner = sandbox.root / "scan_proc.py"
    scanner.write_text(PROC_SCANNER)
    mfa_scans = sandbox.root / "mfa-scans.jsonl"
    exec_scans = sandbox.root / "exec-scans.jsonl"
    code_file = sandbox.root / "mfa-code.txt"
    code_file.write_text(MFA_CODE)
    mfa_process = shlex.join([sys.executable, str(scanner), str(mfa_scans), str(code_file)])
    sandbox.write_config(
        TWO_HOP_CONFIG.replace(
            "[source]\n",
            f'[source]\nmfa_serial = "arn:aws:iam::123456789012:mfa/tester"\nmfa_process = {json.dumps(mfa_process)}\n',
            1,
        )
    )
    secrets: set[str] = {sandbox.env["AWS_SECRET_ACCESS_KEY"], MFA_CODE}
    stderr: list[str] = []
    other_stdout: list[str] = []  # commands that print no credentials by design

    def run(code: int, *args: str, prints_credentials: bool = False) -> None:
        cut = args.index("--") if "--" in args else len(args)  # exec: the command comes last
        result = sandbox.run(*args[:cut], "--verbose", *args[cut:])
        assert result.returncode == code, (args, result.stderr)
        stderr.append(result.stderr)
        if prints_credentials:
            secrets.update(secrets_printed(result.stdout))
        else:
            other_stdout.append(result.stdout)

    # success paths; the first asks for the MFA code through the scanner
    run(0, "get", "dev", prints_credentials=True)
    run(0, "exec", "dev", "--", sys.executable, str(scanner), str(exec_scans))
    run(0, "env", "prod", prints_credentials=True)
    run(0, "get", "dev", "--format", "env", "--refresh", prints_credentials=True)
    run(0, "profiles")
    run(0, "profiles", "--write")
    run(0, "accounts", "--json")
    run(0, "accounts", "discover", "--role-arn", ORG_READER)
    run(0, "doctor", "--deep")
    run(0, "cache", "list", "--json")
    secrets |= cached_secrets(sandbox)
    run(0, "cache", "clear", "prod")

    # error paths: the target role denied (nothing cached to fall back on), then a rejected MFA code
    sandbox.sts.recorder.faults.append(
        lambda params: (
            sts_error("AccessDenied", "not allowed") if params.get("RoleArn") in (DEV_ROLE, DENIED_ORG_READER) else None
        )
    )
    run(4, "exec", "dev", "--no-cache", "--", "true")
    run(4, "env", "dev", "--no-cache")
    run(4, "accounts", "discover", "--role-arn", DENIED_ORG_READER)
    run(4, "doctor", "--deep")
    secrets |= cached_secrets(sandbox)
    run(0, "cache", "clear")
    sandbox.sts.recorder.faults.append(
        lambda params: (
            sts_error("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.")
            if params.get("Action") == "GetSessionToken"
            else None
        )
    )
    run(8, "get", "prod")

    exec_scan = [json.loads(line) for line in exec_scans.read_text().splitlines()]
    mfa_scan = [json.loads(line) for line in mfa_scans.read_text().splitlines()]
    assert len(exec_scan) == 1 and len(mfa_scan) >= 2  # the first get, and the rejected code
    assert all(exec_scan[0]["handed"])  # the command got its credentials, in the environment only
    secrets.update(exec_scan[0]["handed"])
    assert len(secrets) >= 8
    for text in stderr + other_stdout:
        for secret in secrets:
            assert secret not in text
    # While the mfa_process ran, credproc waited for it with a command line free of secrets.
    assert any("get dev --verbose" in line for line in mfa_scan[0]["cmdlines"])
    for scan in exec_scan + mfa_scan:
        for line in scan["cmdlines"]:
            for secret in secrets:
                assert secret not in line, line


def test_credentials_show_no_secret_in_a_repr_and_cannot_be_dumped_whole() -> None:
    """What a log line or a debugger shows of credentials (``%r``, ``str``), and
    what a careless ``json.dumps`` would write: never the secret key or token."""
    from credproc.aws_credentials import Credentials

    credentials = Credentials("ASIAEXAMPLEKEY000001", "secret-access-key-value", "session-token-value")
    for shown in (repr(credentials), str(credentials), f"{credentials}"):
        assert "ASIAEXAMPLEKEY000001" in shown
        assert "secret-access-key-value" not in shown and "session-token-value" not in shown
    with pytest.raises(TypeError):
        json.dumps(credentials)
    with pytest.raises(TypeError):
        list(credentials)
