"""The CDK plugin end to end: the real CDK CLI (pinned in
contrib/cdk-credential-plugin/e2e, installed by `.ci/extra`) synthesising an
app whose stack lives in an account its default credentials are not for, with
an SSM context lookup answered by the local server in that account."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cache_support import client_for
from conftest import DEV_ACCOUNT, HUB_ARN, TWO_HOP_CONFIG, Sandbox, credproc_executable
from local_sts import sts_error

PLUGIN = Path(__file__).resolve().parent.parent / "contrib" / "cdk-credential-plugin"
E2E = PLUGIN / "e2e"
NODE_MODULES = E2E / "node_modules"
CDK = NODE_MODULES / "aws-cdk" / "bin" / "cdk"
PARAMETER = "/e2e/greeting"
LOOKUP_KEY = f"ssm:account={DEV_ACCOUNT}:parameterName={PARAMETER}:region=us-east-1"

pytestmark = pytest.mark.skipif(
    not CDK.exists(),
    reason=f"the pinned CDK CLI is not installed in {NODE_MODULES} (run .ci/extra, or npm ci in {E2E})",
)


class CdkApp:
    """A copy of the test app in the sandbox, run with the real CDK CLI."""

    def __init__(self, sandbox: Sandbox, synthesizer: str, context: dict[str, str] | None = None) -> None:
        self.sandbox = sandbox
        self.directory = sandbox.root / "app"
        shutil.copytree(E2E / "app", self.directory)
        cdk_json = {"app": "node app.js", "context": context or {}}
        (self.directory / "cdk.json").write_text(json.dumps(cdk_json))
        self.env = {
            **sandbox.env,
            "AWS_ENDPOINT_URL": sandbox.sts.url,  # SSM (and STS) for the CLI's SDK and the lookups
            "AWS_REGION": "us-east-1",
            "CREDPROC_BIN": credproc_executable(),
            "NODE_PATH": str(NODE_MODULES),  # the app's require('aws-cdk-lib')
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "E2E_STACK_ACCOUNT": DEV_ACCOUNT,
            "E2E_STACK_REGION": "us-east-1",
            "E2E_PARAMETER_NAME": PARAMETER,
            "E2E_SYNTHESIZER": synthesizer,
        }

    def synth(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        node = shutil.which("node")
        assert node, "node is not on PATH"
        return subprocess.run(
            [node, str(CDK), "synth", "--no-notices", *extra],
            cwd=self.directory,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    def looked_up(self) -> object:
        context_file = self.directory / "cdk.context.json"
        if not context_file.exists():
            return None
        return json.loads(context_file.read_text()).get(LOOKUP_KEY)


def create_parameter_in_dev(sandbox: Sandbox) -> None:
    """The SSM parameter the app looks up, created in the dev account
    (credentials assumed into an account act in it at the local server)."""
    document = sandbox.get_json("dev", "--no-cache")
    ssm = client_for(sandbox, "ssm", document)
    ssm.put_parameter(Name=PARAMETER, Value="hello-from-dev", Type="String", Overwrite=True)
    sandbox.sts.recorder.reset()


def deny_role(sandbox: Sandbox, name_part: str) -> None:
    """STS refuses AssumeRole of any role whose ARN contains ``name_part``."""
    sandbox.sts.recorder.faults.append(
        lambda params: (
            sts_error("AccessDenied", "not authorized to perform sts:AssumeRole")
            if params.get("Action") == "AssumeRole" and name_part in params.get("RoleArn", "")
            else None
        )
    )


@pytest.fixture
def dev_parameter(sandbox: Sandbox) -> Sandbox:
    sandbox.write_config(TWO_HOP_CONFIG)
    create_parameter_in_dev(sandbox)
    return sandbox


def test_synth_needs_the_plugin_and_succeeds_with_it(dev_parameter: Sandbox) -> None:
    sandbox = dev_parameter
    app = CdkApp(sandbox, "cli-credentials", context={"assume-role-credentials:readIamRoleName": "cdk-readOnlyRole"})

    without = app.synth()
    assert without.returncode != 0
    assert f"Need to perform AWS calls for account {DEV_ACCOUNT}" in without.stdout + without.stderr
    assert app.looked_up() is None

    plugged = app.synth("--plugin", str(PLUGIN))
    assert plugged.returncode == 0, plugged.stdout + plugged.stderr
    assert app.looked_up() == "hello-from-dev"
    # the read role from the old plugin's context key, reached through the configured hub
    read_role = f"arn:aws:iam::{DEV_ACCOUNT}:role/cdk-readOnlyRole"
    assert len(sandbox.sts.recorder.of("AssumeRole", read_role)) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
    # and credproc cached the session for the next process
    listing = sandbox.run("cache", "list", "--json")
    assert read_role in {row["role_arn"] for row in json.loads(listing.stdout)}


def test_default_synthesizer_falls_back_to_plugin_credentials(dev_parameter: Sandbox) -> None:
    sandbox = dev_parameter
    deny_role(sandbox, "cdk-hnb659fds-lookup-role")  # the account is not bootstrapped for lookups
    app = CdkApp(sandbox, "default")
    result = app.synth("--plugin", str(PLUGIN))
    assert result.returncode == 0, result.stdout + result.stderr
    assert app.looked_up() == "hello-from-dev"
    # no role override: credproc's config decides (defaults.role = Deployer)
    assert len(sandbox.sts.recorder.of("AssumeRole", f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer")) == 1


def test_credproc_errors_reach_the_cdk_user(dev_parameter: Sandbox) -> None:
    sandbox = dev_parameter
    deny_role(sandbox, "role/Forbidden")
    app = CdkApp(sandbox, "cli-credentials")
    result = app.synth("--plugin", str(PLUGIN), env={"CREDPROC_CDK_READ_ROLE": "Forbidden"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"credproc plugin (account {DEV_ACCOUNT}, reading): credproc get {DEV_ACCOUNT} --role Forbidden failed"
        in output
    )
    assert f"AccessDenied while assuming arn:aws:iam::{DEV_ACCOUNT}:role/Forbidden" in output
    assert app.looked_up() is None


def test_a_broken_credproc_config_is_a_warning_naming_it(dev_parameter: Sandbox) -> None:
    sandbox = dev_parameter
    sandbox.write_config(TWO_HOP_CONFIG + '\n[accounts.broken]\nid = "12345"\n')
    app = CdkApp(sandbox, "cli-credentials")
    result = app.synth("--plugin", str(PLUGIN))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Uncaught exception in credproc: credproc accounts --json failed: credproc:" in output
    assert "accounts.broken.id" in output
