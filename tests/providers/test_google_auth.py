"""Vertex AI credentials: the signed assertion, and the token flow against the mock's
token endpoint (fetch, cache, refresh before expiry, one refresh for many callers)."""

from __future__ import annotations

import asyncio
import base64
import json

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import InvalidRequest, SwitchyardError, UpstreamAuthError
from switchyard.mock import MockUpstream
from switchyard.providers.google_auth import JwtSigner, ServiceAccount, TokenSource
from switchyard.providers.vertex import VertexOptions, VertexProvider
from switchyard.transport import HttpClient


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_file(key, token_uri: str = "https://oauth2.googleapis.com/token") -> dict:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {"type": "service_account", "project_id": "p1", "private_key_id": "kid-9", "private_key": pem.decode(),
            "client_email": "sa@p1.iam.gserviceaccount.com", "token_uri": token_uri}


def _segment(text: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def test_assertion_is_a_valid_rs256_jwt(key):
    signer = JwtSigner(ServiceAccount.load(key_file(key)))
    token = signer.assertion(1_700_000_000)
    header, claims, signature = token.split(".")
    assert _segment(header) == {"alg": "RS256", "typ": "JWT", "kid": "kid-9"}
    assert _segment(claims) == {"iss": "sa@p1.iam.gserviceaccount.com", "aud": "https://oauth2.googleapis.com/token",
                                "scope": "https://www.googleapis.com/auth/cloud-platform",
                                "iat": 1_700_000_000, "exp": 1_700_003_600}
    raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    key.public_key().verify(raw_signature, f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_credentials_load_from_file_and_inline_json(key, tmp_path):
    path = tmp_path / "sa.json"
    path.write_bytes(orjson.dumps(key_file(key)))
    assert ServiceAccount.load(str(path)).client_email == "sa@p1.iam.gserviceaccount.com"
    assert ServiceAccount.load(json.dumps(key_file(key))).project_id == "p1"
    assert "PRIVATE" not in repr(ServiceAccount.load(str(path)))


@pytest.mark.parametrize(("options", "param", "words"), [
    ({}, "options.credentials", "GOOGLE_APPLICATION_CREDENTIALS"),
    ({"credentials": "/nonexistent/sa.json"}, "options.credentials", "cannot read"),
    ({"credentials": "{not json"}, "options.credentials", "not valid JSON"),
    ({"credentials": {"type": "authorized_user"}}, "options.credentials", "not a service account"),
    ({"credentials": {"client_email": "x"}}, "options.credentials", "private_key"),
    ({"credentials": "KEY", "region": "eu"}, "options.region", "unknown vertex option"),
    ({"credentials": "KEY", "location": "a/b"}, "options.location", "region name"),
])
def test_options_are_validated_by_name(key, monkeypatch, options, param, words):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    if options.get("credentials") == "KEY":
        options = {**options, "credentials": key_file(key)}
    with pytest.raises(InvalidRequest) as info:
        VertexOptions(options, env={})
    assert info.value.param == param and words in info.value.message


def test_project_is_required(key):
    account = {k: v for k, v in key_file(key).items() if k != "project_id"}
    with pytest.raises(InvalidRequest) as info:
        VertexOptions({"credentials": account}, env={})
    assert info.value.param == "options.project"
    assert VertexOptions({"credentials": account}, env={"GOOGLE_CLOUD_PROJECT": "envp"}).project == "envp"


def test_check_config_reports_problems_without_raising():
    deployment = DeploymentConfig(provider="vertex", model="gemini-2.5-flash", options={"location": "x"})
    problems = VertexProvider.check_config(deployment)
    assert problems and problems[0][0] == "options.credentials"


def test_vertex_url(key):
    provider = VertexProvider(DeploymentConfig(provider="vertex", model="gemini-2.5-flash",
                                               options={"credentials": key_file(key), "location": "europe-west4"}))
    assert provider.url("generateContent") == ("https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/"
                                               "locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def upstream():
    async with MockUpstream(api_key="mock-secret") as mock, HttpClient() as http:
        yield mock, http


async def test_token_is_fetched_cached_and_refreshed_before_expiry(key, upstream):
    import time

    mock, http = upstream
    clock = Clock(time.time() - 3400)  # so that the moves below end near the mock's real time
    tokens = TokenSource(ServiceAccount.load(key_file(key, f"{mock.url}/token")), http, margin=300, clock=clock)
    first = await tokens.token()
    assert first.startswith("ya29.mock.") and mock.count("/token") == 1
    clock.now += 3600 - 301  # still more than the margin left: cached
    assert await tokens.token() == first and mock.count("/token") == 1
    clock.now += 2  # inside the last five minutes: refreshed early
    await tokens.token()
    assert mock.count("/token") == 2 and tokens.refreshes == 2


async def test_concurrent_callers_share_one_refresh(key, upstream):
    mock, http = upstream
    tokens = TokenSource(ServiceAccount.load(key_file(key, f"{mock.url}/token")), http)
    results = await asyncio.gather(*(tokens.token() for _ in range(25)))
    assert len(set(results)) == 1 and mock.count("/token") == 1


async def test_token_endpoint_refusal_is_a_clear_error(key, upstream):
    mock, http = upstream
    stale = Clock(1_000_000.0)  # an assertion issued long ago: the endpoint refuses it
    tokens = TokenSource(ServiceAccount.load(key_file(key, f"{mock.url}/token")), http, clock=stale)
    with pytest.raises(SwitchyardError) as info:
        await tokens.token()
    assert isinstance(info.value, UpstreamAuthError) and info.value.status == 502 and "iat/exp" in info.value.message
    assert "PRIVATE KEY" not in info.value.message and tokens.refreshes == 0


def test_signing_is_fast_enough_for_the_event_loop(key):
    import time

    signer = JwtSigner(ServiceAccount.load(key_file(key)))
    signer.assertion(0)  # parse the key once
    start = time.perf_counter()
    for _ in range(20):
        signer.assertion(0)
    per_signature = (time.perf_counter() - start) / 20
    assert per_signature < 0.02, per_signature  # ~0.25 ms measured; once an hour per deployment
