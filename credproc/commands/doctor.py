"""``credproc doctor [--deep]``: check the config, the source, the cache and the AWS profiles."""

from __future__ import annotations

import argparse
import os

from ..log import Log
from . import Result
from .options import Subparsers, add_common


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("doctor", help="check the config, the source identity, the cache and the AWS profiles")
    parser.add_argument("--deep", action="store_true", help="also assume each configured account's role")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> Result:
    from .. import doctor

    results = doctor.run(args.config, os.environ, log, deep=args.deep)
    return Result(doctor.render(results), doctor.exit_code(results))
