"""Governance fixtures: an admin API client, a local OIDC issuer (JWKS over HTTP), gateway configs."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

MASTER = "sk-master-governance"
FAKE = {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}}


class AdminClient:
    """The admin API over real HTTP (urllib), as any script would call it."""

    def __init__(self, url: str, key: str = MASTER) -> None:
        self.url = url
        self.key = key

    def as_(self, key: str) -> AdminClient:
        return AdminClient(self.url, key)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"authorization": f"Bearer {self.key}",
                                                  "content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        assert status in (200, 201), (status, answer)
        return answer


def gateway_config(storage_url: str, **extra: Any) -> dict[str, Any]:
    return {"auth": {"master_key": MASTER}, "storage": {"url": storage_url}, "models": FAKE, **extra}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'governance.db'}"


class Issuer:
    """A local OIDC issuer: discovery, a JWKS that can rotate, and tokens signed with its keys."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.hits = 0
        self._lock = threading.Lock()
        self.rotate()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
                elif self.path == "/jwks.json":
                    with issuer._lock:
                        issuer.hits += 1
                        body = {"keys": [issuer.public_jwk(kid) for kid in issuer.published]}
                else:
                    self.send_error(404)
                    return
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def rotate(self) -> str:
        """A new signing key, published instead of the old ones; returns its kid."""
        kid = f"k{len(self.keys) + 1}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with self._lock:
            self.published = [kid]
        return kid

    def public_jwk(self, kid: str) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}

    def token(self, kid: str | None = None, audience: str = "switchyard", lifetime: float = 300,
              **claims: Any) -> str:
        kid = kid or self.published[-1]
        now = int(time.time())
        payload = {"iss": self.url, "aud": audience, "sub": claims.pop("sub", "someone"), "iat": now,
                   "exp": now + lifetime, **claims}
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def oidc_config(self, **extra: Any) -> dict[str, Any]:
        return {"issuer": self.url, "audience": "switchyard", "refresh_cooldown": 0, **extra}


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    found = Issuer()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()
