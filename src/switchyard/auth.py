"""Client authentication: the master key, the static keys of the config, and virtual keys.

Keys are looked up by their SHA-256 digest, so the time taken does not depend
on how much of a guessed key matches; the master key is compared with
``hmac.compare_digest``. Virtual keys (issued at run time through the admin
API, see ``switchyard.governance``) come from a ``KeySource``: an in-memory
snapshot of the directory, so authenticating one is a dict lookup too — no
database on the request path. Static keys are looked up first.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from switchyard.budgets.limit import BudgetLimit
from switchyard.core.config import AuthConfig
from switchyard.core.errors import AuthenticationFailed, PermissionDenied

if TYPE_CHECKING:
    from switchyard.storage.limits.gcra import Bucket


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as far as policies care.

    A virtual key's caller also carries its directory ids (``key_id``, ``user_id``,
    ``team_id``, ``tenant_id``), its ``tags`` and allowed ``routes``, its own
    admission ``limits`` (buckets for its key, team and tenant rpm/tpm, counted by
    the admission stage like ``limits.rules``), its ``budgets`` (the terms of every
    budget that applies: key, user, team, tenant — for the budget stage), and
    ``expires_at`` (epoch seconds).
    """

    name: str
    is_master: bool = False
    tenant: str | None = None
    team: str | None = None
    tier: str | None = None
    models: frozenset[str] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    key_id: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    tenant_id: str | None = None
    tags: frozenset[str] = frozenset()
    routes: frozenset[str] | None = None
    limits: tuple[Bucket, ...] = ()
    budgets: tuple[BudgetLimit, ...] = ()
    expires_at: float | None = None
    #: The guard policy its requests get (``guard.policies``; ``off``: none), over the alias's; None: the alias's.
    guard: str | None = None
    #: Data residency: the only regions its requests may be sent to (None: anywhere).
    regions: frozenset[str] | None = None

    def allowed(self, aliases: list[str]) -> list[str]:
        """The ones of ``aliases`` this key may use."""
        return aliases if self.models is None else [a for a in aliases if a in self.models]

    def check_model(self, alias: str) -> None:
        if self.models is not None and alias not in self.models:
            raise PermissionDenied(f"This key may not use the model `{alias}`.", param="model", code="model_not_allowed")

    def check_route(self, path: str) -> None:
        """403 unless ``path`` is one of ``routes`` or under one (``/v1`` optional on both)."""
        routes = self.routes
        if routes is None:
            return
        here = path[3:] if path.startswith("/v1/") else path
        while here:
            if here in routes:
                return
            here = here.rpartition("/")[0]
        raise PermissionDenied(f"This key may not call {path}.", code="route_not_allowed")


ANONYMOUS = Caller(name="anonymous")


def digest(key: str) -> bytes:
    """The lookup digest of a presented key (static and virtual keys alike)."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


_digest = digest


class KeySource(Protocol):
    """Where keys issued at run time are found by digest (``governance.snapshot.KeySnapshot``)."""

    def find(self, digest: bytes) -> Caller | None:
        """The key's caller; None when unknown. Raises ``AuthenticationFailed`` for a key that
        was revoked or has expired."""
        ...

    def by_id(self, key_id: str) -> Caller | None:
        """The caller of the key with this id (as ``find``), for work done later on its behalf."""
        ...


class Authenticator:
    """Turns the presented credential into a ``Caller`` or raises 401."""

    def __init__(self, config: AuthConfig, keys: KeySource | None = None, *, enabled: bool | None = None) -> None:
        self.enabled = config.enabled if enabled is None else enabled
        self._master = _digest(config.master_key.get_secret_value()) if config.master_key else None
        #: The master key's caller, made once (a frozen dataclass of 18 fields costs ~5k instructions to build).
        self._master_caller = Caller(name="master", is_master=True)
        self._keys: dict[bytes, Caller] = {}
        self._named: dict[str, Caller] = {}
        self._virtual = keys
        for entry in config.keys:
            self._keys[_digest(entry.key.get_secret_value())] = Caller(
                name=entry.name,
                tenant=entry.tenant,
                team=entry.team,
                tier=entry.tier,
                models=frozenset(entry.models) if entry.models is not None else None,
                metadata=dict(entry.metadata),
                budgets=(BudgetLimit("key", entry.name, entry.name, entry.budget),) if entry.budget else (),
                guard=entry.guard,
                regions=frozenset(entry.regions) if entry.regions is not None else None,
            )
            self._named[entry.name] = self._keys[_digest(entry.key.get_secret_value())]

    @staticmethod
    def presented(authorization: str | None, api_key: str | None) -> str | None:
        """The credential of ``Authorization: Bearer <key>`` (preferred) or ``x-api-key: <key>``."""
        key = api_key.strip() if api_key else None  # the same whitespace rule as a bearer token
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                key = value.strip()
        return key or None

    def authenticate(self, authorization: str | None, api_key: str | None) -> Caller:
        """From ``Authorization: Bearer <key>`` or ``x-api-key: <key>``."""
        if not self.enabled:
            return ANONYMOUS
        key = self.presented(authorization, api_key)
        if not key:
            raise AuthenticationFailed(
                "Missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`.", code="missing_api_key"
            )
        return self.identify(key)

    def identify(self, key: str) -> Caller:
        """The caller a key stands for, or 401."""
        digest = _digest(key)
        if self._master is not None and hmac.compare_digest(digest, self._master):
            return self._master_caller
        caller = self._keys.get(digest)
        if caller is None and self._virtual is not None:
            caller = self._virtual.find(digest)
        if caller is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return caller

    def identity(self, caller: Caller) -> str:
        """A caller as it can be written down and found again later (``caller_for``): ``master``,
        ``key:<id>`` (a virtual key), ``static:<name>`` (a key of the config), ``anonymous`` (auth off).
        Work done later on a caller's behalf (a batch's lines) runs as it stands then: a key
        revoked meanwhile is refused, a rotated one keeps working."""
        if not self.enabled or caller is ANONYMOUS:
            return "anonymous"
        if caller.is_master:
            return "master"
        if caller.key_id is not None:
            return f"key:{caller.key_id}"
        return f"static:{caller.name}"

    def caller_for(self, identity: str) -> Caller:
        """The caller ``identity`` stands for now, or 401 (``key_revoked``, ``key_expired``, or a key
        that is no longer known)."""
        if identity == "anonymous":
            if self.enabled:
                raise AuthenticationFailed("Work of an unauthenticated caller cannot run: authentication is on.")
            return ANONYMOUS
        if identity == "master":
            if self._master is None:
                raise AuthenticationFailed("The master key is no longer configured.")
            return self._master_caller
        kind, _, name = identity.partition(":")
        caller: Caller | None = None
        if kind == "static":
            caller = self._named.get(name)
        elif kind == "key" and self._virtual is not None:
            caller = self._virtual.by_id(name)
        if caller is None:
            raise AuthenticationFailed("The key this work was submitted with is no longer known.")
        return caller
