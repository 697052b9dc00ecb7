"""The CDK plugin end to end: the real CDK CLI (pinned in
contrib/cdk-credential-plugin/e2e, installed by `.ci/extra`) synthesising an
app whose stack lives in an account its default credentials are not for, with
an SSM context lookup answered by the local server in that account.

The plugin is loaded as users install it: `npm pack`ed, then installed beside
the CLI, globally (`npm install -g`) or in a project (`npm install
--save-dev`), and named with `--plugin NAME` or `"plugin": [NAME]`; and by
the absolute path of a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from cache_support import client_for
from conftest import DEV_ACCOUNT, HUB_ARN, TWO_HOP_CONFIG, Sandbox, credproc_executable
from local_sts import sts_error

PLUGIN = Path(__file__).resolve().parent.parent / "contrib" / "cdk-credential-plugin"
NAME = json.loads((PLUGIN / "package.json").read_text())["name"]
E2E = PLUGIN / "e2e"
NODE_MODULES = E2E / "node_modules"
CDK_PACKAGE = NODE_MODULES / "aws-cdk"
CDK = CDK_PACKAGE / "bin" / "cdk"
PARAMETER = "/e2e/greeting"
LOOKUP_KEY = f"ssm:account={DEV_ACCOUNT}:parameterName={PARAMETER}:region=us-east-1"

pytestmark = pytest.mark.skipif(
    not CDK.exists() or shutil.which("npm") is None,
    reason=f"the pinned CDK CLI is not installed in {NODE_MODULES} (run .ci/extra, or npm ci in {E2E})",
)


def npm(*args: str, cwd: Path, cache: Path) -> None:
    """npm offline: everything it installs here is a local tarball."""
    env = {**os.environ, "npm_config_cache": str(cache), "npm_config_update_notifier": "false"}
    result = subprocess.run(
        ["npm", *args, "--offline", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def place_cli(node_modules: Path) -> Path:
    """The pinned CLI as `npm install aws-cdk` would put it in ``node_modules``
    (hard links: the CLI resolves plugin names from where its files really are)."""

    def link(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    shutil.copytree(CDK_PACKAGE, node_modules / "aws-cdk", copy_function=link, symlinks=True)
    return node_modules / "aws-cdk" / "bin" / "cdk"


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`npm pack` of the plugin: the tarball a user installs (or npm publishes)."""
    out = tmp_path_factory.mktemp("packed")
    npm("pack", "--pack-destination", str(out), cwd=PLUGIN, cache=out / ".npm")
    [tarball] = out.glob("*.tgz")
    return tarball


@pytest.fixture(scope="module")
def global_cdk(packed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """README: npm install -g aws-cdk credproc-cdk-credential-plugin (into a temp prefix)."""
    prefix = tmp_path_factory.mktemp("global")
    npm("install", "-g", "--prefix", str(prefix), str(packed), cwd=prefix, cache=prefix / ".npm")
    installed = prefix / "lib" / "node_modules"
    assert (installed / NAME / "package.json").exists()
    return place_cli(installed)


@pytest.fixture(scope="module")
def project_cdk(packed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """README: npm install --save-dev aws-cdk credproc-cdk-credential-plugin in the CDK project."""
    project = tmp_path_factory.mktemp("project")
    (project / "package.json").write_text(json.dumps({"name": "cdk-project", "private": True}))
    npm("install", "--save-dev", str(packed), cwd=project, cache=project / ".npm")
    assert NAME in json.loads((project / "package.json").read_text())["devDependencies"]
    return place_cli(project / "node_modules")


class CdkApp:
    """A copy of the test app in the sandbox, run with a real CDK CLI."""

    def __init__(
        self,
        sandbox: Sandbox,
        synthesizer: str,
        context: dict[str, str] | None = None,
        cdk: Path = CDK,
        plugins: list[str] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.cdk = cdk
        self.directory = sandbox.root / "app"
        shutil.copytree(E2E / "app", self.directory)
        cdk_json: dict[str, object] = {"app": "node app.js", "context": context or {}}
        if plugins is not None:
            cdk_json["plugin"] = plugins
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
            [node, str(self.cdk), "synth", "--no-notices", *extra],
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


def test_packed_tarball_holds_the_plugin_and_nothing_else(packed: Path) -> None:
    with tarfile.open(packed) as tarball:
        names = set(tarball.getnames())
    assert names == {f"package/{name}" for name in ("package.json", "README.md", "index.js")} | {
        f"package/lib/{path.name}" for path in (PLUGIN / "lib").glob("*.js")
    }


def test_synth_needs_the_plugin_and_succeeds_with_it(dev_parameter: Sandbox, global_cdk: Path) -> None:
    sandbox = dev_parameter
    context = {"assume-role-credentials:readIamRoleName": "cdk-readOnlyRole"}
    app = CdkApp(sandbox, "cli-credentials", context=context, cdk=global_cdk)

    without = app.synth()
    assert without.returncode != 0
    assert f"Need to perform AWS calls for account {DEV_ACCOUNT}" in without.stdout + without.stderr
    assert app.looked_up() is None

    plugged = app.synth("--plugin", NAME)
    assert plugged.returncode == 0, plugged.stdout + plugged.stderr
    assert app.looked_up() == "hello-from-dev"
    # the read role from the old plugin's context key, reached through the configured hub
    read_role = f"arn:aws:iam::{DEV_ACCOUNT}:role/cdk-readOnlyRole"
    assert len(sandbox.sts.recorder.of("AssumeRole", read_role)) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
    # and credproc cached the session for the next process
    listing = sandbox.run("cache", "list", "--json")
    assert read_role in {row["role_arn"] for row in json.loads(listing.stdout)}


def test_default_synthesizer_falls_back_to_plugin_credentials(dev_parameter: Sandbox, project_cdk: Path) -> None:
    sandbox = dev_parameter
    deny_role(sandbox, "cdk-hnb659fds-lookup-role")  # the account is not bootstrapped for lookups
    app = CdkApp(sandbox, "default", cdk=project_cdk, plugins=[NAME])  # "plugin" in cdk.json
    result = app.synth()
    assert result.returncode == 0, result.stdout + result.stderr
    assert app.looked_up() == "hello-from-dev"
    # no role override: credproc's config decides (defaults.role = Deployer)
    assert len(sandbox.sts.recorder.of("AssumeRole", f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer")) == 1


def test_credproc_errors_reach_the_cdk_user(dev_parameter: Sandbox, global_cdk: Path) -> None:
    sandbox = dev_parameter
    deny_role(sandbox, "role/Forbidden")
    app = CdkApp(sandbox, "cli-credentials", cdk=global_cdk)
    result = app.synth("--plugin", NAME, env={"CREDPROC_CDK_READ_ROLE": "Forbidden"})
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
    result = app.synth("--plugin", str(PLUGIN))  # a checkout, by absolute path
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Uncaught exception in credproc: credproc accounts --json failed: credproc:" in output
    assert "accounts.broken.id" in output
