"""Where credproc keeps its files: config, cache and key file.

platformdirs decides per OS; environment variables override it (tests and CI
use them to stay out of the user's real directories). On Linux the answer is
the XDG base directory spec, computed here directly: importing platformdirs
costs ~3 ms of a ~50 ms warm hit (tests/test_warm_imports.py checks that both
agree).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP = "credproc"


def config_dir(env: Mapping[str, str]) -> Path:
    """The directory holding config.toml."""
    xdg = _linux_xdg(env, "XDG_CONFIG_HOME", ".config")
    if xdg is not None:
        return xdg
    import platformdirs  # imported here: only needed when no override is set

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def cache_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CACHE_DIR``, else the platform's user cache dir."""
    if env.get("CREDPROC_CACHE_DIR"):
        return Path(env["CREDPROC_CACHE_DIR"]).expanduser()
    xdg = _linux_xdg(env, "XDG_CACHE_HOME", ".cache")
    if xdg is not None:
        return xdg
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def data_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_DATA_DIR``, else the platform's user data dir (the key file
    lives here, deliberately not next to the cache it unlocks)."""
    if env.get("CREDPROC_DATA_DIR"):
        return Path(env["CREDPROC_DATA_DIR"]).expanduser()
    xdg = _linux_xdg(env, "XDG_DATA_HOME", ".local/share")
    if xdg is not None:
        return xdg
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def _linux_xdg(env: Mapping[str, str], variable: str, under_home: str) -> Path | None:
    """``$VARIABLE/credproc`` (an absolute value only, as the spec says), else
    ``$HOME/<under_home>/credproc``; None off Linux or without an absolute
    HOME (platformdirs then decides, e.g. from the password database)."""
    if sys.platform != "linux":
        return None
    value = env.get(variable, "")
    if os.path.isabs(value):
        return Path(value, APP)
    home = env.get("HOME", "")
    if os.path.isabs(home):
        return Path(home, under_home, APP)
    return None
