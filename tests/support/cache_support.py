"""Helpers shared by the cache tests (tests/test_cache_*.py)."""

from __future__ import annotations

from typing import Any

import boto3
from conftest import DEV_ACCOUNT, PROD_ACCOUNT, Sandbox

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"
PROD_ROLE = f"arn:aws:iam::{PROD_ACCOUNT}:role/Deployer"


def client_for(sandbox: Sandbox, service: str, document: dict[str, object]) -> Any:
    """A boto3 client of the local server acting with credproc's output."""
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=sandbox.sts.url,
        aws_access_key_id=str(document["AccessKeyId"]),
        aws_secret_access_key=str(document["SecretAccessKey"]),
        aws_session_token=str(document["SessionToken"]),
    )


def caller_arn(sandbox: Sandbox, document: dict[str, object]) -> str:
    """Who STS says these credentials are (checks they really work)."""
    return str(client_for(sandbox, "sts", document).get_caller_identity()["Arn"])


def assume_calls(sandbox: Sandbox, role_arn: str) -> int:
    """AssumeRole calls for ``role_arn`` the local STS has seen since the last reset."""
    return len(sandbox.sts.recorder.of("AssumeRole", role_arn))
