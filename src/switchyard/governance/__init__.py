"""Governance: tenants, teams, users and virtual keys; who may manage them.

::

    admin API / CLI ──> Admin (admin.py) ── rbac.require ──> Directory.save ──┐
         │  SignIn (signin.py): master key, OIDC JWT (oidc.py),             │ SQLite / PostgreSQL
         │  virtual key -> Principal                                       │ (sql_directory.py),
         │                                                                  │ or memory
         └─ AdminEvent ──> listeners (the audit log)                       │
                                                                            v
    every replica: DirectorySync (sync.py) ── changes(after revision) ──> KeySnapshot (snapshot.py)
                   woken by the `directory` channel, polling as a net         │
                                                                              v
    request path:  Authenticator.identify ── digest ──> KeySnapshot.find ──> Caller
                   (auth.py)                              (one dict lookup; models, tier, limits,
                                                           budgets, tags, routes, expiry)

What plugs in here:

* budgets — ``Caller.budgets`` holds every budget that applies to a request
  (``switchyard.budgets.BudgetLimit``: scope, subject id, terms); a budget stage
  reserves against them and settles in ``call.on_settle``;
* spend — ``Caller.key_id``, ``user_id``, ``team_id``, ``tenant_id`` name whom a
  request's spend belongs to; a key holder's own usage is readable under
  ``rbac.allowed(principal, "read", key)``;
* audit — ``Admin.listeners`` get an ``AdminEvent`` for every change (who,
  what, before, after, when, from where).
"""

from __future__ import annotations

from typing import Any

from switchyard.auth import Authenticator
from switchyard.core.config import Config
from switchyard.governance.admin import Admin, AdminEvent
from switchyard.governance.directory import Directory, open_directory
from switchyard.governance.rbac import Principal
from switchyard.governance.signin import SignIn
from switchyard.governance.snapshot import KeySnapshot
from switchyard.governance.sync import DirectorySync

__all__ = ["Admin", "AdminEvent", "Directory", "Governance", "KeySnapshot", "Principal"]


class Governance:
    """One replica's governance: the directory, its snapshot and sync, the admin operations, sign-in."""

    def __init__(self, directory: Directory, snapshot: KeySnapshot, sync: DirectorySync, admin: Admin,
                 signin: SignIn) -> None:
        self.directory = directory
        self.snapshot = snapshot
        self.sync = sync
        self.admin = admin
        self.signin = signin

    @classmethod
    def build(cls, config: Config, durable: Any, pubsub: Any, auth: Authenticator,
              snapshot: KeySnapshot) -> Governance:
        """For the durable store (``storage.url``); changes are announced on ``pubsub``
        (the shared store's when ``redis:`` is set, else the durable store's own)."""
        directory = open_directory(durable)
        sync = DirectorySync(directory, snapshot, pubsub, config.governance)
        admin = Admin(directory, snapshot, sync, config.governance)
        return cls(directory, snapshot, sync, admin, SignIn(auth, snapshot, config.governance.oidc))

    async def start(self) -> None:
        """Ready the directory and load every key before the first request."""
        await self.sync.start()

    async def aclose(self) -> None:
        await self.sync.aclose()
        await self.directory.aclose()

    def status(self) -> dict[str, Any]:
        """For ``/health/ready``: how many keys are held, at which revision, sync errors."""
        return {"keys": len(self.snapshot), "revision": self.snapshot.revision, "sync_errors": self.sync.errors}
