"""Store URLs: the scheme picks the backend; the password never prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit


class StoreURLError(ValueError):
    """A store URL that cannot be used; the message names the field, never the password."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


def mask(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to log)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


@dataclass(frozen=True)
class StoreSpec:
    """What a backend is built from: the URL (secret), its parts, the key prefix and options."""

    url: str = field(repr=False)
    scheme: str
    prefix: str = "switchyard:"
    #: Query parameters of the URL (``?max_keys=…``) merged with keyword options of ``open_store``.
    options: dict[str, Any] = field(default_factory=dict)
    #: The config field the URL came from, for error messages.
    field_name: str = "storage.url"

    @property
    def masked(self) -> str:
        return mask(self.url)

    @property
    def parts(self) -> SplitResult:
        return urlsplit(self.url)

    def error(self, reason: str) -> StoreURLError:
        return StoreURLError(self.field_name, reason)


def parse(url: str, *, prefix: str, options: dict[str, Any], field_name: str) -> StoreSpec:
    """Split ``url`` into a ``StoreSpec``; errors name ``field_name`` and never echo the URL."""
    if not isinstance(url, str) or "://" not in url:
        raise StoreURLError(field_name, "must be a URL such as memory://, sqlite:///path, redis://host or "
                                        "postgresql://host/db")
    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
    except ValueError as exc:
        raise StoreURLError(field_name, f"not a valid URL ({type(exc).__name__})") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise StoreURLError(field_name, "has no scheme")
    return StoreSpec(url=url, scheme=scheme, prefix=prefix, options={**query, **options}, field_name=field_name)
