"""`pipx install` of the built wheel, as the README suggests: the app pipx
links into its bin directory writes profiles that name that link, and boto3
gets credentials through it. pipx (a test dependency) installs credproc's
dependencies from PyPI, the only network this test uses."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import boto3
import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pipx") is None, reason="pipx is not installed: pip install -e '.[test]'"
)


def run(argv: list[str], env: Mapping[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def pipx_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources, installed by pipx into a temp PIPX_HOME/PIPX_BIN_DIR."""
    root = tmp_path_factory.mktemp("pipx")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "credproc", source / "credproc", ignore=shutil.ignore_patterns("__pycache__"))
    # The user's own environment (pip's cache and index settings), none of the test's AWS or credproc variables.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CREDPROC_", "PIPX_"))}
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(source)], env)
    [wheel] = (root / "dist").glob("credproc-*.whl")

    bin_dir = root / "bin"
    pipx_env = {
        **env,
        "PIPX_HOME": str(root / "pipx-home"),
        "PIPX_BIN_DIR": str(bin_dir),
        "PIPX_MAN_DIR": str(root / "man"),
    }
    run([sys.executable, "-m", "pipx", "install", str(wheel)], pipx_env)
    listed = json.loads(run([sys.executable, "-m", "pipx", "list", "--json"], pipx_env).stdout)
    assert "credproc" in listed["venvs"]
    return bin_dir


def test_pipx_app_writes_profiles_naming_itself_and_boto3_uses_them(sandbox: Sandbox, pipx_bin: Path) -> None:
    app = pipx_bin / "credproc"
    assert app.is_symlink()  # pipx links it to the script in its own venv
    assert Path(os.readlink(app)).parent.parent.parent.name == "venvs"
    sandbox.write_config(TWO_HOP_CONFIG)
    # As a user runs it: found on PATH, where pipx put it.
    on_path = {"PATH": os.pathsep.join([str(pipx_bin), "/usr/bin", "/bin"])}
    version = sandbox.run("--version", env=on_path, program="credproc")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("credproc ")

    written = sandbox.run("profiles", "--write", env=on_path, program="credproc")
    assert written.returncode == 0, written.stderr
    assert "wrote 2 profile(s)" in written.stderr
    aws_config = Path(sandbox.env["AWS_CONFIG_FILE"]).read_text()
    # The link, not the venv's script behind it: a pipx reinstall or upgrade keeps it valid.
    assert f"credential_process = {app} get dev\n" in aws_config
    assert f"credential_process = {app} get prod\n" in aws_config

    # boto3 of the test's own environment, the profile, the pipx credproc.
    identity = boto3.Session(profile_name="dev").client("sts").get_caller_identity()
    assert identity["Account"] == DEV_ACCOUNT
    assert identity["Arn"].startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/")
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2  # hub, then dev: credproc's chain ran
    listing = sandbox.run("cache", "list", "--json", env=on_path, program="credproc")
    assert listing.returncode == 0, listing.stderr
    assert f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer" in {row["role_arn"] for row in json.loads(listing.stdout)}
