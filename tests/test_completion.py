"""`credproc completion SHELL`: the script each shell loads, driven in the real
shell (bash, zsh, fish: installed by .ci/extra) the way a TAB drives it, and
the hidden target listing it calls, which must stay cheap."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEV_ACCOUNT, PROD_ACCOUNT, SUPPORT, TWO_HOP_CONFIG, Sandbox, credproc_executable

from credproc.cli import build_parser
from credproc.script import TARGETS_WORD

TARGETS = ["dev", "prod", DEV_ACCOUNT, PROD_ACCOUNT]
OTHER_CONFIG = '[accounts.staging]\nid = "444444444444"\n[accounts.dev]\nid = "555555555555"\n'


def command_names() -> list[str]:
    """The commands of the live parser: new ones must complete without an edit."""
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return list(commands.choices)


def get_options() -> set[str]:
    return {"--role", "--via", "--region", "--duration", "--session-name", "--external-id", "--refresh"} | {
        "--no-cache",
        "--verbose",
        "--config",
        "--format",
        "--help",
    }


# (line typed before TAB, what must be offered exactly, or None: see `contains`/`excludes`)
CASES: list[tuple[str, set[str] | None, set[str], set[str]]] = [
    ("credproc get ", set(TARGETS), set(), set()),
    ("credproc get d", {"dev"}, set(), set()),
    ("credproc get 3", {PROD_ACCOUNT}, set(), set()),
    ("credproc exec ", set(TARGETS), set(), set()),
    ("credproc env p", {"prod"}, set(), set()),
    ("credproc console d", {"dev"}, set(), set()),  # a command added later: no edit needed
    ("credproc cache clear ", set(TARGETS), set(), set()),
    ("credproc cache ", {"list", "clear"}, set(), set()),
    ("credproc get dev --", None, get_options(), {"--shell", "--json", TARGETS_WORD}),
    ("credproc env dev --", None, {"--shell", "--role", "--config"}, {"--format"}),
    ("credproc doctor --", None, {"--deep", "--config"}, {"--role"}),
    ("credproc get dev --format ", {"process", "json", "env"}, set(), set()),
    ("credproc env dev --shell ", {"sh", "fish", "powershell"}, set(), set()),
    ("credproc completion ", {"bash", "zsh", "fish", "powershell"}, set(), set()),
    ("credproc get --config other.toml ", {"staging", "dev", "444444444444", "555555555555"}, set(), set()),
]


def check(line: str, offered: list[str], exact: set[str] | None, contains: set[str], excludes: set[str]) -> None:
    found = set(offered)
    if exact is not None:
        assert found == exact, f"{line!r}: {sorted(found)}"
    assert contains <= found, f"{line!r}: {sorted(found)}"
    assert not excludes & found, f"{line!r}: {sorted(found)}"


@pytest.fixture
def completing(sandbox: Sandbox) -> Sandbox:
    """A user with a config; `credproc` on PATH (the scripts run it by name); cwd = sandbox root."""
    sandbox.write_config(TWO_HOP_CONFIG)
    (sandbox.root / "other.toml").write_text(OTHER_CONFIG)
    sandbox.env["PATH"] = os.pathsep.join([str(Path(credproc_executable()).parent), sandbox.env.get("PATH", "")])
    return sandbox


def script(sandbox: Sandbox, shell: str) -> str:
    result = sandbox.run("completion", shell)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def in_shell(sandbox: Sandbox, argv: list[str]) -> list[str]:
    result = subprocess.run(
        argv, cwd=sandbox.root, env=sandbox.env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


# --- bash: the function `complete -p credproc` names, with COMP_WORDS/COMP_CWORD as readline sets them

BASH_DRIVER = r"""
load=$1; shift
if [[ $load == bash-completion ]]; then
  source /usr/share/bash-completion/bash_completion
  _completion_loader credproc   # what bash-completion runs on the first TAB after `credproc`
else
  source "$load"
fi
spec=$(complete -p credproc) || exit 9
function=${spec##*-F }; function=${function%% *}
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$function" credproc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


def bash_words(line: str) -> list[str]:
    words = line.split()
    return [*words, ""] if line.endswith(" ") else words


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


@needs_bash
@pytest.mark.parametrize(("line", "exact", "contains", "excludes"), CASES)
def test_bash(completing: Sandbox, line: str, exact: set[str] | None, contains: set[str], excludes: set[str]) -> None:
    path = completing.root / "credproc.bash"
    path.write_text(script(completing, "bash"))
    offered = in_shell(
        completing, ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "-", str(path), *bash_words(line)]
    )
    check(line, offered, exact, contains, excludes)


@needs_bash
@pytest.mark.skipif(
    not Path("/usr/share/bash-completion/bash_completion").exists(), reason="bash-completion is not installed"
)
def test_bash_completion_loads_the_script_from_the_user_directory(completing: Sandbox) -> None:
    # README: credproc completion bash > ~/.local/share/bash-completion/completions/credproc
    user_dir = Path(completing.env["XDG_DATA_HOME"], "bash-completion", "completions")
    user_dir.mkdir(parents=True)
    (user_dir / "credproc").write_text(script(completing, "bash"))
    names = command_names()
    offered = in_shell(
        completing, ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "-", "bash-completion", "credproc", ""]
    )
    assert set(offered) == set(names)
    offered = in_shell(
        completing, ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "-", "bash-completion", "credproc", "get", ""]
    )
    assert set(offered) == set(TARGETS)


# --- zsh: an interactive zsh on a pty (tests/support/zsh_complete.zsh)

needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (.ci/extra installs it)")


def zsh_offers(sandbox: Sandbox, mode: str, where: Path, line: str) -> list[str]:
    return in_shell(sandbox, ["zsh", "-f", str(SUPPORT / "zsh_complete.zsh"), mode, str(where), line])


@needs_zsh
@pytest.mark.parametrize(("line", "exact", "contains", "excludes"), CASES)
def test_zsh(completing: Sandbox, line: str, exact: set[str] | None, contains: set[str], excludes: set[str]) -> None:
    # README: credproc completion zsh > DIR/_credproc, DIR on fpath before compinit
    functions = completing.root / "zfunc"
    functions.mkdir()
    (functions / "_credproc").write_text(script(completing, "zsh"))
    check(line, zsh_offers(completing, "fpath", functions, line), exact, contains, excludes)


@needs_zsh
def test_zsh_eval_form(completing: Sandbox) -> None:
    # README: eval "$(credproc completion zsh)" in .zshrc, after compinit
    path = completing.root / "credproc.zsh"
    path.write_text(script(completing, "zsh"))
    assert set(zsh_offers(completing, "eval", path, "credproc ")) == set(command_names())
    assert set(zsh_offers(completing, "eval", path, "credproc cache clear ")) == set(TARGETS)


# --- fish: `complete -C LINE`, the completions fish computes for LINE

needs_fish = pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (.ci/extra installs it)")


def fish_offers(sandbox: Sandbox, line: str, source: Path | None = None) -> list[str]:
    command = f"complete -C {shell_quote(line)}"
    if source is not None:
        command = f"source {shell_quote(str(source))}; {command}"
    # Without a script to source: a fish with its config dirs, which autoloads from them.
    options = ["--no-config"] if source is not None else []
    offered = in_shell(sandbox, ["fish", *options, "-c", command])
    return [candidate.split("\t")[0] for candidate in offered]  # "word<TAB>description"


def shell_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@needs_fish
@pytest.mark.parametrize(("line", "exact", "contains", "excludes"), CASES)
def test_fish(completing: Sandbox, line: str, exact: set[str] | None, contains: set[str], excludes: set[str]) -> None:
    path = completing.root / "credproc.fish"
    path.write_text(script(completing, "fish"))
    check(line, fish_offers(completing, line, source=path), exact, contains, excludes)


@needs_fish
def test_fish_autoloads_the_script_from_the_user_directory(completing: Sandbox) -> None:
    # README: credproc completion fish > ~/.config/fish/completions/credproc.fish
    user_dir = Path(completing.env["XDG_CONFIG_HOME"], "fish", "completions")
    user_dir.mkdir(parents=True)
    (user_dir / "credproc.fish").write_text(script(completing, "fish"))
    assert set(fish_offers(completing, "credproc ")) == set(command_names())
    assert set(fish_offers(completing, "credproc get ")) == set(TARGETS)


@needs_bash
@needs_zsh
@needs_fish
def test_every_command_of_the_parser_completes_in_every_shell(completing: Sandbox) -> None:
    names = set(command_names())
    assert {"get", "completion"} <= names and TARGETS_WORD not in names
    path = completing.root / "credproc.bash"
    path.write_text(script(completing, "bash"))
    bash = in_shell(completing, ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "-", str(path), "credproc", ""])
    functions = completing.root / "zfunc"
    functions.mkdir()
    (functions / "_credproc").write_text(script(completing, "zsh"))
    fish_script = completing.root / "credproc.fish"
    fish_script.write_text(script(completing, "fish"))
    assert set(bash) == names
    assert set(zsh_offers(completing, "fpath", functions, "credproc ")) == names
    assert set(fish_offers(completing, "credproc ", source=fish_script)) == names


@pytest.mark.skipif(shutil.which("pwsh") is None, reason="PowerShell is not installed (not packaged in Debian)")
def test_powershell(completing: Sandbox) -> None:
    path = completing.root / "credproc.ps1"
    path.write_text(script(completing, "powershell"))

    def offered(line: str) -> set[str]:
        command = (
            f". '{path}'; (TabExpansion2 -inputScript '{line}' -cursorColumn {len(line)}).CompletionMatches"
            " | ForEach-Object { $_.CompletionText }"
        )
        return set(in_shell(completing, ["pwsh", "-NoProfile", "-Command", command]))

    assert offered("credproc ") == set(command_names())
    assert offered("credproc get ") == set(TARGETS)
    assert "--format" in offered("credproc get dev --")


# --- the script itself, and the target listing it calls


def test_targets_are_aliases_then_ids_each_once(sandbox: Sandbox) -> None:
    extra = f"""
[accounts.dev-again]
id = "{DEV_ACCOUNT}"
[accounts."two words"]
id = "999999999998"
[accounts."a$b"]
id = "999999999999"
"""
    sandbox.write_config(TWO_HOP_CONFIG + extra)
    result = sandbox.run(TARGETS_WORD)
    assert result.returncode == 0 and result.stderr == ""
    # aliases a shell would split or expand are left out; their ids are not
    expected = ["dev", "prod", "dev-again", DEV_ACCOUNT, PROD_ACCOUNT, "999999999998", "999999999999"]
    assert result.stdout.splitlines() == expected
    (sandbox.root / "other.toml").write_text(OTHER_CONFIG)
    for option in (["--config", str(sandbox.root / "other.toml")], [f"--config={sandbox.root / 'other.toml'}"]):
        assert sandbox.run(TARGETS_WORD, *option).stdout.splitlines() == [
            "staging",
            "dev",
            "444444444444",
            "555555555555",
        ]


@pytest.mark.parametrize("text", [None, "[accounts.dev\n", "accounts = 3\n", b"\xff\xfe".decode("latin-1")])
def test_targets_of_a_missing_or_broken_config_are_nothing_and_silent(sandbox: Sandbox, text: str | None) -> None:
    if text is not None:
        sandbox.config_path.write_bytes(text.encode("latin-1"))
    result = sandbox.run(TARGETS_WORD)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_tab_does_not_load_the_cli(completing: Sandbox) -> None:
    result = completing.run(TARGETS_WORD, prefix=[sys.executable, "-X", "importtime"])

    assert result.stdout.splitlines() == TARGETS
    imported = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "credproc.targets" in imported and "tomllib" in imported  # the check below can fail
    assert not {"credproc.cli", "credproc.config", "argparse", "dataclasses", "shtab", "boto3"} & imported


def test_the_completion_command_alone_imports_shtab(completing: Sandbox) -> None:
    listing = """
import sys
from credproc.cli import main
main(sys.argv[1:])
print("shtab" in sys.modules, file=sys.stderr)
"""
    for args, expected in ((["completion", "bash"], "True"), (["accounts"], "False")):
        result = subprocess.run(
            [sys.executable, "-c", listing, *args], env=completing.env, capture_output=True, text=True, timeout=120
        )
        assert result.stderr.strip().splitlines()[-1] == expected, result.stderr
