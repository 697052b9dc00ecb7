"""Which accounts `each` and `credproc.accounts` select: aliases, ids, globs,
labels, --all, and a clear error for a selector that names nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Sandbox, assert_one_clear_error

from credproc import config as config_module
from credproc.errors import ConfigError, ExitCode, UsageError
from credproc.selection import select

LABELLED = """
[defaults]
role = "Deployer"

[accounts.prod-eu]
id = "100000000001"
labels = ["prod", "eu"]

[accounts.prod-us]
id = "100000000002"
labels = ["prod", "us"]

[accounts.dev-eu]
id = "100000000003"
labels = ["dev", "eu"]

[accounts.tools]
id = "100000000004"
"""


def load(tmp_path: Path, text: str = LABELLED) -> config_module.Config:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return config_module.load(path, {"CREDPROC_CACHE_DIR": str(tmp_path / "cache")})


def aliases(
    config: config_module.Config, *selectors: str, labels: tuple[str, ...] = (), every: bool = False
) -> list[str]:
    return [account.alias for account in select(config, selectors, labels, every)]


def test_names_ids_and_globs_add_up_in_config_order(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert aliases(config, "tools", "prod-*") == ["prod-eu", "prod-us", "tools"]
    assert aliases(config, "100000000003", "dev-eu", "*-eu") == ["prod-eu", "dev-eu"]
    assert aliases(config, "prod-[e]?") == ["prod-eu"]
    assert aliases(config, every=True) == ["prod-eu", "prod-us", "dev-eu", "tools"]


def test_labels_narrow_to_accounts_with_every_label(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert aliases(config, labels=("eu",)) == ["prod-eu", "dev-eu"]
    assert aliases(config, labels=("prod", "eu")) == ["prod-eu"]
    assert aliases(config, "*-us", "dev-eu", labels=("prod",)) == ["prod-us"]
    selected = select(config, ["prod-eu"])
    assert selected[0].labels == ("prod", "eu") and selected[0].id == "100000000001"


def test_an_unconfigured_account_id_is_taken_as_get_takes_it(tmp_path: Path) -> None:
    config = load(tmp_path)
    selected = select(config, ["999999999999", "tools"])
    assert [(account.alias, account.id) for account in selected] == [
        ("tools", "100000000004"),
        ("999999999999", "999999999999"),
    ]


@pytest.mark.parametrize(
    ("selectors", "labels", "fragments"),
    [
        (["prd-eu"], [], ["'prd-eu' is neither an alias", "did you mean 'prod-eu'"]),
        (["prd-*"], [], ["no alias in", "matches 'prd-*'", "did you mean"]),
        (["tools"], ["prd"], ["has the label 'prd'", "did you mean 'prod'"]),
        (["tools"], ["eu"], ["no account in", "matches 'tools' with labels 'eu'"]),
    ],
)
def test_a_selector_that_names_nothing_is_a_config_error(
    tmp_path: Path, selectors: list[str], labels: list[str], fragments: list[str]
) -> None:
    config = load(tmp_path)
    with pytest.raises(ConfigError) as raised:
        select(config, selectors, labels)
    assert raised.value.exit_code == ExitCode.CONFIG
    for fragment in fragments:
        assert fragment in raised.value.one_line()


def test_nothing_given_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no accounts named"):
        select(load(tmp_path), [])


def test_an_empty_config_selects_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        select(load(tmp_path, '[defaults]\nrole = "Deployer"\n'), [], all_accounts=True)
    assert "accounts discover" in raised.value.one_line()


@pytest.mark.parametrize("value", ['"prod"', '["pro d"]', '[""]', '["-x"]', "[1]", '["' + "x" * 65 + '"]'])
def test_a_bad_labels_value_names_the_file_and_line(sandbox: Sandbox, value: str) -> None:
    sandbox.write_config(f'[accounts.dev]\nid = "111111111111"\nrole = "Deployer"\nlabels = {value}\n')
    result = sandbox.run("get", "dev")
    assert_one_clear_error(result, "config.toml:4: accounts.dev.labels", 'labels = ["prod", "eu"]', exit_code=3)
