"""Replicas follow each other: real ``switchyard serve`` processes sharing the local Redis and one
PostgreSQL database. A key created or revoked through one is accepted or refused by the others
within a second — measured here, with the poll (the safety net) set far above that, so the
notification is what carries it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai

from switchyard.storage.migrate import upgrade
from tests.governance.conftest import FAKE, MASTER, AdminClient

HI = [{"role": "user", "content": "are you there"}]
#: Seconds a change may take to reach every replica.
WITHIN = 1.0


class Probe:
    """Asks one replica whether it accepts one key (the official SDK, its connection kept open)."""

    def __init__(self, url: str, key: str) -> None:
        self.client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=5)

    def accepts(self) -> bool:
        try:
            self.client.chat.completions.create(model="fake/echo", messages=HI)
        except openai.AuthenticationError:
            return False
        return True

    def refuses(self) -> bool:
        return not self.accepts()


def accepts(url: str, key: str) -> bool:
    return Probe(url, key).accepts()


def until(check: Callable[[], bool], within: float = 5.0) -> float:
    """Seconds until ``check()`` holds (bounded); inf if it never did."""
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        if check():
            return time.perf_counter() - started
    return float("inf")


def replicas(start: Callable[..., Any], count: int, config: dict[str, Any]) -> list[str]:
    return [start(config).url for _ in range(count)]


async def test_three_processes_on_redis_and_postgresql_follow_a_revocation_within_a_second(
        start_gateway_process: Callable[..., Any], postgres_url: str, redis_url: str, redis_prefix: str) -> None:
    await upgrade(postgres_url)
    config = {"auth": {"master_key": MASTER}, "models": FAKE, "storage": {"url": postgres_url},
              "redis": {"url": redis_url, "prefix": redis_prefix}, "governance": {"poll_interval": 30}}
    first, *others = replicas(start_gateway_process, 3, config)
    admin = AdminClient(first)
    admin.ok("POST", "/admin/tenants", {"name": "acme"})
    created = admin.ok("POST", "/admin/keys", {"tenant": "acme"})
    home, *probes = [Probe(url, created["key"]) for url in (first, *others)]
    assert home.accepts()  # at once where it was made
    reached = [until(probe.accepts) for probe in probes]

    admin.ok("POST", f"/admin/keys/{created['id']}/revoke")
    revoked_at = time.perf_counter()
    assert home.refuses()  # at once where it was revoked
    refused = [until(probe.refuses) for probe in probes]  # the clock runs on from the revocation
    assert all(seconds < WITHIN for seconds in refused)
    since_revoke = time.perf_counter() - revoked_at
    print(f"\ncreated: accepted by the other replicas after {', '.join(f'{s * 1000:.1f} ms' for s in reached)}; "
          f"revoked: refused by all three {since_revoke * 1000:.1f} ms after the revoke answered")
    assert max(reached) < WITHIN and since_revoke < WITHIN


async def test_without_redis_postgresql_notifies_the_other_replicas(
        start_gateway_process: Callable[..., Any], postgres_url: str) -> None:
    await upgrade(postgres_url)
    config = {"auth": {"master_key": MASTER}, "models": FAKE, "storage": {"url": postgres_url},
              "governance": {"poll_interval": 30}}
    first, second = replicas(start_gateway_process, 2, config)
    admin = AdminClient(first)
    admin.ok("POST", "/admin/tenants", {"name": "acme"})
    created = admin.ok("POST", "/admin/keys", {"tenant": "acme"})
    assert until(lambda: accepts(second, created["key"])) < WITHIN
    admin.ok("PATCH", f"/admin/keys/{created['id']}", {"models": ["fake/slow"]})
    client = openai.OpenAI(base_url=second + "/v1", api_key=created["key"], max_retries=0, timeout=5)

    def narrowed() -> bool:
        try:
            client.chat.completions.create(model="fake/echo", messages=HI)
        except openai.PermissionDeniedError:
            return True
        return False

    assert until(narrowed) < WITHIN


async def test_processes_sharing_a_sqlite_file_follow_by_polling(
        start_gateway_process: Callable[..., Any], tmp_path: Any) -> None:
    config = {"auth": {"master_key": MASTER}, "models": FAKE, "storage": {"url": f"sqlite:///{tmp_path / 'g.db'}"},
              "governance": {"poll_interval": 0.2}}
    first, second = replicas(start_gateway_process, 2, config)
    admin = AdminClient(first)
    admin.ok("POST", "/admin/tenants", {"name": "acme"})
    created = admin.ok("POST", "/admin/keys", {"tenant": "acme"})
    assert until(lambda: accepts(second, created["key"])) < WITHIN
    admin.ok("POST", f"/admin/keys/{created['id']}/revoke")
    assert until(lambda: not accepts(second, created["key"])) < WITHIN
