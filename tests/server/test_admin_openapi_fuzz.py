"""A bounded fuzz of the gateway against its own ``/openapi.json``: the admin API included.

A gateway on loopback with authentication on (a master key) and its durable store in a real
SQLite file, or in the real PostgreSQL — so the directory, the audit log and spend records are
live — serves its OpenAPI document; schemathesis reads it from there and sends every operation requests generated from
it: valid ones, and in its negative mode ones that break the schema. A few tenants, teams,
users and keys exist first, so the generated ids and names sometimes hit real records. Each
answer must be:

- no 5xx, no stack trace;
- a status the document lists for the operation, with its content type;
- an error in the documented shape ``{"error": {"message", "type", "param", "code"}}``;
- a 2xx valid against the documented answer;
- a request the document says is invalid refused with a 4xx (``negative_data_rejection``).

Each case is sent as the owner (the master key) or, one in four, as a key holder (a virtual key:
403s, and its own records). Bounded: ``EXAMPLES`` per operation, three times as many for reads (the
whole file well under a minute for both stores), and reproducible: the seed is fixed unless ``SWITCHYARD_FUZZ_SEED`` sets another.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from switchyard.server.runner import GatewayThread

MASTER = "sk-master-admin-fuzz"
EXAMPLES = int(os.environ.get("SWITCHYARD_FUZZ_EXAMPLES", "8"))
#: Reads take only query strings and ids, quick to make and to answer: three times as many.
READS = 3
SEED = int(os.environ.get("SWITCHYARD_FUZZ_SEED", "20261127"))
ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The durable store's URL: a SQLite file, or a schema of its own in the real PostgreSQL (which,
    unlike SQLite, refuses a NUL in text: the fuzz found admin routes that answered 500 for it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('admin-fuzz') / 'switchyard.db'}"
        return
    import asyncpg

    from switchyard.storage.migrate import upgrade

    server = request.getfixturevalue("postgres_server")
    schema = f"syfuzz_{uuid.uuid4().hex[:12]}"
    url = f"{server}?schema={schema}"
    asyncio.run(upgrade(url))
    yield url

    async def drop() -> None:
        connection = await asyncpg.connect(server, timeout=5)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()

    asyncio.run(drop())


@pytest.fixture(scope="module")
def gateway(storage: str) -> Iterator[GatewayThread]:
    config = {
        "auth": {"master_key": MASTER},
        "storage": {"url": storage},
        "spend": {"records": True},
        "audit": {"requests": True},
        "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]},
                   "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
                   "split": {"strategy": "weighted", "experiment": "prompt-v2", "deployments": [
                       {"provider": "fake", "model": "echo", "id": "control", "weight": 1},
                       {"provider": "fake", "model": "echo", "id": "treatment", "weight": 1}]}},
    }
    with GatewayThread(config) as running:
        yield running


@pytest.fixture(scope="module")
def records(gateway: GatewayThread) -> dict[str, str]:
    return _records(gateway)


def _records(gateway: GatewayThread) -> dict[str, str]:
    """A small directory to hit: a tenant, a team, a user, a key (its secret: a key holder)."""
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = requests.post(gateway.url + path, json=body, headers=_auth(MASTER), timeout=10)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    tenant = post("/admin/tenants", {"name": "acme", "budget": {"amount": 100}})
    team = post("/admin/teams", {"name": "ml", "tenant": "acme", "rpm": 600})
    user = post("/admin/users", {"email": "ada@example.com", "team": "ml", "role": "team_admin"})
    key = post("/admin/keys", {"team": "ml", "user": "ada@example.com", "name": "ci", "models": ["chat"]})
    requests.post(gateway.url + "/v1/chat/completions", headers=_auth(key["key"]), timeout=10,
                  json={"model": "chat", "messages": [{"role": "user", "content": "spend something"}]})
    for _ in range(3):  # an experiment with figures to report
        requests.post(gateway.url + "/v1/chat/completions", headers=_auth(MASTER), timeout=10,
                      json={"model": "split", "messages": [{"role": "user", "content": "try a variant"}]})
    return {"tenant": tenant["id"], "team": team["id"], "user": user["id"], "key": key["id"], "secret": key["key"]}


@pytest.fixture(scope="module")
def schema(gateway: GatewayThread) -> Any:
    document = requests.get(gateway.url + "/openapi.json", timeout=10).json()
    return schemathesis.openapi.from_dict(document)


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _operations(document_paths: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((path, method.upper()) for path, item in document_paths.items() for method in item
                  if method in ("get", "post", "patch", "delete"))


def _check_error(response: schemathesis.Response, where: str) -> None:
    assert (response.headers.get("content-type") or [""])[0] == "application/json", where
    error = response.json().get("error")
    assert isinstance(error, dict) and ERROR_KEYS <= set(error), f"{where}: not the error shape: {error!r}"
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str), where


NAMES = {"tenant": "acme", "team": "ml", "user": "ada@example.com"}


def _hit_records(case: schemathesis.Case, records: dict[str, str]) -> None:
    """Aim a generated case at records that exist: its path's id, the owners its body names."""
    if case.path_parameters and "name" in case.path_parameters and case.path.startswith("/admin/experiments/"):
        case.path_parameters["name"] = "prompt-v2"
    if case.path_parameters and "id" in case.path_parameters:
        kind = case.path.split("/")[2].rstrip("s")
        if kind in records:
            case.path_parameters["id"] = records[kind]
    if isinstance(case.body, dict):
        for field, name in NAMES.items():
            if isinstance(case.body.get(field), str):
                case.body[field] = name


def _fuzz(gateway: GatewayThread, schema: Any, records: dict[str, str], path: str, method: str) -> None:
    operation = schema[path][method]
    session = requests.Session()
    # Valid cases, half of them aimed at existing records; and cases that break the schema.
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    cases = st.tuples(st.one_of(st.tuples(positive, st.booleans()),
                                st.tuples(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
                                          st.just(False))),
                      st.sampled_from([MASTER, MASTER, MASTER, records["secret"]]))
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance, negative_data_rejection]

    @seed(SEED)
    @settings(max_examples=EXAMPLES * (READS if method == "GET" else 1), deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(drawn=cases)
    def run(drawn: tuple[tuple[schemathesis.Case, bool], str]) -> None:
        (case, aim), key = drawn
        if aim:
            _hit_records(case, records)
        headers = {**(case.headers or {}), **_auth(key)}
        response = case.call(base_url=gateway.url, session=session, headers=headers, timeout=30)
        body = None if case.body is NOT_SET else case.body
        where = (f"{method} {case.formatted_path} {case.query or ''} -> {response.status_code} for "
                 f"{json.dumps(body, default=str)[:600]}: {response.text[:600]}")
        assert response.status_code < 500, where
        assert "Traceback" not in response.text, where
        if response.status_code >= 400:
            _check_error(response, where)
        case.validate_response(response, checks=checks)

    try:
        run()
    finally:
        session.close()


def _document_paths() -> dict[str, Any]:
    from switchyard.server.openapi import build_document

    return dict(build_document("test")["paths"])


#: Routes of features the first gateway runs without (no ``slo:``, no semantic cache, no ``mcp:``, no
#: ``flows:``): each answers its documented 503 there (checked below); the SLO and semantic cache routes
#: are fuzzed on a gateway with them on (``featured``).
FEATURE_OFF = {"/admin/slo": "slo_off", "/admin/cache/semantic": "semantic_cache_off", "/admin/mcp": "mcp_off",
               **{f"/admin/flows/{what}": "flows_off" for what in ("runs", "runs/{id}", "events/{id}", "journal/{id}",
                                                                  "trace/{id}", "send/{id}", "cancel/{id}",
                                                                  "resume/{id}")}}
ADMIN = [op for op in _operations(_document_paths()) if op[0].startswith("/admin/") and op[0] not in FEATURE_OFF]


def test_the_routes_of_features_off_here_answer_their_documented_503(gateway):
    document = _document_paths()
    for path, code in FEATURE_OFF.items():
        for method in (m for m in document[path] if m != "parameters"):
            assert "503" in document[path][method]["responses"]
            answer = requests.request(method.upper(), gateway.url + path + "?partition=open",
                                      headers=_auth(MASTER), timeout=10)
            assert answer.status_code == 503 and answer.json()["error"]["code"] == code, (path, method)


@pytest.mark.parametrize(("path", "method"), ADMIN)
def test_the_admin_api_against_its_own_document(gateway, schema, records, path, method):
    _fuzz(gateway, schema, records, path, method)


@pytest.fixture(scope="module")
def featured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    """A gateway with the features the first runs without: SLOs, and the semantic cache (on SQLite:
    these routes read no store, so once is enough)."""
    config = {
        "auth": {"master_key": MASTER},
        "storage": {"url": f"sqlite:///{tmp_path_factory.mktemp('admin-fuzz-on') / 'switchyard.db'}"},
        "slo": {"objectives": [{"alias": "chat", "availability": 0.99, "window": "1h"},
                               {"alias": "chat", "latency_p95": 2.5, "window": "10m", "min_requests": 1}]},
        "cache": {"semantic": {"preload": True}},
        "models": {"chat": {"cache": {"semantic": True}, "deployments": [{"provider": "fake", "model": "echo"}]}},
    }
    with GatewayThread(config) as running:
        yield running


@pytest.mark.parametrize(("path", "method"), sorted((path, method.upper()) for path in ("/admin/slo", "/admin/cache/semantic")
                                                    for method in _document_paths()[path]))
def test_the_routes_of_features_on_against_their_document(featured, featured_records, path, method):
    document = requests.get(featured.url + "/openapi.json", timeout=10).json()
    _fuzz(featured, schemathesis.openapi.from_dict(document), featured_records, path, method)


@pytest.fixture(scope="module")
def featured_records(featured: GatewayThread) -> dict[str, str]:
    return _records(featured)


def test_every_admin_route_is_in_the_document(gateway):
    from switchyard.server.routes import RouteTable

    documented = {(re.sub(r"\{[a-z_]+\}", "{}", path), method) for path, method in _operations(_document_paths())}
    table = gateway.app.routes
    served = {(path, method) for path, methods in table._exact.items() for method in methods
              if path.startswith("/admin/")}
    served |= {(prefix + "{}", method) for prefix, _, methods in table._prefixed for method in methods
               if prefix.startswith("/admin/")}
    assert isinstance(table, RouteTable)
    assert served - documented <= {("/admin/keys/{}", "POST")}  # rotate and revoke, documented by their suffix
    assert {("/admin/keys/{}/rotate", "POST"), ("/admin/keys/{}/revoke", "POST")} <= documented
