"""Google service-account credentials -> OAuth access tokens, for Vertex AI.

The flow (RFC 7523): sign a JWT (RS256) whose issuer is the service account's
``client_email`` and whose audience is the key file's ``token_uri``, post it
to that URI as ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``, and
use the ``access_token`` until shortly before ``expires_in`` runs out.

Signing uses ``cryptography`` directly. Measured here (RSA-2048, PKCS#1 v1.5 /
SHA-256): parsing and validating the key ~50 ms, done once in a worker thread;
each signature ~0.25 ms, once an hour, inline on the event loop. The token
exchange goes through the gateway's own async HTTP client. ``google-auth``
was not used: its refresh is a blocking ``requests`` call.

Concurrent callers share one refresh: the first takes the lock and fetches,
the rest wait for it and reuse its token.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from switchyard.core.errors import InvalidRequest, SwitchyardError, UpstreamProtocolError, from_upstream_status

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class ServiceAccount:
    """The parts of a service-account key file that the token flow needs."""

    client_email: str
    private_key: str = field(repr=False)
    token_uri: str = DEFAULT_TOKEN_URI
    private_key_id: str | None = None
    project_id: str | None = None

    @classmethod
    def load(cls, source: str | Mapping[str, Any], param: str = "options.credentials") -> ServiceAccount:
        """From a parsed key file, inline JSON text, or a path to the file."""
        if isinstance(source, Mapping):
            data: Any = dict(source)
        elif isinstance(source, str) and source.lstrip().startswith("{"):
            try:
                data = orjson.loads(source)
            except orjson.JSONDecodeError:
                raise InvalidRequest("inline service-account JSON is not valid JSON", param=param) from None
        elif isinstance(source, str):
            path = os.path.expanduser(source)
            try:
                with open(path, "rb") as handle:
                    data = orjson.loads(handle.read())
            except OSError as exc:
                raise InvalidRequest(f"cannot read service-account key file {path!r}: {exc.strerror}", param=param) from None
            except orjson.JSONDecodeError:
                raise InvalidRequest(f"service-account key file {path!r} is not valid JSON", param=param) from None
        else:
            raise InvalidRequest("must be a key file path, inline JSON, or a mapping", param=param)
        if not isinstance(data, dict):
            raise InvalidRequest("service-account credentials must be a JSON object", param=param)
        if data.get("type", "service_account") != "service_account":
            raise InvalidRequest(f"credentials of type {data.get('type')!r} are not a service account", param=param)
        missing = [k for k in ("client_email", "private_key") if not data.get(k)]
        if missing:
            raise InvalidRequest(f"service-account credentials lack {', '.join(missing)}", param=param)
        return cls(
            client_email=str(data["client_email"]),
            private_key=str(data["private_key"]),
            token_uri=str(data.get("token_uri") or DEFAULT_TOKEN_URI),
            private_key_id=data.get("private_key_id"),
            project_id=data.get("project_id"),
        )


class JwtSigner:
    """Signs the JWT-bearer assertion; the private key is parsed once, on first use."""

    def __init__(self, account: ServiceAccount, scope: str = CLOUD_PLATFORM) -> None:
        self.account = account
        self.scope = scope
        self._key: Any = None

    @property
    def ready(self) -> bool:
        return self._key is not None

    def load_key(self) -> Any:
        """The parsed private key (parsed on the first call)."""
        if self._key is None:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            try:
                self._key = load_pem_private_key(self.account.private_key.encode(), password=None)
            except (ValueError, TypeError):
                raise InvalidRequest("the service account's private_key is not a valid PEM key",
                                     param="options.credentials") from None
        return self._key

    def assertion(self, now: float, lifetime: int = 3600) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
        if self.account.private_key_id:
            header["kid"] = self.account.private_key_id
        issued = int(now)
        claims = {"iss": self.account.client_email, "scope": self.scope, "aud": self.account.token_uri,
                  "iat": issued, "exp": issued + lifetime}
        signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}".encode()
        signature = self.load_key().sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{_b64(signature)}"


class TokenSource:
    """A cached OAuth access token for one service account, refreshed ``margin`` seconds
    before it expires (or halfway through its life, for short-lived tokens)."""

    def __init__(
        self,
        account: ServiceAccount,
        http: Any,
        *,
        scope: str = CLOUD_PLATFORM,
        margin: float = 300.0,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = JwtSigner(account, scope)
        self.http = http
        self.margin = margin
        self.timeout = timeout
        self.clock = clock
        self.refreshes = 0
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid access token, fetching one when there is none or it is about to expire."""
        token = self._token
        if token is not None and self.clock() < self._refresh_at:
            return token
        async with self._lock:
            if self._token is not None and self.clock() < self._refresh_at:
                return self._token
            await self._refresh()
        assert self._token is not None
        return self._token

    async def _refresh(self) -> None:
        if not self.signer.ready:
            # Parsing and validating an RSA key takes tens of milliseconds: off the loop, once.
            await asyncio.to_thread(self.signer.load_key)
        now = self.clock()
        form = urlencode({"grant_type": GRANT_TYPE, "assertion": self.signer.assertion(now)}).encode()
        uri = self.signer.account.token_uri
        response = await self.http.request(
            "POST", uri, headers={"content-type": "application/x-www-form-urlencoded", "accept": "application/json"},
            body=form, timeout=self.timeout,
        )
        if response.status >= 300:
            raise _token_error(response.status, response.content)
        try:
            body = orjson.loads(response.content)
            token, lifetime = str(body["access_token"]), float(body.get("expires_in") or 3600)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UpstreamProtocolError("The OAuth token endpoint answered without an access_token") from None
        self.refreshes += 1
        self._token = token
        self._refresh_at = now + lifetime - min(self.margin, lifetime / 2)


def _token_error(status: int, raw: bytes) -> SwitchyardError:
    detail = ""
    try:
        body = orjson.loads(raw)
        if isinstance(body, dict):
            detail = str(body.get("error_description") or body.get("error") or "")
    except orjson.JSONDecodeError:
        pass
    message = f"Vertex AI credentials were refused by the OAuth token endpoint (HTTP {status})"
    return from_upstream_status(401 if status in (400, 401, 403) else status,
                                f"{message}: {detail}" if detail else message)
