"""The console-script entry point: the only place that exits."""

import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~2 ms on the fast path
if TYPE_CHECKING:
    from typing import NoReturn

    from . import inflight

# The hidden word the completion scripts run for TARGET (completion.py):
# answered here, before the CLI is loaded, so that a TAB stays cheap.
TARGETS_WORD = "__complete-targets"

# A closed or unwritable stdout (cli.py says the same on the full path):
# errors.ExitCode.OUTPUT, which the fast path does not import.
STDOUT_FAILED = 9
STDOUT_CLOSED = "stdout is closed, so the output would go nowhere"
OUTPUT_HINT = "give credproc a stdout it can write: a pipe, a file on a device with room, or >/dev/null; not >&-"


def run() -> None:
    # Python sets sys.stdout to None when fd 1 is closed. Nothing is fetched
    # (no STS call, no MFA prompt) for output that has nowhere to go; `exec`
    # prints nothing itself, and its command's stdout is the command's business.
    if sys.stdout is None and sys.argv[1:2] != ["exec"]:
        _fail(STDOUT_CLOSED)
    try:
        _run()
    except Exception as exc:
        from .answers import StdoutFailed  # imported by _run already

        if not isinstance(exc, StdoutFailed):
            raise
        _fail(f"cannot write to stdout ({exc})")


def _run() -> None:
    import os

    # A remembered answer first: it needs none of the modules cli loads.
    from . import answers

    # The run's request digest (memo.py), computed here once and handed to
    # the full path; None: not a rememberable get (cli computes it then).
    request = answers.request(sys.argv[1:], os.environ)
    key = None if request is None else request[1]
    if key is not None and answers.print_remembered(key) is not None:
        _end(0)
    if sys.argv[1:2] == [TARGETS_WORD]:
        from .targets import print_targets

        sys.exit(print_targets(sys.argv[2:], os.environ))
    flight = None if key is None else _claim_or_wait(key)
    inputs = None if request is None else request[0]
    if sys.argv[1:2] != ["get"]:
        from .cli import main

        sys.exit(main(inputs=inputs))
    # A get prints one answer and ends, and its garbage with it. The
    # collector's passes over the modules it imports cost ~1 ms of a
    # full-path hit (13 passes while cli alone is imported) and ~20 ms of a
    # ~200 ms cold run (botocore's modules, models and endpoint data); other
    # commands may run long (a server) and keep it.
    import gc

    from . import deferred

    gc.disable()
    # pathlib imports urllib.parse, which imports ipaddress for URLs with an
    # [IPv6] host only, ~0.8 ms of a ~38 ms full-path hit (credproc/deferred.py).
    deferred.defer("ipaddress")
    from .cli import main

    _end(main(inputs=inputs, flight=flight))


def _claim_or_wait(name: str) -> "inflight.Flight":
    """Missed: claim the request, or wait for the process that is answering
    it (credproc/inflight.py); either way the answer may be here now, and the
    run ends with it. Else the run's flight, for the full path to hand its
    answer over with."""
    import os

    from . import answers, inflight

    flight = inflight.Flight(name)
    handed = flight.claim_or_wait(os.environ)
    if handed is not None:
        answers.print_output(handed)
        _end(0)
    remembered = answers.print_remembered(name)
    if remembered is not None:
        flight.hand_over(remembered)  # to those waiting for this process's claim, if it holds one
        _end(0)
    return flight


def _fail(message: str) -> "NoReturn":
    """stdout failed: the one line on stderr (if there is one), exit 9."""
    if sys.stderr is not None:
        print(f"credproc: {message} (fix: {OUTPUT_HINT})", file=sys.stderr, flush=True)
    sys.exit(STDOUT_FAILED)


def _end(code: int) -> "NoReturn":
    """End a get without tearing the interpreter down (~2 ms after a
    remembered answer, ~35 ms once botocore is loaded): credproc registers
    nothing to run at exit, its cache locks are released by then and the
    kernel drops the OS locks with the process; what the caller reads is
    flushed first."""
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # the usual exit, which reports a closed pipe as it always did
    os._exit(code)
