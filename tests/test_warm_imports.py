"""What a warm cache hit loads, as a user would notice it (not about time:
benchmarks/run.py measures that): no AWS SDK, no parser of the full path, no
network stack, no search for a keyring backend; a process that waits for
another's fetch loads no botocore. Not the exact module sets of third-party
packages, which their releases reshuffle. The caching of parses is checked
against the slow path it replaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    DEV_ACCOUNT,
    HUB_ARN,
    TWO_HOP_CONFIG,
    Sandbox,
    assert_one_clear_error,
    run_credproc,
)

from credproc import aead, cache, locations, shortcuts

# Run in a fresh interpreter: the credproc a user's AWS tool starts.
LIST_MODULES = """
import json, sys
from credproc.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump(sorted(sys.modules), out)
sys.exit(code)
"""

MISS_ONLY = ("boto3", "botocore", "urllib3", "filelock", "keyring", "jaraco", "s3transfer")
# Taken off a hit by credproc/shortcuts.py: with CREDPROC_NO_SHORTCUTS (pytest
# --no-shortcuts) a hit takes the plain way and these assertions do not hold.
SHORTCUTS = shortcuts.enabled()


def user_environment(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox without credproc's path overrides: files in the XDG dirs, as for a user."""
    env = {
        k: v for k, v in sandbox.env.items() if k not in ("CREDPROC_CONFIG", "CREDPROC_CACHE_DIR", "CREDPROC_DATA_DIR")
    }
    config = Path(env["XDG_CONFIG_HOME"], "credproc", "config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')
    return env


def modules_loaded_by(sandbox: Sandbox, env: dict[str, str], *args: str, quiet: bool = False) -> set[str]:
    """The modules cli.main loaded in a fresh interpreter; ``quiet``: it wrote nothing on stderr."""
    listing = sandbox.root / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", LIST_MODULES, str(listing), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccountId"] == DEV_ACCOUNT
    if quiet:
        assert result.stderr == ""
    return set(json.loads(listing.read_text()))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_warm_hit_imports_nothing_the_miss_needs(sandbox: Sandbox) -> None:
    """The full path (cli.main) on a cache hit; the console script's own fast path is tested below."""
    env = user_environment(sandbox)
    cold = modules_loaded_by(sandbox, env, "get", "dev")
    assert "botocore" in top_level(cold)  # the check below can fail (the cache's locks need no filelock on POSIX)
    assert not {"boto3", "s3transfer"} & top_level(cold)  # STS through botocore itself

    warm = modules_loaded_by(sandbox, env, "get", "dev", quiet=True)
    assert not top_level(warm) & set(MISS_ONLY)
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2  # the second run was a cache hit
    if SHORTCUTS:
        assert "cryptography.hazmat.primitives.ciphers" not in warm  # the binding's AESGCM (credproc/shortcuts.py)
    if sys.platform in ("linux", "darwin"):
        assert "platformdirs" not in top_level(warm)  # its rules computed in locations.py (tests/test_locations.py)
    assert not {"socket", "traceback", "difflib", "configparser"} & warm


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the D-Bus rule is for Linux and the BSDs")
def test_auto_key_store_without_a_session_bus_does_not_ask_keyring(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    config = Path(env["XDG_CONFIG_HOME"], "credproc", "config.toml")
    config.write_text(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "auto"\n')
    for name in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR"):
        env.pop(name, None)

    modules_loaded_by(sandbox, env, "get", "dev")
    warm = modules_loaded_by(sandbox, env, "get", "dev")
    assert "keyring" not in top_level(warm)
    assert Path(env["XDG_DATA_HOME"], "credproc", "cache.key").stat().st_size == 32

    # A keyring backend chosen by the user is still asked (the sandbox's test keyring).
    env["PYTHON_KEYRING_BACKEND"] = sandbox.env["PYTHON_KEYRING_BACKEND"]
    chosen = modules_loaded_by(sandbox, env, "get", "dev")
    assert "keyring" in top_level(chosen)
    assert "credproc/cache-key" in json.loads(Path(env["CREDPROC_TEST_KEYRING"]).read_text())


def test_aesgcm_from_the_binding_is_the_public_class() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    assert aead.aesgcm_class() is AESGCM


@pytest.mark.skipif(sys.platform not in ("linux", "darwin"), reason="XDG and HOME decide on Linux and macOS")
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"XDG_CONFIG_HOME": "/x/config", "XDG_CACHE_HOME": "/x/cache/", "XDG_DATA_HOME": "/x//data"},
        {"XDG_CONFIG_HOME": "relative/config", "XDG_CACHE_HOME": "", "XDG_DATA_HOME": "~/data"},
    ],
)
def test_linux_dirs_match_platformdirs(
    overrides: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "CREDPROC_CACHE_DIR", "CREDPROC_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ)
    assert locations.config_dir(env) == Path(platformdirs.user_config_dir("credproc", appauthor=False))
    assert locations.cache_dir(env) == Path(platformdirs.user_cache_dir("credproc", appauthor=False))
    assert locations.data_dir(env) == Path(platformdirs.user_data_dir("credproc", appauthor=False))


def large_config(count: int, role: str = "Deployer") -> str:
    parts = [f'[source]\nregion = "us-east-1"\n\n[defaults]\nrole = "{role}"\n']
    for index in range(count):
        parts.append(f'\n[accounts.acct{index:04d}]\nid = "{100000000000 + index}"\nregion = "us-east-2"\n')
    return "".join(parts)


def accounts(sandbox: Sandbox) -> dict[str, str]:
    result = sandbox.run("accounts", "--json")
    assert result.returncode == 0, result.stderr
    return {row["alias"]: row["role"] for row in json.loads(result.stdout)}


def config_memos(sandbox: Sandbox) -> list[Path]:
    return sorted((sandbox.cache_dir / "memos").glob("config-*.memo"))


def test_large_config_memo_follows_every_edit(sandbox: Sandbox) -> None:
    path = sandbox.write_config(large_config(600))
    assert sandbox.run("get", "acct0599").returncode == 0  # parsed, and the parse kept once the key is read
    [memo] = config_memos(sandbox)
    assert memo.stat().st_mode & 0o777 == 0o600
    assert memo.parent.stat().st_mode & 0o777 == 0o700
    assert b"acct0599" not in memo.read_bytes()  # sealed, as every memo
    assert accounts(sandbox)["acct0599"] == "Deployer"  # from the memo

    # Same size, same mtime, different content: still seen.
    before = path.stat()
    path.write_text(large_config(600, role="Deployes"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert accounts(sandbox)["acct0599"] == "Deployes"


def test_large_config_memo_moved_to_another_name_is_ignored(sandbox: Sandbox) -> None:
    path = sandbox.write_config(large_config(600))
    assert sandbox.run("get", "acct0001").returncode == 0
    [deployer] = config_memos(sandbox)
    path.write_text(large_config(600, role="Deployes"))
    assert sandbox.run("get", "acct0001").returncode == 0
    [deployes] = [memo for memo in config_memos(sandbox) if memo != deployer]

    # Each memo at the other's name: neither is believed, each file is parsed anew.
    first, second = deployer.read_bytes(), deployes.read_bytes()
    deployer.write_bytes(second)
    deployes.write_bytes(first)
    assert accounts(sandbox)["acct0599"] == "Deployes"
    path.write_text(large_config(600))
    assert accounts(sandbox)["acct0599"] == "Deployer"


def test_large_config_errors_name_the_same_line_with_a_config_memo(sandbox: Sandbox) -> None:
    text = large_config(600).replace(
        '[accounts.acct0500]\nid = "100000000500"\n', '[accounts.acct0500]\nid = "100000000500"\nduration = "13h"\n'
    )
    path = sandbox.write_config(text)
    line = text.splitlines().index('duration = "13h"') + 1
    first = sandbox.run("get", "acct0500")  # a fresh parse; validation fails
    assert sandbox.run("get", "acct0001").returncode == 0
    assert config_memos(sandbox)  # kept by the run that read the key
    second = sandbox.run("get", "acct0500")  # from the memo
    assert_one_clear_error(first, exit_code=3)
    error = assert_one_clear_error(second, exit_code=3)
    assert first.stderr == second.stderr
    assert error.startswith(f"credproc: {path}:{line}: accounts.acct0500.duration: '13h'")

    broken = text.replace("[accounts.acct0100]", "[accounts.acct0100", 1)
    path.write_text(broken)
    line = broken.splitlines().index("[accounts.acct0100") + 1
    result = sandbox.run("get", "acct0500")
    expected = f"is not valid TOML: Expected ']' at the end of a table declaration (at line {line},"
    assert_one_clear_error(result, expected, exit_code=3)


# --- remembered answers (credproc/remembered.py): the console script's fast path


def imported_by_console_script(
    sandbox: Sandbox, env: dict[str, str], *args: str, module: bool = False
) -> tuple[str, set[str]]:
    """stdout and the modules imported (``-X importtime``) by the installed script
    (``module``: by ``python -m credproc``, as the demo's profiles run it)."""
    importtime = [sys.executable, "-X", "importtime"]
    if module:  # not the console script, so not run_credproc
        command = [*importtime, "-m", "credproc", *args]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    else:
        result = run_credproc(args, env, prefix=importtime)
    assert result.returncode == 0, result.stderr
    names = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    return result.stdout, names


def run_user(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The installed credproc with exactly ``env`` (sandbox.run would add the path overrides back)."""
    return run_credproc(args, env)


def answer_files(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["XDG_CACHE_HOME"], "credproc", "memos").glob("answer-*.memo"))


def test_repeated_get_is_answered_without_loading_credproc(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    first, cold = imported_by_console_script(sandbox, env, "get", "dev")
    assert "credproc.cli" in cold
    [answer_file] = answer_files(env)
    assert answer_file.stat().st_mode & 0o777 == 0o600
    assert answer_file.parent.stat().st_mode & 0o777 == 0o700

    second, warm = imported_by_console_script(sandbox, env, "get", "dev")
    assert second == first
    bare = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True)
    at_start = {line.rsplit("|", 1)[1].strip() for line in bare.stderr.splitlines() if line.startswith("import time:")}
    # (an editable install's import hook loads pathlib and more in every interpreter: not ours)
    assert not NOT_ON_A_HIT & (warm - at_start)
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2

    # Options take the full path, and give the same credentials from the cache.
    third, full = imported_by_console_script(sandbox, env, "get", "dev", "--verbose")
    assert "credproc.cli" in full and third == first


def test_remembered_answer_follows_cache_config_and_environment(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    config = Path(env["XDG_CONFIG_HOME"], "credproc", "config.toml")
    first = json.loads(run_user(env, "get", "dev").stdout)
    assert json.loads(run_user(env, "get", "dev").stdout) == first

    assert run_user(env, "cache", "clear").returncode == 0
    assert answer_files(env) == []
    after_clear = json.loads(run_user(env, "get", "dev").stdout)
    assert after_clear["AccessKeyId"] != first["AccessKeyId"]
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 4

    config.write_text(config.read_text().replace('role = "Deployer"', 'role = "Auditor"'))
    assert json.loads(run_user(env, "get", "dev").stdout)["AccessKeyId"] != after_clear["AccessKeyId"]
    assert len(sandbox.sts.recorder.of("AssumeRole", f"arn:aws:iam::{DEV_ACCOUNT}:role/Auditor")) == 1

    other_source = {**env, "AWS_ACCESS_KEY_ID": "AKIAANOTHERSOURCE001"}
    run_user(other_source, "get", "dev")
    hub_calls = sandbox.sts.recorder.of("AssumeRole", "arn:aws:iam::222222222222:role/hub")
    assert hub_calls[-1].access_key_id == "AKIAANOTHERSOURCE001"


def fast_path_answer(argv: list[str], env: dict[str, str], now: float) -> str | None:
    """What the fast path would print for ``argv`` at ``now`` (None: the full path runs)."""
    from credproc import remembered

    found = remembered.request(argv, env)  # as the console script asks
    return None if found is None else remembered.answer_for(found[1], env, now)


def test_remembered_answer_tampered_or_expired_is_not_used(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    first = run_user(env, "get", "dev").stdout
    [answer_file] = answer_files(env)
    assert fast_path_answer(["get", "dev"], env, now=0) == first
    # Past the cache's refresh point (expiry minus margin): the full path decides.
    expiration = json.loads(first)["Expiration"]
    from datetime import datetime

    expiry = datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
    assert fast_path_answer(["get", "dev"], env, now=expiry - 15 * 60 - 1) == first
    assert fast_path_answer(["get", "dev"], env, now=expiry - 15 * 60 + 1) is None
    assert fast_path_answer(["get", "prod"], env, now=0) is None

    blob = bytearray(answer_file.read_bytes())
    blob[-1] ^= 1
    answer_file.write_bytes(bytes(blob))
    assert fast_path_answer(["get", "dev"], env, now=0) is None
    assert run_user(env, "get", "dev").stdout == first  # from the cache, by the full path
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2


def test_keyring_key_store_answer_reads_the_key_from_the_keychain(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    config = Path(env["XDG_CONFIG_HOME"], "credproc", "config.toml")
    config.write_text(config.read_text().replace('key_store = "file"', 'key_store = "keyring"'))
    first, _ = imported_by_console_script(sandbox, env, "get", "dev")
    assert not Path(env["XDG_DATA_HOME"], "credproc", "cache.key").exists()
    second, warm = imported_by_console_script(sandbox, env, "get", "dev")
    assert second == first
    assert "keyring" in warm and "credproc.cli" not in warm

    # The keychain is asked every time: with the key gone from it, the
    # remembered answer is useless and the full path starts over.
    keychain = Path(env["CREDPROC_TEST_KEYRING"])
    old_key = json.loads(keychain.read_text())["credproc/cache-key"]
    keychain.write_text("{}")
    third = run_user(env, "get", "dev")
    assert third.returncode == 0 and third.stdout != first
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 4
    assert json.loads(keychain.read_text())["credproc/cache-key"] != old_key


# A network stack (~a third of keyring's import as it comes), loaded by
# keyring's dependencies for downloads no keychain call makes: put off until
# used (credproc/shortcuts.py).
NETWORK = {"socket", "ssl", "http.client"}


def backend_probes(modules: set[str]) -> set[str]:
    """keyring's own backends imported: it looked for one, though PYTHON_KEYRING_BACKEND names it."""
    return {name for name in modules if name.startswith("keyring.backends.") and name != "keyring.backends.fail"}


def keyring_environment(sandbox: Sandbox) -> dict[str, str]:
    env = user_environment(sandbox)
    config = Path(env["XDG_CONFIG_HOME"], "credproc", "config.toml")
    config.write_text(config.read_text().replace('key_store = "file"', 'key_store = "keyring"'))
    return env


def test_keyring_hit_loads_the_chosen_backend_without_probing_or_a_network_stack(sandbox: Sandbox) -> None:
    env = keyring_environment(sandbox)
    first, _ = imported_by_console_script(sandbox, env, "get", "dev")
    second, warm = imported_by_console_script(sandbox, env, "get", "dev")
    assert second == first
    assert {"keyring", "credproc_test_keyring"} <= warm and "credproc.cli" not in warm
    assert not backend_probes(warm) and not {"botocore", "boto3", "argparse", "tomllib"} & top_level(warm)
    if SHORTCUTS:
        assert not NETWORK & warm

    # The full path on a hit: the keychain too, and nothing a miss needs; no
    # dataclasses (with inspect, ~10 ms of its ~35) and no TOML parser (the
    # config's memo, config.py).
    third, full = imported_by_console_script(sandbox, env, "get", "dev", "--verbose")
    assert third == first and {"credproc.cli", "keyring"} <= full
    assert not backend_probes(full)
    if SHORTCUTS:
        assert not NETWORK & full
    assert "tomllib" not in full and ("dataclasses" not in full or not SHORTCUTS)  # more_itertools, for jaraco
    assert not {"botocore", "boto3", "filelock"} & top_level(full)
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2


STAND_IN = """
import json, sys
from credproc import keyring_loader, shortcuts
keyring = keyring_loader.load()
stand_in = sys.modules["urllib.request"]
deferred = "urlopen" not in vars(stand_in) and "Popen" not in vars(sys.modules["subprocess"])
deferred = deferred and "http.client" not in sys.modules
key = keyring.get_password("credproc", "cache-key")
import jaraco.context
import urllib.request
from urllib.request import urlopen, Request
real = sys.modules["urllib.request"]
others = [name for name in shortcuts.KEYRING_DEFERRED[1:] if name in sys.modules]
for name in others:
    getattr(sys.modules[name], "__file__", None)  # first use: the real import (a built-in has no file)
print(json.dumps({
    "backend": type(keyring.get_keyring()).__name__,
    "key": key,
    "deferred": deferred,
    "real": real is not stand_in and real is urllib.request and urlopen is real.urlopen,
    "forwards": stand_in.Request is Request and jaraco.context.urllib.request is real,
    "others_real": bool(others) and not any("__getattr__" in vars(sys.modules[name]) for name in others),
}))
"""


@pytest.mark.skipif(not SHORTCUTS, reason="CREDPROC_NO_SHORTCUTS: keyring is imported the plain way")
def test_keychain_defers_urllib_request_until_used_and_keyring_asks_the_chosen_backend(sandbox: Sandbox) -> None:
    Path(sandbox.env["CREDPROC_TEST_KEYRING"]).write_text(json.dumps({"credproc/cache-key": "stored"}))
    result = subprocess.run(
        [sys.executable, "-c", STAND_IN], env=sandbox.env, capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == {
        "backend": "FileKeyring",  # PYTHON_KEYRING_BACKEND's, by keyring's own rules
        "key": "stored",
        "deferred": True,
        "real": True,
        "forwards": True,
        "others_real": True,
    }


def test_full_path_hit_parses_no_aws_file_until_one_changes(sandbox: Sandbox) -> None:
    """The source profile's fingerprint is remembered (source.resolve_remembered):
    a hit neither imports configparser nor parses the files; an edit does both."""
    env = user_environment(sandbox)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        del env[name]
    credentials_file = Path(env["AWS_SHARED_CREDENTIALS_FILE"])
    keys = "[default]\naws_access_key_id = AKIADEFAULTKEYS0000{}\naws_secret_access_key = d{}\n"
    credentials_file.write_text(keys.format(1, 1))
    modules_loaded_by(sandbox, env, "get", "dev")
    assert "configparser" not in modules_loaded_by(sandbox, env, "get", "dev", "--verbose")
    credentials_file.write_text(keys.format(2, 2))
    assert "configparser" in modules_loaded_by(sandbox, env, "get", "dev", "--verbose")
    hub_callers = [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)]
    assert hub_callers == ["AKIADEFAULTKEYS00001", "AKIADEFAULTKEYS00002"]  # new keys: a new identity


def test_full_path_loads_only_the_command_it_runs(sandbox: Sandbox) -> None:
    """cli builds the parser of the command named first; --help still lists them all."""
    env = user_environment(sandbox)
    modules_loaded_by(sandbox, env, "get", "dev")
    warm = modules_loaded_by(sandbox, env, "get", "dev", "--verbose")
    assert "credproc.commands.get" in warm
    others = {f"credproc.commands.{name}" for name in ("profiles", "doctor", "demo", "discover", "accounts", "cache")}
    assert not others & warm
    assert not {"credproc.completion", "unicodedata"} & warm
    assert not top_level(warm) & set(MISS_ONLY)
    listing = run_user(env, "--help")
    assert listing.returncode == 0 and "profiles" in listing.stdout and "completion" in listing.stdout


# --- every `get` whose output is a pure function of its inputs is remembered

# What a remembered answer must not load (an editable install's import hook
# loads pathlib and more in every interpreter: compared with a bare one).
# Without the shortcuts, hashlib (the hash) and cryptography's public AES-GCM
# module (which imports typing) are loaded too.
NOT_ON_A_HIT = {"credproc.cli", "credproc.errors", "argparse", "dataclasses", "pathlib", "tomllib", "json"}
NOT_ON_A_HIT |= {"typing", "hashlib"} if SHORTCUTS else set()
NOT_ON_A_HIT_AT_ALL = {"botocore", "boto3", "keyring", "filelock"}
OTHER_HUB = "arn:aws:iam::222222222222:role/hub-eu"


def assert_remembered(env: dict[str, str], imported: set[str]) -> None:
    bare = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True)
    at_start = {line.rsplit("|", 1)[1].strip() for line in bare.stderr.splitlines() if line.startswith("import time:")}
    assert not NOT_ON_A_HIT & (imported - at_start)
    assert not NOT_ON_A_HIT_AT_ALL & top_level(imported)


# Each: a request, and the same request with one input changed.
OPTIONS = {
    "--role": (["dev", "--role", "Auditor"], ["dev", "--role", "Reader"]),
    "--via": (["dev", "--via", HUB_ARN], ["dev", "--via", OTHER_HUB]),
    "--region": (
        ["dev", "--region", "eu-west-1", "--format", "json"],
        ["dev", "--region", "eu-west-2", "--format", "json"],
    ),
    "--duration": (["dev", "--duration", "2h"], ["dev", "--duration", "90m"]),
    "--session-name": (["dev", "--session-name", "ci-{user}"], ["dev", "--session-name", "ci2-{user}"]),
    "--external-id": (["dev", "--external-id", "ext-1"], ["dev", "--external-id=ext-2"]),
    "--format": (["dev", "--format", "json"], ["dev", "--format=env"]),
    "the CDK plugin's": (
        [DEV_ACCOUNT, "--role", "cdk-deploy", "--via", HUB_ARN],
        [DEV_ACCOUNT, "--role", "cdk-deploy", "--via", OTHER_HUB],
    ),
    "all, in any order": (
        ["--format=json", "--region", "eu-west-1", "dev", "--role", "Auditor", "--duration", "2h"],
        ["--format=json", "--region", "eu-west-1", "dev", "--role", "Auditor", "--duration", "3h"],
    ),
}


@pytest.mark.parametrize(("asked", "changed"), OPTIONS.values(), ids=OPTIONS.keys())
def test_each_pure_option_is_remembered_and_a_changed_value_is_never_missed(
    sandbox: Sandbox, asked: list[str], changed: list[str]
) -> None:
    env = user_environment(sandbox)
    first, cold = imported_by_console_script(sandbox, env, "get", *asked)
    assert "credproc.cli" in cold
    calls = len(sandbox.sts.recorder.of("AssumeRole"))

    second, warm = imported_by_console_script(sandbox, env, "get", *asked)
    assert second == first
    assert_remembered(env, warm)
    assert len(sandbox.sts.recorder.of("AssumeRole")) == calls

    # Not the remembered answer (the full path may still answer from the cache:
    # a 2 h session is good for a 90 min request).
    _, full = imported_by_console_script(sandbox, env, "get", *changed)
    assert "credproc.cli" in full


def test_python_m_credproc_shares_the_remembered_answers(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    first, cold = imported_by_console_script(sandbox, env, "get", "dev", "--role", "Auditor", module=True)
    assert "credproc.cli" in cold
    second, warm = imported_by_console_script(sandbox, env, "get", "dev", "--role", "Auditor", module=True)
    assert second == first
    assert_remembered(env, warm)
    third, script = imported_by_console_script(sandbox, env, "get", "dev", "--role", "Auditor")
    assert third == first and "credproc.cli" not in script


def test_config_option_is_remembered_and_every_edit_of_that_file_is_seen(sandbox: Sandbox) -> None:
    """What ``profiles --write --config PATH`` generates: ``get dev --config PATH``."""
    env = user_environment(sandbox)
    other = sandbox.root / "team" / "credproc.toml"
    other.parent.mkdir()
    other.write_text(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')
    first, _ = imported_by_console_script(sandbox, env, "get", "dev", "--config", str(other))
    second, warm = imported_by_console_script(sandbox, env, "get", "dev", "--config", str(other))
    assert second == first
    assert_remembered(env, warm)

    # The same size and modification time: only the bytes differ.
    before = other.stat()
    other.write_text(other.read_text().replace('role = "Deployer"', 'role = "Deployes"'))
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    third, full = imported_by_console_script(sandbox, env, "get", "dev", "--config", str(other))
    assert "credproc.cli" in full and third != first
    assert len(sandbox.sts.recorder.of("AssumeRole", f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployes")) == 1

    # A relative --config is the file in the working directory, wherever that is.
    relative = run_credproc(["get", "dev", "--config", "credproc.toml"], env, cwd=other.parent)
    assert relative.returncode == 0 and relative.stdout == third
    elsewhere = sandbox.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "credproc.toml").write_text(TWO_HOP_CONFIG.replace("Deployer", "Auditor"))
    moved = run_credproc(["get", "dev", "--config", "credproc.toml"], env, cwd=elsewhere)
    assert moved.returncode == 0 and moved.stdout not in (first, third)


def test_an_environment_change_is_never_missed_with_options(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    asked = ("get", "dev", "--role", "Auditor", "--format", "json")
    first, _ = imported_by_console_script(sandbox, env, *asked)
    assert imported_by_console_script(sandbox, env, *asked)[0] == first
    other_source = {**env, "AWS_ACCESS_KEY_ID": "AKIAANOTHERSOURCE001"}
    second, full = imported_by_console_script(sandbox, other_source, *asked)
    assert "credproc.cli" in full and second != first
    assert sandbox.sts.recorder.of("AssumeRole", HUB_ARN)[-1].access_key_id == "AKIAANOTHERSOURCE001"


@pytest.mark.parametrize("impure", [["--refresh"], ["--no-cache"], ["--verbose"], ["-v"], ["--ref"]])
def test_refresh_no_cache_and_verbose_take_the_full_path(sandbox: Sandbox, impure: list[str]) -> None:
    env = user_environment(sandbox)
    asked = ["get", "dev", "--role", "Auditor"]
    first, _ = imported_by_console_script(sandbox, env, *asked)
    assert "credproc.cli" not in imported_by_console_script(sandbox, env, *asked)[1]  # remembered
    again, full = imported_by_console_script(sandbox, env, *asked[:2], *impure, *asked[2:])
    assert "credproc.cli" in full
    # --verbose explains a cache hit; the others fetch anew (--ref is --refresh to argparse)
    assert (again == first) is (impure in (["--verbose"], ["-v"]))


# --- a cold fan-out: processes that wait for another's fetch load no botocore


def hop_entries(env: dict[str, str]) -> dict[int, Path]:
    """The cache's entry files by hop number (1 = the hub), read with the user's key file."""
    from credproc.log import Log

    key = Path(env["XDG_DATA_HOME"], "credproc", "cache.key").read_bytes()
    store = cache.Cache(Path(env["XDG_CACHE_HOME"], "credproc"), key, Log(verbose=False))
    found = {}
    for name in store.names():
        entry = store.get(name)
        assert entry is not None
        found[int(entry.meta["hop"])] = store.path(name)
    return found


def import_lines(text: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in text.splitlines() if line.startswith("import time:")}


def test_a_process_that_waits_for_another_fetch_does_not_load_botocore(sandbox: Sandbox) -> None:
    """The hub's lock is held (by this test, standing in for the fetching
    process) until the entries it would write are there: the waiting credproc
    takes them from the cache, without botocore and without STS."""
    import filelock

    env = user_environment(sandbox)
    first = json.loads(run_user(env, "get", "dev").stdout)
    entries = hop_entries(env)
    written = {hop: path.read_bytes() for hop, path in entries.items()}
    for path in entries.values():
        path.unlink()
    hub_lock = filelock.FileLock(str(entries[1].with_suffix(cache.LOCK_SUFFIX)))
    script = Path(sys.executable).parent / "credproc"
    with hub_lock:
        waiter = subprocess.Popen(
            [sys.executable, "-X", "importtime", str(script), "get", "dev", "--verbose"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiter.stderr is not None
        before_locks = []
        for line in waiter.stderr:  # ends early only if the process does
            before_locks.append(line)
            if "source identity:" in line:  # the cache missed; the hop locks come next
                break
        for hop, blob in written.items():
            entries[hop].write_bytes(blob)  # what the fetching process would write
    out, err = waiter.communicate(timeout=120)
    stderr = "".join(before_locks) + err
    assert waiter.returncode == 0, stderr
    assert json.loads(out) == first
    assert "hop 1: arn:aws:iam::222222222222:role/hub fetched meanwhile" in stderr
    assert not {"botocore", "boto3", "urllib3"} & top_level(import_lines(stderr))
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2  # the first run's only


def test_a_cold_fan_out_loads_botocore_once(sandbox: Sandbox) -> None:
    """30 processes at once on a cold cache: one fetches each hop (one AssumeRole
    per hop); every other one waits for it and loads no botocore."""
    env = user_environment(sandbox)
    run_user(env, "get", "dev")  # what is remembered beside the entries (e.g. the STS endpoint) stays
    for path in hop_entries(env).values():
        path.unlink()
    for path in answer_files(env):
        path.unlink()
    sandbox.sts.recorder.reset()
    script = Path(sys.executable).parent / "credproc"
    logs = [sandbox.root / f"fan-out-{number}.log" for number in range(30)]
    processes = []
    for log in logs:
        with open(log, "w") as stderr:  # files, not pipes: a full pipe would stall a lock holder
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-X", "importtime", str(script), "get", "dev"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
            )
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * 30, [log.read_text()[-500:] for log in logs]
    assert len(set(outputs)) == 1 and json.loads(outputs[0])["AccountId"] == DEV_ACCOUNT
    assert len(sandbox.sts.recorder.of("AssumeRole", "arn:aws:iam::222222222222:role/hub")) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole", f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer")) == 1
    loaded_botocore = [log for log in logs if "botocore" in top_level(import_lines(log.read_text()))]
    assert len(loaded_botocore) == 1
    # Only that one took the full path: the others printed the answer it remembered (credproc/single_flight.py).
    assert sum("credproc.cli" in import_lines(log.read_text()) for log in logs) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches the waiting process in /proc")
def test_a_get_that_finds_its_request_claimed_waits_and_prints_the_remembered_answer(sandbox: Sandbox) -> None:
    """The claim of `get dev` is held (by this test, standing in for the process
    answering it) while the waiting credproc is seen holding the claim's file
    open; once the answer is remembered and the claim let go, the waiter prints
    it without loading credproc's full path."""
    import fcntl

    from credproc import remembered, single_flight

    env = user_environment(sandbox)
    first = run_user(env, "get", "dev").stdout
    [answer_file] = answer_files(env)
    answer = answer_file.read_bytes()
    answer_file.unlink()
    digest = remembered.answer_name(["get", "dev"], env)
    assert digest is not None
    claim = Path(env["XDG_CACHE_HOME"], "credproc", single_flight.DIRECTORY, digest[:40] + ".lock")
    claim.parent.mkdir(mode=0o700, exist_ok=True)
    script = Path(sys.executable).parent / "credproc"
    with open(claim, "ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        waiter = subprocess.Popen(
            [sys.executable, "-X", "importtime", str(script), "get", "dev"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        fds = Path(f"/proc/{waiter.pid}/fd")
        for _ in range(100_000):  # a bound, not a duration: until the waiter has the claim's file open
            try:
                if any(os.readlink(fd) == str(claim) for fd in fds.iterdir()):
                    break
            except OSError:
                pass  # a descriptor closed while being read
            assert waiter.poll() is None, waiter.communicate()
        else:
            pytest.fail("the waiter never opened the claim")
        answer_file.write_bytes(answer)  # what the claimer remembers before it ends
        answer_file.chmod(0o600)
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    assert out == first
    assert "credproc.cli" not in import_lines(err)
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2


def test_a_stale_remembered_answer_is_dismissed_without_the_key(sandbox: Sandbox) -> None:
    """After expiry (a cold fan-out's usual start) each process sees the
    answer is stale from its clear header, without loading the AES-GCM binding;
    a header edited to look fresh fails authentication."""
    env = user_environment(sandbox)
    first = run_user(env, "get", "dev").stdout
    [answer_file] = answer_files(env)
    probe = (
        "import os, sys; from credproc import remembered;"
        "digest = remembered.answer_name(['get', 'dev'], os.environ);"
        "print(remembered.answer_for(digest, os.environ, float(sys.argv[1])), 'cryptography' in sys.modules)"
    )
    later = subprocess.run([sys.executable, "-c", probe, "1e12"], env=env, capture_output=True, text=True, check=True)
    assert later.stdout == "None False\n"
    now = subprocess.run([sys.executable, "-c", probe, "0"], env=env, capture_output=True, text=True, check=True)
    assert now.stdout == f"{first} True\n"

    # The layout (memo.py): magic, header length, header (remembered.py: valid until, entry, digest), sealed output.
    blob = answer_file.read_bytes()
    end = 8 + int.from_bytes(blob[4:8], "big")
    valid_until, *rest = blob[8:end].split(b"\0")
    header = b"\0".join([repr(float(valid_until) + 3600).encode(), *rest])
    answer_file.write_bytes(blob[:4] + len(header).to_bytes(4, "big") + header + blob[end:])
    tampered = subprocess.run([sys.executable, "-c", probe, "0"], env=env, capture_output=True, text=True, check=True)
    assert tampered.stdout == "None True\n"


HOLDER = """
import os, sys
from credproc import remembered, single_flight
assert single_flight.claim_or_wait(remembered.answer_name(["get", "dev"], os.environ), os.environ)
print("claimed", flush=True)
sys.stdin.read()  # holds the claim until the test lets go
"""


def still_claimed(env: dict[str, str]) -> bool:
    """Whether another process holds the claim of `get dev` in ``env``."""
    import fcntl

    from credproc import remembered, single_flight

    name = remembered.answer_name(["get", "dev"], env)
    assert name is not None
    claim = Path(locations.cache_location(env) or "", single_flight.DIRECTORY, name[:40] + ".lock")
    with open(claim, "rb") as probe:
        try:
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def while_claimed(sandbox: Sandbox, lock_timeout: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    """A first answer (then forgotten), and a `get dev` run with
    ``CREDPROC_LOCK_TIMEOUT=lock_timeout`` while HOLDER holds the claim, which
    it still does when that run ends."""
    env = user_environment(sandbox)
    first = run_user(env, "get", "dev").stdout
    for path in answer_files(env):
        path.unlink()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "claimed\n"
        result = run_user({**env, "CREDPROC_LOCK_TIMEOUT": lock_timeout}, "get", "dev")
        assert holder.poll() is None  # it did not wait for the claimer to end
        assert still_claimed(env)  # and the claimer still holds its claim (not let go on return)
    finally:
        holder.communicate("", timeout=60)
    return first, result


@pytest.mark.skipif(os.name != "posix", reason="claims are POSIX locks")
def test_a_waiter_gives_up_on_a_claim_held_past_the_lock_timeout(sandbox: Sandbox) -> None:
    """The wait for a claim is bounded by CREDPROC_LOCK_TIMEOUT: then the
    full path answers, while the claimer still holds on."""
    first, result = while_claimed(sandbox, "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == first and len(sandbox.sts.recorder.of("AssumeRole")) == 2


@pytest.mark.skipif(os.name != "posix", reason="claims are POSIX locks")
def test_a_bad_lock_timeout_is_named_at_once_while_a_claim_is_held(sandbox: Sandbox) -> None:
    """The waiter reads CREDPROC_LOCK_TIMEOUT by the full path's rule
    (locking.wait_limit): a typo is exit 3 naming it, not a wait of the default."""
    _, result = while_claimed(sandbox, "2m")
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "CREDPROC_LOCK_TIMEOUT: '2m'" in result.stderr
