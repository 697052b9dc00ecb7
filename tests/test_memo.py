"""The memo store (credproc/memo.py): one format and one directory for the
remembered answers, source and endpoint memos and config parses; one request
digest that every input changes; pruning; ``cache clear``."""

from __future__ import annotations

import base64
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox, run_credproc
from hypothesis import given, settings
from hypothesis import strategies as st

from credproc import aead, locations, memo

MEMO_NAME = re.compile(r"\A(answer|source|endpoint|config)-[0-9a-f]{40}\.memo\Z")
KEYS_FILE = "[default]\naws_access_key_id = AKIADEFAULTKEYS00001\naws_secret_access_key = default-secret\n"


def every_kind(sandbox: Sandbox) -> None:
    """Runs that leave a memo of each kind: the source from the AWS files, an
    endpoint, a config parse (full path) and an answer (a rememberable get)."""
    del sandbox.env["AWS_ACCESS_KEY_ID"], sandbox.env["AWS_SECRET_ACCESS_KEY"]
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(KEYS_FILE)
    sandbox.write_config(TWO_HOP_CONFIG)
    # the last one claims its request (pending/*.lock): memos were kept before it
    for args in (("get", "dev"), ("get", "prod", "--verbose"), ("get", "prod")):
        result = sandbox.run(*args)
        assert result.returncode == 0, result.stderr


def memos(sandbox: Sandbox) -> list[Path]:
    return sorted((sandbox.cache_dir / "memos").glob("*"))


def test_every_memo_is_one_format_in_one_directory(sandbox: Sandbox) -> None:
    every_kind(sandbox)
    found = memos(sandbox)
    assert {path.name.split("-")[0] for path in found} == set(memo.KINDS)
    for path in found:
        assert MEMO_NAME.match(path.name), path.name
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_bytes()[:4] in (memo.MAGIC, memo.MAGIC_KEYRING)
        assert b"AKIA" not in path.read_bytes() and b"Deployer" not in path.read_bytes()  # sealed
    assert (sandbox.cache_dir / "memos").stat().st_mode & 0o777 == 0o700
    # Nothing in the directories earlier versions used, nothing else beside the entries.
    assert {path.name for path in sandbox.cache_dir.iterdir() if path.is_dir()} <= {"memos", "pending"}


def test_cache_clear_removes_every_memo_and_no_lock_file(sandbox: Sandbox) -> None:
    every_kind(sandbox)
    for old in memo.OLD_DIRECTORIES:  # what an earlier version left
        (sandbox.cache_dir / old).mkdir(mode=0o700)
        (sandbox.cache_dir / old / "left-by-an-earlier-version").write_bytes(b"x")
    locks = {path: path.stat().st_ino for path in sandbox.cache_dir.rglob("*.lock")}
    assert any(path.parent.name == "pending" for path in locks) and len(locks) > 3

    result = sandbox.run("cache", "clear")
    assert result.returncode == 0, result.stderr
    assert memos(sandbox) == []
    assert not any((sandbox.cache_dir / old).exists() for old in memo.OLD_DIRECTORIES)
    assert {path: path.stat().st_ino for path in sandbox.cache_dir.rglob("*.lock")} == locks

    # Nothing left to answer from: the next get fetches again.
    calls = len(sandbox.sts.recorder.of("AssumeRole"))
    assert sandbox.get_json("dev")["AccountId"] == DEV_ACCOUNT
    assert len(sandbox.sts.recorder.of("AssumeRole")) == calls + 2


def test_memos_older_than_the_longest_session_are_pruned_when_one_is_written(sandbox: Sandbox) -> None:
    every_kind(sandbox)
    old = [path for path in memos(sandbox) if path.name.startswith(("answer-", "source-"))]
    recent = [path for path in memos(sandbox) if path not in old]
    assert len(old) == 3 and recent  # two answers, a source; a config and an endpoint
    long_ago = time.time() - memo.MAX_AGE - 60
    for path in old:
        os.utime(path, (long_ago, long_ago))
    stray = sandbox.cache_dir / "memos" / ".answer-0.memo.abcdef.tmp"  # a crashed writer's temp file
    stray.write_bytes(b"")
    os.utime(stray, (long_ago, long_ago))

    assert sandbox.run("get", "dev", "--role", "Auditor").returncode == 0  # a new answer is written
    assert not any(path.exists() for path in old) and not stray.exists()
    assert all(path.exists() for path in recent)


# -- the file format, in-process ----------------------------------------------------------------


def sealer(key: bytes) -> tuple[Callable[[bytes, bytes], bytes], Callable[[bytes, bytes], bytes | None]]:
    cipher = aead.aesgcm_class()(key)

    def seal(plain: bytes, associated: bytes) -> bytes:
        return aead.seal(cipher, plain, associated)

    def unseal(blob: bytes, associated: bytes) -> bytes | None:
        try:
            return aead.unseal(cipher, blob, associated)
        except Exception:
            return None

    return seal, unseal


def test_a_memo_reads_back_only_under_its_own_key_name_and_kind(tmp_path: Path) -> None:
    key, other = os.urandom(32), os.urandom(32)
    seal, unseal = sealer(key)
    _, unseal_other = sealer(other)
    directory = str(tmp_path)
    name = memo.name("source", "d" * 64, "prod")
    memo.write(directory, "source", name, b"body", seal, keyring=False, header=b"clear")
    assert memo.read(directory, "source", name, {}, unseal=unseal) == (b"clear", b"body")
    # The key from the store the magic names: CREDPROC_CACHE_KEY here.
    env = {"CREDPROC_CACHE_KEY": base64.b64encode(key).decode()}
    assert memo.read(directory, "source", name, env) == (b"clear", b"body")

    assert memo.read(directory, "source", name, {}, unseal=unseal_other) is None
    assert memo.read(directory, "source", name, {"CREDPROC_CACHE_KEY": base64.b64encode(other).decode()}) is None
    assert memo.read(directory, "source", name, env, accept=lambda header: False) is None

    moved = memo.name("source", "d" * 64, "dev")
    Path(memo.location(directory, "source", moved)).write_bytes(
        Path(memo.location(directory, "source", name)).read_bytes()
    )
    os.chmod(memo.location(directory, "source", moved), 0o600)
    assert memo.read(directory, "source", moved, env) is None  # another name
    Path(memo.location(directory, "endpoint", name)).write_bytes(
        Path(memo.location(directory, "source", name)).read_bytes()
    )
    os.chmod(memo.location(directory, "endpoint", name), 0o600)
    assert memo.read(directory, "endpoint", name, env) is None  # another kind

    blob = bytearray(Path(memo.location(directory, "source", name)).read_bytes())
    blob[9] ^= 1  # the clear header: authenticated all the same
    Path(memo.location(directory, "source", name)).write_bytes(bytes(blob))
    assert memo.read(directory, "source", name, env) is None


# -- the request digest -------------------------------------------------------------------------

BASE = {"HOME": "/home/someone", "PATH": "/usr/bin", "AWS_PROFILE": "dev"}
CHOSEN_NAME = st.one_of(
    st.sampled_from(memo.ENV_NAMES),
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(memo.ENV_PREFIXES),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", max_size=12),
    ),
)
VALUE = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=20)


@settings(max_examples=200, deadline=None)
@given(CHOSEN_NAME, VALUE)
def test_every_chosen_variable_changes_the_digest(name: str, value: str) -> None:
    config = "/nonexistent/credproc/config.toml"
    changed = {**BASE, name: value if BASE.get(name) != value else value + "-other"}
    assert memo.inputs(changed, config).digest != memo.inputs(BASE, config).digest  # a new or changed value
    removed = {key: val for key, val in changed.items() if key != name}
    assert memo.inputs(removed, config).digest != memo.inputs(changed, config).digest  # a variable gone


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["PATH", "LANG", "TERM", "PWD", "SHELL"]), VALUE)
def test_what_no_one_reads_to_choose_an_identity_leaves_the_digest_alone(name: str, value: str) -> None:
    config = "/nonexistent/credproc/config.toml"
    assert memo.inputs({**BASE, name: value}, config).digest == memo.inputs(BASE, config).digest


def test_each_file_the_host_and_the_installed_botocore_and_credproc_change_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_config, aws_credentials, config = tmp_path / "aws-config", tmp_path / "aws-credentials", tmp_path / "c.toml"
    env = {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_credentials),
    }
    seen = {memo.inputs(env, str(config)).digest}

    def differs() -> None:
        digest = memo.inputs(env, str(config)).digest
        assert digest not in seen
        seen.add(digest)

    for path in (config, aws_config, aws_credentials):
        path.write_bytes(b"")  # an empty file is not a missing one
        differs()
        path.write_bytes(b"[default]\n")
        differs()
    differs_path = tmp_path / "other.toml"
    differs_path.write_bytes(config.read_bytes())
    assert memo.inputs(env, str(differs_path)).digest not in seen  # the same bytes elsewhere

    monkeypatch.setattr(os, "uname", lambda: SimpleNamespace(nodename="another-host"))
    differs()

    fake = tmp_path / "site" / "botocore"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '0.0.1'\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "site"), *sys.path])
    differs()
    (fake / "__init__.py").write_text("__version__ = '0.0.22'\n")  # an upgrade rewrites it
    differs()

    # An upgrade of credproc never reads what an older release remembered.
    monkeypatch.setattr(memo, "__version__", "99.0.0")
    differs()


def test_without_uname_the_digest_and_the_session_names_host_follow_one_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows has no os.uname: {host} is socket.gethostname(), and the
    request digest changes with it (it read COMPUTERNAME, which {host} never did)."""
    import socket

    from credproc.obtain import machine_fields

    config = tmp_path / "config.toml"
    config.write_text(TWO_HOP_CONFIG)
    env = {"HOME": str(tmp_path), "COMPUTERNAME": "UNCHANGED"}
    monkeypatch.delattr(os, "uname", raising=False)
    digests = []
    for name in ("win-a.corp.example", "win-b.corp.example"):
        monkeypatch.setattr(socket, "gethostname", lambda name=name: name)
        digests.append(memo.inputs(env, str(config)).digest)
        assert machine_fields(env)["host"] == name.split(".")[0]
    assert digests[0] != digests[1]


def test_the_config_is_parsed_from_the_bytes_the_digest_holds(sandbox: Sandbox) -> None:
    """An edit between the digest and the parse is never remembered under the digest."""
    from credproc import config

    path = sandbox.write_config(TWO_HOP_CONFIG)
    inputs = memo.inputs(sandbox.env, os.path.abspath(path))
    sandbox.write_config(TWO_HOP_CONFIG.replace('role = "Deployer"', 'role = "Auditor"'))
    loaded = config.load(path, sandbox.env, inputs=inputs)
    assert "Auditor" not in loaded.text and not inputs.changed

    elsewhere = sandbox.root / "other.toml"
    elsewhere.write_text(TWO_HOP_CONFIG)
    config.load(elsewhere, sandbox.env, inputs=inputs)  # not the file the digest holds
    assert inputs.changed


@pytest.mark.skipif(
    shutil.which("strace") is None, reason="strace counts the keychain's reads (apt-get install strace)"
)
def test_the_keychain_is_asked_once_when_it_opened_the_config_memo(sandbox: Sandbox, tmp_path: Path) -> None:
    """The config's memo is read before the config names the key store: the
    keychain's key that opened it is the cache's key too (one keychain prompt, not two)."""
    sandbox.write_config(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "keyring"\n')
    assert sandbox.run("get", "dev", "--verbose").returncode == 0  # the config's memo, sealed by the keychain's key
    [config_memo] = (sandbox.cache_dir / "memos").glob("config-*.memo")
    assert config_memo.read_bytes()[:4] == memo.MAGIC_KEYRING

    log = tmp_path / "opens.log"
    strace = [str(shutil.which("strace")), "-f", "-qq", "-e", "trace=open,openat", "-o", str(log)]
    result = run_credproc(["get", "dev", "--verbose"], sandbox.env, prefix=strace)
    assert result.returncode == 0, result.stderr
    keychain_reads = [line for line in log.read_text().splitlines() if sandbox.env["CREDPROC_TEST_KEYRING"] in line]
    assert len(keychain_reads) == 1, keychain_reads


def test_a_variable_in_an_aws_path_is_expanded_as_botocore_does_and_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_CONFIG_FILE='$RUNNER_TEMP/config': botocore expands it from the process
    environment, so the digest holds the file it names, not the words."""
    for job in ("a", "b"):
        (tmp_path / job).mkdir()
        (tmp_path / job / "config").write_text(f"[profile {job}]\nrole_arn = arn:aws:iam::111111111111:role/{job}\n")
    env = {"HOME": str(tmp_path), "AWS_CONFIG_FILE": "$RUNNER_TEMP/config"}
    config = str(tmp_path / "c.toml")
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "a"))
    first = memo.inputs(env, config).digest
    assert locations.aws_files(env)[0] == str(tmp_path / "a" / "config")
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "b"))
    assert memo.inputs(env, config).digest != first
    # Set but empty: no config file at all for botocore, not ~/.aws/config.
    assert locations.aws_files({"HOME": str(tmp_path), "AWS_CONFIG_FILE": ""})[0] == ""


def test_boto_config_is_in_the_digest() -> None:
    config = "/nonexistent/credproc/config.toml"
    assert memo.inputs({**BASE, "BOTO_CONFIG": "/a.cfg"}, config).digest != memo.inputs(BASE, config).digest


def test_clearing_an_unknown_target_deletes_no_memo(sandbox: Sandbox) -> None:
    every_kind(sandbox)
    before = memos(sandbox)
    result = sandbox.run("cache", "clear", "no-such-account")
    assert result.returncode == 3 and result.stdout == ""
    assert memos(sandbox) == before
