"""The AWS clients the tests drive as users do: each resolves credentials through
its SDK's default chain, calls STS GetCallerIdentity on the local STS and prints
``{"Account": ..., "Arn": ...}``. A client that is not installed here is a skip
with the command that installs it (``.ci/extra`` installs them all)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

SUPPORT = Path(__file__).parent
GO_CLIENT = SUPPORT / "go-client"
JS_CLIENT = SUPPORT / "js-client"
GO_SDK = Path("/usr/share/gocode/src/github.com/aws/aws-sdk-go-v2")

BOTO3_WHOAMI = (
    "import boto3, json; identity = boto3.client('sts').get_caller_identity(); "
    "print(json.dumps({'Account': identity['Account'], 'Arn': identity['Arn']}))"
)


@dataclass(frozen=True)
class Client:
    """One AWS client: a name for test ids and the argv that runs it."""

    name: str
    argv: Callable[[Mapping[str, str]], list[str]]  # from the environment it will run in

    def whoami(self, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(env), env=dict(env), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )


def account_of(result: subprocess.CompletedProcess[str]) -> str:
    """The account a client printed (its last stdout line: the AWS CLI prints indented JSON)."""
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["Account"])


def boto3_client() -> Client:
    return Client("boto3", lambda env: [sys.executable, "-c", BOTO3_WHOAMI])


def aws_cli_v1() -> Client | str:
    """The PyPI AWS CLI (v1) of the test extra, or why not."""
    program = Path(sys.executable).parent / "aws"
    if not program.exists():
        return "the AWS CLI v1 is not installed: pip install -e '.[test]'"
    return Client("aws-cli-v1", lambda env: [str(program), "sts", "get-caller-identity", "--output", "json"])


def aws_cli_v2() -> Client | str:
    """Debian's AWS CLI v2, or why not. Before 2.13 it ignores AWS_ENDPOINT_URL_STS: the
    endpoint is given on the command line (it is not a credential)."""
    for candidate in ("/usr/bin/aws", "/usr/local/bin/aws"):
        if not Path(candidate).exists():
            continue
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False).stdout
        if version.startswith("aws-cli/2."):
            return Client(
                "aws-cli-v2",
                lambda env, program=candidate: [
                    program,
                    "sts",
                    "get-caller-identity",
                    "--output",
                    "json",
                    "--endpoint-url",
                    env["AWS_ENDPOINT_URL_STS"],
                ],
            )
    return "the AWS CLI v2 is not installed: apt-get install awscli (.ci/extra does)"


def js_client() -> Client | str:
    """The AWS SDK for JavaScript v3 (npm ci in tests/support/js-client), or why not."""
    node = shutil.which("node")
    if node is None:
        return "Node.js is not installed"
    if not (JS_CLIENT / "node_modules" / "@aws-sdk" / "client-sts").is_dir():
        return f"the JS SDK is not installed: npm ci in {JS_CLIENT} (.ci/extra does)"
    return Client("js-sdk-v3", lambda env: [node, str(JS_CLIENT / "whoami.mjs")])


def build_go_client(directory: Path) -> Path | str:
    """Build the Go SDK v2 client offline from Debian's packages, or say why not.

    A toolchain that is there but fails to build it is a test error, not a skip.
    """
    go = shutil.which("go")
    if go is None or not GO_SDK.is_dir():
        return "the Go SDK v2 is not installed: apt-get install golang-go golang-github-aws-aws-sdk-go-v2-dev (.ci/extra does)"
    program = directory / "whoami"
    env = {**os.environ, "GOPATH": "/usr/share/gocode", "GO111MODULE": "off", "GOFLAGS": "", "CGO_ENABLED": "0"}
    if not env.get("GOCACHE") and not env.get("HOME"):
        env["GOCACHE"] = str(directory / "go-build")
    built = subprocess.run(
        [go, "build", "-o", str(program), "."], cwd=GO_CLIENT, env=env, capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, f"building the Go client failed: {built.stderr.strip()[-2000:]}"
    return program


def go_client(program: Path) -> Client:
    return Client("go-sdk-v2", lambda env: [str(program)])
