"""A closed stdout (`credproc get dev >&-`, as a supervisor or a careless
script runs it) or one that cannot be written (a full device): one line on
stderr and exit 9, never a traceback."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, credproc_executable

from credproc.script import TARGETS_WORD


def run_shell(sandbox: Sandbox, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` (a shell line; $CREDPROC is the installed credproc) run by sh, output captured."""
    return subprocess.run(
        ["sh", "-c", command],
        env={**sandbox.env, "CREDPROC": credproc_executable()},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("args", [["get", "dev"], ["env", "dev"], ["profiles"], ["cache", "list"]])
def test_a_closed_stdout_is_one_line_and_exit_9(sandbox: Sandbox, args: list[str]) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = run_shell(sandbox, f'"$CREDPROC" {shlex.join(args)} >&-')
    assert_one_clear_error(result, "stdout is closed", exit_code=9)
    # Nothing is asked of STS for output that has nowhere to go.
    assert sandbox.sts.recorder.of("AssumeRole") == []


def test_a_closed_stdout_after_a_remembered_answer(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    sandbox.get_json("dev")
    sandbox.get_json("dev")  # remembered: the next one takes the fast path
    result = run_shell(sandbox, '"$CREDPROC" get dev >&-')
    assert_one_clear_error(result, "stdout is closed", exit_code=9)


def test_exec_runs_its_command_with_stdout_closed_as_given(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    # The command's stdout is its own business: it inherits the closed fd 1.
    command = 'echo "$AWS_ACCESS_KEY_ID" >&2; if echo x 2>/dev/null; then echo open >&2; else echo closed >&2; fi'
    result = run_shell(sandbox, f'"$CREDPROC" exec dev -- sh -c {shlex.quote(command)} >&-')
    assert result.returncode == 0, result.stderr
    key, state = result.stderr.split()
    assert key.startswith("ASIA") and state == "closed"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["get", "dev"], ["env", "dev"], ["cache", "list"]])
def test_a_full_device_is_one_line_and_exit_9(sandbox: Sandbox, args: list[str]) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    if args[0] == "cache":
        sandbox.get_json("dev")  # something to list
    for _ in range(3):  # cold, warm, then remembered (get's fast path)
        result = run_shell(sandbox, f'"$CREDPROC" {shlex.join(args)} >/dev/full')
        assert_one_clear_error(result, "cannot write to stdout", exit_code=9)
    # What was fetched stays cached: with stdout writable it is handed out without STS.
    calls = len(sandbox.sts.recorder.of("AssumeRole"))
    assert calls > 0
    assert sandbox.run(*args).returncode == 0
    assert len(sandbox.sts.recorder.of("AssumeRole")) == calls


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_serve_on_a_full_device_stops_with_one_line_and_exit_9(sandbox: Sandbox) -> None:
    """The endpoint's variables cannot be handed over: it stops rather than serve nobody."""
    sandbox.write_config(TWO_HOP_CONFIG)
    result = run_shell(sandbox, '"$CREDPROC" serve dev >/dev/full')
    assert_one_clear_error(result, "cannot write to stdout", exit_code=9)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_completion_words_on_a_full_device_are_silent(sandbox: Sandbox) -> None:
    """What the shell's TAB runs: no words, but nothing on stderr to break the prompt, and exit 0."""
    sandbox.write_config(TWO_HOP_CONFIG)
    result = run_shell(sandbox, f'"$CREDPROC" {TARGETS_WORD} >/dev/full')
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def run_to_a_gone_reader(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    """``credproc ARGS`` whose stdout is a pipe whose reader has already gone (`credproc ... | true`, lost race)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [credproc_executable(), *args],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=sandbox.env,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)


def test_a_reader_that_went_away_is_no_error_and_no_noise(sandbox: Sandbox) -> None:
    """Nobody is listening, so nothing is said: exit 0 and an empty stderr, not
    Python's "Exception ignored ... BrokenPipeError" at exit (exit 120); and
    serve stops rather than serve a token nobody received."""
    sandbox.write_config(TWO_HOP_CONFIG)
    for args in (["get", "dev"], ["get", "dev"], ["get", "dev"], ["env", "dev"], [TARGETS_WORD], ["serve", "dev"]):
        result = run_to_a_gone_reader(sandbox, *args)  # get: cold, warm, then remembered (the fast path)
        assert (result.returncode, result.stderr) == (0, ""), args
