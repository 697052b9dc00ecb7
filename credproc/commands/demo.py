"""``credproc demo``: the whole story against a local STS, no AWS account needed.

A moto server on 127.0.0.1 (ephemeral port) plays STS; a throw-away directory
holds a config (a shared-services source with fake keys, a hub, three
accounts), a HOME with ~/.aws files, the cache and its key. Every step runs the
real credproc (and boto3) as child processes whose environment points only at
that directory, so the user's AWS config, credproc config, cache and keychain
are never read or written. The directory is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, TextIO

from ..errors import CredprocError, UsageError
from ..log import Log
from . import CommandOutput
from .cache import render_rows
from .options import Subparsers

SHARED_ACCOUNT = "123456789012"  # the account moto gives unknown access keys
HUB_ARN = "arn:aws:iam::444444444444:role/hub"
ACCOUNTS = (
    ("dev", "111111111111", "us-east-2"),
    ("staging", "222222222222", "eu-west-1"),
    ("prod", "333333333333", None),
)
FAKE_ACCESS_KEY = "AKIADEMOSHAREDKEY001"  # not a real key: the local STS accepts any
FAKE_SECRET_KEY = "demo-secret-for-the-local-sts-only"  # noqa: S105 - fake, like the key id

# Variables a child process needs to run at all; everything else (AWS_*,
# CREDPROC_*, PYTHON_KEYRING_*) is left behind on purpose.
_KEPT_VARIABLES = ("PATH", "SYSTEMROOT", "LANG", "LC_ALL", "TMPDIR", "TEMP", "TMP")

# Runs in a child process with the demo's environment: boto3 through the
# generated profiles, one JSON line per profile.
_IDENTITY_SCRIPT = """
import json, sys, boto3
for profile in sys.argv[1:]:
    identity = boto3.Session(profile_name=profile).client("sts").get_caller_identity()
    print(json.dumps({"profile": profile, "account": identity["Account"], "arn": identity["Arn"]}))
"""


class DemoStepFailed(CredprocError):
    """A step of the demo did not work (a bug, or a broken install)."""


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("demo", help="show credproc at work against a local STS (no AWS account needed)")
    parser.add_argument("-v", "--verbose", action="store_true", help="add a traceback to an unexpected error")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    # The demo is a story told as it happens: it streams to stdout itself.
    return CommandOutput(exit_code=run_demo(sys.stdout))


def demo_config() -> str:
    """The credproc config of the demo: source profile, hub, three accounts."""
    lines = [
        "[source]",
        'profile = "shared-services"',
        'region = "us-east-1"',
        "",
        "[defaults]",
        'role = "Deployer"',
        'duration = "1h"',
        'session_name = "credproc-demo-{user}"',
        f'via = ["{HUB_ARN}"]',
    ]
    for alias, account_id, region in ACCOUNTS:
        lines += ["", f"[accounts.{alias}]", f'id = "{account_id}"']
        if region:
            lines.append(f'region = "{region}"')
    return "\n".join(lines) + "\n"


def aws_profiles(credproc_command: Sequence[str]) -> str:
    """An ~/.aws/config with one credential_process profile per demo account,
    as ``credproc profiles`` renders them."""
    from .profiles import Profile, render_block

    demo_profiles = [Profile(alias, alias, region or "us-east-1") for alias, _, region in ACCOUNTS]
    return render_block(demo_profiles, credproc_command)


def isolated_env(root: Path, sts_url: str, outer: Mapping[str, str]) -> dict[str, str]:
    """The environment of every child: all state under ``root``."""
    home = root / "home"
    env = {name: outer[name] for name in _KEPT_VARIABLES if name in outer}
    env.update(
        {
            "HOME": str(home),
            "USERPROFILE": str(home),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            "XDG_CACHE_HOME": str(root / "xdg-cache"),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
            "AWS_ENDPOINT_URL_STS": sts_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "CREDPROC_CONFIG": str(root / "config.toml"),
            "CREDPROC_CACHE_DIR": str(root / "cache"),
            "CREDPROC_DATA_DIR": str(root / "data"),
            # No keychain: the cache key goes to a 0600 file in CREDPROC_DATA_DIR.
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "PYTHONIOENCODING": "utf-8",
        }
    )
    return env


def write_files(root: Path, credproc_command: Sequence[str]) -> None:
    """Config, fake source keys and generated profiles, all under ``root``."""
    aws = root / "home" / ".aws"
    aws.mkdir(parents=True, mode=0o700)
    (root / "config.toml").write_text(demo_config())
    credentials = aws / "credentials"
    credentials.write_text(
        f"[shared-services]\naws_access_key_id = {FAKE_ACCESS_KEY}\naws_secret_access_key = {FAKE_SECRET_KEY}\n"
    )
    credentials.chmod(0o600)
    (aws / "config").write_text(aws_profiles(credproc_command))


@contextmanager
def local_sts() -> Iterator[str]:
    """moto's server on 127.0.0.1 with an ephemeral port; yields its URL."""
    import logging

    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise UsageError("credproc demo needs moto to play STS locally", "pip install 'credproc[demo]'") from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on the terminal
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class Step(NamedTuple):
    """One child process run by the demo."""

    stdout: str
    stderr: str
    seconds: float


class Demo:
    """Runs the steps and prints the story to ``out``."""

    def __init__(self, out: TextIO, env: Mapping[str, str], credproc_command: Sequence[str]) -> None:
        self.out = out
        self.env = dict(env)
        self.credproc_command = list(credproc_command)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def run(self, command: Sequence[str], label: str) -> Step:
        import subprocess

        started = time.perf_counter()
        result = subprocess.run(
            list(command),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise DemoStepFailed(
                f"demo step `{label}` exited {result.returncode}: {last}",
                "rerun with --verbose and report the output",
            )
        return Step(result.stdout, result.stderr, seconds)

    def credproc(self, *args: str) -> Step:
        return self.run([*self.credproc_command, *args], "credproc " + " ".join(args))

    def show_get(self, step: Step) -> dict[str, object]:
        for line in step.stderr.strip().splitlines():
            self.say(f"   {line}")
        document = dict(json.loads(step.stdout))
        shown = {**document, "SecretAccessKey": "(hidden)", "SessionToken": "(hidden)"}
        self.say(f"   stdout: {json.dumps(shown)}")
        self.say(f"   took {step.seconds:.2f} s (including the Python start-up of the credproc process)")
        return document

    def story(self, sts_url: str, root: Path) -> None:
        self.say("credproc demo: a local STS (moto) plays AWS; no account, no network beyond 127.0.0.1")
        self.say(f"   local STS   {sts_url}")
        self.say(f"   files       {root} (removed at the end)")
        self.say(f"   source      profile shared-services (fake keys) -> account {SHARED_ACCOUNT}")
        self.say(f"   hub         {HUB_ARN}")
        accounts = ", ".join(f"{alias} {account_id}" for alias, account_id, _ in ACCOUNTS)
        self.say(f"   accounts    {accounts} (role Deployer)")
        self.say()

        self.say("1. credproc get dev   (nothing cached: one AssumeRole per hop)")
        first = self.show_get(self.credproc("get", "dev", "--verbose"))
        self.say()

        self.say("2. credproc get dev   (again: served from the encrypted cache)")
        second = self.show_get(self.credproc("get", "dev", "--verbose"))
        same = "the same session" if second["AccessKeyId"] == first["AccessKeyId"] else "a different session"
        self.say(f"   {same} as step 1, no STS call")
        self.say()

        profiles = [alias for alias, _, _ in ACCOUNTS]
        self.say("3. boto3 through generated ~/.aws/config profiles:")
        for line in aws_profiles(self.credproc_command).splitlines():
            if line.startswith(("[", "credential_process")):
                self.say(f"      {line}")
        identities = self.run([sys.executable, "-c", _IDENTITY_SCRIPT, *profiles], "boto3 get_caller_identity")
        for line in identities.stdout.splitlines():
            identity = json.loads(line)
            self.say(f"   {identity['profile']:<8} account {identity['account']}  {identity['arn']}")
        self.say()

        self.say("4. credproc cache list   (what the cache holds; never secrets)")
        rows = json.loads(self.credproc("cache", "list", "--json").stdout)
        for line in render_rows(rows).splitlines():
            self.say(f"   {line}")
        hub_sessions = sum(1 for row in rows if row["role_arn"] == HUB_ARN)
        self.say(f"   {hub_sessions} hub session(s) cached: every account behind the hub shares it")
        self.say()


def run_demo(out: TextIO, outer_env: Mapping[str, str] | None = None) -> int:
    """Run the demo, printing to ``out``; returns the exit code."""
    import shutil
    import tempfile

    outer = os.environ if outer_env is None else outer_env
    credproc_command = [sys.executable, "-m", "credproc"]
    with local_sts() as sts_url:
        root = Path(tempfile.mkdtemp(prefix="credproc-demo-"))
        try:
            write_files(root, credproc_command)
            Demo(out, isolated_env(root, sts_url, outer), credproc_command).story(sts_url, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"Done: stopped the local STS and removed {root}.", file=out, flush=True)
    print(
        "Next: put `credential_process = credproc get <alias or account id>` in ~/.aws/config (see README).", file=out
    )
    return 0
