"""The AEAD cipher of the cache (AES-256-GCM from cryptography) and how a
sealed blob is laid out: a fresh 96-bit nonce, then the ciphertext and tag.
Cache entries and memos (memo.py: remembered answers and the rest) are sealed this way."""

from __future__ import annotations

import os

from . import shortcuts

TYPE_CHECKING = False  # not typing's: remembered.py loads this module on the fast path
if TYPE_CHECKING:
    from typing import Any

NONCE_BYTES = 12
TAG_BYTES = 16


def aesgcm_class() -> type:
    """cryptography's AES-GCM class (from its binding: credproc/shortcuts.py)."""
    return shortcuts.aesgcm_class()


def seal(cipher: Any, plain: bytes, associated: bytes) -> bytes:
    """``plain`` encrypted and authenticated together with ``associated``, under a fresh nonce."""
    nonce = os.urandom(NONCE_BYTES)
    sealed: bytes = cipher.encrypt(nonce, plain, associated)
    return nonce + sealed


def unseal(cipher: Any, blob: bytes, associated: bytes) -> bytes:
    """The plaintext of :func:`seal`'s ``blob``; raises (InvalidTag, ValueError) for anything else."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise ValueError("too short to be sealed")
    opened: bytes = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)
    return opened
