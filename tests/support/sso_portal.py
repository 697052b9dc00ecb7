"""A fake IAM Identity Center (SSO) portal for tests: GetRoleCredentials on
127.0.0.1, which botocore calls when AWS_ENDPOINT_URL_SSO points here (moto
has no portal). It hands out keys only for an access token it was told
about, for that token's account and role; the local STS accepts any keys, and
records which ones signed each call."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import secret_scan


@dataclass(frozen=True)
class Request:
    """One GetRoleCredentials call as the portal saw it."""

    token: str
    account_id: str
    role_name: str


class SsoPortal:
    def __init__(self) -> None:
        self.grants: dict[tuple[str, str, str], str] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                portal._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def grant(self, token: str, account_id: str, role_name: str) -> str:
        """Let ``token`` get credentials for the role; returns their access key id."""
        key = "ASIASSO" + hashlib.sha256(f"{token}|{account_id}|{role_name}".encode()).hexdigest()[:13].upper()
        with self._lock:
            self.grants[(token, account_id, role_name)] = key
        return key

    def start(self) -> SsoPortal:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        request = Request(
            handler.headers.get("x-amz-sso_bearer_token", ""), query.get("account_id", ""), query.get("role_name", "")
        )
        with self._lock:
            self.requests.append(request)
            key = self.grants.get((request.token, request.account_id, request.role_name))
        if url.path != "/federation/credentials" or key is None:
            self._send(handler, 401, {"message": "Session token not found or invalid"}, "UnauthorizedException")
            return
        credentials = {
            "accessKeyId": key,
            "secretAccessKey": "sso-secret-" + key,
            "sessionToken": "sso-session-token-" + key,
            "expiration": int((time.time() + 3600) * 1000),  # epoch milliseconds
        }
        secret_scan.note_answer(json.dumps(credentials).encode(), "SSO portal")
        self._send(handler, 200, {"roleCredentials": credentials})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: dict[str, object], error: str = "") -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        if error:
            handler.send_header("x-amzn-ErrorType", error)
        handler.end_headers()
        handler.wfile.write(data)
