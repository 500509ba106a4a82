"""``GET /openapi.json``: generated from the structs that validate requests."""

from __future__ import annotations

import msgspec

from switchyard.core import messages
from switchyard.responses import request as responses_request
from switchyard.server.openapi import ChatCompletion, EmbeddingList, Error, ModelList, ResponseObject, build_document
from tests.policies.upstreams import get_json


def test_the_document_is_served_without_a_key_and_names_every_operation(start_gateway) -> None:
    gateway = start_gateway({"auth": {"master_key": "sk-m"}})
    status, document = get_json(gateway.url, "/openapi.json", key=None)
    assert status == 200 and document["openapi"].startswith("3.1")
    assert {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
            "/v1/models/{model}", "/v1/responses", "/v1/responses/{id}"} <= set(document["paths"])
    assert {"/admin/keys", "/admin/keys/{id}", "/admin/keys/{id}/rotate", "/admin/keys/{id}/revoke", "/admin/tenants",
            "/admin/teams/{id}", "/admin/users", "/admin/whoami", "/admin/audit", "/admin/spend", "/admin/deployments",
            "/admin/route"} <= set(document["paths"])
    refs = msgspec.json.encode(document).decode()
    for ref in {r.split('"')[0] for r in refs.split('"$ref":"#/components/schemas/')[1:]}:
        assert ref in document["components"]["schemas"], ref  # no dangling reference


def test_request_schemas_are_the_validators_own() -> None:
    schemas = build_document("t")["components"]["schemas"]
    chat = schemas["ChatCompletionRequest"]
    assert set(chat["required"]) == {"model", "messages"}
    assert chat["properties"]["temperature"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 2}
    # The same bound the validator applies: a field added to the struct shows up here.
    assert set(chat["properties"]) == set(messages._ChatSchema.__struct_fields__)
    assert set(schemas["EmbeddingRequest"]["properties"]) == set(messages._EmbeddingSchema.__struct_fields__)
    assert set(schemas["ResponsesRequest"]["properties"]) == set(responses_request._ResponsesSchema.__struct_fields__)


def test_real_answers_decode_as_the_documented_answers(start_gateway) -> None:
    import openai

    gateway = start_gateway({"models": {"echo": {"deployments": [{"provider": "fake", "model": "echo"}]},
                                        "vectors": {"deployments": [{"provider": "fake", "model": "embed"}]}}})
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="none", max_retries=0)
    chat = sdk.chat.completions.with_raw_response.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    msgspec.json.decode(chat.content, type=ChatCompletion)
    created = sdk.responses.with_raw_response.create(model="echo", input="hi")
    assert msgspec.json.decode(created.content, type=ResponseObject).status == "completed"
    embedded = sdk.embeddings.with_raw_response.create(model="vectors", input=["a", "b"])
    assert len(msgspec.json.decode(embedded.content, type=EmbeddingList).data) == 2
    status, listing = get_json(gateway.url, "/v1/models", key="none")
    assert status == 200 and msgspec.convert(listing, ModelList).data
    status, missing = get_json(gateway.url, "/v1/models/nope", key="none")
    assert status == 404 and msgspec.convert(missing, Error).error.code == "model_not_found"


def test_admin_bodies_and_queries_are_described_by_the_models_that_check_them() -> None:
    from switchyard.governance import payloads
    from switchyard.server import admin_queries

    document = build_document("t")
    schemas = document["components"]["schemas"]
    for name in ("TenantCreate", "TeamUpdate", "UserCreate", "KeyCreate", "KeyUpdate", "KeyRotate"):
        model = getattr(payloads, name)
        assert set(schemas[name]["properties"]) == set(model.model_fields), name  # a new field shows up here
        assert schemas[name]["additionalProperties"] is False, name  # unknown fields are refused
    assert schemas["KeyCreate"]["properties"]["rpm"]["anyOf"][0] == {"type": "integer", "minimum": 1,
                                                                      "maximum": 10**12}
    assert "pattern" in schemas["KeyCreate"]["properties"]["routes"]["anyOf"][0]["items"]
    audit = document["paths"]["/admin/audit"]["get"]["parameters"]
    assert [p["name"] for p in audit] == [f.alias or name for name, f in admin_queries.AuditParams.model_fields.items()]
    spend = {p["name"]: p for p in document["paths"]["/admin/spend"]["get"]["parameters"]}
    assert spend["group_by"]["required"] is True and "key" in spend["group_by"]["schema"]["enum"]
    assert spend["limit"]["schema"]["maximum"] == 10_000


def test_every_admin_operation_states_its_security_and_its_errors() -> None:
    document = build_document("t")
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["adminToken"]["bearerFormat"] == "JWT"
    assert schemes["apiKey"] == {**schemes["apiKey"], "in": "header", "name": "x-api-key"}
    for path, item in document["paths"].items():
        if not path.startswith("/admin/"):
            continue
        if "{id}" in path:
            assert item["parameters"][0]["in"] == "path" and item["parameters"][0]["required"] is True
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert {next(iter(s)) for s in operation["security"]} == {"bearer", "adminToken", "apiKey"}, path
            for status in ("400", "401", "403", "404", "503"):
                error = operation["responses"][status]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}, (path, method, status)
            assert "409" in operation["responses"] or method == "get" or path == "/admin/route", (path, method)


def test_admin_records_are_described_by_the_entities_less_their_secrets() -> None:
    from dataclasses import fields

    from switchyard.governance.entities import Key

    key = build_document("t")["components"]["schemas"]["Key"]
    shown = {f.name for f in fields(Key)} - {"digest", "previous_digest"}
    assert set(key["properties"]) == shown | {"object"} and set(key["required"]) == shown | {"object"}
