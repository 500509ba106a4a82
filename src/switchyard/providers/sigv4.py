"""AWS Signature Version 4, as Bedrock Runtime needs it (hand-written, no botocore).

Why not botocore: it is ~31 MB installed with ~0.1 s of import time (measured), and a
request needs only the hashing below (tested against AWS's published vectors
and against botocore's own output). The derived signing key is cached per
(date, region, service) in the ``Signer`` instance, so a request costs two
SHA-256 and two HMACs.

    canonical request = METHOD \\n canonical URI \\n canonical query \\n
                        canonical headers \\n signed header names \\n hex(sha256(body))
    string to sign    = AWS4-HMAC-SHA256 \\n amz-date \\n scope \\n hex(sha256(canonical request))
    scope             = YYYYMMDD/region/service/aws4_request
    signing key       = HMAC chain over "AWS4"+secret, date, region, service, "aws4_request"
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id[:4]}..., secret_access_key=***)"


def canonical_uri(path: str, *, double_encode: bool = True) -> str:
    """The path as signed: every service but S3 encodes the (already encoded) path again."""
    if not path:
        return "/"
    return quote(path, safe="/~") if double_encode else path


def canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


class Signer:
    """Signs requests for one service in one region with one set of credentials."""

    def __init__(self, credentials: Credentials, region: str, service: str = "bedrock") -> None:
        self.credentials = credentials
        self.region = region
        self.service = service
        self._key_date = ""
        self._key = b""

    def _signing_key(self, date: str) -> bytes:
        if date != self._key_date:
            self._key = signing_key(self.credentials.secret_access_key, date, self.region, self.service)
            self._key_date = date
        return self._key

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        *,
        query: str = "",
        now: datetime | None = None,
        content_sha256_header: bool = True,
    ) -> dict[str, str]:
        """The headers to send: ``headers`` plus ``host``, ``x-amz-date``,
        ``x-amz-content-sha256``, ``x-amz-security-token`` (session credentials) and
        ``authorization``. ``path`` is the URL path as sent (already percent-encoded)."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
        date = amz_date[:8]
        payload_hash = hashlib.sha256(body).hexdigest()
        out = {k.lower(): v for k, v in headers.items()}
        out["host"] = host
        out["x-amz-date"] = amz_date
        if content_sha256_header:
            out["x-amz-content-sha256"] = payload_hash
        if self.credentials.session_token:
            out["x-amz-security-token"] = self.credentials.session_token
        signed = sorted(out)
        canonical_headers = "".join(f"{name}:{' '.join(str(out[name]).split())}\n" for name in signed)
        signed_names = ";".join(signed)
        canonical_request = "\n".join(
            (method.upper(), canonical_uri(path), canonical_query(query), canonical_headers, signed_names, payload_hash)
        )
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        string_to_sign = "\n".join(
            (ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
        )
        signature = hmac.new(self._signing_key(date), string_to_sign.encode(), hashlib.sha256).hexdigest()
        out["authorization"] = (
            f"{ALGORITHM} Credential={self.credentials.access_key_id}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return out
