"""`credproc each`: one command per selected account with that account's
credentials, fetched once per hop; whole prefixed lines; a summary and an exit
code that tell what failed; signals passed on once; endpoints with --server."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cache_support import assume_calls
from conftest import HUB_ARN, SUPPORT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, credproc_executable
from endpoint_support import expire_after, kill_if_running
from local_sts import sts_error
from test_cache_concurrency import hold_assume_role
from test_exec_server import OUTLIVE_THE_SESSION, SIGNALS_THEN_77, signals_seen

HEAD = """[source]
region = "us-east-1"

[defaults]
role = "Deployer"
duration = "1h"
session_name = "credproc-{user}"
"""
PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
WHO_AM_I = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
# Lines written in pieces to both streams, and a last stdout line without a newline.
IN_PIECES = """
import os
alias = os.environ["CREDPROC_ACCOUNT"]
for number in range(150):
    line = f"{alias}:{number}:" + "x" * 40
    for fd in (1, 2):
        os.write(fd, line[:7].encode())
        os.write(fd, line[7:].encode())
        os.write(fd, b"\\n")
os.write(1, f"{alias}:last".encode())
"""


def account_id(number: int) -> str:
    return f"{500000000000 + number}"


def role_of(number: int) -> str:
    return f"arn:aws:iam::{account_id(number)}:role/Deployer"


def hub_config(aliases: list[str], labels: dict[str, list[str]] | None = None) -> str:
    """Accounts behind the one hub, numbered in order; ``labels`` per alias."""
    tables = [HEAD]
    for number, alias in enumerate(aliases):
        tables.append(f'\n[accounts.{alias}]\nid = "{account_id(number)}"\nvia = ["{HUB_ARN}"]\n')
        if labels and alias in labels:
            tables.append(f"labels = {json.dumps(labels[alias])}\n")
    return "".join(tables)


def by_prefix(output: str) -> dict[str, list[str]]:
    """Relayed lines grouped by the alias in front of them (``alias | line``)."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        alias, separator, rest = line.partition(" | ")
        assert separator, line
        found.setdefault(alias.strip(), []).append(rest)
    return found


def summary(path: Path) -> dict[str, dict[str, object]]:
    document = json.loads(path.read_text())
    return {row["alias"]: row for row in document["accounts"]} | {"": document}


def test_two_hundred_accounts_behind_one_hub_make_one_hub_call_and_none_when_warm(sandbox: Sandbox) -> None:
    aliases = [f"acct-{number:03d}" for number in range(200)]
    sandbox.write_config(hub_config(aliases))
    command = ("each", "--all", "--", "sh", "-c", 'echo "$CREDPROC_ACCOUNT_ID $AWS_ACCESS_KEY_ID"')
    first = sandbox.run(*command, timeout=600)
    assert first.returncode == 0, first.stderr
    lines = by_prefix(first.stdout)
    assert sorted(lines) == aliases and all(len(found) == 1 for found in lines.values())  # every account once
    assert all(lines[alias][0].split()[0] == account_id(number) for number, alias in enumerate(aliases))
    assert len({lines[alias][0].split()[1] for alias in aliases}) == 200  # each its own session
    assert assume_calls(sandbox, HUB_ARN) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 201
    assert "200 accounts: 200 exited 0" in first.stderr
    sandbox.sts.recorder.reset()
    second = sandbox.run(*command, timeout=600)
    assert second.returncode == 0, second.stderr
    assert by_prefix(second.stdout) == lines  # the same sessions, from the cache
    assert sandbox.sts.recorder.of("AssumeRole") == []


def test_refresh_fetches_every_account_anew_and_the_shared_hub_once(sandbox: Sandbox) -> None:
    aliases = [f"acct-{number:02d}" for number in range(12)]
    sandbox.write_config(hub_config(aliases))
    command = ("each", "--all", "--", "sh", "-c", "echo $AWS_ACCESS_KEY_ID")
    first = sandbox.run(*command)
    assert first.returncode == 0, first.stderr
    sandbox.sts.recorder.reset()
    refreshed = sandbox.run("each", "--all", "--refresh", "--", "sh", "-c", "echo $AWS_ACCESS_KEY_ID")
    assert refreshed.returncode == 0, refreshed.stderr
    assert assume_calls(sandbox, HUB_ARN) == 1  # not once per account
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 13
    before, after = by_prefix(first.stdout), by_prefix(refreshed.stdout)
    assert all(after[alias] != before[alias] for alias in aliases)  # every account's session is new


def test_no_command_starts_on_the_second_half_of_a_session(sandbox: Sandbox) -> None:
    """As exec: a cached session that get still hands out, but that has less
    than half of it left, is replaced before an account's command starts;
    the other account's session and the hub's are used as they are."""
    sandbox.write_config(hub_config(["acct-00", "acct-01"]))
    sandbox.sts.recorder.rewrites.append(expire_after(20 * 60, role_of(0)))  # a 1 h session, 40 min in
    late = sandbox.get_json("acct-00")["AccessKeyId"]
    assert sandbox.get_json("acct-00")["AccessKeyId"] == late  # get still hands it out
    sandbox.sts.recorder.rewrites.clear()
    kept = sandbox.get_json("acct-01")["AccessKeyId"]
    result = sandbox.run("each", "--all", "--", "sh", "-c", "echo $AWS_ACCESS_KEY_ID")
    assert result.returncode == 0, result.stderr
    keys = {alias: lines[0] for alias, lines in by_prefix(result.stdout).items()}
    assert keys["acct-00"] != late and keys["acct-01"] == kept
    assert assume_calls(sandbox, role_of(0)) == 2 and assume_calls(sandbox, role_of(1)) == 1
    assert assume_calls(sandbox, HUB_ARN) == 1


def test_refresh_with_server_refreshes_once_not_again_for_each_endpoint(sandbox: Sandbox) -> None:
    aliases = [f"acct-{number:02d}" for number in range(4)]
    sandbox.write_config(hub_config(aliases))
    assert sandbox.run("each", "--all", "--", "true").returncode == 0
    sandbox.sts.recorder.reset()
    refreshed = sandbox.run("each", "--all", "--refresh", "--server", "--", "true")
    assert refreshed.returncode == 0, refreshed.stderr
    assert assume_calls(sandbox, HUB_ARN) == 1 and len(sandbox.sts.recorder.of("AssumeRole")) == 5


def test_globs_and_labels_select_and_each_command_reaches_its_account(sandbox: Sandbox) -> None:
    aliases = ["prod-eu", "prod-us", "dev-eu", "tools"]
    labels = {"prod-eu": ["prod", "eu"], "prod-us": ["prod", "us"], "dev-eu": ["dev", "eu"]}
    sandbox.write_config(hub_config(aliases, labels))
    result = sandbox.run("each", "prod-*", "tools", "--label", "eu", "--", sys.executable, "-c", WHO_AM_I)
    assert result.returncode == 0, result.stderr
    assert by_prefix(result.stdout) == {
        "prod-eu": [f"arn:aws:sts::{account_id(0)}:assumed-role/Deployer/credproc-tester"]
    }
    eu = sandbox.run("each", "--label", "eu", "--", "sh", "-c", "echo $CREDPROC_ACCOUNT")
    assert by_prefix(eu.stdout) == {"prod-eu": ["prod-eu"], "dev-eu": ["dev-eu"]}
    both = sandbox.run("each", "--label", "prod", "--label", "us", "--", "sh", "-c", "echo $CREDPROC_ACCOUNT")
    assert by_prefix(both.stdout) == {"prod-us": ["prod-us"]}  # several labels: accounts with all of them


def test_selectors_may_come_after_options(sandbox: Sandbox) -> None:
    """A user types options anywhere before --: selectors after one still select."""
    sandbox.write_config(hub_config(["prod-eu", "prod-us", "dev-eu", "tools"]))
    result = sandbox.run(
        "each",
        "dev-eu",
        "--parallel",
        "1",
        "prod-*",
        "--no-prefix",
        "tools",
        "--",
        "sh",
        "-c",
        "echo $CREDPROC_ACCOUNT",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["dev-eu", "prod-eu", "prod-us", "tools"]
    typo = sandbox.run("each", "dev-eu", "--parallel", "1", "tools", "--bogus", "--", "true")
    assert_one_clear_error(typo, "each: unrecognized arguments:", "--bogus", exit_code=2)


def test_the_environment_is_execs_plus_the_account(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text("[profile shared]\nregion = us-east-1\n")
    parent = {"AWS_PROFILE": "shared", "CREDPROC_DEPTH": "1"}
    each = sandbox.run("each", "dev", "--", sys.executable, "-c", PRINT_ENV, env=parent)
    plain = sandbox.run("exec", "dev", "--", sys.executable, "-c", PRINT_ENV, env=parent)
    assert each.returncode == 0 and plain.returncode == 0, each.stderr + plain.stderr
    got = json.loads(each.stdout.removeprefix("dev | "))
    assert got.pop("CREDPROC_ACCOUNT") == "dev"
    assert got.pop("CREDPROC_ACCOUNT_ID") == "111111111111"
    assert got == json.loads(plain.stdout)
    assert got["AWS_REGION"] == "us-east-2" and "AWS_PROFILE" not in got


def test_parallel_output_comes_in_whole_aligned_lines(sandbox: Sandbox) -> None:
    aliases = ["a", "bb", "a-much-longer-alias", "ccc", "d", "eeee"]
    sandbox.write_config(hub_config(aliases))
    result = sandbox.run("each", "--all", "--parallel", "6", "--", sys.executable, "-c", IN_PIECES)
    assert result.returncode == 0, result.stderr
    width = len("a-much-longer-alias")
    out_lines = result.stdout.splitlines()
    err_lines = result.stderr.splitlines()[: 150 * len(aliases)]  # the summary follows
    assert len(out_lines) == 151 * len(aliases)
    for line in out_lines + err_lines:
        match = re.fullmatch(rf"(.{{{width}}}) \| (\S+?):(?:\d+:x{{40}}|last)", line)
        assert match is not None, line
        assert match.group(1).rstrip() == match.group(2)  # the line is the account's own, whole
    for alias in aliases:
        assert out_lines.count(f"{alias.ljust(width)} | {alias}:last") == 1
    assert all(line == line.rstrip("\r") for line in out_lines)
    bare = sandbox.run("each", "a", "bb", "--no-prefix", "--parallel", "2", "--", sys.executable, "-c", IN_PIECES)
    assert sorted(bare.stdout.splitlines()) == sorted(
        [f"{alias}:{number}:" + "x" * 40 for alias in ("a", "bb") for number in range(150)] + ["a:last", "bb:last"]
    )


def test_a_line_without_end_is_relayed_in_pieces_each_under_the_prefix(sandbox: Sandbox) -> None:
    sandbox.write_config(hub_config(["a"]))
    result = sandbox.run("each", "a", "--", sys.executable, "-c", "import sys; sys.stdout.write('y' * 200000)")
    assert result.returncode == 0, result.stderr
    assert [len(line) for line in result.stdout.splitlines()] == [4 + 65536] * 3 + [4 + 200000 - 3 * 65536]
    assert all(line.startswith("a | y") for line in result.stdout.splitlines())


def test_prefixes_are_coloured_on_a_terminal_unless_no_color(sandbox: Sandbox) -> None:
    sandbox.write_config(hub_config(["a", "bb"]))

    def on_a_terminal(env: dict[str, str]) -> str:
        master, slave = os.openpty()
        try:
            process = sandbox.start("each", "--all", "--", "echo", "hi", stdout=slave, stderr=slave, env=env)
            os.close(slave)
            chunks = []
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal has gone
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            assert process.wait(timeout=60) == 0
        finally:
            os.close(master)
        return b"".join(chunks).decode()

    coloured = on_a_terminal({})
    assert re.search(r"\x1b\[\d+ma \x1b\[0m \| hi", coloured), coloured
    plain = on_a_terminal({"NO_COLOR": "1"})
    assert "\x1b[" not in plain and "a  | hi" in plain


def test_output_dir_gets_each_accounts_output_in_private_files(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.write_config(hub_config(["alpha", "beta"]))
    directory = tmp_path / "runs" / "today"
    script = "echo out-$CREDPROC_ACCOUNT; echo err-$CREDPROC_ACCOUNT >&2; printf tail"
    result = sandbox.run("each", "--all", "--output-dir", str(directory), "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for alias in ("alpha", "beta"):
        assert (directory / f"{alias}.out").read_text() == f"out-{alias}\ntail"
        assert (directory / f"{alias}.err").read_text() == f"err-{alias}\n"
        assert stat.S_IMODE((directory / f"{alias}.out").stat().st_mode) == 0o600


def test_output_files_left_from_before_are_made_private_and_a_symlink_is_that_accounts_failure(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A file of an earlier run (or of a looser umask) keeps its mode when truncated:
    it is made 0600. A planted symlink is not followed, and is told as the output
    file it is, not as a command that cannot run."""
    sandbox.write_config(hub_config(["alpha", "beta"]))
    directory = tmp_path / "out"
    directory.mkdir()
    (directory / "alpha.out").write_text("old")
    (directory / "alpha.out").chmod(0o644)
    elsewhere = tmp_path / "precious"
    elsewhere.write_text("keep me")
    (directory / "beta.out").symlink_to(elsewhere)
    summary_path = tmp_path / "summary.json"
    result = sandbox.run(
        "each", "--all", "--output-dir", str(directory), "--summary-json", str(summary_path), "--", "echo", "secret"
    )
    assert result.returncode == 10, result.stderr
    assert stat.S_IMODE((directory / "alpha.out").stat().st_mode) == 0o600
    assert (directory / "alpha.out").read_text() == "secret\n"
    assert elsewhere.read_text() == "keep me"
    rows = summary(summary_path)
    assert rows["alpha"]["status"] == "ok"
    assert rows["beta"]["status"] == "failed" and rows["beta"]["exit_code"] == 9
    assert str(rows["beta"]["error"]).startswith(f"--output-dir: cannot write {directory / 'beta.out'} (")


@pytest.mark.skipif(not hasattr(os, "mkfifo") or os.geteuid() != 0, reason="needs root to plant another user's file")
def test_another_users_output_file_is_refused_untouched_and_a_fifo_does_not_hang(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.write_config(hub_config(["alpha", "beta"]))
    directory = tmp_path / "out"
    directory.mkdir()
    theirs = directory / "alpha.out"
    theirs.write_text("their notes")
    os.chown(theirs, 4321, 4321)
    os.mkfifo(directory / "beta.out", 0o600)
    summary_path = tmp_path / "summary.json"
    result = sandbox.run(
        "each", "--all", "--output-dir", str(directory), "--summary-json", str(summary_path), "--", "echo", "secret"
    )
    assert result.returncode == 10, result.stderr
    assert theirs.read_text() == "their notes"  # refused before anything was emptied
    rows = summary(summary_path)
    assert str(rows["alpha"]["error"]).startswith(f"--output-dir: cannot write {theirs} (is owned by uid 4321")
    assert str(rows["beta"]["error"]).startswith(f"--output-dir: cannot write {directory / 'beta.out'} (")


def test_a_refused_role_fails_that_account_only(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.write_config(hub_config(["first", "refused", "last"]))
    sandbox.sts.recorder.faults.append(
        lambda params: sts_error("AccessDenied", "not allowed") if params.get("RoleArn") == role_of(1) else None
    )
    report = tmp_path / "summary.json"
    result = sandbox.run("each", "--all", "--summary-json", str(report), "--", "echo", "ran")
    assert result.returncode == 10, result.stderr
    assert by_prefix(result.stdout) == {"first": ["ran"], "last": ["ran"]}
    row = next(line for line in result.stderr.splitlines() if line.startswith("refused "))
    assert account_id(1) in row and "AccessDenied" in row and "(fix: " in row
    assert "3 accounts: 2 exited 0, 1 had no credentials" in result.stderr
    rows = summary(report)
    assert rows[""]["exit_code"] == 10
    assert rows["refused"]["status"] == "credentials" and rows["refused"]["exit_code"] is None
    assert "AccessDenied" in str(rows["refused"]["error"])
    assert rows["first"]["status"] == rows["last"]["status"] == "ok"
    assert rows["first"]["exit_code"] == 0 and isinstance(rows["first"]["seconds"], float)


def test_fail_fast_starts_no_account_after_a_failure(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.write_config(hub_config(["a", "b", "c"]))
    report = tmp_path / "summary.json"
    script = 'echo $CREDPROC_ACCOUNT; test "$CREDPROC_ACCOUNT" != b'
    args = ("each", "--all", "--parallel", "1", "--summary-json", str(report))
    result = sandbox.run(*args, "--fail-fast", "--", "sh", "-c", script)
    assert result.returncode == 10, result.stderr
    assert by_prefix(result.stdout) == {"a": ["a"], "b": ["b"]}
    rows = summary(report)
    assert [rows[alias]["status"] for alias in "abc"] == ["ok", "failed", "not started"]
    assert rows["b"]["exit_code"] == 1
    assert re.search(r"^c +\S+ +- +not started$", result.stderr, re.MULTILINE), result.stderr
    without = sandbox.run(*args, "--", "sh", "-c", script)
    assert without.returncode == 10 and by_prefix(without.stdout) == {"a": ["a"], "b": ["b"], "c": ["c"]}
    # An account without credentials is a failure known before anything starts.
    sandbox.sts.recorder.faults.append(
        lambda params: sts_error("AccessDenied", "not allowed") if params.get("RoleArn") == role_of(2) else None
    )
    refused = sandbox.run("each", "--all", "--refresh", "--fail-fast", "--", "echo", "ran")
    assert refused.returncode == 10 and refused.stdout == ""


def start_trapping(sandbox: Sandbox, *, terminal: str | None = None) -> subprocess.Popen[str]:
    """`each` over three accounts, two at a time, each running SIGNALS_THEN_77."""
    sandbox.write_config(hub_config(["one", "two", "three"]))
    args = ["each", "--all", "--parallel", "2", "--", sys.executable, "-c", SIGNALS_THEN_77]
    if terminal is None:  # a new session: no controlling terminal, as under a supervisor
        return sandbox.start(*args, new_session=True)
    prefix = [sys.executable, str(SUPPORT / "run_with_tty.py"), terminal]
    return subprocess.Popen(
        [*prefix, credproc_executable(), *args],
        env=sandbox.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(process: subprocess.Popen[str], wanted: set[str]) -> None:
    """Read relayed lines until every one of ``wanted`` came."""
    assert process.stdout is not None
    seen: set[str] = set()
    while not wanted <= seen:
        line = process.stdout.readline()
        assert line, "each ended early"
        seen.add(line.rstrip("\n"))


def assert_stopped(process: subprocess.Popen[str], expected: list[int], exit_code: int) -> None:
    out, err = process.communicate(timeout=120)
    assert process.returncode == exit_code, err
    lines = by_prefix(out)
    for alias in ("one", "two"):
        assert signals_seen("\n".join(lines[alias])) == expected  # each signal once
    assert "three" not in lines  # nothing new started
    assert re.search(r"^one +\S+ +[\d.]+ +exit 77$", err, re.MULTILINE), err
    assert re.search(r"^three +\S+ +- +not started$", err, re.MULTILINE), err


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigint_then_sigterm_reach_every_running_command_once(sandbox: Sandbox) -> None:
    process = start_trapping(sandbox)
    try:
        read_until(process, {"one   | ready", "two   | ready"})
        process.send_signal(signal.SIGINT)
        read_until(process, {f"one   | got {signal.SIGINT}", f"two   | got {signal.SIGINT}"})
        process.send_signal(signal.SIGTERM)
        assert_stopped(process, [signal.SIGINT, signal.SIGTERM], 130)
    finally:
        kill_if_running(process)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_stops_the_run_with_143(sandbox: Sandbox) -> None:
    process = start_trapping(sandbox)
    try:
        read_until(process, {"one   | ready", "two   | ready"})
        process.send_signal(signal.SIGTERM)
        assert_stopped(process, [signal.SIGTERM], 143)
    finally:
        kill_if_running(process)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal via /dev/pts")
def test_ctrl_c_in_the_terminal_is_not_passed_on_again(sandbox: Sandbox) -> None:
    master, slave = os.openpty()
    try:
        process = start_trapping(sandbox, terminal=os.ttyname(slave))
        try:
            read_until(process, {"one   | ready", "two   | ready"})
            os.write(master, b"\x03")  # the terminal signals its whole foreground group, the commands included
            read_until(process, {f"one   | got {signal.SIGINT}", f"two   | got {signal.SIGINT}"})
            # A second SIGINT passed on by credproc would come before the SIGTERM it passes on next.
            process.send_signal(signal.SIGTERM)
            assert_stopped(process, [signal.SIGINT, signal.SIGTERM], 130)
        finally:
            kill_if_running(process)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_while_credentials_are_fetched_starts_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.write_config(hub_config(["one", "two"]))
    arrived, release = threading.Event(), threading.Event()
    sandbox.sts.recorder.faults.append(hold_assume_role(HUB_ARN, arrived, release))
    report = tmp_path / "summary.json"
    process = sandbox.start("each", "--all", "--summary-json", str(report), "--", "echo", "ran", new_session=True)
    try:
        assert arrived.wait(timeout=60)  # the hub's AssumeRole is parked: no account has credentials yet
        process.send_signal(signal.SIGTERM)
        release.set()
        out, err = process.communicate(timeout=60)
    finally:
        release.set()
        kill_if_running(process)
    assert process.returncode == 143, err
    assert out == ""
    rows = summary(report)
    assert rows[""]["signal"] == "SIGTERM"
    assert rows["one"]["status"] == rows["two"]["status"] == "not started"
    assert "2 accounts: 2 not started" in err


def test_stdin_goes_to_the_commands_only_one_at_a_time(sandbox: Sandbox) -> None:
    sandbox.write_config(hub_config(["first", "second"]))
    script = 'echo "$CREDPROC_ACCOUNT read: $(cat)"'
    for parallel, expected in (
        ("1", {"first": ["first read: typed"], "second": ["second read: "]}),
        ("2", {"first": ["first read: "], "second": ["second read: "]}),
    ):
        process = sandbox.start(
            "each", "--all", "--parallel", parallel, "--", "sh", "-c", script, stdin=subprocess.PIPE
        )
        out, err = process.communicate("typed\n", timeout=60)
        assert process.returncode == 0, err
        assert by_prefix(out) == expected  # the first command read it all; in parallel none reads the terminal's


def test_server_commands_outlive_a_short_session(sandbox: Sandbox) -> None:
    sandbox.write_config(hub_config(["alpha", "beta"]))
    for number in (0, 1):  # each session falls inside the 15 min margin 3 s after STS issues it
        sandbox.sts.recorder.rewrites.append(expire_after(15 * 60 + 3, role_of(number)))
    result = sandbox.run("each", "--all", "--server", "--", sys.executable, "-c", OUTLIVE_THE_SESSION, timeout=300)
    assert result.returncode == 0, result.stderr
    reports = {alias: json.loads(lines[-1]) for alias, lines in by_prefix(result.stdout).items()}
    for number, alias in enumerate(("alpha", "beta")):
        assert len(reports[alias]["keys"]) == 2, reports  # a second session, handed over while it ran
        assert reports[alias]["accounts"] == [account_id(number)]
    assert assume_calls(sandbox, HUB_ARN) == 1


@pytest.mark.parametrize(
    ("args", "code", "fragments"),
    [
        (["each", "alpah", "--", "true"], 3, ["'alpah' is neither an alias", "did you mean 'alpha'"]),
        (["each", "gamma-*", "--", "true"], 3, ["no alias in", "matches 'gamma-*'"]),
        (["each", "--label", "prd", "--", "true"], 3, ["the label 'prd'", "did you mean 'prod'"]),
        (["each", "beta", "--label", "prod", "--", "true"], 3, ["no account in", "with labels 'prod'"]),
        (["each", "--all"], 2, ["each: no command given", "put the command after --"]),
        (["each", "--", "true"], 2, ["no accounts named", "--all"]),
        (["each", "--all", "--parallel", "0", "--", "true"], 2, ["--parallel", "1 or more"]),
        (["each", "--all", "--", "no-such-command-credproc"], 127, ["each: command not found"]),
    ],
)
def test_bad_selectors_and_command_lines_fail_before_any_sts_call(
    sandbox: Sandbox, args: list[str], code: int, fragments: list[str]
) -> None:
    sandbox.write_config(hub_config(["alpha", "beta"], {"alpha": ["prod"]}))
    assert_one_clear_error(sandbox.run(*args), *fragments, exit_code=code)
    assert sandbox.sts.recorder.calls == []
