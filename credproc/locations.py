"""Where credproc's and the AWS tools' files are, by platformdirs' rules,
computed as plain strings so the fast path can use them; and the user's
home and name, as botocore and getpass find them.

Environment variables override; else credproc's user directories by
platformdirs' rules for Linux (and the other Unixes), macOS and Windows
(:func:`user_dir`), for the fast path and the full path alike: importing
platformdirs would cost a warm hit more than the rest of its lookups.
platformdirs itself answers only where those rules need what the
environment does not give (no absolute HOME, no LOCALAPPDATA); the
``*_location`` functions then answer None and the fast path steps aside.

Standard library only, and nothing loaded at import time but os and sys
(tests/test_warm_imports.py).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: the fast path does without it (benchmarks/RESULTS.md)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Literal

    Kind = Literal["config", "cache", "data"]  # credproc's user directories

APP = "credproc"
CONFIG_FILE = "config.toml"
KEY_FILE = "cache.key"  # the raw cache key, in the data dir, for the "file" key store
PLATFORM = sys.platform  # whose rules user_dir follows (tests try other platforms' here)
WINDOWS = os.name == "nt"  # whose rules aws_files and user_home follow (and atomic.replace_file's retries)


# -- credproc's directories --------------------------------------------------------------------

# platformdirs' rules for credproc's directories (appname "credproc",
# appauthor=False, no version, not roaming; tests/test_locations.py checks
# them against platformdirs' own classes for linux, darwin and win32).
# Unix and macOS: an absolute $XDG_* wins (platformdirs honours XDG on macOS too), else under HOME.
_UNIX_DIRS = {
    "config": ("XDG_CONFIG_HOME", ".config"),
    "cache": ("XDG_CACHE_HOME", ".cache"),
    "data": ("XDG_DATA_HOME", ".local/share"),
}
_MACOS_DIRS = {
    "config": ("XDG_CONFIG_HOME", "Library/Application Support"),
    "cache": ("XDG_CACHE_HOME", "Library/Caches"),
    "data": ("XDG_DATA_HOME", "Library/Application Support"),
}
# Windows: under the Local AppData folder, the cache in an opinionated "Cache" below it.
_WINDOWS_DIRS = {"config": (APP,), "cache": (APP, "Cache"), "data": (APP,)}
# Where platformdirs has rules of its own (iOS, Android apps): it decides.
_OTHER_RULES = ("ios", "android")


def user_dir(kind: Kind, env: Mapping[str, str], platform: str | None = None) -> str | None:
    """credproc's user ``kind`` directory ("config", "cache" or "data") on
    ``platform`` (default: :data:`PLATFORM`) by platformdirs' rules, as a plain
    string with that platform's separators; None where the rule needs what
    ``env`` does not give (no absolute HOME, no LOCALAPPDATA): platformdirs
    decides then."""
    platform = PLATFORM if platform is None else platform
    if platform == "win32":
        return _windows_dir(env, _WINDOWS_DIRS[kind])
    if platform.startswith(_OTHER_RULES) or _android_app(env):
        return None
    variable, under_home = (_MACOS_DIRS if platform == "darwin" else _UNIX_DIRS)[kind]
    return _xdg_dir(env, variable, under_home)


def _xdg_dir(env: Mapping[str, str], variable: str, under_home: str) -> str | None:
    """``$VARIABLE/credproc`` (an absolute value only, as the XDG spec says),
    else ``$HOME/<under_home>/credproc``, HOME as os.path.expanduser uses it
    (trailing slashes dropped); None without an absolute HOME (platformdirs
    then asks the password database)."""
    import posixpath  # os.path itself on Linux and macOS: already loaded

    value = env.get(variable, "")
    if posixpath.isabs(value):
        return posixpath.join(value, APP)
    home = env.get("HOME", "")
    if posixpath.isabs(home):
        return posixpath.join(home.rstrip("/") + "/" + under_home, APP)
    return None


def _windows_dir(env: Mapping[str, str], parts: tuple[str, ...]) -> str | None:
    """``%LOCALAPPDATA%\\<parts>``: Windows sets the variable to the Local
    AppData known folder, which platformdirs asks the shell for. None unless it
    is a full path on a drive, or when platformdirs' own override of the folder
    is set."""
    import ntpath  # os.path itself on Windows: already loaded

    if env.get("WIN_PD_OVERRIDE_LOCAL_APPDATA", "").strip():
        return None
    base = ntpath.normpath(env.get("LOCALAPPDATA", ""))
    drive, rest = ntpath.splitdrive(base)
    if len(drive) != 2 or not rest.startswith("\\"):
        return None  # unset, relative, or a UNC path
    return ntpath.join(base, *parts)


def _android_app(env: Mapping[str, str]) -> bool:
    """Whether platformdirs might take this for an Android app (its own rules then)."""
    if not hasattr(sys, "getandroidapilevel") and (
        env.get("ANDROID_DATA") != "/data" or env.get("ANDROID_ROOT") != "/system"
    ):
        return False
    return not (env.get("SHELL") or env.get("PREFIX"))


def config_dir(env: Mapping[str, str]) -> Path:
    """The directory holding config.toml."""
    return _platform_dir("config", user_dir("config", env))


def config_file(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CONFIG``, else config.toml in the user config dir."""
    from pathlib import Path

    location = config_location(env)
    return Path(location) if location is not None else config_dir(env) / CONFIG_FILE


def key_file(env: Mapping[str, str]) -> Path:
    """The key file (the "file" key store's), in the data dir."""
    return data_dir(env) / KEY_FILE


def cache_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CACHE_DIR``, else the platform's user cache dir."""
    return _platform_dir("cache", cache_location(env))


def data_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_DATA_DIR``, else the platform's user data dir (the key file
    lives here, deliberately not next to the cache it unlocks)."""
    return _platform_dir("data", data_location(env))


def _platform_dir(kind: Kind, location: str | None) -> Path:
    """``location``, else platformdirs' answer for ``kind`` (where :func:`user_dir` cannot tell)."""
    from pathlib import Path

    if location is not None:
        return Path(location)
    import platformdirs  # imported here: only needed where user_dir cannot tell

    rule = {"config": platformdirs.user_config_dir, "cache": platformdirs.user_cache_dir}.get(kind)
    return Path((rule or platformdirs.user_data_dir)(APP, appauthor=False))


def config_location(env: Mapping[str, str]) -> str | None:
    """The config file's path as :func:`config_file` gives it; None where platformdirs decides."""
    if env.get("CREDPROC_CONFIG"):
        return os.path.expanduser(env["CREDPROC_CONFIG"])
    directory = user_dir("config", env)
    return os.path.join(directory, CONFIG_FILE) if directory is not None else None


def cache_location(env: Mapping[str, str]) -> str | None:
    """The cache dir as :func:`cache_dir` gives it; None where platformdirs decides."""
    if env.get("CREDPROC_CACHE_DIR"):
        return os.path.expanduser(env["CREDPROC_CACHE_DIR"])
    return user_dir("cache", env)


def data_location(env: Mapping[str, str]) -> str | None:
    """The data dir as :func:`data_dir` gives it; None where platformdirs decides."""
    if env.get("CREDPROC_DATA_DIR"):
        return os.path.expanduser(env["CREDPROC_DATA_DIR"])
    return user_dir("data", env)


def key_file_location(env: Mapping[str, str]) -> str | None:
    """The key file's path; None where platformdirs decides (see :func:`data_dir`)."""
    data = data_location(env)
    return os.path.join(data, KEY_FILE) if data is not None else None


# -- the AWS tools' files ----------------------------------------------------------------------


def aws_files(env: Mapping[str, str], windows: bool = WINDOWS) -> tuple[str, str]:
    """The AWS config and shared credentials files, as botocore finds them:
    ``AWS_CONFIG_FILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` when set (an empty
    value is no file at all, as for botocore), ``$VARIABLES`` in them expanded
    from the process environment, then ``~`` (configloader.raw_config_parse)."""
    home = user_home(env, windows)
    config = aws_path(env.get("AWS_CONFIG_FILE"), os.path.join(home, ".aws", "config"))
    credentials = aws_path(env.get("AWS_SHARED_CREDENTIALS_FILE"), os.path.join(home, ".aws", "credentials"))
    return config, credentials


def aws_path(value: str | None, default: str) -> str:
    """A path an AWS variable names, expanded as botocore expands it; ``default`` when unset."""
    if value is None:
        return default
    return os.path.expanduser(os.path.expandvars(value) if "$" in value else value)


def user_home(env: Mapping[str, str], windows: bool = WINDOWS) -> str:
    """``~`` as botocore expands it: Python ignores HOME on Windows (Git Bash sets
    one that may differ from USERPROFILE), so reading %HOME%\\.aws there would
    miss the user's profiles and tokens."""
    return (env.get("USERPROFILE") if windows else env.get("HOME")) or os.path.expanduser("~")


# -- the user and the machine -------------------------------------------------------------------

# Where getpass.getuser looks first, in its order.
USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


def user_name(env: Mapping[str, str]) -> str | None:
    """This user's name, the one way credproc finds it (the ``{user}`` of
    session names): the first of :data:`USER_VARIABLES` set in ``env``, as
    getpass.getuser looks (but in the env passed in), else this process's
    account name; None where there is none (Windows without USERNAME, a
    container's uid without a passwd entry)."""
    for variable in USER_VARIABLES:
        if env.get(variable):
            return env[variable]
    return account_name(os.getuid()) if hasattr(os, "getuid") else None


def account_name(uid: int) -> str | None:
    """The password database's name for ``uid`` (a file's owner, in messages); None without one."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return None


def host_name() -> str:
    """This machine's name, the one way credproc finds it: the ``{host}`` of
    session names (obtain.py), so the request digest (memo.py) holds it too.
    uname's nodename where there is one (gethostname(2) on Linux and macOS,
    without the socket module's import), else socket.gethostname() (Windows)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()
