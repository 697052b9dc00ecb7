"""Building credproc's parser (every command registers its own) imports none
of the commands' work, so a `credproc get` that misses the remembered answer,
or `credproc --help`, does not pay for doctor's, discover's or demo's modules."""

from __future__ import annotations

import json
import subprocess
import sys

# What commands need only once they run: AWS clients, the key store, the
# config reader, process and file tools, doctor's mail-date parser.
NOT_FOR_THE_PARSER = {
    "boto3",
    "botocore",
    "keyring",
    "filelock",
    "cryptography",
    "moto",
    "subprocess",
    "tempfile",
    "logging",
    "configparser",
    "tomllib",
    "email.utils",
    "credproc.config",
    "credproc.obtain",
    "credproc.source",
    "credproc.commands.doctor_checks",
}


def test_building_the_parser_imports_no_command_work() -> None:
    script = (
        "import json, sys\n"
        "from credproc.cli import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(result.stdout))
    assert {"credproc.commands.doctor", "credproc.commands.demo", "credproc.commands.discover"} <= loaded
    assert not NOT_FOR_THE_PARSER & loaded
