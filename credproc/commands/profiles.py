"""``credproc profiles [--write]``: ~/.aws/config profiles for the configured accounts."""

from __future__ import annotations

import argparse
import os

from ..errors import ConfigError
from ..log import Log
from . import Result
from .options import Subparsers, add_common


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("profiles", help="~/.aws/config profiles for the configured accounts")
    parser.add_argument("--prefix", default="", help="put this before each alias in the profile names")
    parser.add_argument(
        "--write", action="store_true", help="put them in credproc's managed block of $AWS_CONFIG_FILE or ~/.aws/config"
    )
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> Result:
    from .. import config as config_module
    from .. import profiles

    config = config_module.load(args.config)
    found = profiles.profiles_for(config, args.prefix)
    command = profiles.credproc_command()
    # A config named on this command line must be the one the profiles use too.
    get_options = ["--config", os.path.abspath(args.config)] if args.config else []
    stdout = ""
    if not args.write:
        stdout = profiles.render_block(found, command, get_options=get_options)
    elif not config.exists:
        # A mistyped --config or CREDPROC_CONFIG must not empty the managed block.
        raise ConfigError(
            f"{config.path}: no such config file, so no profiles to write",
            "create it, or give the right --config / CREDPROC_CONFIG; ~/.aws/config was left as it was",
        )
    else:
        written = profiles.write(profiles.aws_config_path(os.environ), found, command, get_options)
        if not written.changed:
            log.notice(f"{written.path} is up to date ({len(found)} profile(s))")
        else:
            backup = f" (previous version: {written.backup})" if written.backup else ""
            log.notice(f"wrote {len(found)} profile(s) to {written.path}{backup}")
    # After the work: a failure must stay the one stderr line.
    for name in profiles.shadowed(found, os.environ):
        log.warn(f"profile {name}: keys for it in the shared credentials file take precedence over credproc")
    return Result(stdout)
