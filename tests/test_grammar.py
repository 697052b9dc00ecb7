"""`get`'s options are declared once (credproc/grammar.py) and read by two
parsers: argparse's on the full path, and the console script's fast path,
which decides whether a remembered answer may answer a command line. The
cases are generated from the declaration, so an option added there is
checked here without an edit: a `get` line is either left to the full path,
or the fast path reads it exactly as argparse does."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from conftest import TWO_HOP_CONFIG, Sandbox

from credproc import grammar
from credproc.cli import build_parser
from credproc.errors import UsageError

OPTIONS = [option for option in grammar.GET if option is not grammar.TARGET]


def values(option: grammar.Option) -> list[str]:
    """Two values the option accepts."""
    choices = option.keywords.get("choices")
    return [choices[-1], choices[0]] if choices else ["some/value-1", "other/value-2"]


def full_path(argv: list[str]) -> argparse.Namespace:
    return build_parser("get").parse_args(argv)


def lines_with(option: grammar.Option) -> list[list[str]]:
    """`get` command lines that give ``option``: each spelling, both forms of a
    value, the option repeated, before and after TARGET."""
    if option.flag:
        return [["get", "dev", name] for name in option.names] + [["get", option.names[-1], "dev"]]
    first, second = values(option)
    lines = []
    for name in option.names:
        lines += [["get", "dev", name, first], ["get", f"{name}={first}", "dev"]]
        lines += [["get", name, first, "dev", f"{name}={second}"]]
    return lines


def assert_same_as_argparse(argv: list[str], fast: dict[str, Any]) -> None:
    """What the fast path read is what argparse parses; what it did not read is argparse's default."""
    parsed, defaults = vars(full_path(argv)), vars(full_path(["get", "dev"]))
    for option in grammar.GET:
        if option.dest not in fast:
            assert parsed[option.dest] == defaults[option.dest], (argv, option.dest)
        else:
            read = Path(fast[option.dest]) if option.path else fast[option.dest]
            assert parsed[option.dest] == read, (argv, option.dest)


@pytest.mark.parametrize("option", OPTIONS, ids=[option.names[-1] for option in OPTIONS])
def test_each_option_is_read_as_argparse_reads_it_or_left_to_argparse(option: grammar.Option) -> None:
    for argv in lines_with(option):
        fast = grammar.pure_options(argv)
        if option.pure:
            assert fast is not None, f"{argv}: a pure option the fast path does not read"
            assert_same_as_argparse(argv, fast)
        else:
            assert fast is None, f"{argv}: only a pure option may be answered by a remembered answer"
            full_path(argv)  # and argparse takes it


@pytest.mark.parametrize("option", OPTIONS, ids=[option.names[-1] for option in OPTIONS])
def test_abbreviations_and_odd_values_are_left_to_argparse(option: grammar.Option) -> None:
    long = option.names[-1]
    abbreviated = ["get", "dev", long[:-1]] + ([] if option.flag else [values(option)[0]])
    assert grammar.pure_options(abbreviated) is None
    full_path(abbreviated)  # argparse accepts the abbreviation: the full path answers it
    if option.flag:
        return
    assert grammar.pure_options(["get", "dev", long, "-x"]) is None  # a value that looks like an option
    assert grammar.pure_options(["get", "dev", long]) is None  # no value at all
    with pytest.raises(UsageError):
        full_path(["get", "dev", long])
    if "choices" in option.keywords:
        assert grammar.pure_options(["get", "dev", long, "nonesuch"]) is None
        with pytest.raises(UsageError):
            full_path(["get", "dev", long, "nonesuch"])


def test_every_pure_option_at_once_in_any_order() -> None:
    pairs = [[option.names[-1], values(option)[0]] for option in OPTIONS if option.pure]
    forwards = [word for pair in pairs for word in pair]
    backwards = [word for pair in pairs[::-1] for word in pair]
    middle = 2 * (len(pairs) // 2)
    for argv in (
        ["get", "dev", *forwards],
        ["get", *backwards, "dev"],
        ["get", *forwards[:middle], "dev", *forwards[middle:]],
    ):
        fast = grammar.pure_options(argv)
        assert fast is not None and fast["target"] == "dev"
        assert_same_as_argparse(argv, fast)


def test_the_declaration_is_all_of_gets_options() -> None:
    """An option added to get's parser and not to the declaration would be
    unknown to the fast path; every command that hands out credentials has
    the shared ones."""
    declared = {name for option in grammar.GET for name in option.names}
    parser = build_parser()
    [commands] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for command, shared in [
        ("get", grammar.GET),
        ("exec", (grammar.TARGET, *grammar.HOP, *grammar.COMMON)),
        ("env", (grammar.TARGET, *grammar.HOP, *grammar.COMMON)),
        ("serve", (grammar.TARGET, *grammar.HOP, *grammar.COMMON)),
        ("console", (grammar.TARGET, *grammar.HOP, *grammar.COMMON)),
        ("each", (*grammar.HOP, *grammar.COMMON)),
    ]:
        spelled = {name for action in commands.choices[command]._actions for name in action.option_strings}
        spelled |= {action.dest for action in commands.choices[command]._actions if not action.option_strings}
        assert {name for option in shared for name in option.names} <= spelled, command
        if command == "get":
            assert spelled - {"-h", "--help"} == declared


def test_the_python_api_takes_the_same_target_options() -> None:
    """credproc.credentials(**options) is typed by its own TypedDict
    (batch.Options): an option added to the command line's declaration
    fails here until the API takes it too, by the same name."""
    from credproc import batch

    assert set(batch.Options.__annotations__) == {option.dest for option in grammar.HOP}


def test_no_target_or_two_targets_are_left_to_argparse() -> None:
    assert grammar.pure_options(["get", "--role", "Auditor"]) is None
    assert grammar.pure_options(["get", "dev", "prod"]) is None
    assert grammar.pure_options(["exec", "dev"]) is None


@pytest.mark.parametrize("option", [o for o in OPTIONS if not o.flag], ids=lambda option: option.names[-1])
def test_last_value_is_the_value_argparse_keeps(option: grammar.Option) -> None:
    """What completion and doctor read from a line argparse does not parse."""
    first, second = values(option)
    name = option.names[-1]
    for argv in (["get", "dev", name, first], ["get", "dev", f"{name}={first}", name, second]):
        parsed = getattr(full_path(argv), option.dest)
        kept = parsed[-1] if isinstance(parsed, list) else parsed
        assert grammar.last_value(argv, name) == (str(kept) if option.path else kept)
    assert grammar.last_value(["get", "dev"], name) is None


def test_an_abbreviated_verbose_explains_the_steps_as_verbose_does(sandbox: Sandbox) -> None:
    """--verbose is read by argparse like every other option: its abbreviation too."""
    sandbox.write_config(TWO_HOP_CONFIG)
    for spelling in ("--verbose", "--verb", "-v"):
        result = sandbox.run("get", "dev", spelling)
        assert result.returncode == 0, result.stderr
        assert "from the cache" in result.stderr or "STS call" in result.stderr, (spelling, result.stderr)
    quiet = sandbox.run("get", "dev")
    assert quiet.returncode == 0 and quiet.stderr == ""
