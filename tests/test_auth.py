"""Client authentication: master and static keys, both header styles, model allowlists."""

from __future__ import annotations

import pytest

from switchyard.auth import ANONYMOUS, Authenticator
from switchyard.core.config import AuthConfig
from switchyard.core.errors import AuthenticationFailed, PermissionDenied

CONFIG = AuthConfig.model_validate({
    "master_key": "sk-master",
    "keys": [
        {"key": "sk-team-a", "name": "team-a", "team": "a", "tier": "gold", "models": ["gpt", "fake/echo"]},
        {"key": "sk-open", "name": "open"},
    ],
})


@pytest.fixture
def auth() -> Authenticator:
    return Authenticator(CONFIG)


def test_open_gateway_without_keys():
    assert Authenticator(AuthConfig()).authenticate(None, None) is ANONYMOUS


def test_master_key_as_bearer_and_x_api_key(auth):
    assert auth.authenticate("Bearer sk-master", None).is_master
    assert auth.authenticate("bearer   sk-master  ", None).is_master
    assert auth.authenticate(None, "sk-master").is_master


def test_client_key_carries_its_attributes(auth):
    caller = auth.authenticate("Bearer sk-team-a", None)
    assert (caller.name, caller.team, caller.tier, caller.is_master) == ("team-a", "a", "gold", False)
    assert caller.models == frozenset({"gpt", "fake/echo"})
    assert auth.authenticate(None, "sk-open").models is None


def test_bearer_wins_over_x_api_key(auth):
    assert auth.authenticate("Bearer sk-open", "sk-master").name == "open"


@pytest.mark.parametrize("authorization, api_key", [(None, None), ("", ""), ("Bearer ", None), ("Basic abc", None)])
def test_missing_key_is_401(auth, authorization, api_key):
    with pytest.raises(AuthenticationFailed) as info:
        auth.authenticate(authorization, api_key)
    assert info.value.status == 401 and info.value.code == "missing_api_key"


@pytest.mark.parametrize("authorization, api_key", [("Bearer sk-wrong", None), (None, "sk-maste"), ("Bearer sk-master-", None),
                                                    ("Bearer \udcff", None)])
def test_wrong_key_is_401_and_never_echoed(auth, authorization, api_key):
    with pytest.raises(AuthenticationFailed) as info:
        auth.authenticate(authorization, api_key)
    err = info.value
    assert err.status == 401 and err.type == "authentication_error"
    presented = (authorization or api_key).removeprefix("Bearer ")
    assert presented not in err.message


def test_model_allowlist_is_403(auth):
    caller = auth.authenticate("Bearer sk-team-a", None)
    caller.check_model("gpt")
    with pytest.raises(PermissionDenied) as info:
        caller.check_model("gpt-4o")
    assert info.value.status == 403 and info.value.param == "model"
    auth.authenticate("Bearer sk-master", None).check_model("anything")
    auth.authenticate("Bearer sk-open", None).check_model("anything")


def test_keys_are_not_stored_in_clear(auth):
    assert "sk-team-a" not in repr(vars(auth) if hasattr(auth, "__dict__") else auth)


def test_whitespace_around_a_key_is_ignored_in_both_headers(auth):
    assert auth.authenticate("Bearer sk-open ", None).name == "open"
    assert auth.authenticate(None, "sk-open ").name == "open"
    assert auth.authenticate(None, " sk-open\t").name == "open"
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(None, "   ")
