"""Property-based tests for the pure helpers and the config parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credproc import config, rules
from credproc.errors import ConfigError

SESSION = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
ROLE_NAME = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-", min_size=1, max_size=64
)
ACCOUNT = st.from_regex(r"\A[0-9]{12}\Z")


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_duration_accepts_exactly_the_sts_range(seconds: int) -> None:
    if rules.MIN_DURATION <= seconds <= rules.MAX_DURATION:
        assert rules.duration(seconds) == seconds
        assert rules.duration(str(seconds)) == seconds
    else:
        with pytest.raises(ValueError):
            rules.duration(seconds)


@given(st.integers(0, 13), st.integers(0, 59))
def test_duration_hours_and_minutes(hours: int, minutes: int) -> None:
    text = f"{hours}h{minutes}m"
    total = hours * 3600 + minutes * 60
    if rules.MIN_DURATION <= total <= rules.MAX_DURATION:
        assert rules.duration(text) == total
    else:
        with pytest.raises(ValueError):
            rules.duration(text)


@given(st.text(max_size=200))
def test_duration_never_crashes_on_text(text: str) -> None:
    try:
        seconds = rules.duration(text)
    except ValueError:
        return
    assert rules.MIN_DURATION <= seconds <= rules.MAX_DURATION


@given(st.text(max_size=100).filter(lambda t: "{" not in t and "}" not in t), st.text(max_size=40))
def test_session_names_are_always_valid_or_refused(template: str, user: str) -> None:
    try:
        name = rules.session_name(template + "-{user}", {"user": user})
    except ValueError:
        return
    assert SESSION.fullmatch(name)


@given(ROLE_NAME, ACCOUNT, st.sampled_from(["us-east-1", "cn-north-1", "us-gov-west-1", "eu-west-3"]))
def test_role_name_to_arn_roundtrip(name: str, account: str, region: str) -> None:
    partition = rules.partition_of(region)
    arn = rules.role_arn(name, account, partition)
    assert arn == f"arn:{partition}:iam::{account}:role/{name}"
    assert rules.role_arn(arn, account, partition) == arn
    assert rules.hop_role_arn(arn, partition) == arn
    assert rules.account_of_arn(arn) == account


@given(st.text(max_size=1300))
def test_external_id_rule(value: str) -> None:
    ok = 2 <= len(value) <= 1224 and re.fullmatch(r"[\w+=,.@:/-]*", value, re.ASCII) is not None
    if ok:
        assert rules.external_id(value) == value
    else:
        with pytest.raises(ValueError):
            rules.external_id(value)


TOML_SCALARS = st.one_of(
    st.booleans(), st.integers(-(10**13), 10**13), st.text(max_size=30), st.lists(st.text(max_size=20), max_size=3)
)
KEYS = st.sampled_from(
    [
        "role",
        "duration",
        "session_name",
        "region",
        "external_id",
        "via",
        "id",
        "profile",
        "enabled",
        "key_store",
        "refresh_margin",
        "bogus",
    ]
)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return (
        '"'
        + str(value).replace("\\", "\\\\").replace('"', '\\"').encode("unicode_escape").decode().replace('\\\\"', '\\"')
        + '"'
    )


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["source", "defaults", "cache", "accounts.a", "accounts.b"]),
        st.dictionaries(KEYS, TOML_SCALARS, max_size=4),
        max_size=4,
    )
)
def test_config_parser_fails_only_with_config_errors(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, dict[str, object]]
) -> None:
    text = "".join(
        f"[{table}]\n" + "".join(f"{key} = {_toml_value(value)}\n" for key, value in body.items())
        for table, body in tables.items()
    )
    path: Path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(text, encoding="utf-8")
    try:
        loaded = config.load(path, env={})
        loaded.validate_all()
    except ConfigError as error:
        assert str(path) in error.message
        assert error.hint


@given(st.lists(st.from_regex(r"\A[a-z][a-z0-9-]{0,15}\Z"), min_size=1, max_size=20, unique=True), st.data())
def test_locate_finds_the_line_of_each_key(aliases: list[str], data: st.DataObject) -> None:
    lines: list[str] = ["# header", "[defaults]", 'role = "R"']
    expected: dict[str, int] = {}
    for alias in aliases:
        lines.append("")
        lines.append(f"[accounts.{alias}]")
        lines.append('id = "111111111111"')
        lines.append(f'duration = "{data.draw(st.integers(1, 12))}h"')
        expected[alias] = len(lines)
    text = "\n".join(lines) + "\n"
    for alias, line in expected.items():
        assert config.locate(text, ("accounts", alias, "duration")) == line


@given(st.text(min_size=12, max_size=12))
def test_account_ids_are_ascii_digits_only(value: str) -> None:
    if value.isascii() and value.isdigit():
        assert rules.account_id(value) == value
    else:
        with pytest.raises(ValueError):
            rules.account_id(value)
