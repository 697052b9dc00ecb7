"""Where credproc's files live on Linux, macOS and Windows: locations.user_dir's
rules against platformdirs' own classes for each platform, and the fast path
(remembered answers, the claim) where those rules place the files."""

from __future__ import annotations

import json
import ntpath
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox

from credproc import locations, memo, remembered, single_flight, storage

KINDS = ("config", "cache", "data")
# Every variable either side reads for these three directories.
READ = (
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "LOCALAPPDATA",
    "WIN_PD_OVERRIDE_LOCAL_APPDATA",
    "ANDROID_DATA",
    "ANDROID_ROOT",
    "CREDPROC_CONFIG",
    "CREDPROC_CACHE_DIR",
    "CREDPROC_DATA_DIR",
)


def platformdirs_answer(platform: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """platformdirs' directories for credproc on ``platform``, worked out here
    with ``env`` as the process environment. For Windows its module is given
    Windows' path rules, and the Local AppData folder is read from
    LOCALAPPDATA (its fallback without ctypes; on Windows itself the shell
    answers, and sets LOCALAPPDATA to that same folder)."""
    import platformdirs.macos
    import platformdirs.unix
    import platformdirs.windows

    for name in READ:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if platform == "win32":
        monkeypatch.setattr(platformdirs.windows, "os", SimpleNamespace(path=ntpath, environ=os.environ))
        resolve = platformdirs.windows.get_win_folder_from_env_vars
        monkeypatch.setattr(platformdirs.windows, "_RESOLVE_WIN_FOLDER", resolve)
    kinds = {"linux": platformdirs.unix.Unix, "darwin": platformdirs.macos.MacOS, "win32": platformdirs.windows.Windows}
    found = kinds[platform](appname="credproc", appauthor=False)
    return {"config": found.user_config_dir, "cache": found.user_cache_dir, "data": found.user_data_dir}


def ours(platform: str, env: dict[str, str]) -> dict[str, str | None]:
    return {kind: locations.user_dir(kind, env, platform) for kind in KINDS}


XDG_ABSOLUTE = {"XDG_CONFIG_HOME": "/x/config", "XDG_CACHE_HOME": "/x/cache/", "XDG_DATA_HOME": "/x//data"}
XDG_NOT_ABSOLUTE = {"XDG_CONFIG_HOME": "relative/config", "XDG_CACHE_HOME": "", "XDG_DATA_HOME": "~/data"}
POSIX_AGREES = [
    {"HOME": "/home/ann"},
    {"HOME": "/home/ann/"},
    {"HOME": "/"},
    {"HOME": "//"},
    {"HOME": "/home/ann", **XDG_ABSOLUTE},
    {"HOME": "/home/ann", **XDG_NOT_ABSOLUTE},
    {"HOME": "/home/ann", "XDG_CACHE_HOME": "/x/cache"},
    XDG_ABSOLUTE,  # no HOME needed
    {"HOME": "/home/ann", "LOCALAPPDATA": r"C:\Users\ann\AppData\Local"},  # Windows' variable: not read
]
LOCAL = r"C:\Users\ann\AppData\Local"
WINDOWS_AGREES = [
    {"LOCALAPPDATA": LOCAL},
    {"LOCALAPPDATA": LOCAL + "\\"},
    {"LOCALAPPDATA": "C:/Users/ann/AppData/Local"},
    {"LOCALAPPDATA": r"c:\users\ann\AppData\Roaming\..\Local"},
    {"LOCALAPPDATA": LOCAL, "HOME": "/home/ann", **XDG_ABSOLUTE},  # Git Bash's HOME, XDG: not read
]


@pytest.mark.parametrize("platform", ["linux", "darwin"])
@pytest.mark.parametrize("env", POSIX_AGREES, ids=repr)
def test_unix_and_macos_rules_agree_with_platformdirs(
    platform: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ours(platform, env) == platformdirs_answer(platform, env, monkeypatch)


@pytest.mark.parametrize("env", WINDOWS_AGREES, ids=repr)
def test_windows_rules_agree_with_platformdirs(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert ours("win32", env) == platformdirs_answer("win32", env, monkeypatch)


@pytest.mark.parametrize(
    ("platform", "env"),
    [
        ("linux", {}),  # no HOME: platformdirs asks the password database
        ("linux", {"HOME": "home/ann"}),
        ("darwin", {"HOME": "~"}),
        ("win32", {}),  # no LOCALAPPDATA: platformdirs asks the shell
        ("win32", {"LOCALAPPDATA": r"AppData\Local"}),
        ("win32", {"LOCALAPPDATA": r"\Users\ann\AppData\Local"}),  # no drive
        ("win32", {"LOCALAPPDATA": r"C:Users\ann"}),  # relative to the drive's working directory
        ("win32", {"LOCALAPPDATA": r"\\server\share\ann"}),
        ("win32", {"LOCALAPPDATA": LOCAL, "WIN_PD_OVERRIDE_LOCAL_APPDATA": r"D:\elsewhere"}),
        ("ios", {"HOME": "/home/ann"}),
        ("linux", {"HOME": "/data/data/app", "ANDROID_DATA": "/data", "ANDROID_ROOT": "/system"}),
    ],
    ids=repr,
)
def test_where_the_environment_cannot_tell_platformdirs_decides(platform: str, env: dict[str, str]) -> None:
    assert ours(platform, env) == dict.fromkeys(KINDS)


def test_each_platforms_directories() -> None:
    assert ours("linux", {"HOME": "/home/ann"}) == {
        "config": "/home/ann/.config/credproc",
        "cache": "/home/ann/.cache/credproc",
        "data": "/home/ann/.local/share/credproc",
    }
    assert ours("darwin", {"HOME": "/Users/ann"}) == {
        "config": "/Users/ann/Library/Application Support/credproc",
        "cache": "/Users/ann/Library/Caches/credproc",
        "data": "/Users/ann/Library/Application Support/credproc",
    }
    # An XDG variable names its one directory; the others still need HOME.
    assert ours("darwin", {"XDG_CACHE_HOME": "/x/cache"}) == {
        "config": None,
        "cache": "/x/cache/credproc",
        "data": None,
    }
    assert ours("win32", {"LOCALAPPDATA": LOCAL}) == {
        "config": LOCAL + r"\credproc",
        "cache": LOCAL + r"\credproc\Cache",
        "data": LOCAL + r"\credproc",
    }


@pytest.mark.skipif(os.name != "posix", reason="the environments below are POSIX ones")
@pytest.mark.parametrize(
    ("env", "fast"),
    [
        ({"HOME": "/home/ann"}, True),
        ({"HOME": "/home/ann", **XDG_ABSOLUTE}, True),
        (XDG_ABSOLUTE, True),
        ({}, False),
        ({"HOME": "relative"}, False),
    ],
    ids=repr,
)
def test_the_full_path_and_the_fast_path_find_the_same_files(
    env: dict[str, str], fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One rule for both: where the fast path's plain strings exist they are
    the full path's files; where they do not (no absolute HOME), the full
    path asks platformdirs, which asks the password database."""
    import platformdirs

    for name in READ:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    strings = [locations.config_location(env), locations.cache_location(env), locations.data_location(env)]
    full = [locations.config_file(env), locations.cache_dir(env), locations.data_dir(env)]
    if fast:
        assert full == [Path(location) for location in strings if location is not None]
    else:
        assert strings == [None, None, None]
        assert full == [
            Path(platformdirs.user_config_dir("credproc", appauthor=False), "config.toml"),
            Path(platformdirs.user_cache_dir("credproc", appauthor=False)),
            Path(platformdirs.user_data_dir("credproc", appauthor=False)),
        ]
        assert full[1].is_absolute()


def test_answer_name_on_macos_reads_the_config_where_macos_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remembered answers no longer need CREDPROC_CONFIG and CREDPROC_CACHE_DIR
    off Linux: on macOS the request's digest covers the config file in
    ~/Library/Application Support, and answers are kept in ~/Library/Caches."""
    monkeypatch.setattr(locations, "PLATFORM", "darwin")
    env = {"HOME": str(tmp_path)}
    config = tmp_path / "Library" / "Application Support" / "credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(TWO_HOP_CONFIG)
    first = remembered.answer_name(["get", "dev"], env)
    assert first is not None
    answer = memo.location(locations.cache_location(env) or "", remembered.KIND, first)
    assert answer.startswith(str(tmp_path / "Library" / "Caches" / "credproc" / memo.DIRECTORY))
    config.write_text(TWO_HOP_CONFIG.replace("us-east-2", "eu-west-1"))
    assert remembered.answer_name(["get", "dev"], env) not in (None, first)
    assert remembered.answer_name(["get", "dev"], {}) is None  # no HOME: the full path, which asks platformdirs


# The console script following macOS's rules for credproc's files: the rest
# of the machine stays what it is.
AS_MACOS = """
import sys
from credproc import locations
locations.PLATFORM = "darwin"
sys.argv[0] = "credproc"
from credproc.script import run
run()
"""


def run_as_macos(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """The console script run with macOS's rules: the finished run and the modules it imported."""
    command = [sys.executable, "-X", "importtime", "-c", AS_MACOS, *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    imported = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    return result, imported


@pytest.mark.skipif(not sys.platform.startswith(("linux", "darwin")), reason="runs macOS's rules on a POSIX machine")
def test_on_macos_a_repeated_get_is_answered_by_the_fast_path(sandbox: Sandbox) -> None:
    overrides = ("CREDPROC_CONFIG", "CREDPROC_CACHE_DIR", "CREDPROC_DATA_DIR")
    env = {name: value for name, value in sandbox.env.items() if not name.startswith(("XDG_", *overrides))}
    library = Path(env["HOME"], "Library")
    config = library / "Application Support" / "credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')

    first, cold = run_as_macos(env, "get", "dev")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["AccountId"] == DEV_ACCOUNT
    assert "credproc.cli" in cold and "platformdirs" not in cold
    assert (config.parent / "cache.key").stat().st_size == storage.KEY_BYTES
    cache = library / "Caches" / "credproc"
    [answer_file] = (cache / memo.DIRECTORY).glob(f"{remembered.KIND}-*{memo.SUFFIX}")

    second, warm = run_as_macos(env, "get", "dev")
    assert second.stdout == first.stdout
    bare = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True)
    at_start = {line.rsplit("|", 1)[1].strip() for line in bare.stderr.splitlines() if line.startswith("import time:")}
    # (an editable install's import hook loads pathlib and more in every interpreter: not ours)
    assert not {"credproc.cli", "platformdirs", "pathlib", "ntpath"} & (warm - at_start)

    # A miss claims its request in the cache's pending/ before the full path runs.
    answer_file.unlink()
    third, missed = run_as_macos(env, "get", "dev")
    assert third.stdout == first.stdout and "credproc.cli" in missed
    assert [path.suffix for path in (cache / single_flight.DIRECTORY).iterdir()] == [".lock"]
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2
