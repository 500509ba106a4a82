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
    assert set(document["paths"]) == {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
                                      "/v1/models/{model}", "/v1/responses", "/v1/responses/{id}"}
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
