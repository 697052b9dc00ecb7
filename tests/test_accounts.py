"""`credproc accounts`: the listing people read and the JSON the CDK plugin reads."""

from __future__ import annotations

import json

from conftest import DEV_ACCOUNT, HUB_ARN, PROD_ACCOUNT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error


def test_accounts_json_lists_each_account_with_its_role(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + '\n[accounts.tools]\nid = "444444444444"\nrole = "Admin"\n')
    result = sandbox.run("accounts", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["alias"]: row for row in json.loads(result.stdout)}
    assert rows["dev"] == {
        "alias": "dev",
        "id": DEV_ACCOUNT,
        "role": "Deployer",
        "region": "us-east-2",
        "via": [HUB_ARN],
        "labels": [],
    }
    assert rows["prod"]["id"] == PROD_ACCOUNT and rows["prod"]["region"] == "us-east-1"
    assert rows["tools"]["role"] == "Admin" and rows["tools"]["via"] == []


def test_accounts_table_and_bad_account_table(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG.replace('region = "us-east-2"', 'region = "us-east-2"\nlabels = ["dev", "eu"]'))
    table = sandbox.run("accounts")
    assert table.returncode == 0 and "dev" in table.stdout and DEV_ACCOUNT in table.stdout
    assert table.stdout.splitlines()[0].split()[-1] == "LABELS"
    assert table.stdout.splitlines()[1].split()[-1] == "dev,eu"  # each --label selects by these
    assert json.loads(sandbox.run("accounts", "--json").stdout)[0]["labels"] == ["dev", "eu"]
    sandbox.write_config(TWO_HOP_CONFIG + '\n[accounts.broken]\nid = "12345"\n')
    broken = sandbox.run("accounts", "--json")
    assert_one_clear_error(broken, "accounts.broken.id", "config.toml:20:", exit_code=3)
