"""Admin sign-in with an OIDC/JWT bearer token, verified against the issuer's JWKS.

The JWKS is fetched from ``governance.oidc.jwks_url`` (or the ``jwks_uri`` of
the issuer's discovery document) and cached for ``cache_seconds`` by PyJWT's
``PyJWKClient``. A token signed by a key not in the cached set (the issuer
rotated its keys) makes the client fetch the set again — at most once per
``refresh_cooldown`` seconds, so a flood of tokens with made-up ``kid``s
costs the issuer one request per cooldown, not one per token. Fetches are
blocking (urllib), so they run in a worker thread, never on the event loop.

Checked: the signature (only the configured asymmetric algorithms — never
``none`` or HMAC), ``iss``, ``aud``, ``exp`` (required), ``nbf`` and ``iat``
with ``leeway``. Errors are 401s that say what was wrong with the token,
never the token; an issuer that cannot be reached is a 503.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import jwt

from switchyard.core.config.governance import OidcConfig
from switchyard.core.errors import AuthenticationFailed, ServiceUnavailable


class OidcVerifier:
    """Verifies bearer JWTs from one issuer; returns their claims."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self.audience = [config.audience] if isinstance(config.audience, str) else list(config.audience)
        self._client: jwt.PyJWKClient | None = None
        self._discovering: asyncio.Lock | None = None

    async def _jwks(self) -> jwt.PyJWKClient:
        if self._client is not None:
            return self._client
        if self._discovering is None:
            self._discovering = asyncio.Lock()
        async with self._discovering:
            if self._client is None:
                url = self.config.jwks_url
                if url is None:
                    url = await asyncio.to_thread(self._discover)
                self._client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=self.config.cache_seconds,
                                               timeout=self.config.timeout,
                                               cooldown_duration=self.config.refresh_cooldown)
        return self._client

    def _discover(self) -> str:
        where = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(where, timeout=self.config.timeout) as response:  # noqa: S310 - http(s) only
                document = json.load(response)
        except (OSError, ValueError) as exc:
            raise ServiceUnavailable(f"Cannot read the OIDC issuer's discovery document ({type(exc).__name__}).",
                                     code="oidc_unavailable") from None
        uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise ServiceUnavailable("The OIDC issuer's discovery document has no http(s) jwks_uri.",
                                     code="oidc_unavailable")
        return uri

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, once its signature, issuer, audience and times check out."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationFailed("The bearer token is not a well-formed JWT.", code="invalid_token") from None
        algorithm = header.get("alg")
        if algorithm not in self.config.algorithms:
            raise AuthenticationFailed(f"The token's algorithm {algorithm!r} is not accepted.", code="invalid_token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed("The token names no signing key (kid).", code="invalid_token")
        client = await self._jwks()
        try:
            signing = await asyncio.to_thread(client.get_signing_key, kid)
        except jwt.PyJWKClientConnectionError:
            raise ServiceUnavailable("Cannot reach the OIDC issuer's JWKS.", code="oidc_unavailable") from None
        except jwt.PyJWKClientError:
            raise AuthenticationFailed("The token was signed by a key the issuer does not publish.",
                                       code="invalid_token") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, signing.key, algorithms=[algorithm], audience=self.audience, issuer=self.config.issuer,
                leeway=self.config.leeway, options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("The token has expired.", code="invalid_token") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationFailed("The token is for another audience.", code="invalid_token") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationFailed("The token is from another issuer.", code="invalid_token") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"The token is not valid ({type(exc).__name__}).", code="invalid_token") from None
        return claims
