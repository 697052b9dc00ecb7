"""The AEAD cipher of the cache (AES-256-GCM from cryptography) and how a
sealed blob is laid out: a fresh 96-bit nonce, then the ciphertext and tag.
Cache entries and memos (memo.py: remembered answers and the rest) are sealed this way."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: answers.py loads this module on the fast path
if TYPE_CHECKING:
    from typing import Any

NONCE_BYTES = 12
TAG_BYTES = 16


def aesgcm_class() -> type:
    """cryptography's AES-GCM class.

    ``cryptography.hazmat.primitives.ciphers.aead`` only re-exports this very
    class from the Rust binding, but importing it loads the whole ``ciphers``
    package (every algorithm and mode) first: ~3 ms of a warm hit. Take it from
    the binding, and use the public module should a release move it
    (tests/test_warm_imports.py checks that both are the same class).
    """
    try:
        from cryptography.hazmat.bindings._rust import openssl

        return openssl.aead.AESGCM
    except (ImportError, AttributeError):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM


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
