"""``switchyard keys|tenants|teams|users`` against a running gateway's admin API."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

from switchyard.cli.main import main
from tests.governance.conftest import MASTER, gateway_config


def switchyard(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["switchyard", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture
def gateway(start_gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url: str = start_gateway(gateway_config(f"sqlite:///{tmp_path / 'cli.db'}")).url
    monkeypatch.setenv("SWITCHYARD_URL", url)
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", MASTER)
    monkeypatch.delenv("SWITCHYARD_ADMIN_KEY", raising=False)
    return url


def ok(*args: str) -> Any:
    done = switchyard(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_create_use_rotate_revoke_from_the_command_line(gateway: str) -> None:
    tenant = ok("tenants", "create", "acme", "--budget", "1000", "--metadata", "region=eu")
    assert tenant["budget"]["amount"] == 1000 and tenant["metadata"] == {"region": "eu"}
    team = ok("teams", "create", "ml", "--tenant", "acme", "--rpm", "600", "--models", "fake/echo,fake/slow")
    assert team["models"] == ["fake/echo", "fake/slow"]
    user = ok("users", "create", "ada@acme.test", "--team", "ml", "--role", "team_admin", "--name", "Ada")
    assert (user["role"], user["name"], user["team_id"]) == ("team_admin", "Ada", team["id"])
    key = ok("keys", "create", "--team", "ml", "--models", "fake/echo", "--rpm", "60", "--budget", "25",
             "--budget-period", "rolling", "--budget-window", "30d", "--budget-soft", "0.5,0.8", "--tags", "ci",
             "--user", "ada@acme.test", "--expires-in", "90d", "--tier", "gold")
    assert key["key"].startswith("sk-sy-") and key["budget"]["window"] == 30 * 86400
    assert key["budget"]["soft"] == [0.5, 0.8] and key["tags"] == ["ci"] and key["user_id"] == user["id"]
    client = openai.OpenAI(base_url=gateway + "/v1", api_key=key["key"], max_retries=0, timeout=20)
    assert client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hi"}]).choices

    listed = ok("keys", "list", "--team", "ml")
    assert [k["prefix"] for k in listed["data"]] == [key["prefix"]] and key["key"] not in json.dumps(listed)
    updated = ok("keys", "update", key["id"], "--rpm", "120", "--clear", "budget")
    assert updated["rpm"] == 120 and updated["budget"] is None
    rotated = ok("keys", "rotate", key["id"], "--grace", "0")
    assert rotated["key"] != key["key"]
    revoked = ok("keys", "revoke", key["id"])
    assert revoked["status"] == "revoked"
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
    assert ok("keys", "show", key["id"])["status"] == "revoked"
    assert [t["name"] for t in ok("teams", "list", "--tenant", "acme")["data"]] == ["ml"]


def test_errors_are_one_line_naming_the_cause(gateway: str) -> None:
    done = switchyard("keys", "create", "--team", "nobody")
    assert done.returncode == 1 and done.stderr.strip() == "error: 400 team_not_found: `team`: no team 'nobody'."
    done = switchyard("keys", "list", "--admin-key", "sk-wrong")
    assert done.returncode == 1 and "401" in done.stderr and "sk-wrong" not in done.stderr
    done = switchyard("keys", "list", "--gateway", "http://127.0.0.1:9")
    assert done.returncode == 1 and "cannot reach the gateway at http://127.0.0.1:9" in done.stderr
    with pytest.raises(SystemExit) as info:
        switchyard("keys", "create", "--team", "ml", "--budget-period", "daily")
    assert "--budget-* options need --budget" in str(info.value)


def test_the_console_script_creates_a_key(gateway: str) -> None:
    ok("tenants", "create", "acme")
    done = subprocess.run([str(Path(sys.executable).with_name("switchyard")), "keys", "create", "--tenant", "acme",
                           "--name", "from-a-shell"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "from-a-shell"
