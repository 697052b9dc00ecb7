"""The suite's secret scan (tests/support/secret_scan.py, hooked into
run_credproc, start_credproc, run_main and the endpoint's log) fires: a
failing run whose output holds a secret the session knows of fails its test,
naming the secret's kind and never the secret."""

from __future__ import annotations

import json
import sys

import pytest
import secret_scan
from conftest import TWO_HOP_CONFIG, Sandbox, check_failure_output

FAILED = pytest.fail.Exception


def issued_session(sandbox: Sandbox) -> dict[str, str]:
    sandbox.write_config(TWO_HOP_CONFIG)
    return {key: str(value) for key, value in sandbox.get_json("dev").items()}


def test_an_issued_secret_in_a_failure_fails_the_test_by_its_kind(sandbox: Sandbox) -> None:
    session = issued_session(sandbox)
    output = f"credproc: something went wrong near {session['SessionToken']}\n"
    with pytest.raises(FAILED) as raised:
        check_failure_output(["get"], 4, ("", output), sandbox.env)
    assert "STS-issued SessionToken" in str(raised.value)
    assert session["SessionToken"] not in str(raised.value)
    check_failure_output(["get"], 0, (session["SecretAccessKey"], ""), sandbox.env)  # success: stdout is for secrets


def test_moto_s_own_record_of_issued_sessions_is_scanned(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    session = issued_session(sandbox)
    for name in ("_known", "_by_prefix", "_moto_read"):  # nothing seen on the wire: moto's backend alone
        monkeypatch.setattr(secret_scan, name, {})
    assert secret_scan.leaks(f"x{session['SecretAccessKey']}x", {}) == ["STS-issued SecretAccessKey"]


def test_the_source_keys_of_the_run_are_scanned(sandbox: Sandbox) -> None:
    text = f"oops {sandbox.env['AWS_SECRET_ACCESS_KEY']}"
    assert secret_scan.leaks(text, sandbox.env) == ["source secret key (environment)"]
    assert secret_scan.leaks("credproc: could not reach STS (fix: retry)", sandbox.env) == []


def test_a_failing_run_that_prints_a_secret_fails_through_run_credproc(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    leak = "import os, sys; sys.stderr.write(os.environ['AWS_SESSION_TOKEN']); sys.exit(3)"
    with pytest.raises(FAILED) as raised:
        sandbox.run("exec", "dev", "--", sys.executable, "-c", leak)
    assert "STS-issued SessionToken" in str(raised.value)
    started = sandbox.start("exec", "dev", "--", sys.executable, "-c", leak)
    with pytest.raises(FAILED):
        started.communicate(timeout=120)


def test_fake_servers_register_what_they_hand_out() -> None:
    answer = json.dumps({"roleCredentials": {"secretAccessKey": "fake-portal-secret-1234"}}).encode()
    secret_scan.note_answer(answer, "SSO portal")
    assert secret_scan.leaks("... fake-portal-secret-1234 ...", {}) == ["SSO portal-issued secretAccessKey"]
