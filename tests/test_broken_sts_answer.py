"""A broken STS answer (an AssumeRole answer cut off mid-body, secrets
included) is "STS unavailable": exit 5, retried like one, and the secrets of
the answer reach neither stderr (with or without --verbose) nor the
endpoint's log or HTTP body."""

from __future__ import annotations

import json
import re
import threading

from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, credproc_executable
from endpoint_support import Serving, expire_after, request, wait_until

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"


class CutAssumeRole:
    """A rewrite of the local STS: AssumeRole answers of ``role_arn`` end right
    after the session token (no closing tags); the secrets it let through are kept."""

    def __init__(self, role_arn: str) -> None:
        self.role_arn = role_arn
        self.secrets: set[str] = set()
        self.cuts = 0
        self.lock = threading.Lock()

    def __call__(self, params: dict[str, str], body: bytes) -> bytes:
        if params.get("Action") != "AssumeRole" or params.get("RoleArn") != self.role_arn:
            return body
        text = body.decode()
        found = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey><SessionToken>([^<]+)</SessionToken>", text)
        assert found, text
        with self.lock:
            self.secrets.update(found.groups())
            self.cuts += 1
        return text[: found.end()].encode()


def assert_no_secret(text: str, secrets: set[str]) -> None:
    assert secrets
    for secret in secrets:
        assert secret not in text, text


def test_a_cut_answer_is_sts_unavailable_without_its_secrets(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    cut = CutAssumeRole(DEV_ROLE)
    sandbox.sts.recorder.rewrites.append(cut)

    quiet = sandbox.run("get", "dev", "--no-cache")
    line = assert_one_clear_error(quiet, "STS", DEV_ROLE, exit_code=5)
    assert "internal error" not in line and "report" not in line
    assert cut.cuts >= 2  # retried like a failing STS, within the budget
    verbose = sandbox.run("get", "dev", "--verbose")
    assert verbose.returncode == 5, verbose.stderr
    assert verbose.stdout == ""
    assert "ResponseParserError" in verbose.stderr  # the traceback is there, the answer is not
    assert_no_secret(quiet.stderr + verbose.stderr, cut.secrets)


def test_the_endpoint_tells_a_cut_answer_without_its_secrets(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    # Sessions nearly expired when issued: the endpoint soon needs a new one.
    sandbox.sts.recorder.rewrites.append(expire_after(62, DEV_ROLE))
    cut = CutAssumeRole(DEV_ROLE)
    bodies: list[str] = []
    for verbose in ((), ("--verbose",)):
        with Serving([credproc_executable(), "serve", "dev", *verbose], sandbox.env) as served:
            sandbox.sts.recorder.rewrites.append(cut)
            failed = wait_until(
                lambda: (a := request(served.url, served.token)).body.get("Code") == "CredentialsUnavailable" and a
            )
            bodies.append(json.dumps(failed.body))
            code, out, err = served.stop()
            sandbox.sts.recorder.rewrites.remove(cut)
        assert code == 0, err
        assert "refreshing the session failed" in err and "STS" in err, err
        assert "internal error" not in err, err
        assert_no_secret(out + err + "".join(bodies), cut.secrets)
