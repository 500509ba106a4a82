"""A bounded fuzz of the OpenAI surface against OpenAI's own published OpenAPI spec.

``openapi/openai-subset.json`` is OpenAI's ``openapi.yaml`` (github.com/openai/openai-openapi,
the commit under ``info.x-source``) trimmed by ``openapi/trim.py`` to the operations the
gateway implements. schemathesis generates requests from it — valid ones and, in its
negative mode, ones that break the schema — and sends them to a gateway on loopback whose
aliases lead to mock upstreams of every wire format (OpenAI, Anthropic, Gemini, Bedrock,
Cohere, Ollama). Every answer must be:

- no 5xx, no stack trace;
- an error in OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``;
- a 2xx valid against the spec's response schema (each SSE event of a stream too).

The run is bounded (``EXAMPLES`` per operation and format, the whole file well under a
minute) and reproducible: the seed is fixed unless ``SWITCHYARD_FUZZ_SEED`` sets another.
"""

from __future__ import annotations

import array
import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import response_schema_conformance

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread

SPEC = json.loads((Path(__file__).parent / "openapi" / "openai-subset.json").read_text())
SCHEMA = schemathesis.openapi.from_dict(SPEC)
EXAMPLES = int(os.environ.get("SWITCHYARD_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("SWITCHYARD_FUZZ_SEED", "20261126"))
FORMATS = ["openai", "anthropic", "gemini", "bedrock", "cohere", "ollama"]


def _deployments(mock: MockUpstreamThread) -> dict[str, dict[str, Any]]:
    """Two aliases per wire format, ``<format>`` (chat) and ``<format>-embed``, at the mock."""
    root = mock.url
    aws = {"aws_access_key_id": "AKIAFUZZ", "aws_secret_access_key": "fuzz", "aws_region": "us-east-1"}
    chat = {
        "openai": {"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url, "api_key": "k"},
        "anthropic": {"provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": root, "api_key": "k"},
        "gemini": {"provider": "gemini", "model": "gemini-2.5-flash", "base_url": root + "/v1beta", "api_key": "k"},
        "bedrock": {"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0", "base_url": root,
                    "options": aws},
        "cohere": {"provider": "cohere", "model": "command-a-03-2025", "base_url": root, "api_key": "k"},
        "ollama": {"provider": "ollama_chat", "model": "llama3.2", "base_url": root},
    }
    embed_models = {"openai": "text-embedding-3-small", "anthropic": "claude-sonnet-4-5",
                    "gemini": "text-embedding-004", "bedrock": "amazon.titan-embed-text-v2:0",
                    "cohere": "embed-english-v3.0", "ollama": "nomic-embed-text"}
    aliases: dict[str, dict[str, Any]] = {}
    for name, deployment in chat.items():
        # A hang would be a 504 here, and a failure, rather than a stalled test.
        aliases[name] = {"deployments": [{**deployment, "timeouts": {"request": 10}}]}
        aliases[f"{name}-embed"] = {"deployments": [{**deployment, "model": embed_models[name],
                                                     "timeouts": {"request": 10}}]}
    return aliases


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayThread]:
    with MockUpstreamThread(stream_chunks=3) as mock:
        config = {"models": _deployments(mock), "reliability": {"retry": {"attempts": 1}}}
        with GatewayThread(config) as running:
            yield running


def _json_schema(node: Any) -> Any:
    """OpenAPI's ``nullable: true`` (which the spec still uses) as JSON Schema: ``anyOf`` with null."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") is True else converted


def _validator(name: str) -> jsonschema_rs.Draft202012Validator:
    """Validates one SSE event (schemathesis checks whole JSON bodies, not events)."""
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": _json_schema(SPEC["components"])})


CHAT_CHUNK = _validator("CreateChatCompletionStreamResponse")
EMBEDDINGS = _validator("CreateEmbeddingResponse")
ERROR_KEYS = {"message", "type", "param", "code"}


def _check_error(error: Any, where: str) -> None:
    assert isinstance(error, dict) and ERROR_KEYS <= set(error), f"{where}: not OpenAI's error shape: {error!r}"
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str), where
    assert "Traceback" not in error["message"], where


def _content_type(response: schemathesis.Response) -> str:
    values = response.headers.get("content-type") or [""]
    return values[0]


def _valid(validator: jsonschema_rs.Draft202012Validator, data: Any, where: str) -> None:
    errors = list(validator.iter_errors(data))
    assert not errors, f"{where}: not valid against the spec: {errors[0].message} in {str(data)[:500]}"


def _check_stream(path: str, response: schemathesis.Response, where: str) -> None:
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert events and events[-1] == "[DONE]", f"{where}: a stream that did not complete: {response.text[-500:]}"
    for event in events[:-1]:
        data = orjson.loads(event)
        assert "error" not in data, f"{where}: a valid request's stream failed: {data}"
        if path == "/chat/completions":
            _valid(CHAT_CHUNK, data, where)
        else:  # the spec has no stream schema for legacy completions: chunks are text completions
            assert data["object"] == "text_completion" and isinstance(data["choices"], list), where
            assert all(isinstance(choice["text"], str) for choice in data["choices"]), where


def _check_base64_embeddings(response: schemathesis.Response, where: str) -> None:
    """The spec types every embedding as a list of floats, also when ``encoding_format`` is
    ``base64`` (a string, as OpenAI sends): decoded to its float32s, it must conform."""
    body = response.json()
    for item in body["data"]:
        raw = base64.b64decode(item["embedding"], validate=True)
        assert raw and len(raw) % 4 == 0, where
        item["embedding"] = array.array("f", raw).tolist()
    _valid(EMBEDDINGS, body, where)


def _route(case: schemathesis.Case, alias: str) -> None:
    """Send the request to ``alias`` (the spec's own model names are unknown here)."""
    if isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
        case.body["model"] = alias
    if case.path_parameters and isinstance(case.path_parameters.get("model"), str):
        case.path_parameters["model"] = alias


def _fuzz(gateway: GatewayThread, path: str, method: str, alias: str) -> None:
    operation = SCHEMA[path][method]
    session = requests.Session()
    cases = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=cases)
    def run(case: schemathesis.Case) -> None:
        _route(case, alias)
        response = case.call(base_url=gateway.url + "/v1", session=session, timeout=30)
        body = None if case.body is NOT_SET else case.body
        where = f"{method} {path} -> {alias}: {response.status_code} for {json.dumps(body, default=str)[:600]}"
        assert response.status_code < 500, f"{where}: {response.text[:500]}"
        assert "Traceback" not in response.text, where
        if response.status_code >= 400:
            assert _content_type(response) == "application/json", where
            _check_error(response.json().get("error"), where)
        elif _content_type(response).startswith("text/event-stream"):
            _check_stream(path, response, where)
        elif path == "/embeddings" and isinstance(body, dict) and body.get("encoding_format") == "base64":
            _check_base64_embeddings(response, where)
        else:
            case.validate_response(response, checks=[response_schema_conformance])

    try:
        run()
    finally:
        session.close()


@pytest.mark.parametrize("upstream", FORMATS)
@pytest.mark.parametrize("path", ["/chat/completions", "/completions"])
def test_generation_endpoints_against_the_spec(gateway, path, upstream):
    _fuzz(gateway, path, "POST", upstream)


@pytest.mark.parametrize("upstream", FORMATS)
def test_embeddings_against_the_spec(gateway, upstream):
    _fuzz(gateway, "/embeddings", "POST", f"{upstream}-embed")


@pytest.mark.parametrize("path", ["/models", "/models/{model}"])
def test_models_against_the_spec(gateway, path):
    _fuzz(gateway, path, "GET", "openai")


def test_the_spec_is_openai_s_trimmed_to_what_the_gateway_serves():
    source = SPEC["info"]["x-source"]
    assert source["repository"] == "https://github.com/openai/openai-openapi" and len(source["commit"]) == 40
    assert {(path, method) for path, methods in SPEC["paths"].items() for method in methods} == {
        ("/chat/completions", "post"), ("/completions", "post"), ("/embeddings", "post"), ("/models", "get"),
        ("/models/{model}", "get")}
