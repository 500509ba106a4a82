"""Whose entries are whose: the partition, from the caller's key and nothing else.

The server decides it from the caller it authenticated (``Call.caller``); nothing
a client writes — a header, ``user``, ``metadata`` — takes part. ``cache.partition``
picks the level:

=========  ==================================================================
tenant     every key of one tenant shares (a virtual key: the directory's
           tenant id; a static key: its configured ``tenant``)
team       every key of one team shares (directory team id, or ``team``)
key        each key has its own entries
=========  ==================================================================

A caller without a tenant (or team) is kept apart by its own key; the master
key is a key like any other. With authentication off there is one caller
(``anonymous``), so one partition. Names and ids are told apart by their
prefixes (a static tenant named like a directory id is still another partition).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from switchyard.auth import Caller


def partition_of(caller: Caller | None, level: str) -> str:
    """The partition of ``caller`` at ``level`` (``tenant``, ``team`` or ``key``)."""
    if caller is None:
        return "open"
    if level == "tenant":
        if caller.tenant_id is not None:
            return "tenant-id:" + caller.tenant_id
        if caller.tenant is not None:
            return "tenant:" + caller.tenant
    elif level == "team":
        if caller.team_id is not None:
            return "team-id:" + caller.team_id
        if caller.team is not None:
            return "team:" + caller.team
    key_id = caller.key_id  # the key itself (a caller without a tenant or team, too)
    return "key:" + caller.name if key_id is None else "key-id:" + key_id
