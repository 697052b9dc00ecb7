"""A broken AWS file is named by file and line, and the line is quoted to
point at the mistake, unless it may be a secret: a secret key continued on an
indented line, or a token pasted on a line of its own, never reaches the
output of `doctor` or `profiles --write`."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TWO_HOP_CONFIG, Sandbox

from credproc.aws_profiles import aws_file_problem

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYQUOTEDKEY"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key =\n    {SECRET}\n", ""),
        (f"[default]\naws_access_key_id = AKIAEXAMPLE\n{SECRET}\n", ":3"),
    ],
)
def test_a_line_that_may_be_a_secret_is_not_quoted(tmp_path: Path, text: str, line: str) -> None:
    path = tmp_path / "credentials"
    path.write_text(text)
    problem = aws_file_problem(path)
    assert problem is not None and problem.startswith(f"{path}{line}: ")
    assert SECRET not in problem and "not shown: it may be a secret" in problem


def test_doctor_names_the_credentials_file_without_the_secret(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    credentials = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(f"[default]\naws_access_key_id = AKIAEXAMPLE\n{SECRET}\n")
    result = sandbox.run("doctor")
    assert result.returncode == 3
    assert f"{credentials}:3" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_an_ordinary_mistake_is_still_quoted(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("[default]\ns3 =\n  max_concurrent_requests\n")
    assert "'max_concurrent_requests'" in (aws_file_problem(path) or "")
