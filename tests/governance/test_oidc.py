"""Admin sign-in with OIDC tokens from a local issuer (discovery + JWKS over HTTP), and the roles they carry.

The issuer is real HTTP on loopback; tokens are signed with its RSA keys.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tests.governance.conftest import AdminClient, Issuer, gateway_config


@pytest.fixture
def admin(start_gateway: Any, sqlite_url: str, issuer: Issuer) -> AdminClient:
    gateway = start_gateway(gateway_config(sqlite_url, governance={"oidc": issuer.oidc_config(
        role_map={"gw-admins": "admin"})}))
    client = AdminClient(gateway.url)
    client.ok("POST", "/admin/tenants", {"name": "acme"})
    for team in ("ml", "web"):
        client.ok("POST", "/admin/teams", {"name": team, "tenant": "acme"})
    return client


def test_a_team_admin_manages_their_team_and_cannot_touch_another(admin: AdminClient, issuer: Issuer) -> None:
    web_key = admin.ok("POST", "/admin/keys", {"team": "web", "name": "web-prod"})
    lead = admin.as_(issuer.token(sub="lead", switchyard_role="team_admin", switchyard_team="ml"))
    who = lead.ok("GET", "/admin/whoami")
    assert who["role"] == "team_admin" and who["subject"] == "oidc:lead" and who["team_id"]

    ml_key = lead.ok("POST", "/admin/keys", {"team": "ml", "rpm": 10})
    assert ml_key["key"].startswith("sk-sy-")
    assert lead.ok("PATCH", f"/admin/keys/{ml_key['id']}", {"rpm": 20})["rpm"] == 20
    assert lead.ok("POST", f"/admin/keys/{ml_key['id']}/rotate", {"grace": 0})["key"]
    assert [k["id"] for k in lead.ok("GET", "/admin/keys")["data"]] == [ml_key["id"]]  # web's key is not shown

    for method, path, body in (("GET", f"/admin/keys/{web_key['id']}", None),
                               ("PATCH", f"/admin/keys/{web_key['id']}", {"rpm": 1}),
                               ("POST", f"/admin/keys/{web_key['id']}/rotate", {}),
                               ("POST", f"/admin/keys/{web_key['id']}/revoke", None),
                               ("DELETE", f"/admin/keys/{web_key['id']}", None),
                               ("POST", "/admin/keys", {"team": "web"}),
                               ("POST", "/admin/teams", {"name": "new", "tenant": "acme"}),
                               ("GET", "/admin/deployments", None)):
        status, answer = lead.call(method, path, body)
        assert status == 403 and answer["error"]["code"] == "forbidden", (method, path, answer)
    untouched = admin.ok("GET", f"/admin/keys/{web_key['id']}")
    assert untouched["status"] == "active" and untouched["revision"] == web_key["revision"]
    assert lead.ok("POST", f"/admin/keys/{ml_key['id']}/revoke")["status"] == "revoked"


def test_roles_from_the_role_map_and_from_the_directory(admin: AdminClient, issuer: Issuer) -> None:
    mapped = admin.as_(issuer.token(sub="ops", switchyard_role=["unrelated", "gw-admins"]))
    assert mapped.ok("GET", "/admin/whoami")["role"] == "admin"
    assert mapped.ok("POST", "/admin/keys", {"team": "web"})
    status, _ = mapped.call("POST", "/admin/tenants", {"name": "globex"})
    assert status == 403  # tenants are the owner's

    admin.ok("POST", "/admin/users", {"email": "vi@acme.test", "tenant": "acme", "role": "viewer"})
    viewer = admin.as_(issuer.token(sub="vi", email="vi@acme.test"))  # no role claim: the directory's role
    assert viewer.ok("GET", "/admin/whoami")["role"] == "viewer"
    assert len(viewer.ok("GET", "/admin/keys")["data"]) == 1
    assert viewer.ok("GET", "/admin/deployments")["deployments"] is not None
    status, answer = viewer.call("POST", "/admin/keys", {"team": "web"})
    assert status == 403 and "read-only" in answer["error"]["message"]

    nobody = admin.as_(issuer.token(sub="stranger", email="who@else.test"))
    status, answer = nobody.call("GET", "/admin/keys")
    assert status == 403 and "no Switchyard role" in answer["error"]["message"]


@pytest.mark.parametrize("spoil, reason", [
    ("expired", "expired"),
    ("audience", "another audience"),
    ("issuer", "another issuer"),
    ("hmac", "algorithm 'HS256' is not accepted"),
    ("unsigned", "algorithm 'none' is not accepted"),
    ("foreign", "a key the issuer does not publish"),
    ("forged", "not valid (InvalidSignatureError)"),
    ("garbage", "not a well-formed JWT"),
])
def test_bad_tokens_are_401_saying_why(admin: AdminClient, issuer: Issuer, spoil: str, reason: str) -> None:
    claims = {"sub": "x", "switchyard_role": "owner"}
    if spoil == "expired":
        token = issuer.token(lifetime=-120, **claims)  # beyond the 30 s leeway
    elif spoil == "audience":
        token = issuer.token(audience="someone-else", **claims)
    elif spoil == "issuer":
        now = int(time.time())
        token = jwt.encode({"iss": "http://evil.test", "aud": "switchyard", "exp": now + 60, **claims},
                           issuer.keys[issuer.published[-1]], algorithm="RS256", headers={"kid": issuer.published[-1]})
    elif spoil == "hmac":
        token = jwt.encode({"iss": issuer.url, "aud": "switchyard", "exp": int(time.time()) + 60, **claims},
                           "a-shared-secret-of-thirty-two-bytes!", algorithm="HS256", headers={"kid": "k1"})
    elif spoil == "unsigned":
        token = jwt.encode({"iss": issuer.url, "aud": "switchyard", "exp": int(time.time()) + 60, **claims},
                           None, algorithm="none", headers={"kid": "k1"})
    elif spoil in ("foreign", "forged"):
        rogue = Issuer()  # another key pair: under an unknown kid, or under the issuer's own kid
        kid = "k-unknown" if spoil == "foreign" else issuer.published[-1]
        token = jwt.encode({"iss": issuer.url, "aud": "switchyard", "exp": int(time.time()) + 60, **claims},
                           rogue.keys["k1"], algorithm="RS256", headers={"kid": kid})
        rogue.server.server_close()
    else:
        token = "eyJ!!.not-json.sig"
    status, answer = admin.as_(token).call("GET", "/admin/keys")
    assert status == 401 and answer["error"]["code"] == "invalid_token", answer
    assert reason in answer["error"]["message"] and token not in answer["error"]["message"]


def test_rotated_issuer_keys_are_picked_up(admin: AdminClient, issuer: Issuer) -> None:
    old = issuer.published[-1]
    assert admin.as_(issuer.token(switchyard_role="viewer")).ok("GET", "/admin/whoami")["role"] == "viewer"
    fetched = issuer.hits
    new = issuer.rotate()  # the issuer now publishes only the new key
    assert admin.as_(issuer.token(kid=new, switchyard_role="viewer")).ok("GET", "/admin/whoami")
    assert issuer.hits == fetched + 1  # an unknown kid: the set was fetched again, once
    status, _ = admin.as_(issuer.token(kid=old, switchyard_role="viewer")).call("GET", "/admin/whoami")
    assert status == 401  # the retired key is no longer trusted


def test_unknown_kids_do_not_hammer_the_issuer(start_gateway: Any, sqlite_url: str, issuer: Issuer) -> None:
    gateway = start_gateway(gateway_config(sqlite_url, governance={"oidc": issuer.oidc_config(refresh_cooldown=300)}))
    client = AdminClient(gateway.url)
    assert client.as_(issuer.token(switchyard_role="viewer")).ok("GET", "/admin/whoami")
    fetched = issuer.hits
    for n in range(20):
        forged = jwt.encode({"iss": issuer.url, "aud": "switchyard", "exp": int(time.time()) + 60},
                            issuer.keys[issuer.published[-1]], algorithm="RS256", headers={"kid": f"made-up-{n}"})
        assert client.as_(forged).call("GET", "/admin/whoami")[0] == 401
    assert issuer.hits == fetched  # within the cooldown: no refetch at all


def test_an_unreachable_issuer_is_503(start_gateway: Any, sqlite_url: str, issuer: Issuer) -> None:
    config = issuer.oidc_config(jwks_url="http://127.0.0.1:9/jwks.json", timeout=1)
    gateway = start_gateway(gateway_config(sqlite_url, governance={"oidc": config}))
    status, answer = AdminClient(gateway.url, issuer.token(switchyard_role="owner")).call("GET", "/admin/keys")
    assert status == 503 and answer["error"]["code"] == "oidc_unavailable"
    # The master key still signs in.
    assert AdminClient(gateway.url).ok("GET", "/admin/whoami")["role"] == "owner"
