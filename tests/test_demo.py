"""`credproc demo`: runs from an install in one command, shows the story,
leaves nothing behind and never touches the user's HOME or AWS/credproc config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import assert_one_clear_error, run_credproc


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_demo_tells_the_story_and_leaves_nothing_behind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    user_aws_config = home / ".aws" / "config"
    user_aws_config.write_text("[default]\nregion = ap-south-1\n")
    user_credproc_config = tmp_path / "user-config.toml"
    user_credproc_config.write_text("this is not TOML the demo may read [")
    temp = tmp_path / "tmp"
    temp.mkdir()
    before = snapshot(home)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TMPDIR": str(temp),
        # a user's own setup, which the demo must neither use nor change
        "AWS_CONFIG_FILE": str(user_aws_config),
        "AWS_PROFILE": "someone-elses-profile",
        "AWS_ACCESS_KEY_ID": "AKIAUSERSREALKEY0001",
        "AWS_SECRET_ACCESS_KEY": "users-real-secret",
        "CREDPROC_CONFIG": str(user_credproc_config),
        "CREDPROC_CACHE_DIR": str(tmp_path / "user-cache"),
        "CREDPROC_DATA_DIR": str(tmp_path / "user-data"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    result = run_credproc(["demo"], env, timeout=300)  # no sandbox: this user's setup is the demo's own
    assert result.returncode == 0, result.stderr
    out = result.stdout

    # the first get makes the hops, the second comes from the cache
    assert "hop 1/2: AssumeRole arn:aws:iam::444444444444:role/hub as profile shared-services" in out
    assert "hop 2/2: AssumeRole arn:aws:iam::111111111111:role/Deployer" in out
    assert "credentials for 111111111111 after 2 STS call(s)" in out
    assert "credentials for 111111111111 from the cache" in out
    assert "the same session as step 1, no STS call" in out
    # boto3 through the generated profiles reaches each account
    for alias, account in (("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")):
        assert f"account {account}  arn:aws:sts::{account}:assumed-role/Deployer/credproc-demo-" in out, alias
    assert "1 hub session(s) cached" in out
    # secrets stay hidden, the user's keys are not used
    assert '"SecretAccessKey": "(hidden)"' in out
    assert "AKIAUSERSREALKEY0001" not in out + result.stderr

    # nothing left behind, nothing of the user's touched
    assert list(temp.iterdir()) == []
    assert snapshot(home) == before
    assert user_credproc_config.read_text() == "this is not TOML the demo may read ["
    assert not (tmp_path / "user-cache").exists() and not (tmp_path / "user-data").exists()


def test_demo_without_moto_says_how_to_get_it(tmp_path: Path) -> None:
    blocked = "import sys; sys.modules['moto'] = None; from credproc.cli import main; sys.exit(main(['demo']))"
    result = subprocess.run(
        [sys.executable, "-c", blocked],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = assert_one_clear_error(result, exit_code=2)
    assert line == "credproc: credproc demo needs moto to play STS locally (fix: pip install 'credproc[demo]')"

    assert list(tmp_path.iterdir()) == []
