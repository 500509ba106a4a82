"""Config for how the gateway reaches upstreams: the TLS trust and a deployment's proxy.

``tls:`` at the top applies to every deployment without its own ``tls:``. The
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` environment applies to every
deployment without its own ``proxy:``. A proxy URL may hold a password, so it is
a secret that never prints; a bad one is reported by its field, never echoed.
"""

from __future__ import annotations

import ssl
import urllib.parse

from pydantic import Field, SecretStr, field_validator

from switchyard.core.config.base import Strict


class TLSConfig(Strict):
    """Whom upstream certificates must chain to."""

    ca_file: str | None = Field(
        default=None,
        description="A PEM bundle of CA certificates trusted besides the system's (a private CA, a TLS-inspecting proxy).",
    )
    verify: bool = Field(default=True, description="false accepts any certificate: for a local test upstream only.")

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=value)
        except ssl.SSLError:
            raise ValueError(f"{value}: no PEM certificate in it") from None
        except OSError as exc:
            raise ValueError(f"{value}: {exc.strerror or exc}") from None
        return value


def proxy_url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable ``http://[user:password@]host[:port]`` proxy, or None.
    The reason names the rule, never the URL (it may hold a password)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "not a valid URL"
    if parts.scheme == "https":
        return "an https:// proxy is not supported; use the proxy's http:// address"
    if parts.scheme != "http" or not parts.hostname:
        return "must be http://[user:password@]host:port"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must not have a path or query"
    return None


def check_proxy_url(value: SecretStr | None) -> SecretStr | None:
    """The ``proxy:`` field's validator."""
    problem = None if value is None else proxy_url_problem(value.get_secret_value())
    if problem is not None:
        raise ValueError(problem)
    return value
