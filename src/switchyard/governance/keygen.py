"""A virtual key's secret: generated once, stored as its SHA-256, shown by its prefix.

``sk-sy-`` followed by 43 URL-safe characters (256 random bits). With that
much entropy a fast hash is enough (there is nothing to brute-force, unlike
a password), and it lets a request's key be found by one dict lookup on its
digest — the same digest the authenticator computes for static keys — so the
time taken never depends on how much of a guessed key matches.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from switchyard.auth import digest

PREFIX = "sk-sy-"
#: Characters of a secret shown after creation (``sk-sy-`` and six more).
SHOWN = len(PREFIX) + 6


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A freshly made secret: ``value`` is shown once, ``digest`` (hex) and ``prefix`` are stored."""

    value: str
    digest: str
    prefix: str

    def __repr__(self) -> str:  # never the value
        return f"NewSecret(prefix={self.prefix!r})"


def new_secret() -> NewSecret:
    value = PREFIX + secrets.token_urlsafe(32)
    return NewSecret(value, digest(value).hex(), value[:SHOWN])


def new_id(kind: str) -> str:
    """An entity id: ``ten_``, ``team_``, ``usr_`` or ``key_`` and 16 hex characters."""
    head = {"tenant": "ten", "team": "team", "user": "usr", "key": "key"}[kind]
    return f"{head}_{secrets.token_hex(8)}"
