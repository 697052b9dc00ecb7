"""The AEAD cipher of the cache (AES-256-GCM from cryptography)."""

from __future__ import annotations


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
