"""``credproc doctor [--deep]``: checks of everything credproc depends on, one
line each with ok / warning / failed and the fix.

The exit code is that of the first failed check (3 config, 4 source identity
or a role, 5 STS unreachable, 6 key store or cache directory, 7 a profile that
would make credproc call itself); warnings alone exit 0. The checks
themselves are in doctor_checks.py; this module decides their order and
renders them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..errors import ExitCode
from ..log import Log
from . import CommandOutput
from .options import Subparsers, add_common

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from .doctor_checks import Check  # the checks load only when doctor runs, not with the parser


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("doctor", help="check the config, the source identity, the cache and the AWS profiles")
    parser.add_argument("--deep", action="store_true", help="also assume each configured account's role")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    results = run_checks(args.config, os.environ, log, deep=args.deep)
    return CommandOutput(render(results), exit_code(results))


def run_checks(
    config_path: Path | None,
    env: Mapping[str, str],
    log: Log,
    *,
    deep: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> list[Check]:
    """Run every check (``deep``: also assume each account's role)."""
    from ..obtain import utc_now
    from . import doctor_checks as checks

    config_check, config, plans = checks.check_config(config_path, env)
    results = [config_check]
    if config is None:
        return results
    # Local checks first: a profile loop found here explains why the source
    # identity check below fails, and its exit code is the one reported.
    profiles_check = checks.check_aws_profiles(config, env)
    results += [
        profiles_check,
        checks.check_source_keys(config, env),
        checks.check_key_store(config, env, log),
        checks.check_cache_directory(env),
        checks.check_margins(config, plans),
    ]
    if profiles_check.exit_code == ExitCode.RECURSION and checks.source_runs_credproc(config, env):
        # Anything that needs the source would only run into the loop again.
        skipped = "not tried: the source profile runs credproc (see aws profiles)"
        return [
            *results,
            checks.Check("source identity", checks.WARNING, skipped),
            checks.Check("clock", checks.WARNING, skipped),
        ]
    source_check, server_date = checks.check_source(config, env, log)
    results += [source_check, checks.check_clock(server_date, (clock or utc_now)())]
    if deep:
        results += [checks.check_role(config, plan, env, log) for plan in plans]
    return results


def render(results: list[Check]) -> str:
    """One line per check: status, name, what was found and, unless ok, the fix."""
    from .doctor_checks import OK

    lines = []
    for check in results:
        text = f"{check.name}: {check.detail}"
        if check.fix and check.status != OK:
            text += f" (fix: {check.fix})"
        lines.append(f"{check.status:<8} {' '.join(text.split())}\n")
    return "".join(lines)


def exit_code(results: list[Check]) -> int:
    """The first failed check's exit code; 0 when nothing failed."""
    from .doctor_checks import FAILED

    return next((check.exit_code for check in results if check.status == FAILED), ExitCode.OK)
