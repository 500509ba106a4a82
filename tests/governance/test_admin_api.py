"""The admin API over HTTP on a SQLite file, with the official openai SDK as the key's client."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import openai
import pytest

from switchyard.storage.migrate import head
from tests.governance.conftest import FAKE, MASTER, AdminClient, gateway_config

HI = [{"role": "user", "content": "hello, virtual key"}]


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)


def refused(client: openai.OpenAI, model: str = "fake/echo") -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=model, messages=HI)
    return info.value


@pytest.fixture
def admin(start_gateway: Any, sqlite_url: str) -> AdminClient:
    config = gateway_config(sqlite_url)
    config["auth"]["keys"] = [{"key": "sk-static-team", "name": "static-team"}]
    gateway = start_gateway(config)
    client = AdminClient(gateway.url)
    client.ok("POST", "/admin/tenants", {"name": "acme"})
    client.ok("POST", "/admin/teams", {"name": "ml", "tenant": "acme"})
    return client


def test_a_key_is_created_used_rotated_and_revoked(admin: AdminClient) -> None:
    created = admin.ok("POST", "/admin/keys", {"team": "ml", "name": "ci", "models": ["fake/echo"]})
    secret = created["key"]
    assert secret.startswith("sk-sy-") and created["prefix"] == secret[:12] and "digest" not in created
    answer = sdk(admin.url, secret).chat.completions.create(model="fake/echo", messages=HI)
    assert answer.choices[0].message.content == "hello, virtual key"
    error = refused(sdk(admin.url, secret), "fake/slow")
    assert error.status_code == 403 and error.code == "model_not_allowed"

    shown = admin.ok("GET", f"/admin/keys/{created['id']}")
    listed = admin.ok("GET", "/admin/keys?team=ml")
    assert shown["prefix"] == created["prefix"] and [k["id"] for k in listed["data"]] == [created["id"]]
    assert secret not in json.dumps(shown) + json.dumps(listed)  # shown once, then only by prefix

    rotated = admin.ok("POST", f"/admin/keys/{created['id']}/rotate", {"grace": "1h"})
    assert rotated["key"] != secret and rotated["previous_prefix"] == created["prefix"]
    for key in (secret, rotated["key"]):  # both valid during the grace period
        assert sdk(admin.url, key).chat.completions.create(model="fake/echo", messages=HI).choices
    again = admin.ok("POST", f"/admin/keys/{created['id']}/rotate", {"grace": 0})
    for old in (secret, rotated["key"]):
        assert refused(sdk(admin.url, old)).status_code == 401
    assert sdk(admin.url, again["key"]).chat.completions.create(model="fake/echo", messages=HI).choices

    revoked = admin.ok("POST", f"/admin/keys/{created['id']}/revoke")
    assert revoked["status"] == "revoked" and revoked["revoked_at"]
    error = refused(sdk(admin.url, again["key"]))
    assert error.status_code == 401 and error.code == "key_revoked"
    assert admin.ok("DELETE", f"/admin/keys/{created['id']}")["status"] == "revoked"  # twice is harmless
    status, body = admin.call("PATCH", f"/admin/keys/{created['id']}", {"rpm": 5})
    assert status == 409 and body["error"]["code"] == "key_revoked"
    # The config's static keys keep working beside the virtual ones.
    assert sdk(admin.url, "sk-static-team").chat.completions.create(model="fake/echo", messages=HI).choices


def test_updates_apply_at_once_and_expiry_refuses(admin: AdminClient) -> None:
    created = admin.ok("POST", "/admin/keys", {"tenant": "acme", "models": ["fake/echo"]})
    client = sdk(admin.url, created["key"])
    assert refused(client, "fake/slow").status_code == 403
    updated = admin.ok("PATCH", f"/admin/keys/{created['id']}", {"models": None, "tags": ["batch"]})
    assert updated["models"] is None and updated["tags"] == ["batch"]
    assert client.chat.completions.create(model="fake/slow", messages=HI).choices
    admin.ok("PATCH", f"/admin/keys/{created['id']}", {"expires_at": "2020-01-01T00:00:00Z"})
    error = refused(client)
    assert error.status_code == 401 and error.code == "key_expired"


def test_a_key_limited_to_routes(admin: AdminClient) -> None:
    created = admin.ok("POST", "/admin/keys", {"team": "ml", "routes": ["/v1/embeddings"]})
    client = sdk(admin.url, created["key"])
    assert client.embeddings.create(model="fake/echo", input=["a"]).data
    error = refused(client)
    assert error.status_code == 403 and error.code == "route_not_allowed"


@pytest.mark.parametrize("body, param, reason", [
    ({"team": "ml", "rpm": "lots"}, "rpm", "valid integer"),
    ({"team": "ml", "rpm": 0}, "rpm", "greater than or equal to 1"),
    ({"team": "ml", "colour": "red"}, "colour", "not a field"),
    ({"team": "ml", "budget": {"amount": 5, "period": "rolling"}}, "budget", "needs window"),
    ({"team": "ml", "budget": {"amount": 5, "timezone": "Mars/Olympus"}}, "budget.timezone", "unknown time zone"),
    ({"team": "ml", "expires_in": "soon"}, "expires_in", "duration"),
    ({"team": "nope"}, "team", "no team 'nope'"),
    ({"models": ["x"]}, "team", "belongs to a team, a user or a tenant"),
    ({"team": "ml", "routes": ["chat"]}, "routes.0", "not a path"),
    ({"team": "ml", "rpm": "60"}, "rpm", "valid integer"),  # the type the OpenAPI document says, strictly
    ({"team": "ml", "budget": {"amount": "5"}}, "budget.amount", "valid number"),
    ({"team": "ml", "rpm": 10**13}, "rpm", "less than or equal to"),  # more than every store holds
    ({"team": "ml", "name": "a\u0000b"}, "name", "printable"),
])
def test_bad_input_names_the_field(admin: AdminClient, body: dict[str, Any], param: str, reason: str) -> None:
    status, answer = admin.call("POST", "/admin/keys", body)
    assert status == 400, answer
    assert answer["error"]["param"] == param and reason in answer["error"]["message"], answer


def test_names_are_unique_and_unknown_ids_are_404(admin: AdminClient) -> None:
    status, answer = admin.call("POST", "/admin/teams", {"name": "ml", "tenant": "acme"})
    assert status == 409 and answer["error"]["code"] == "name_taken"
    status, answer = admin.call("GET", "/admin/keys/key_0000000000000000")
    assert status == 404 and answer["error"]["code"] == "key_not_found"
    status, answer = admin.call("POST", "/admin/keys/key_0000000000000000/explode")
    assert status == 404 and answer["error"]["code"] == "unknown_url"
    status, answer = admin.call("DELETE", "/admin/teams/" + admin.ok("GET", "/admin/teams")["data"][0]["id"])
    assert status == 200 and answer["deleted"] is True  # no keys in it yet


def test_admin_routes_refuse_client_keys(admin: AdminClient) -> None:
    created = admin.ok("POST", "/admin/keys", {"team": "ml"})
    status, answer = admin.as_("sk-static-team").call("GET", "/admin/keys")
    assert status == 403 and answer["error"]["code"] == "forbidden"
    status, answer = admin.as_("sk-wrong").call("GET", "/admin/keys")
    assert status == 401
    holder = admin.as_(created["key"])
    assert holder.ok("GET", "/admin/whoami")["role"] == "key_holder"
    assert holder.ok("GET", f"/admin/keys/{created['id']}")["id"] == created["id"]  # its own key
    other = admin.ok("POST", "/admin/keys", {"team": "ml"})
    assert holder.call("GET", f"/admin/keys/{other['id']}")[0] == 403
    assert [k["id"] for k in holder.ok("GET", "/admin/keys")["data"]] == [created["id"]]
    assert holder.call("POST", f"/admin/keys/{created['id']}/revoke")[0] == 403
    assert holder.call("GET", "/admin/deployments")[0] == 403


def test_keys_survive_a_restart_and_serve_migrates_sqlite(start_gateway: Any, sqlite_url: str) -> None:
    first = start_gateway(gateway_config(sqlite_url))
    admin = AdminClient(first.url)
    admin.ok("POST", "/admin/tenants", {"name": "acme"})
    secret = admin.ok("POST", "/admin/keys", {"tenant": "acme"})["key"]
    first.stop()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM sy_alembic_version").fetchone()[0] == head()
    second = start_gateway(gateway_config(sqlite_url))
    assert sdk(second.url, secret).chat.completions.create(model="fake/echo", messages=HI).choices


def test_key_limits_flow_into_admission(start_gateway: Any, sqlite_url: str) -> None:
    gateway = start_gateway(gateway_config(sqlite_url, limits={"queue": {"max_wait": 0}}))
    admin = AdminClient(gateway.url)
    admin.ok("POST", "/admin/tenants", {"name": "acme"})
    created = admin.ok("POST", "/admin/keys", {"tenant": "acme", "rpm": 2})
    client = sdk(gateway.url, created["key"])
    for _ in range(2):
        answer = client.chat.completions.with_raw_response.create(model="fake/echo", messages=HI)
        assert answer.headers["x-ratelimit-limit-requests"] == "2"
    error = refused(client)
    assert error.status_code == 429
    assert error.response.headers["x-switchyard-limit"] == f"key={created['id']} rpm"


def test_key_limits_apply_without_a_limits_section(start_gateway: Any, sqlite_url: str) -> None:
    gateway = start_gateway(gateway_config(sqlite_url))
    admin = AdminClient(gateway.url)
    admin.ok("POST", "/admin/tenants", {"name": "acme", "tpm": 50})
    client = sdk(gateway.url, admin.ok("POST", "/admin/keys", {"tenant": "acme"})["key"])
    with pytest.raises(openai.APIStatusError) as info:  # costs more than the tenant's whole minute
        client.chat.completions.create(model="fake/echo", messages=HI, max_tokens=500)
    assert info.value.status_code == 429 and info.value.code == "request_too_large_for_limit"
    assert info.value.response.headers["x-switchyard-limit"] == "tenant=acme tpm"


def test_tags_and_metadata_reach_routing_rules(start_gateway: Any, sqlite_url: str) -> None:
    models = {**FAKE, "chat": {"deployments": [{"provider": "fake", "model": "echo"}]},
              "batch": {"deployments": [{"provider": "fake", "model": "echo"}]},
              "ci": {"deployments": [{"provider": "fake", "model": "echo"}]}}
    rules = [{"name": "batch-keys", "when": {"tags": ["batch"]}, "route": "batch"},
             {"name": "ci-keys", "when": {"metadata": {"env": "ci"}}, "route": "ci"}]
    gateway = start_gateway({**gateway_config(sqlite_url), "models": models, "routing": {"rules": rules}})
    admin = AdminClient(gateway.url)
    admin.ok("POST", "/admin/tenants", {"name": "acme"})
    for body, rule in (({"tags": ["batch"]}, "batch-keys"), ({"metadata": {"env": "ci"}}, "ci-keys")):
        client = sdk(gateway.url, admin.ok("POST", "/admin/keys", {"tenant": "acme", **body})["key"])
        answer = client.chat.completions.with_raw_response.create(model="chat", messages=HI)
        assert answer.headers["x-switchyard-rule"] == rule
    plain = sdk(gateway.url, admin.ok("POST", "/admin/keys", {"tenant": "acme"})["key"])
    assert "x-switchyard-rule" not in plain.chat.completions.with_raw_response.create(model="chat", messages=HI).headers


def test_the_admin_api_is_off_without_authentication(start_gateway: Any) -> None:
    gateway = start_gateway({"models": FAKE})
    status, answer = AdminClient(gateway.url, "anything").call("GET", "/admin/keys")
    assert status == 503 and answer["error"]["code"] == "governance_off"
    assert MASTER not in json.dumps(answer)


def test_every_change_is_in_the_audit_log_without_the_secret(admin: AdminClient) -> None:
    created = admin.ok("POST", "/admin/keys", {"team": "ml", "rpm": 5})
    admin.ok("POST", f"/admin/keys/{created['id']}/rotate", {"grace": 0})
    admin.ok("POST", f"/admin/keys/{created['id']}/revoke")
    entries = admin.ok("GET", "/admin/audit?kind=admin")["data"]
    mine = [e for e in entries if e["target"] == created["id"]]
    assert [e["action"] for e in mine] == ["key.create", "key.rotate", "key.revoke"]
    assert {e["actor"] for e in mine} == {"master"} and all(e["source"].startswith("127.0.0.1:") for e in mine)
    assert mine[0]["detail"]["before"] is None and mine[0]["detail"]["after"]["rpm"] == 5
    assert mine[2]["detail"]["before"]["status"] == "active" and mine[2]["detail"]["after"]["status"] == "revoked"
    assert mine[0]["detail"]["role"] == "owner"
    assert created["key"] not in json.dumps(entries) and "digest" not in json.dumps(entries)
    assert [e["action"] for e in entries[:2]] == ["tenant.create", "team.create"]


def test_a_control_character_in_an_id_or_a_filter_is_a_client_error_on_postgresql(start_gateway: Any,
                                                                                   postgres_url: str) -> None:
    """Found by the fuzz of /openapi.json: PostgreSQL refuses a NUL in a text value, and an admin
    route that looked such an id up, or filtered the audit log by such a name, answered 500."""
    import asyncio

    from switchyard.storage.migrate import upgrade

    asyncio.run(upgrade(postgres_url))
    admin = AdminClient(start_gateway(gateway_config(postgres_url, audit={"requests": True})).url)
    for method, path in (("GET", "/admin/keys/a%00b"), ("PATCH", "/admin/tenants/%00"), ("DELETE", "/admin/teams/%00"),
                         ("DELETE", "/admin/users/%00"), ("DELETE", "/admin/keys/%00"), ("POST", "/admin/keys/%00/revoke"),
                         ("POST", "/admin/keys/%00/rotate")):
        status, answer = admin.call(method, path, {} if method in ("PATCH", "POST") else None)
        assert status == 404 and answer["error"]["code"].endswith("_not_found"), (method, path, answer)
    for query in ("actor=%00", "target=a%00b", "action=%01"):
        status, answer = admin.call("GET", f"/admin/audit?{query}")
        assert status == 400 and answer["error"]["param"] == query.split("=")[0], answer
    status, answer = admin.call("GET", "/admin/audit?after=-1")  # an id is never negative: said, not clamped
    assert status == 400 and answer["error"]["param"] == "after"
