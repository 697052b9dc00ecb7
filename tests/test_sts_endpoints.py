"""The STS endpoint is part of every cache key: two local STS servers (two
endpoints), two sessions, neither handed out for the other, whether the
endpoint comes from the environment or from the AWS config file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cache_support import DEV_ROLE
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox
from local_sts import LocalSts


@pytest.fixture
def other_sts() -> Iterator[LocalSts]:
    server = LocalSts().start()
    yield server
    server.stop()


def get(sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = sandbox.run("get", "dev", *args, env=env)
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    assert document["AccountId"] == DEV_ACCOUNT
    return document


def test_each_endpoint_keeps_its_own_sessions(sandbox: Sandbox, other_sts: LocalSts) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    at_other = {"AWS_ENDPOINT_URL_STS": other_sts.url}
    first = get(sandbox)
    second = get(sandbox, env=at_other)
    assert second["AccessKeyId"] != first["AccessKeyId"]
    assert len(other_sts.recorder.of("AssumeRole")) == 2  # both hops asked of the other endpoint

    sandbox.sts.recorder.reset()
    other_sts.recorder.reset()
    # --verbose takes the full path (no remembered answer): the cache itself tells them apart.
    assert get(sandbox, "--verbose") == first
    assert get(sandbox, "--verbose", env=at_other) == second
    assert get(sandbox) == first and get(sandbox, env=at_other) == second
    assert sandbox.sts.recorder.calls == [] and other_sts.recorder.calls == []


def test_an_endpoint_from_the_aws_config_file_counts_too(sandbox: Sandbox, other_sts: LocalSts) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    aws_config = Path(sandbox.env["AWS_CONFIG_FILE"])
    aws_config.write_text(f"[default]\nendpoint_url = {sandbox.sts.url}\n")
    del sandbox.env["AWS_ENDPOINT_URL_STS"]  # the file says where STS is
    first = get(sandbox)
    # botocore reads endpoint_url of the profile its clients use (here [default]).
    aws_config.write_text(f"[default]\nendpoint_url = {other_sts.url}\n")
    from_file = get(sandbox)
    assert from_file["AccessKeyId"] != first["AccessKeyId"]
    assert len(other_sts.recorder.of("AssumeRole", DEV_ROLE)) == 1

    aws_config.write_text(f"[default]\nendpoint_url = {sandbox.sts.url}\n")
    sandbox.sts.recorder.reset()
    assert get(sandbox, "--verbose") == first  # the first endpoint's session, from the cache
    assert sandbox.sts.recorder.calls == []
