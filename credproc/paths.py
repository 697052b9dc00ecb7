"""Where credproc keeps its files: config, cache and key file.

platformdirs decides per OS; environment variables override it (tests and CI
use them to stay out of the user's real directories).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

APP = "credproc"


def config_dir(env: Mapping[str, str]) -> Path:
    """The directory holding config.toml."""
    import platformdirs  # imported here: only needed when no override is set

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def cache_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CACHE_DIR``, else the platform's user cache dir."""
    if env.get("CREDPROC_CACHE_DIR"):
        return Path(env["CREDPROC_CACHE_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def data_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_DATA_DIR``, else the platform's user data dir (the key file
    lives here, deliberately not next to the cache it unlocks)."""
    if env.get("CREDPROC_DATA_DIR"):
        return Path(env["CREDPROC_DATA_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))
