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
    "credproc.aws_profiles",
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


def help_text(columns: str | None, terminal_width: int | None) -> str:
    """`credproc get --help` with COLUMNS set (or not), on a terminal that
    wide (or on a pipe)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    command = [sys.executable, "-m", "credproc", "get", "--help"]
    if terminal_width is None:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, terminal_width, 0, 0))
    try:
        subprocess.run(command, env=env, stdout=follower, timeout=60, check=True)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_help_fills_the_terminal_as_argparse_does() -> None:
    # argparse's rule: COLUMNS if set, else the terminal's width, else 80; 2 columns of margin.
    assert 70 <= widest(help_text("80", None)) <= 78
    assert 50 <= widest(help_text("60", None)) <= 58
    assert 70 <= widest(help_text(None, None)) <= 78  # not a terminal
    assert 90 <= widest(help_text(None, 110)) <= 108
    assert 90 <= widest(help_text("110", 60)) <= 108  # COLUMNS wins over the terminal
    assert widest(help_text("0", 100)) > 78  # COLUMNS=0 means "not set"
    usage = help_text(None, 300).splitlines()[0]
    assert usage.startswith("usage: credproc get [-h]") and usage.endswith("target")
