"""MFA: one GetSessionToken per MFA session, shared by every account, hop and
process; the code from mfa_process or the terminal, never stdin/stderr."""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    DEV_ACCOUNT,
    HUB_ARN,
    PROD_ACCOUNT,
    SHARED_ACCOUNT,
    Sandbox,
    assert_one_clear_error,
    credproc_executable,
)
from local_sts import sts_error

from credproc import config as config_module
from credproc.errors import MfaError
from credproc.log import Log
from credproc.mfa import CodeSource
from credproc.obtain import Request, obtain
from credproc.plan import MfaSession

SERIAL = f"arn:aws:iam::{SHARED_ACCOUNT}:mfa/tester"
CODE = "493817"
DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"
PROD_ROLE = f"arn:aws:iam::{PROD_ACCOUNT}:role/Deployer"
SUPPORT = Path(__file__).parent / "support"

MFA_CONFIG = """
[source]
region = "us-east-1"
mfa_serial = "{serial}"
{process_line}

[defaults]
role = "Deployer"
duration = "{duration}"

[accounts.dev]
id = "{dev}"

[accounts.prod]
id = "{prod}"

[accounts.hubbed]
id = "{prod}"
via = ["{hub}"]
"""


class CountingMfaProcess:
    """An mfa_process that appends a line to a file each time it runs."""

    def __init__(self, root: Path, output: str = CODE, exit_code: int = 0, stderr: str = "") -> None:
        self.count_file = root / "mfa-runs.txt"
        self.script = root / "mfa_code.py"
        self.script.write_text(
            "import os, sys\n"
            f"with open({str(self.count_file)!r}, 'a') as handle:\n"
            "    handle.write(os.environ.get('CREDPROC_MFA_SERIAL', '?') + '\\n')\n"
            f"sys.stderr.write({stderr!r})\n"
            f"print({output!r})\n"
            f"sys.exit({exit_code})\n"
        )

    @property
    def command(self) -> str:
        return shlex.join([sys.executable, str(self.script)])

    @property
    def runs(self) -> list[str]:
        return self.count_file.read_text().splitlines() if self.count_file.exists() else []


def mfa_config(process: CountingMfaProcess | str | None, duration: str = "1h", serial: str = SERIAL) -> str:
    command = process.command if isinstance(process, CountingMfaProcess) else process
    line = f"mfa_process = {json.dumps(command)}" if command else ""
    return MFA_CONFIG.format(
        serial=serial, process_line=line, duration=duration, dev=DEV_ACCOUNT, prod=PROD_ACCOUNT, hub=HUB_ARN
    )


def run_detached(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    """credproc in a new session: no controlling terminal, as under a GUI or CI."""
    return sandbox.run(*args, new_session=True)


@pytest.fixture
def counter(sandbox: Sandbox) -> CountingMfaProcess:
    return CountingMfaProcess(sandbox.root)


def test_get_session_token_with_the_code_roots_the_chain(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter))
    result = run_detached(sandbox, "get", "dev")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccountId"] == DEV_ACCOUNT
    [token_call] = sandbox.sts.recorder.of("GetSessionToken")
    assert token_call.params["SerialNumber"] == SERIAL
    assert token_call.params["TokenCode"] == CODE
    assert token_call.params["DurationSeconds"] == "43200"  # mfa_duration's default: 12 h
    assert token_call.access_key_id == sandbox.env["AWS_ACCESS_KEY_ID"]
    [assume_call] = sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)
    # the role is assumed with the MFA session, not with the source's own keys
    assert assume_call.access_key_id not in ("", sandbox.env["AWS_ACCESS_KEY_ID"])
    assert counter.runs == [SERIAL]  # the command learns the serial from CREDPROC_MFA_SERIAL


def test_one_code_serves_every_account(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter))
    for target in ("dev", "prod", "hubbed"):
        result = run_detached(sandbox, "get", target)
        assert result.returncode == 0, result.stderr
    assert len(counter.runs) == 1
    assert len(sandbox.sts.recorder.of("GetSessionToken")) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 4  # dev, prod, hub, prod via hub
    listing = sandbox.run("cache", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert CODE not in listing.stdout


def test_twenty_parallel_processes_ask_for_one_code(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter))
    # Two accounts: the processes do not all wait on the same hop's lock, so
    # only the MFA session's own lock can keep the code to one.
    processes = [sandbox.start("get", "dev" if number % 2 else "prod", new_session=True) for number in range(20)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0] * 20, [err for _, err in outputs]
    accounts = {json.loads(out)["AccountId"] for out, _ in outputs}
    assert accounts == {DEV_ACCOUNT, PROD_ACCOUNT}
    assert len(counter.runs) == 1
    assert len(sandbox.sts.recorder.of("GetSessionToken")) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole", PROD_ROLE)) == 1


def test_first_hop_from_the_mfa_session_is_not_role_chaining(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter, duration="12h"))
    assert run_detached(sandbox, "get", "dev").returncode == 0
    assert run_detached(sandbox, "get", "hubbed").returncode == 0
    assert sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)[0].params["DurationSeconds"] == "43200"
    assert sandbox.sts.recorder.of("AssumeRole", HUB_ARN)[0].params["DurationSeconds"] == "43200"
    # after a role, it is chaining: clamped
    assert sandbox.sts.recorder.of("AssumeRole", PROD_ROLE)[0].params["DurationSeconds"] == "3600"


def test_cache_list_shows_the_mfa_session(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter))
    assert run_detached(sandbox, "get", "dev").returncode == 0
    rows = json.loads(sandbox.run("cache", "list", "--json").stdout)
    [session] = [row for row in rows if row["hop"] == "mfa"]
    assert session["mfa_serial"] == SERIAL and session["role_arn"] is None
    assert [row["hop"] for row in rows if row["role_arn"] == DEV_ROLE] == ["1/1"]
    table = sandbox.run("cache", "list").stdout
    assert "(MFA tester)" in table


def test_refresh_keeps_the_mfa_session(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter))
    assert run_detached(sandbox, "get", "dev").returncode == 0
    assert run_detached(sandbox, "get", "dev", "--refresh").returncode == 0
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 2
    assert len(counter.runs) == 1


def test_an_account_with_its_own_device_gets_its_own_session(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    other = f"arn:aws:iam::{SHARED_ACCOUNT}:mfa/second-key"
    sandbox.write_config(
        mfa_config(counter).replace(f'id = "{PROD_ACCOUNT}"\n', f'id = "{PROD_ACCOUNT}"\nmfa_serial = "{other}"\n', 1)
    )
    for target in ("dev", "prod", "dev"):
        assert run_detached(sandbox, "get", target).returncode == 0
    assert counter.runs == [SERIAL, other]
    assert [call.params["SerialNumber"] for call in sandbox.sts.recorder.of("GetSessionToken")] == [SERIAL, other]


def test_an_expired_mfa_session_asks_for_a_new_code(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter))
    config = config_module.load(sandbox.config_path, sandbox.env)
    now = datetime.now(UTC)
    obtain(Request("dev"), config, log=Log(), env=sandbox.env, clock=lambda: now)
    obtain(Request("prod"), config, log=Log(), env=sandbox.env, clock=lambda: now + timedelta(hours=1))
    assert len(counter.runs) == 1
    later = now + timedelta(hours=12)  # the MFA session (12 h) is over
    obtain(Request("dev"), config, log=Log(), env=sandbox.env, clock=lambda: later)
    assert len(counter.runs) == 2
    assert len(sandbox.sts.recorder.of("GetSessionToken")) == 2


def test_a_wrong_code_is_a_clear_error_and_leaves_nothing_behind(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter))

    def reject_code(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("Action") == "GetSessionToken":
            return sts_error("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.")
        return None

    sandbox.sts.recorder.faults.append(reject_code)
    result = run_detached(sandbox, "get", "dev")
    assert_one_clear_error(result, "rejected the MFA code", SERIAL, "invalid MFA", exit_code=8)
    assert CODE not in result.stderr
    assert list(sandbox.cache_dir.glob("*.cred")) == []
    assert sandbox.sts.recorder.of("AssumeRole") == []

    sandbox.sts.recorder.faults.clear()
    # nothing is left locked: the next run asks again at once and succeeds
    result = run_detached(sandbox, "get", "dev")
    assert result.returncode == 0, result.stderr
    assert len(counter.runs) == 2


def test_no_terminal_and_no_mfa_process_says_how_to_fix_it(sandbox: Sandbox) -> None:
    sandbox.write_config(mfa_config(None))
    result = run_detached(sandbox, "get", "dev")
    assert_one_clear_error(result, "no terminal", "mfa_process", "credproc get dev", exit_code=8)
    assert sandbox.sts.recorder.of("GetSessionToken") == []


@pytest.mark.parametrize(
    ("output", "exit_code", "stderr", "expected"),
    [
        ("not a code", 0, "", "is not a 6-digit code"),
        ("12345", 0, "", "is not a 6-digit code"),
        ("", 1, "vault is locked\n", "failed with exit code 1: vault is locked"),
    ],
)
def test_a_failing_mfa_process_names_the_setting(
    sandbox: Sandbox, output: str, exit_code: int, stderr: str, expected: str
) -> None:
    process = CountingMfaProcess(sandbox.root, output=output, exit_code=exit_code, stderr=stderr)
    sandbox.write_config(mfa_config(process))
    result = run_detached(sandbox, "get", "dev")
    line = assert_one_clear_error(result, f"{sandbox.config_path}:5: source.mfa_process", expected, exit_code=8)
    assert "not a code" not in line  # what the command printed is never echoed
    assert sandbox.sts.recorder.of("GetSessionToken") == []


def test_what_a_failing_mfa_process_says_is_one_printable_line(sandbox: Sandbox) -> None:
    """Its stderr goes into the error line: a terminal must not act on its escapes,
    and a log must get one bounded line of text."""
    script = sandbox.root / "noisy_mfa.py"
    said = (
        b"progress 1/2\r\n\x1b[1;31mError:\x1b[0m vault\tis \x07locked\x1b]0;pwned\x07\xe2\x80\xae"
        b"\xc2\x9b2J\xff" + b"x" * 300 + b"\n\n"
    )
    script.write_text(f"import sys\nsys.stderr.buffer.write({said!r})\nsys.exit(3)\n")
    sandbox.write_config(mfa_config(shlex.join([sys.executable, str(script)])))
    result = run_detached(sandbox, "get", "dev")
    line = assert_one_clear_error(result, "failed with exit code 3: Error: vault is locked", exit_code=8)
    assert all(char.isprintable() for char in line), repr(line)
    assert "pwned" not in line and "progress" not in line
    assert line.count("x" * 150) == 1 and "x" * 200 not in line  # cut
    assert sandbox.sts.recorder.of("GetSessionToken") == []


def test_a_missing_mfa_process_command(sandbox: Sandbox) -> None:
    sandbox.write_config(mfa_config("no-such-mfa-tool --code"))
    result = run_detached(sandbox, "get", "dev")
    assert_one_clear_error(result, "source.mfa_process: 'no-such-mfa-tool' was not found", exit_code=8)


def test_the_code_is_never_logged(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter))
    result = run_detached(sandbox, "get", "hubbed", "--verbose")
    assert result.returncode == 0, result.stderr
    assert "GetSessionToken" in result.stderr
    assert CODE not in result.stderr


def _wait_for(fd: int, screen: bytearray, marker: bytes, count: int = 1) -> None:
    """Read the terminal until ``marker`` has appeared ``count`` times."""
    while screen.count(marker) < count:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no {marker!r} on the terminal; got {bytes(screen)!r}"
        screen.extend(os.read(fd, 4096))


def answer_mfa_on_a_terminal(
    argv: list[str], env: dict[str, str], prompt: bytes = b"MFA code for " + SERIAL.encode()
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with a new pseudo-terminal as its controlling terminal, type
    CODE when ``prompt`` appears there, and return how it ended."""
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, str(SUPPORT / "run_with_tty.py"), os.ttyname(slave), *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(master, bytearray(), prompt)
        os.write(master, CODE.encode() + b"\n")
        stdout, stderr = process.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


needs_pty = pytest.mark.skipif(not hasattr(os, "openpty"), reason="no pseudo-terminals on this platform")


@needs_pty
def test_prompt_on_the_controlling_terminal(sandbox: Sandbox) -> None:
    sandbox.write_config(mfa_config(None))
    master, slave = os.openpty()
    try:
        with_tty = [sys.executable, str(SUPPORT / "run_with_tty.py"), os.ttyname(slave)]
        process = sandbox.start("get", "dev", prefix=with_tty)
        screen = bytearray()
        prompt = b"MFA code for " + SERIAL.encode()
        _wait_for(master, screen, prompt)
        os.write(master, b"12ab\n")  # a typo is asked again, not sent to STS
        _wait_for(master, screen, prompt, count=2)
        assert b"6 digits; try again" in screen
        os.write(master, CODE.encode() + b"\n")
        stdout, stderr = process.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    assert process.returncode == 0, stderr
    assert json.loads(stdout)["AccountId"] == DEV_ACCOUNT
    assert "MFA code" not in stderr  # the prompt went to the terminal only
    assert [call.params["TokenCode"] for call in sandbox.sts.recorder.of("GetSessionToken")] == [CODE]
    # the session is cached: the next run needs no terminal at all
    assert run_detached(sandbox, "get", "prod").returncode == 0


@needs_pty
def test_prompt_reaches_the_user_under_credential_process(sandbox: Sandbox) -> None:
    """botocore captures credproc's stdout and stderr: only /dev/tty reaches the user."""
    sandbox.write_config(mfa_config(None))
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[profile dev]\ncredential_process = {credproc_executable()} get dev\nregion = us-east-1\n"
    )
    script = "import boto3; print(boto3.Session(profile_name='dev').client('sts').get_caller_identity()['Arn'])"
    env = {
        key: value for key, value in sandbox.env.items() if key not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[default]\naws_access_key_id = AKIADEFAULTPROFILE01\naws_secret_access_key = default-profile-secret\n"
    )
    result = answer_mfa_on_a_terminal([sys.executable, "-c", script], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"
    [token_call] = sandbox.sts.recorder.of("GetSessionToken")
    assert token_call.access_key_id == "AKIADEFAULTPROFILE01"
    assert token_call.params["TokenCode"] == CODE


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('mfa_serial = "arn:aws:iam::123456789012:user/me"', "source.mfa_serial", "not an MFA device ARN"),
        ('mfa_serial = "short"', "source.mfa_serial", "not an MFA device ARN"),
        ('mfa_duration = "40h"', "source.mfa_duration", "STS accepts 900 s (15m) to 129600 s (36h)"),
        ('mfa_process = "ykman \'unclosed"', "source.mfa_process", "cannot be split into a command line"),
        ('mfa_process = "  "', "source.mfa_process", "holds no command"),
    ],
)
def test_mfa_settings_are_checked(sandbox: Sandbox, line: str, key: str, message: str) -> None:
    sandbox.write_config(f'[source]\nregion = "us-east-1"\n{line}\n\n[defaults]\nrole = "Deployer"\n')
    result = run_detached(sandbox, "get", DEV_ACCOUNT)
    assert_one_clear_error(result, f"{sandbox.config_path}:3: {key}: ", message, exit_code=3)


def test_mfa_device_in_another_partition_is_refused(sandbox: Sandbox, counter: CountingMfaProcess) -> None:
    sandbox.write_config(mfa_config(counter, serial=f"arn:aws-cn:iam::{SHARED_ACCOUNT}:mfa/tester"))
    result = run_detached(sandbox, "get", "dev")
    assert_one_clear_error(result, "source.mfa_serial", "partition aws-cn", exit_code=3)

    assert counter.runs == []


def test_an_mfa_process_that_hangs_is_stopped_with_a_clear_error() -> None:
    def hanging(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(argv, float(str(kwargs["timeout"])))

    source = CodeSource("op item get AWS --otp", "config.toml:4: source.mfa_process", {}, run=hanging)
    with pytest.raises(MfaError) as raised:
        source(MfaSession(SERIAL, 43200), "dev")
    assert raised.value.exit_code == 8
    assert "config.toml:4: source.mfa_process: op printed no code within 120 s" in raised.value.one_line()


@pytest.mark.parametrize(
    ("command", "program"),
    [
        (r"C:\tools\ykman.exe oath accounts code --single AWS:me", r"C:\tools\ykman.exe"),
        (r'"C:\Program Files\Yubico\ykman.exe" oath accounts code', r"C:\Program Files\Yubico\ykman.exe"),
    ],
)
def test_on_windows_the_mfa_process_keeps_its_backslashes(command: str, program: str) -> None:
    """Shell rules would turn C:\\tools\\ykman.exe into C:toolsykman.exe: Windows
    programs split their own command line, so it is handed over as written."""
    started: list[object] = []

    def runner(argv: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        started.append(argv)
        return subprocess.CompletedProcess(argv, 1, "", "")

    source = CodeSource(command, "config.toml:4: source.mfa_process", {}, run=runner, windows=True)
    with pytest.raises(MfaError) as raised:
        source(MfaSession(SERIAL, 43200), "dev")
    assert started == [command]
    assert f"source.mfa_process: {program} failed with exit code 1" in raised.value.one_line()
