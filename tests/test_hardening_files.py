"""Files credproc writes beside a user's own (~/.aws/config, the credproc
config) and what it writes into them: no moment at which another local user
can read a backup, no value that becomes a line of its own in ~/.aws/config,
no alias that reads like an account id.

The backup is checked at every system call rather than raced: strace records
the mode each file in the directory is created with and every chmod and
rename there, so the test proves that no file that becomes the backup ever
had a looser mode than 0600 (a race by another user shows the same leak only
when the scheduler lets it; this cannot miss it and cannot be flaky).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from botocore.configloader import raw_config_parse
from conftest import (
    DEV_ACCOUNT,
    HUB_ARN,
    PROD_ACCOUNT,
    TWO_HOP_CONFIG,
    Sandbox,
    assert_one_clear_error,
    credproc_executable,
)

from credproc.commands import profiles
from credproc.commands.discover import OrgAccount, appended_text, plan_additions
from credproc.config import Config
from credproc.errors import ConfigError

STRACE = shutil.which("strace")
SECRET_CONFIG = "[default]\nregion = eu-west-1\naws_secret_access_key = long-term-secret-in-config\n"
# openat(AT_FDCWD, "/path", O_WRONLY|O_CREAT|..., 0600) and chmod/fchmodat/rename*
_STRING = r'"((?:[^"\\]|\\.)*)"'
_OPEN = re.compile(r"\bopen(?:at)?\((?:AT_FDCWD|\d+)?,? ?" + _STRING + r", ([A-Z_|]+)(?:, (0\d+))?\)")
_CHMOD = re.compile(r"\b(?:chmod|fchmodat)\((?:AT_FDCWD, )?" + _STRING + r", (0\d+)")
_RENAME = re.compile(r"\brename(?:at2?)?\((?:AT_FDCWD, )?" + _STRING + r", (?:AT_FDCWD, )?" + _STRING)


def strace_works(tmp_path: Path) -> bool:
    if STRACE is None:
        return False
    probe = subprocess.run([STRACE, "-qq", "-o", str(tmp_path / "probe.log"), "true"], capture_output=True)
    return probe.returncode == 0


def modes_of_files_that_became(log: Path, directory: Path, name: str) -> tuple[list[str], list[int]]:
    """Every file created in ``directory`` directly under its own name (looked up
    by ``name``), and every mode a file had that was renamed to ``name`` there."""
    created: dict[str, list[int]] = {}  # path -> modes it had (creation, then chmods)
    direct: list[str] = []
    became: list[int] = []
    for line in log.read_text().splitlines():
        if (match := _OPEN.search(line)) and "O_CREAT" in match[2] and match[1].startswith(str(directory)):
            created[match[1]] = [int(match[3] or "0", 8)]
            if os.path.basename(match[1]) == name:
                direct.append(line)
        elif (match := _CHMOD.search(line)) and match[1] in created:
            created[match[1]].append(int(match[2], 8))
        elif (match := _RENAME.search(line)) and os.path.basename(match[2]) == name:
            became += created.get(match[1], [])
    return direct, became


def test_the_backup_of_aws_config_is_never_readable_by_others(sandbox: Sandbox, tmp_path: Path) -> None:
    if not strace_works(tmp_path):
        pytest.skip("strace is needed to see each file's mode at every call (apt-get install strace)")
    sandbox.write_config(TWO_HOP_CONFIG)
    aws_config = Path(sandbox.env["AWS_CONFIG_FILE"])
    aws_config.write_text(SECRET_CONFIG)
    os.chmod(aws_config, 0o644)  # the usual mode of ~/.aws/config
    log = tmp_path / "strace.log"
    trace = ["openat", "open", "creat", "chmod", "fchmodat", "rename", "renameat", "renameat2"]
    prefix = [STRACE or "strace", "-f", "-qq", "-s", "4096", "-o", str(log), "-e", "trace=" + ",".join(trace)]

    result = sandbox.run("profiles", "--write", prefix=prefix)

    assert result.returncode == 0, result.stderr
    backup = aws_config.with_name(aws_config.name + ".credproc-backup")
    assert backup.read_text() == SECRET_CONFIG
    direct, modes = modes_of_files_that_became(log, aws_config.parent, backup.name)
    # Made whole as a 0600 temp file and renamed into place: never created
    # under its own name (shutil.copy2 did that with 0666 minus the umask).
    assert direct == []
    assert modes and all(mode & ~0o600 == 0 for mode in modes), [oct(mode) for mode in modes]
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(aws_config.stat().st_mode) == 0o644  # the user's file keeps the user's mode


@pytest.mark.parametrize(("original", "expected"), [(0o644, 0o600), (0o640, 0o600), (0o600, 0o600), (0o400, 0o400)])
def test_a_backup_is_no_looser_than_0600_or_the_original(sandbox: Sandbox, original: int, expected: int) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    path = Path(sandbox.env["AWS_CONFIG_FILE"])
    path.write_text(SECRET_CONFIG)
    os.chmod(path, original)
    result = sandbox.run("profiles", "--write")
    assert result.returncode == 0, result.stderr
    backup = path.with_name(path.name + ".credproc-backup")
    assert stat.S_IMODE(backup.stat().st_mode) == expected
    assert backup.read_text() == SECRET_CONFIG
    assert stat.S_IMODE(path.stat().st_mode) == original


HAND_WRITTEN = "[default]\nregion = eu-west-1\n"
INJECTION = "\n[profile injected]\ncredential_process = /bin/sh -c id\n#"


def aws_config_with_hand_written_text(sandbox: Sandbox) -> Path:
    path = Path(sandbox.env["AWS_CONFIG_FILE"])
    path.write_text(HAND_WRITTEN)
    return path


def assert_left_as_it_was(path: Path) -> None:
    assert path.read_text() == HAND_WRITTEN
    assert not path.with_name(path.name + ".credproc-backup").exists()
    assert "injected" not in raw_config_parse(str(path))


def test_a_config_path_with_a_line_break_cannot_inject_a_profile(sandbox: Sandbox) -> None:
    # The path's own slashes spell the injected command: a/\n[profile injected]\n...= /bin/sh -c id\n#/config.toml
    config = sandbox.root / ("a" + INJECTION.split("/bin/")[0]) / "bin" / ("sh -c id\n#") / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(TWO_HOP_CONFIG)
    path = aws_config_with_hand_written_text(sandbox)
    for command in (("profiles", "--write"), ("profiles",)):
        result = sandbox.run(*command, "--config", str(config))
        line = assert_one_clear_error(result, "--config", repr(str(config)), "control character", exit_code=3)
        assert "\\n[profile injected]\\ncredential_process = /bin/sh -c id" in line
        assert_left_as_it_was(path)


def test_a_prefix_with_a_line_break_is_named_as_the_culprit(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    path = aws_config_with_hand_written_text(sandbox)
    result = sandbox.run("profiles", "--write", "--prefix", "x" + INJECTION)
    assert_one_clear_error(result, "--prefix 'x\\n[profile injected]", "control character '\\n'", exit_code=3)
    assert_left_as_it_was(path)


@pytest.mark.skipif(os.name != "posix", reason="a line break in a directory name")
def test_credproc_installed_under_a_path_with_a_line_break_is_refused(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    path = aws_config_with_hand_written_text(sandbox)
    program = sandbox.root / ("tools" + INJECTION.replace("/", "_")) / "credproc"
    program.parent.mkdir()
    shutil.copy2(credproc_executable(), program)  # the console script: its shebang is absolute
    result = sandbox.run("profiles", "--write", program=str(program))
    assert_one_clear_error(result, "credproc's own path", repr(str(program)), exit_code=3)
    assert_left_as_it_was(path)


@pytest.mark.parametrize(
    "region",
    ["us-east-1\n[profile injected]\ncredential_process = /bin/sh -c id", "us-east-1\rcredential_process = id"],
)
def test_profiles_that_would_not_read_back_as_written_are_not_written(tmp_path: Path, region: str) -> None:
    """The last line of defence: whatever slipped past the checks of each value,
    the merged file is parsed the way botocore parses it before it is written."""
    path = tmp_path / "config"
    path.write_text(HAND_WRITTEN)
    rogue = profiles.Profile("dev", "dev", region)
    with pytest.raises(ConfigError, match="would not read back as written"):
        profiles.write(path, [rogue], ["/usr/bin/credproc"])
    assert_left_as_it_was(path)
    written = profiles.write(path, [profiles.Profile("dev", "dev", "us-east-1")], ["/usr/bin/credproc"])
    assert written.changed
    assert raw_config_parse(str(path))["profile dev"]["credential_process"] == "/usr/bin/credproc get dev"


def test_an_alias_of_12_digits_is_refused_before_it_can_hide_an_account(sandbox: Sandbox) -> None:
    # The alias is dev's account id, its table prod's account: `get <dev's id>` printed prod's keys.
    config = sandbox.write_config(
        TWO_HOP_CONFIG + f'\n[accounts."{DEV_ACCOUNT}"]\nid = "{PROD_ACCOUNT}"\nvia = ["{HUB_ARN}"]\n'
    )
    line = config.read_text().splitlines().index(f'[accounts."{DEV_ACCOUNT}"]') + 1
    for command in (("get", DEV_ACCOUNT), ("get", PROD_ACCOUNT), ("get", "dev"), ("accounts",), ("profiles",)):
        result = sandbox.run(*command)
        assert_one_clear_error(
            result,
            f"{config}:{line}: accounts.{DEV_ACCOUNT}: the alias '{DEV_ACCOUNT}' is 12 digits",
            f"account {PROD_ACCOUNT}",
            "rename it",
            exit_code=3,
        )


def test_discover_never_writes_an_alias_of_12_digits(sandbox: Sandbox) -> None:
    """Accounts named by an account id (their own, another's, twice) get aliases no target can confuse."""
    taken = {"account-111111111111": {"id": "666666666666"}}
    config = Config(path=sandbox.config_path, exists=True, raw_accounts=taken)
    found = [
        OrgAccount("111111111111", "111111111111", "ACTIVE"),
        OrgAccount("222222222222", "111111111111", "ACTIVE"),
        OrgAccount("333333333333", "444444444444", "ACTIVE"),
        OrgAccount("555555555555", "", "ACTIVE"),
    ]
    new = plan_additions(config, found).new
    assert len(new) == len(found)
    assert not [account.alias for account in new if account.alias.isdigit()]
    sandbox.write_config(appended_text("", new))
    listed = sandbox.run("accounts", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {row["alias"] for row in json.loads(listed.stdout)} == {account.alias for account in new}
