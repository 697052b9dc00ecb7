"""Where credproc keeps its files: config, cache and key file.

platformdirs decides per OS; environment variables override it (tests and CI
use them to stay out of the user's real directories). On Linux the answer is
the XDG base directory spec, computed here directly: importing platformdirs
costs ~3 ms of a warm hit (tests/test_warm_imports.py checks that both
agree). The ``*_location`` functions give plain strings, or None where only
platformdirs knows, for the remembered-answer path (answers.py), which must
not even import pathlib.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

TYPE_CHECKING = False  # not typing's: importing typing costs ~2 ms on the fast path
if TYPE_CHECKING:
    from pathlib import Path

APP = "credproc"


def config_dir(env: Mapping[str, str]) -> Path:
    """The directory holding config.toml."""
    from pathlib import Path

    xdg = _linux_xdg(env, "XDG_CONFIG_HOME", ".config")
    if xdg is not None:
        return Path(xdg)
    import platformdirs  # imported here: only needed when no override is set

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def cache_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CACHE_DIR``, else the platform's user cache dir."""
    from pathlib import Path

    location = cache_location(env)
    if location is not None:
        return Path(location)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def data_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_DATA_DIR``, else the platform's user data dir (the key file
    lives here, deliberately not next to the cache it unlocks)."""
    from pathlib import Path

    location = data_location(env)
    if location is not None:
        return Path(location)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def config_location(env: Mapping[str, str]) -> str | None:
    """The config file's path as config.default_path finds it; None where platformdirs decides."""
    if env.get("CREDPROC_CONFIG"):
        return os.path.expanduser(env["CREDPROC_CONFIG"])
    xdg = _linux_xdg(env, "XDG_CONFIG_HOME", ".config")
    return os.path.join(xdg, "config.toml") if xdg is not None else None


def cache_location(env: Mapping[str, str]) -> str | None:
    if env.get("CREDPROC_CACHE_DIR"):
        return os.path.expanduser(env["CREDPROC_CACHE_DIR"])
    return _linux_xdg(env, "XDG_CACHE_HOME", ".cache")


def data_location(env: Mapping[str, str]) -> str | None:
    if env.get("CREDPROC_DATA_DIR"):
        return os.path.expanduser(env["CREDPROC_DATA_DIR"])
    return _linux_xdg(env, "XDG_DATA_HOME", ".local/share")


def _linux_xdg(env: Mapping[str, str], variable: str, under_home: str) -> str | None:
    """``$VARIABLE/credproc`` (an absolute value only, as the spec says), else
    ``$HOME/<under_home>/credproc``; None off Linux or without an absolute
    HOME (platformdirs then decides, e.g. from the password database)."""
    if sys.platform != "linux":
        return None
    value = env.get(variable, "")
    if os.path.isabs(value):
        return os.path.join(value, APP)
    home = env.get("HOME", "")
    if os.path.isabs(home):
        return os.path.join(home, under_home, APP)
    return None
