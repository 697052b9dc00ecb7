"""Rendering credentials for the caller (pure: returns strings)."""

from __future__ import annotations

import json

from .credentials import Credentials, format_time


def process_json(credentials: Credentials, account_id: str) -> str:
    """The credential_process document every AWS SDK accepts (Version 1)."""
    document: dict[str, object] = {
        "Version": 1,
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
    }
    if credentials.session_token:
        document["SessionToken"] = credentials.session_token
    if credentials.expiration:
        document["Expiration"] = format_time(credentials.expiration)
    document["AccountId"] = account_id
    return json.dumps(document)
