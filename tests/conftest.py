"""Shared fixtures: one real local STS per test session, and an isolated
environment per test (temp HOME, config, cache, key store; never the real
~/.aws or keychain)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))

from local_sts import LocalSts  # noqa: E402

SHARED_ACCOUNT = "123456789012"  # moto's default account: the source identity
HUB_ACCOUNT = "222222222222"
DEV_ACCOUNT = "111111111111"
PROD_ACCOUNT = "333333333333"
HUB_ARN = f"arn:aws:iam::{HUB_ACCOUNT}:role/hub"

TWO_HOP_CONFIG = f"""
[source]
region = "us-east-1"

[defaults]
role = "Deployer"
duration = "1h"
session_name = "credproc-{{user}}"

[accounts.dev]
id = "{DEV_ACCOUNT}"
via = ["{HUB_ARN}"]
region = "us-east-2"

[accounts.prod]
id = "{PROD_ACCOUNT}"
via = ["{HUB_ARN}"]
"""


def credproc_executable() -> str:
    """The installed console script of the interpreter running the tests."""
    candidate = Path(sys.executable).parent / "credproc"
    found = str(candidate) if candidate.exists() else shutil.which("credproc")
    assert found, "credproc is not installed: pip install -e '.[test]'"
    return found


def assert_one_clear_error(out: str, err: str, fragments: list[str]) -> None:
    """The failure contract: nothing on stdout, one `credproc: ... (fix: ...)`
    line on stderr holding every fragment, no traceback."""
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("credproc: ")
    assert "(fix: " in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in err


@pytest.fixture(scope="session")
def sts() -> Iterator[LocalSts]:
    server = LocalSts().start()
    yield server
    server.stop()


@dataclass
class Sandbox:
    """An isolated user: environment variables and the files they point at."""

    root: Path
    env: dict[str, str]
    sts: LocalSts

    @property
    def config_path(self) -> Path:
        return Path(self.env["CREDPROC_CONFIG"])

    @property
    def cache_dir(self) -> Path:
        return Path(self.env["CREDPROC_CACHE_DIR"])

    def write_config(self, text: str) -> Path:
        self.config_path.write_text(text)
        return self.config_path

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed credproc as a user would."""
        return subprocess.run(
            [credproc_executable(), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def get_json(self, *args: str) -> dict[str, object]:
        result = self.run("get", *args)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))


@pytest.fixture
def sandbox(tmp_path: Path, sts: LocalSts, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    keep = {name: os.environ[name] for name in ("PATH", "SYSTEMROOT", "LANG", "LC_ALL") if name in os.environ}
    env = {
        **keep,
        "HOME": str(home),
        "USER": "tester",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "CREDPROC_CONFIG": str(tmp_path / "config.toml"),
        "CREDPROC_CACHE_DIR": str(tmp_path / "cache"),
        "CREDPROC_DATA_DIR": str(tmp_path / "data"),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_ENDPOINT_URL_STS": sts.url,
        "AWS_ENDPOINT_URL_ORGANIZATIONS": sts.url,  # moto serves Organizations on the same port
        "AWS_ACCESS_KEY_ID": "AKIASHAREDSOURCE0001",
        "AWS_SECRET_ACCESS_KEY": "shared-source-secret-key-0001",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": str(SUPPORT),
        "PYTHON_KEYRING_BACKEND": "credproc_test_keyring.FileKeyring",
        "CREDPROC_TEST_KEYRING": str(tmp_path / "keyring.json"),
        "CREDPROC_STS_TIMEOUT": "5",
        "CREDPROC_STS_BUDGET": "5",  # endless throttling fails after 5 s of retries, not 30
    }
    for name in list(os.environ):
        if name.startswith(("AWS_", "CREDPROC_", "PYTHON_KEYRING")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sts.recorder.reset()
    return Sandbox(tmp_path, env, sts)
