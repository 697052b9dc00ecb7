"""Bad input on every command other than `get` (whose catalogue is
test_bad_inputs.py): each gives its documented exit code, an empty stdout and
one stderr line naming the setting / file:line / role and the fix, with no
traceback."""

from __future__ import annotations

import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, run_main
from local_sts import sts_error

from credproc.cli import main
from credproc.commands.exec import split_command

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"
TYPO_CONFIG = '[defaults]\nrole = "Deployer"\nrgion = "us-east-1"\n'
BAD_ORG_CONFIG = '[organizations]\nrole_arn = "arn:aws:iam::999:role/OrgReader"\n'


def deny_dev_role(params: dict[str, str]) -> tuple[str, str] | None:
    return sts_error("AccessDenied", "not allowed") if params.get("RoleArn") == DEV_ROLE else None


# (case id, config text or None, argv, exit code, fragments of the one line, deny the dev role, STS may be called)
CASES: list[tuple[str, str | None, list[str], int, list[str], bool, bool]] = [
    # exec
    ("exec without target", None, ["exec"], 2, ["exec", "target"], False, False),
    (
        "exec command without --",
        TWO_HOP_CONFIG,
        ["exec", "dev", "aws", "s3"],
        2,
        ["'aws s3' must come after --", "credproc exec dev -- aws s3"],
        False,
        False,
    ),
    ("exec nothing after --", TWO_HOP_CONFIG, ["exec", "dev", "--"], 2, ["no command given"], False, False),
    (
        "exec unknown alias",
        TWO_HOP_CONFIG,
        ["exec", "staging", "--", "true"],
        3,
        ["'staging'", "dev, prod"],
        False,
        False,
    ),
    (
        "exec bad duration",
        TWO_HOP_CONFIG,
        ["exec", "dev", "--duration", "13h", "--", "true"],
        3,
        ["--duration"],
        False,
        False,
    ),
    (
        "exec config typo",
        TYPO_CONFIG,
        ["exec", DEV_ACCOUNT, "--", "true"],
        3,
        ["config.toml:3:", "defaults.rgion", "'region'"],
        False,
        False,
    ),
    ("exec empty program name", TWO_HOP_CONFIG, ["exec", "dev", "--", ""], 127, ["command not found: ''"], False, True),
    (
        "exec role denied",
        TWO_HOP_CONFIG,
        ["exec", "dev", "--", "true"],
        4,
        ["AccessDenied", DEV_ROLE, "trust policy"],
        True,
        True,
    ),
    # env
    ("env without target", None, ["env"], 2, ["env", "target"], False, False),
    (
        "env unknown shell",
        TWO_HOP_CONFIG,
        ["env", "dev", "--shell", "tcsh"],
        2,
        ["--shell", "'tcsh'", "fish"],
        False,
        False,
    ),
    ("env unknown alias", TWO_HOP_CONFIG, ["env", "staging"], 3, ["'staging'"], False, False),
    ("env bad role", None, ["env", DEV_ACCOUNT, "--role", "bad role"], 3, ["--role", "'bad role'"], False, False),
    ("env role denied", TWO_HOP_CONFIG, ["env", "dev"], 4, ["AccessDenied", DEV_ROLE], True, True),
    # profiles
    (
        "profiles prefix with a space",
        TWO_HOP_CONFIG,
        ["profiles", "--prefix", "a b"],
        3,
        ["config.toml:", "accounts.dev", "'a bdev'", "--prefix"],
        False,
        False,
    ),
    ("profiles prefix with a bracket", TWO_HOP_CONFIG, ["profiles", "--prefix", "x]"], 3, ["'x]dev'"], False, False),
    (
        "profiles config typo",
        TYPO_CONFIG,
        ["profiles", "--write"],
        3,
        ["config.toml:3:", "defaults.rgion"],
        False,
        False,
    ),
    ("profiles stray word", TWO_HOP_CONFIG, ["profiles", "extra"], 2, ["profiles", "extra"], False, False),
    # accounts, accounts discover
    ("accounts unknown action", None, ["accounts", "list"], 2, ["'list'", "discover"], False, False),
    (
        "accounts config typo",
        TYPO_CONFIG,
        ["accounts", "--json"],
        3,
        ["config.toml:3:", "defaults.rgion"],
        False,
        False,
    ),
    (
        "discover bad --role-arn",
        None,
        ["accounts", "discover", "--role-arn", "nope"],
        3,
        ["--role-arn", "'nope'"],
        False,
        False,
    ),
    (
        "discover bad organizations.role_arn",
        BAD_ORG_CONFIG,
        ["accounts", "discover"],
        3,
        ["config.toml:2:", "organizations.role_arn"],
        False,
        False,
    ),
    (
        "discover role denied",
        None,
        ["accounts", "discover", "--role-arn", DEV_ROLE],
        4,
        ["AccessDenied", DEV_ROLE],
        True,
        True,
    ),
    # doctor (a report on stdout whatever the outcome, but a bad command line is a usage error)
    ("doctor stray word", None, ["doctor", "extra"], 2, ["doctor", "extra"], False, False),
    # cache
    ("cache without action", None, ["cache"], 2, ["cache", "ACTION"], False, False),
    (
        "cache clear unknown alias",
        TWO_HOP_CONFIG,
        ["cache", "clear", "staging"],
        3,
        ["'staging'", "cache list"],
        False,
        False,
    ),
    ("cache clear short id", None, ["cache", "clear", "12345"], 3, ["'12345'"], False, False),
    ("cache clear --key with target", None, ["cache", "clear", "--key", "dev"], 2, ["--key", "TARGET"], False, False),
    (
        "cache clear config typo",
        TYPO_CONFIG,
        ["cache", "clear", "dev"],
        3,
        ["config.toml:3:", "defaults.rgion"],
        False,
        False,
    ),
    ("cache list unknown option", None, ["cache", "list", "--all"], 2, ["--all"], False, False),
    # console (the landing page and endpoint are checked before any call)
    (
        "console destination of another partition",
        TWO_HOP_CONFIG,
        ["console", "dev", "--destination", "https://console.amazonaws.cn/"],
        2,
        ["--destination", "partition aws", "us-east-2"],
        False,
        False,
    ),
    ("console bad service", TWO_HOP_CONFIG, ["console", "dev", "--service", "s3?x"], 2, ["--service"], False, False),
    ("console unknown alias", TWO_HOP_CONFIG, ["console", "staging"], 3, ["'staging'", "dev, prod"], False, False),
    # demo
    ("demo unknown option", None, ["demo", "--fast"], 2, ["demo", "--fast"], False, False),
    # completion
    ("completion without a shell", None, ["completion"], 2, ["completion", "shell"], False, False),
    ("completion unknown shell", None, ["completion", "tcsh"], 2, ["invalid choice: 'tcsh'"], False, False),
]


@pytest.mark.parametrize(
    ("config", "argv", "code", "fragments", "deny", "reaches_sts"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gives_one_clear_line(
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    config: str | None,
    argv: list[str],
    code: int,
    fragments: list[str],
    deny: bool,
    reaches_sts: bool,
) -> None:
    if config is not None:
        sandbox.write_config(config)
    if deny:
        sandbox.sts.recorder.faults.append(deny_dev_role)
    assert_one_clear_error(run_main(capsys, *argv), *fragments, exit_code=code)
    if not reaches_sts:
        assert sandbox.sts.recorder.calls == []


def test_exec_without_target_does_not_name_internals(capsys: pytest.CaptureFixture[str]) -> None:
    line = assert_one_clear_error(run_main(capsys, "exec"), exit_code=2)
    assert "stray" not in line


def test_exec_split_keeps_an_empty_program_name() -> None:
    assert split_command(["exec", "dev", "--", ""]) == (["exec", "dev"], [""])


def test_profiles_write_with_a_missing_config_keeps_the_aws_config(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --config must not empty the block of profiles written before."""
    sandbox.write_config(TWO_HOP_CONFIG)
    assert main(["profiles", "--write"]) == 0
    aws_config = sandbox.root / "home" / ".aws" / "config"
    before = aws_config.read_text()
    assert "[profile dev]" in before
    capsys.readouterr()

    missing = sandbox.root / "confg.toml"
    assert_one_clear_error(run_main(capsys, "profiles", "--write", "--config", str(missing)), str(missing), exit_code=3)
    assert aws_config.read_text() == before


def test_the_catalogue_covers_every_command() -> None:
    commands = {case[2][0] for case in CASES}
    assert commands >= {"exec", "env", "console", "profiles", "accounts", "doctor", "cache", "demo", "completion"}


def test_cache_clear_with_a_file_for_a_cache_directory(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_directory = sandbox.root / "cache-file"
    not_a_directory.write_text("")
    monkeypatch.setenv("CREDPROC_CACHE_DIR", str(not_a_directory))
    result = run_main(capsys, "cache", "clear")
    assert_one_clear_error(result, str(not_a_directory), "CREDPROC_CACHE_DIR", exit_code=6)


def test_cache_clear_names_an_entry_it_cannot_remove(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """On Windows an entry being read cannot be deleted; here a directory stands in for it."""
    stuck = sandbox.cache_dir / ("0" * 64 + ".cred")
    stuck.mkdir(parents=True)
    assert_one_clear_error(run_main(capsys, "cache", "clear"), str(stuck), exit_code=6)


def test_profiles_write_failure_is_one_line_even_with_a_warning_pending(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys for `dev` in ~/.aws/credentials earn a warning, but not on top of the error."""
    sandbox.write_config(TWO_HOP_CONFIG)
    credentials = sandbox.root / "home" / ".aws" / "credentials"
    credentials.write_text("[dev]\naws_access_key_id = AKIASHADOWING0000001\naws_secret_access_key = x\n")
    aws_config_dir = sandbox.root / "aws-config-is-a-directory"
    aws_config_dir.mkdir()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config_dir))
    assert_one_clear_error(run_main(capsys, "profiles", "--write"), str(aws_config_dir), exit_code=3)


@pytest.mark.parametrize("argv", [["get", "dev"], ["env", "dev"], ["exec", "dev", "--", "true"]])
def test_an_unparsable_aws_config_file_is_a_config_error(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    aws_config = sandbox.root / "home" / ".aws" / "config"
    aws_config.write_text("[profile broken\nregion = us-east-1\n")
    line = assert_one_clear_error(
        run_main(capsys, *argv), str(aws_config), "(fix: fix that file's INI syntax", exit_code=3
    )
    assert "environment variables" not in line  # not blamed on the source identity


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CREDPROC_STS_TIMEOUT", "2m"),
        ("CREDPROC_STS_TIMEOUT", "0"),
        ("CREDPROC_STS_TIMEOUT", "inf"),
        ("CREDPROC_STS_BUDGET", "30s"),
        ("CREDPROC_STS_BUDGET", "-1"),
        ("CREDPROC_LOCK_TIMEOUT", "2m"),
        ("CREDPROC_LOCK_TIMEOUT", "-1"),
    ],
)
def test_a_timeout_variable_that_is_not_seconds_is_named(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A typo must not silently become the default (or no) timeout."""
    sandbox.write_config(TWO_HOP_CONFIG)
    monkeypatch.setenv(variable, value)
    assert_one_clear_error(run_main(capsys, "get", "dev"), f"{variable}: {value!r}", f"e.g. {variable}=", exit_code=3)
    assert sandbox.sts.recorder.calls == []


def test_a_lock_timeout_of_zero_is_allowed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    monkeypatch.setenv("CREDPROC_LOCK_TIMEOUT", "0")
    assert main(["get", "dev"]) == 0
