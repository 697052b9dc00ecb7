"""Shared fixtures: one real local STS per test session, and an isolated
environment per test (temp HOME, config, cache, key store; never the real
~/.aws or keychain)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))

import secret_scan  # noqa: E402
import tiers  # noqa: E402
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


def run_credproc(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float = 120,
    prefix: Sequence[str] = (),
    program: str | None = None,
    new_session: bool = False,
    preexec_fn: Callable[[], None] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The installed credproc run as a user would, with exactly ``env``: stdin
    empty, output captured as text. ``prefix`` runs it through another program
    (python -X importtime, setpriv, a terminal wrapper), ``program`` is another
    copy of the console script (a path, or a name looked up on env's PATH),
    ``new_session`` detaches it from any controlling terminal, ``preexec_fn``
    sets a limit before exec (a full disk), ``cwd`` is its working directory."""

    result = subprocess.run(
        [*prefix, program or credproc_executable(), *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=new_session,
        preexec_fn=preexec_fn,
        cwd=cwd,
    )
    check_failure_output(args, result.returncode, (result.stdout, result.stderr), env)
    return result


def check_failure_output(
    args: Sequence[str], returncode: int | None, outputs: Sequence[str | None], env: Mapping[str, str]
) -> None:
    """A failed credproc run's output holds no secret the session knows of
    (tests/support/secret_scan.py); a hit fails the test, naming the kind only."""
    if not returncode:
        return
    what = f"the output of `credproc {' '.join(args[:1])}` (exit {returncode})"
    reason = secret_scan.failure(what, [text for text in outputs if text], env)
    if reason:
        pytest.fail(reason, pytrace=False)


class CheckedPopen(subprocess.Popen[str]):
    """A started credproc whose output, read with communicate(), is checked
    like run_credproc's once it has failed."""

    def __init__(self, argv: list[str], args: Sequence[str], env: Mapping[str, str], **options: Any) -> None:
        super().__init__(argv, env=dict(env), **options)
        self.credproc_args, self.credproc_env = list(args), dict(env)

    def communicate(self, input: str | None = None, timeout: float | None = None) -> tuple[str, str]:
        out, err = super().communicate(input, timeout)
        check_failure_output(self.credproc_args, self.returncode, (out, err), self.credproc_env)
        return out, err


def start_credproc(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    prefix: Sequence[str] = (),
    stdout: int | IO[Any] | None = subprocess.PIPE,
    stderr: int | IO[Any] | None = subprocess.PIPE,
    new_session: bool = False,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
) -> subprocess.Popen[str]:
    """The installed credproc started and not waited for (runs side by side,
    or one to signal); stdin empty, stdout and stderr piped unless told;
    ``prefix`` and ``new_session`` as for run_credproc."""
    return CheckedPopen(
        [*prefix, credproc_executable(), *args],
        args,
        env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=new_session,
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """`credproc ARGS` in this process (cli.main), as a finished run: exit code, stdout, stderr."""
    from credproc.cli import main

    capsys.readouterr()  # what came before is not this run's
    code = main(list(args))
    captured = capsys.readouterr()
    check_failure_output(args, code, (captured.out, captured.err), os.environ)
    return subprocess.CompletedProcess(["credproc", *args], code, captured.out, captured.err)


def assert_one_clear_error(
    result: subprocess.CompletedProcess[str], *fragments: str, exit_code: int | None = None
) -> str:
    """The failure contract: a non-zero exit code (``exit_code`` when given),
    nothing on stdout, exactly one `credproc: ... (fix: ...)` line on stderr
    holding every fragment, no traceback. Returns the line for further checks."""
    assert result.returncode != 0, result.stderr
    if exit_code is not None:
        assert result.returncode == exit_code, result.stderr
    assert result.stdout == "", result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    line, newline, rest = result.stderr.partition("\n")
    assert newline and rest == "", result.stderr  # one line, ended, nothing before or after
    assert line.startswith("credproc: "), line
    assert "(fix: " in line, line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-shortcuts",
        action="store_true",
        help="run with CREDPROC_NO_SHORTCUTS=1: credproc's interpreter-level shortcuts off (credproc/shortcuts.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes 0.5 s or more (tests/support/tiers.py)")
    config.addinivalue_line("markers", "e2e: drives real AWS clients, shells or packaging tools besides credproc")
    config.addinivalue_line("markers", "network: needs the network (PyPI)")
    # Before collection imports credproc (storage picks its hash at import),
    # and kept by the sandbox fixture for the processes it starts.
    if config.getoption("no_shortcuts"):
        os.environ["CREDPROC_NO_SHORTCUTS"] = "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tier markers by file and function name (tests/support/tiers.py), so the
    fast tier is `pytest -m "not slow and not e2e"`."""
    checked: set[str] = set()
    for item in items:
        file_name = item.path.name
        function = getattr(item, "originalname", item.name)
        for name in tiers.markers_of(file_name, function):
            item.add_marker(name)
        module = getattr(item, "module", None)
        if file_name not in checked and module is not None:
            checked.add(file_name)
            missing = [name for name in tiers.listed(file_name) if not hasattr(module, name)]
            if missing:
                raise pytest.UsageError(f"tests/support/tiers.py lists {', '.join(missing)} of {file_name}, gone")


_SLOW_IN_FAST_TIER: list[tuple[str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.duration >= tiers.FAST_TIER_WARNING:
        if not {"slow", "e2e"} & set(report.keywords):
            _SLOW_IN_FAST_TIER.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name fast-tier tests that were not fast, so the tier stays under a minute."""
    for nodeid, seconds in _SLOW_IN_FAST_TIER:
        terminalreporter.write_line(f"fast tier: {nodeid} took {seconds:.1f} s: mark it slow in tests/support/tiers.py")


@pytest.fixture(scope="session")
def sts() -> Iterator[LocalSts]:
    server = LocalSts().start()
    yield server
    server.stop()


ADMIN_KEY_ID = "AKIAADMIN00000000001"  # the tests' own IAM calls (Sandbox.admin_iam)


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

    def run(self, *args: str, env: Mapping[str, str] | None = None, **options: Any) -> subprocess.CompletedProcess[str]:
        """Run the installed credproc as a user would: the sandbox's environment
        plus ``env``; ``options`` as for run_credproc (timeout, prefix...)."""

        return run_credproc(args, {**self.env, **(env or {})}, **options)

    def start(self, *args: str, env: Mapping[str, str] | None = None, **options: Any) -> subprocess.Popen[str]:
        """Start the installed credproc without waiting; ``options`` as for start_credproc."""
        return start_credproc(args, {**self.env, **(env or {})}, **options)

    def admin_iam(self) -> Any:
        """boto3's IAM client for the tests' own setup calls to the local moto
        server (moto takes any key; :data:`ADMIN_KEY_ID` tells them apart)."""
        import boto3

        return boto3.client(
            "iam",
            endpoint_url=self.sts.url,
            region_name="us-east-1",
            aws_access_key_id=ADMIN_KEY_ID,
            aws_secret_access_key="admin",
        )

    def get_json(self, *args: str) -> dict[str, object]:
        result = self.run("get", *args)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))


@pytest.fixture
def sandbox(tmp_path: Path, sts: LocalSts, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    keep = {
        name: os.environ[name]
        for name in ("PATH", "SYSTEMROOT", "LANG", "LC_ALL", "CREDPROC_NO_SHORTCUTS")
        if name in os.environ
    }
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


@pytest.fixture(scope="session")
def go_whoami(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go SDK v2 test client (tests/support/go-client), built once, offline."""
    from sdk_clients import build_go_client

    built = build_go_client(tmp_path_factory.mktemp("go-client"))
    if isinstance(built, str):
        pytest.skip(built)
    return built


@pytest.fixture(params=["boto3", "aws-cli-v1", "aws-cli-v2", "js-sdk-v3", "go-sdk-v2"])
def client(request: pytest.FixtureRequest) -> Any:
    """Each AWS client the endpoint tests drive (sdk_clients.Client); one not
    installed here is a skip naming what installs it."""
    import sdk_clients

    if request.param == "go-sdk-v2":
        return sdk_clients.go_client(request.getfixturevalue("go_whoami"))
    found = {
        "boto3": sdk_clients.boto3_client,
        "aws-cli-v1": sdk_clients.aws_cli_v1,
        "aws-cli-v2": sdk_clients.aws_cli_v2,
        "js-sdk-v3": sdk_clients.js_client,
    }[request.param]()
    if isinstance(found, str):
        pytest.skip(found)
    return found
