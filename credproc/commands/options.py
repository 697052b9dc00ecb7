"""What the commands' parsers share: the parser class, the common options, and
the target options of every command that hands out credentials."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from .. import grammar
from ..errors import UsageError

if TYPE_CHECKING:
    from ..config import Config
    from ..log import Log
    from ..memo import Inputs
    from ..obtain import Obtained
    from ..plan import Overrides, Plan


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one stderr line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("credproc").strip()
        raise UsageError(f"{where}: {message}" if where else message, f"see {self.prog} --help")


# A string: _SubParsersAction is not subscriptable at run time on Python 3.11.
Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"


def add_options(parser: argparse.ArgumentParser, options: Sequence[grammar.Option]) -> None:
    """``options`` (grammar.py's declarations) on ``parser``."""
    for option in options:
        keywords = {"type": Path, **option.keywords} if option.path else option.keywords
        parser.add_argument(*option.names, **keywords)


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` and ``--config``, which every command but demo takes."""
    add_options(parser, grammar.COMMON)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """TARGET and the options that shape how its credentials are obtained."""
    add_options(parser, (grammar.TARGET, *grammar.HOP))


def add_hop_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape how a target's credentials are obtained (``each`` applies them to every account)."""
    add_options(parser, grammar.HOP)


def overrides(args: argparse.Namespace) -> Overrides:
    """The target options given on the command line."""
    from ..plan import Overrides

    return Overrides(
        role=args.role,
        via=tuple(args.via) if args.via else None,
        region=args.region,
        duration=args.duration,
        session_name=args.session_name,
        external_id=args.external_id,
    )


def run_inputs(args: argparse.Namespace) -> Inputs:
    """The run's request digest (memo.py): the console script's, else computed
    now, once (kept on ``args`` for the rest of the run)."""
    if getattr(args, "inputs", None) is None:
        args.inputs = new_inputs(args)
    inputs: Inputs = args.inputs
    return inputs


def new_inputs(args: argparse.Namespace) -> Inputs:
    """A request digest of the surroundings as they are now, for ``--config``'s file."""
    from .. import memo

    return memo.inputs_for(os.environ, args.config)


def load_config(args: argparse.Namespace) -> Config:
    """``--config``'s file (default: the user's), parsed from the bytes the run's request digest holds."""
    from .. import config as config_module

    return config_module.load(args.config, inputs=run_inputs(args))


def obtain_target(
    args: argparse.Namespace,
    log: Log,
    *,
    min_remaining: int = 0,
    for_a_command: bool = False,
    refresh: bool | None = None,
    config: Config | None = None,
    inputs: Inputs | None = None,
    plan: Plan | None = None,
    without_cache: Callable[[], None] | None = None,
) -> Obtained:
    """Credentials for the target and options on the command line (get, exec, env, ...).

    ``min_remaining``: seconds the final credentials must have left, and
    ``for_a_command``: half their session too (obtain's Request);
    ``refresh`` overrides ``--refresh`` (an endpoint's later refreshes);
    ``config``: the one the command loaded already (default: ``--config``'s, loaded now);
    ``inputs``: the request digest to use (default: the run's, :func:`run_inputs`);
    ``plan``: the one the command made already (default: made now, by obtain);
    ``without_cache``: called once the run is known to use no cache (obtain's).
    """
    from .. import config as config_module
    from ..obtain import Request, obtain

    inputs = run_inputs(args) if inputs is None else inputs
    if config is None:
        config = config_module.load(args.config, inputs=inputs)
    request = Request(
        target=args.target,
        overrides=overrides(args),
        use_cache=not args.no_cache,
        force_refresh=args.refresh if refresh is None else refresh,
        min_remaining=min_remaining,
        for_a_command=for_a_command,
    )
    result = obtain(request, config, log=log, inputs=inputs, plan=plan, without_cache=without_cache)
    final = result.final
    log.step(
        f"credentials for {result.plan.account_id} "
        + ("from the cache" if final.from_cache else f"after {final.sts_calls} STS call(s)")
    )
    return result
