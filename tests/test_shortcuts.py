"""credproc/shortcuts.py: CREDPROC_NO_SHORTCUTS turns every shortcut off, and
each private reach into another library falls back to the public way when the
private thing is missing or answers differently."""

from __future__ import annotations

import json
import os
import sys
import types

import pytest
from conftest import SUPPORT, TWO_HOP_CONFIG, Sandbox

from credproc import aead, shortcuts

# Loaded first by every credproc process of the test (sitecustomize, via
# PYTHONPATH): records each os._exit call and, at exit, what the process ran with.
PROBE = """
import atexit, gc, json, os, sys

_record = os.environ["PROBE_RECORD"]
_real_exit = os._exit


def _write(fields):
    with open(_record, "a") as out:
        out.write(json.dumps(fields) + "\\n")


def _exit(code):
    _write({"os._exit": code})
    _real_exit(code)


def _at_exit():
    stand_ins = [name for name, module in list(sys.modules.items())
                 if "imported on first use (credproc.shortcuts)" in str(getattr(module, "__doc__", ""))]
    public = [name for name in ("hashlib", "cryptography.hazmat.primitives.ciphers.aead") if name in sys.modules]
    _write({"atexit": True, "gc": gc.isenabled(), "stand_ins": stand_ins, "public": public})


os._exit = _exit
atexit.register(_at_exit)
"""


def probed_runs(
    sandbox: Sandbox, key_store: str, switch: str | None, *runs: list[str]
) -> list[list[dict[str, object]]]:
    """Each of ``runs`` (a credproc command line) with the probe: what it recorded, in order."""
    probe = sandbox.root / "probe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    sandbox.write_config(TWO_HOP_CONFIG + f'\n[cache]\nkey_store = "{key_store}"\n')
    record = sandbox.root / "probe.jsonl"  # one name: the request digest would see another (memo.py)
    env = {"PYTHONPATH": f"{probe}{os.pathsep}{SUPPORT}", "PROBE_RECORD": str(record), shortcuts.SWITCH: switch or ""}
    records = []
    for args in runs:
        result = sandbox.run(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["AccessKeyId"]
        records.append([json.loads(line) for line in record.read_text().splitlines()])
        record.unlink()
    return records


GETS = (["get", "dev"], ["get", "dev"], ["get", "dev", "--verbose"])  # a miss, a remembered answer, a full-path hit


PUBLIC = ["hashlib", "cryptography.hazmat.primitives.ciphers.aead"]  # the public ways to the hash and the cipher


# The file store too: with it keyring is not imported, so hashlib in the record is credproc's own doing.
@pytest.mark.parametrize("key_store", ["keyring", "file"])
def test_with_the_switch_a_get_takes_every_public_way(sandbox: Sandbox, key_store: str) -> None:
    """The usual end, the collector on, no stand-ins, hashlib's BLAKE2b and cryptography's public AES-GCM."""
    for record in probed_runs(sandbox, key_store, "1", *GETS):  # a miss, a remembered answer, a full-path hit
        assert record == [{"atexit": True, "gc": True, "stand_ins": [], "public": PUBLIC}]


def test_shortcuts_end_a_get_without_teardown_after_its_exit_handlers(sandbox: Sandbox) -> None:
    miss, remembered, full = probed_runs(sandbox, "keyring", None, *GETS)
    for record in (miss, remembered, full):
        assert [next(iter(fields)) for fields in record] == ["atexit", "os._exit"]  # exit handlers first
        assert record[1] == {"os._exit": 0}
    assert miss[0]["gc"] is False and full[0]["gc"] is False  # the full path runs without the collector
    assert remembered[0]["stand_ins"]  # what keyring's import loads for no keychain call, still put off
    assert remembered[0]["public"] == full[0]["public"] == []  # the hash and the cipher by their private ways


# --- each private reach falls back to the public way


def test_aesgcm_from_the_public_module_when_the_binding_lacks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.bindings._rust import openssl
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    monkeypatch.setenv(shortcuts.SWITCH, "")
    assert aead.aesgcm_class() is AESGCM  # the binding's class is the public one
    monkeypatch.delattr(openssl.aead, "AESGCM")
    cipher = aead.aesgcm_class()(b"k" * 32)
    assert isinstance(cipher, AESGCM)
    assert aead.unseal(cipher, aead.seal(cipher, b"secret", b"header"), b"header") == b"secret"


@pytest.mark.parametrize("found", [None, types.SimpleNamespace(blake2b=lambda data=b"": None)])
def test_blake2b_from_hashlib_when_cpythons_module_is_missing_or_changed(
    found: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    monkeypatch.setenv(shortcuts.SWITCH, "")
    own = shortcuts.blake2b()
    monkeypatch.setitem(sys.modules, "_blake2", found)
    assert shortcuts.blake2b() is hashlib.blake2b
    assert hashlib.blake2b(b"x", digest_size=32).hexdigest() == own(b"x", digest_size=32).hexdigest()


def test_the_end_is_the_usual_exit_when_atexit_cannot_run_its_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    import atexit

    monkeypatch.setenv(shortcuts.SWITCH, "")
    monkeypatch.delattr(atexit, "_run_exitfuncs")
    with pytest.raises(SystemExit) as ended:
        shortcuts.end(3)
    assert ended.value.code == 3


def test_the_switch_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, taken in (("", True), ("0", True), ("1", False), ("yes", False)):
        monkeypatch.setenv(shortcuts.SWITCH, value)
        assert shortcuts.enabled() is taken
    monkeypatch.delenv(shortcuts.SWITCH)
    assert shortcuts.enabled()
