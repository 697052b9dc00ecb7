"""``credproc console TARGET``: the AWS console of an account, signed in with
the session credproc obtains for it (cache, chain, MFA, like ``get``)."""

from __future__ import annotations

import argparse

from ..log import Log
from . import CommandOutput
from .options import (
    Subparsers,
    add_common,
    add_target_options,
    load_config,
    obtain_target,
)

DESCRIPTION = """\
Exchange the account's session (obtained like `credproc get`: cache, chain,
MFA) at the AWS federation endpoint for a sign-in URL, and open it in your
browser ($BROWSER, else the system's default). The URL lands on the console
of the account's region; it signs in whoever opens it for 15 minutes: treat
it as a password.

The console session ends when the credentials do; a role assumed directly
with an IAM user's long-term keys gets a console session of --duration
instead. CREDPROC_FEDERATION_URL overrides the federation endpoint,
CREDPROC_FEDERATION_TIMEOUT its timeout (seconds, default 10).
"""


def register(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "console",
        help="open the AWS console of an account, signed in through the chain",
        usage="credproc console TARGET [get options] [--print] [--service NAME | --destination URL]",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_options(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--service", metavar="NAME", help="land on this service's console page (s3, ec2, iam, ...) in the region"
    )
    where.add_argument(
        "--destination",
        metavar="URL",
        help="land on this console URL (https, the console of the region's partition)",
    )
    parser.add_argument(
        "--print",
        action="store_true",
        help="print the sign-in URL on stdout (nothing else) instead of opening a browser",
    )
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    import os
    from datetime import UTC, datetime

    from .. import federation, source
    from ..obtain import Request, plan_for
    from .options import overrides

    env = os.environ
    # Everything is checked before any network call (or MFA prompt); the plan
    # tells the region, and so the partition a --destination must be in.
    config = load_config(args)
    plan = plan_for(config, Request(args.target, overrides(args)), env)
    page = federation.destination(plan.region, args.service, args.destination)
    where = federation.federation_url(plan.region, env)
    wait = federation.timeout(env)

    result = obtain_target(args, log, config=config, plan=plan)
    credentials = result.final.credentials
    duration = federation.session_duration(plan, source.is_long_term_key(result.source))
    who = plan.hops[-1].role_arn
    log.step(
        f"asking {where} for a sign-in token; console session: "
        + (
            f"{duration} s"
            if duration
            else "until the credentials expire (SessionDuration is refused for this session)"
        )
    )
    log.step(f"destination: {page}")
    url = federation.sign_in_url(
        credentials, federation_endpoint=where, console_page=page, duration=duration, who=who, wait=wait
    )
    if args.print:
        return CommandOutput(url + "\n")
    end = federation.session_end(datetime.now(UTC), credentials, duration)
    until = f" (console session until {end:%H:%M} UTC)" if end else ""
    if _open_browser(url):
        log.notice(f"opened the AWS console for {who} in your browser{until}")
        return CommandOutput()
    log.notice(
        f"no browser could be opened: the sign-in URL for {who} is on stdout{until}; "
        f"it works for {federation.SIGNIN_URL_LIFETIME // 60} minutes, treat it as a password"
    )
    return CommandOutput(url + "\n")


def _open_browser(url: str) -> bool:
    import webbrowser

    try:
        return webbrowser.open(url)
    except (webbrowser.Error, OSError):
        return False
