"""The examples in contrib/ are valid: the config loads with every account,
and each credproc profile of the example ~/.aws/config names one of them."""

from __future__ import annotations

import configparser
import json
import shlex
from pathlib import Path

from conftest import Sandbox

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"


def test_example_config_and_profiles_agree(sandbox: Sandbox) -> None:
    result = sandbox.run("accounts", "--json", "--config", str(CONTRIB / "config.toml"))
    assert result.returncode == 0, result.stderr
    aliases = {row["alias"] for row in json.loads(result.stdout)}
    assert aliases == {"dev", "staging", "prod", "partner"}

    profiles = configparser.ConfigParser()
    profiles.read(CONTRIB / "aws-config")
    targets = []
    for section in profiles.sections():
        command = profiles[section].get("credential_process")
        if command:
            words = shlex.split(command)
            assert words[:2] == ["credproc", "get"], section
            targets.append(words[2])
    assert {"dev", "staging", "prod"} <= set(targets)
    assert all(target in aliases or target.isdigit() for target in targets)
