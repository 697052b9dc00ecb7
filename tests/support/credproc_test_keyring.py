"""A keyring backend for tests: a JSON file in a temp dir (never the real keychain).

Selected with PYTHON_KEYRING_BACKEND=credproc_test_keyring.FileKeyring and
CREDPROC_TEST_KEYRING=<path>; with no path set it behaves like a locked
keychain and raises on every call.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        location = os.environ.get("CREDPROC_TEST_KEYRING")
        if not location:
            raise KeyringLocked("test keyring is locked (CREDPROC_TEST_KEYRING not set)")
        return Path(location)

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._path().read_text()))
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        path = self._path()
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps(data))
        os.replace(temp, path)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._path().write_text(json.dumps(data))
