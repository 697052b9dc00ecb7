"""The catalogue of bad inputs: each one gives its documented exit code, an
empty stdout and one stderr line naming the setting and the fix; none reaches
STS and none prints a traceback."""

from __future__ import annotations

import pytest
from conftest import DEV_ACCOUNT, HUB_ARN, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, run_main

LONG_NAME = "r" * 65
TARGET = DEV_ACCOUNT

# (case id, config text or None, argv, exit code, fragments the one line must contain)
CASES: list[tuple[str, str | None, list[str], int, list[str]]] = [
    ("account id too short", None, ["get", "12345", "--role", "R"], 3, ["'12345'", "12-digit"]),
    ("account id too long", None, ["get", "1234567890123", "--role", "R"], 3, ["1234567890123", "12-digit"]),
    ("account id with letters", None, ["get", "12345678901a", "--role", "R"], 3, ["12345678901a", "12-digit"]),
    ("unknown alias", TWO_HOP_CONFIG, ["get", "staging"], 3, ["'staging'", "dev, prod"]),
    ("no role anywhere", None, ["get", TARGET], 3, ["no role", "--role"]),
    ("role name with bad characters", None, ["get", TARGET, "--role", "bad role!"], 3, ["--role", "not a role name"]),
    ("role name too long", None, ["get", TARGET, "--role", LONG_NAME], 3, ["--role", "1-64"]),
    (
        "role ARN bad partition",
        None,
        ["get", TARGET, "--role", f"arn:aws-xx:iam::{TARGET}:role/R"],
        3,
        ["--role", "not an IAM role ARN"],
    ),
    (
        "role ARN wrong service",
        None,
        ["get", TARGET, "--role", f"arn:aws:s3:::{TARGET}-bucket"],
        3,
        ["--role", "not an IAM role ARN"],
    ),
    (
        "role ARN other account",
        None,
        ["get", TARGET, "--role", "arn:aws:iam::999999999999:role/R"],
        3,
        ["--role", "999999999999", "not the target"],
    ),
    (
        "role ARN other partition",
        None,
        ["get", TARGET, "--role", f"arn:aws-cn:iam::{TARGET}:role/R"],
        3,
        ["--role", "aws-cn"],
    ),
    ("duration 0", None, ["get", TARGET, "--role", "R", "--duration", "0"], 3, ["--duration", "900 s"]),
    ("duration 899 s", None, ["get", TARGET, "--role", "R", "--duration", "899"], 3, ["--duration", "899"]),
    ("duration 13 h", None, ["get", TARGET, "--role", "R", "--duration", "13h"], 3, ["--duration", "46800"]),
    ("duration not a number", None, ["get", TARGET, "--role", "R", "--duration", "abc"], 3, ["--duration", "'abc'"]),
    (
        "session name unknown placeholder",
        None,
        ["get", TARGET, "--role", "R", "--session-name", "x-{nope}"],
        3,
        ["--session-name", "placeholder", "{user}"],
    ),
    (
        "session name expands to nothing valid",
        None,
        ["get", TARGET, "--role", "R", "--session-name", "!!"],
        3,
        ["--session-name", "2-64"],
    ),
    (
        "external id 1 char",
        None,
        ["get", TARGET, "--role", "R", "--external-id", "a"],
        3,
        ["--external-id", "1 characters"],
    ),
    (
        "external id 1300 chars",
        None,
        ["get", TARGET, "--role", "R", "--external-id", "e" * 1300],
        3,
        ["--external-id", "1300"],
    ),
    (
        "external id bad characters",
        None,
        ["get", TARGET, "--role", "R", "--external-id", "no spaces"],
        3,
        ["--external-id", "characters"],
    ),
    ("region not a region", None, ["get", TARGET, "--role", "R", "--region", "mars"], 2, ["--region", "'mars'"]),
    ("region empty", None, ["get", TARGET, "--role", "R", "--region", ""], 2, ["--region", "''"]),
    ("session name empty", None, ["get", TARGET, "--role", "R", "--session-name", ""], 3, ["--session-name", "2-64"]),
    (
        "session name empty in the config",
        '[defaults]\nrole = "R"\nsession_name = ""\n',
        ["get", TARGET],
        3,
        ["config.toml:3:", "defaults.session_name", "2-64"],
    ),
    ("via not an ARN", None, ["get", TARGET, "--role", "R", "--via", "hub"], 3, ["--via", "'hub'"]),
    ("via loops", None, ["get", TARGET, "--role", "R", "--via", HUB_ARN, "--via", HUB_ARN], 3, ["twice", "loop"]),
    (
        "via contains the target",
        None,
        ["get", TARGET, "--role", "R", "--via", f"arn:aws:iam::{TARGET}:role/R"],
        3,
        ["twice"],
    ),
    ("malformed TOML", "[defaults\nrole = 'x'\n", ["get", "dev"], 3, ["config.toml", "not valid TOML", "line 1"]),
    (
        "duration of wrong type",
        '[defaults]\nrole = "R"\nduration = true\n',
        ["get", TARGET],
        3,
        ["config.toml:3:", "defaults.duration"],
    ),
    (
        "account id as a number",
        "[accounts.dev]\nid = 111111111111\n",
        ["get", "dev"],
        3,
        ["config.toml:2:", "accounts.dev.id"],
    ),
    (
        "via as a string",
        f'[accounts.dev]\nid = "{TARGET}"\nrole = "R"\nvia = "{HUB_ARN}"\n',
        ["get", "dev"],
        3,
        ["config.toml:4:", "accounts.dev.via", "list"],
    ),
    (
        "cache enabled as a string",
        '[cache]\nenabled = "yes"\n',
        ["get", TARGET, "--role", "R"],
        3,
        ["config.toml:2:", "cache.enabled"],
    ),
    (
        "unknown key store",
        '[cache]\nkey_store = "vault"\n',
        ["get", TARGET, "--role", "R"],
        3,
        ["cache.key_store", "'vault'"],
    ),
    (
        "refresh margin not a duration",
        '[cache]\nrefresh_margin = "soon"\n',
        ["get", TARGET, "--role", "R"],
        3,
        ["cache.refresh_margin"],
    ),
    (
        "source region of wrong type",
        "[source]\nregion = 5\n",
        ["get", TARGET, "--role", "R"],
        3,
        ["config.toml:2:", "source.region"],
    ),
    ("source profile empty", '[source]\nprofile = ""\n', ["get", TARGET, "--role", "R"], 3, ["source.profile"]),
    (
        "unknown key with a close match",
        '[defaults]\nextrenal_id = "abc"\n',
        ["get", TARGET, "--role", "R"],
        3,
        ["config.toml:2:", "defaults.extrenal_id", "did you mean 'external_id'"],
    ),
    (
        "unknown top-level table",
        '[sources]\nprofile = "x"\n',
        ["get", TARGET, "--role", "R"],
        3,
        ["sources", "did you mean 'source'"],
    ),
    (
        "account without id",
        '[accounts.dev]\nrole = "R"\n',
        ["get", "dev"],
        3,
        ["config.toml:1:", "accounts.dev", "has no id"],
    ),
    ("accounts not a table", "accounts = 5\n", ["get", TARGET, "--role", "R"], 3, ["accounts", "must be a table"]),
    (
        "bad duration in an account",
        f'[accounts.dev]\nid = "{TARGET}"\nrole = "R"\nduration = "20h"\n',
        ["get", "dev"],
        3,
        ["config.toml:4:", "accounts.dev.duration"],
    ),
    (
        "bad role in defaults",
        '[defaults]\nrole = "has space"\n',
        ["get", TARGET],
        3,
        ["config.toml:2:", "defaults.role"],
    ),
    ("missing target", None, ["get"], 2, ["target"]),
    ("unknown option", None, ["get", TARGET, "--rolle", "R"], 2, ["--rolle"]),
    ("unknown command", None, ["fetch", TARGET], 2, ["fetch"]),
]


@pytest.mark.parametrize(
    ("config", "argv", "code", "fragments"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_input_gives_one_clear_line(
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    config: str | None,
    argv: list[str],
    code: int,
    fragments: list[str],
) -> None:
    if config is not None:
        sandbox.write_config(config)
    assert_one_clear_error(run_main(capsys, *argv), *fragments, exit_code=code)
    assert sandbox.sts.recorder.calls == []  # rejected before any network call


def test_the_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_config_path_is_a_directory(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.config_path.mkdir()
    result = run_main(capsys, "get", "dev")
    assert_one_clear_error(result, "is a directory", str(sandbox.config_path), exit_code=3)


def test_config_not_utf8(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.config_path.write_bytes(b'[defaults]\nrole = "\xff\xfe"\n')
    assert_one_clear_error(run_main(capsys, "get", "dev"), "not UTF-8", exit_code=3)


def test_config_under_a_file_is_unreadable(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = sandbox.root / "blocker"
    blocker.write_text("")
    result = run_main(capsys, "get", "dev", "--config", str(blocker / "config.toml"))
    assert_one_clear_error(result, "cannot be read", "blocker", exit_code=3)


def test_bad_input_through_the_console_script(sandbox: Sandbox) -> None:
    result = sandbox.run("get", TARGET, "--role", "R", "--duration", "13h", "--verbose")
    assert_one_clear_error(result, "--duration", exit_code=3)
