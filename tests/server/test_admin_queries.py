"""The admin API's query strings, parsed by the models ``/openapi.json`` describes them with."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchyard.core.errors import InvalidRequest
from switchyard.server.admin_queries import AuditParams, KeyPage, SpendParams, parse_query
from tests.server.raw_http import request as http_request

MASTER = "sk-master-queries"


@pytest.mark.parametrize(("query", "param", "reason"), [
    (b"group_by=team&from=-5.5e91", "from", "between the years 1 and 9999"),  # found by the fuzz: a 500
    (b"group_by=team&to=1e300", "to", "between the years 1 and 9999"),
    (b"group_by=team&from=nan", "from", "between the years 1 and 9999"),
    (b"group_by=team&from=yesterday", "from", "ISO 8601"),
    (b"group_by=team&from=2026-12-01&to=2026-11-01", "to", "must not be before"),
    (b"group_by=colour", "group_by", "Input should be"),
    (b"group_by=team&group_by=key", "group_by", "given once"),
    (b"group_by=team&limit=0", "limit", "greater than or equal to 1"),
    (b"group_by=team&sort=cost", "sort", "Unknown query parameter"),
])
def test_a_bad_spend_query_is_a_400_naming_the_parameter(query: bytes, param: str, reason: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_query(SpendParams, query)
    assert refused.value.param == param and reason in refused.value.message, refused.value.message


def test_good_queries_are_read_as_their_types() -> None:
    spend = parse_query(SpendParams, b"group_by=model&from=2026-11-01T00:00:00Z&to=1796083200&limit=5")
    assert (spend.group_by, spend.since, spend.until, spend.limit) == ("model", 1793491200.0, 1796083200.0, 5)
    audit = parse_query(AuditParams, b"kind=tool&actor=master&after=12")
    assert (audit.kind, audit.actor, audit.after, audit.limit) == ("tool", "master", 12, 100)
    keys = parse_query(KeyPage, b"team=ml&status=revoked")
    assert (keys.team, keys.status, keys.limit, keys.after) == ("ml", "revoked", 100, None)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_spend_report_far_outside_time_is_refused_not_a_500(start_gateway: Any, tmp_path: Any, store: str,
                                                               request: pytest.FixtureRequest) -> None:
    if store == "sqlite":
        url = f"sqlite:///{tmp_path / 'spend.db'}"
    else:
        from switchyard.storage.migrate import upgrade

        url = request.getfixturevalue("postgres_url")
        asyncio.run(upgrade(url))
    gateway = start_gateway({"auth": {"master_key": MASTER}, "storage": {"url": url}, "spend": {"records": True},
                             "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}})
    auth = {"authorization": f"Bearer {MASTER}"}
    refused = http_request(gateway.url, "GET", "/admin/spend?group_by=tenant&from=-5.5e91", headers=auth)
    assert refused.status == 400 and refused.json()["error"]["param"] == "from", refused.body
    answered = http_request(gateway.url, "GET", "/admin/spend?group_by=tenant&from=-62135596800&to=253402300799",
                       headers=auth)
    assert answered.status == 200 and answered.json()["object"] == "spend_report"
