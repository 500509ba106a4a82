"""Reading upstream JSON: strict for answers, lenient for error bodies."""

from __future__ import annotations

import pytest

from switchyard.core.errors import UpstreamProtocolError
from switchyard.providers.upstream_json import error_body, json_object, json_value, no_headers


def test_json_object_accepts_objects_and_names_the_source_when_refusing():
    assert json_object(b'{"a": 1}') == {"a": 1}
    assert json_object('{"a": 2}') == {"a": 2}
    with pytest.raises(UpstreamProtocolError, match="^Upstream returned JSON that is not an object$"):
        json_object(b"[]")
    with pytest.raises(UpstreamProtocolError, match="^Cohere sent a body that is not JSON$"):
        json_object(b"nope", "Cohere sent")


def test_json_value_accepts_any_json():
    assert json_value(b"[1, 2]") == [1, 2]
    with pytest.raises(UpstreamProtocolError, match="Gemini sent a body that is not JSON"):
        json_value(b"<html>", "Gemini sent")


@pytest.mark.parametrize("raw, expected", [
    (b'{"error": {"message": "no"}}', {"error": {"message": "no"}}),
    (b"[1]", [1]),
    (b"", None),
    (b"<html>502 Bad Gateway</html>", None),
])
def test_error_body_is_lenient(raw, expected):
    assert error_body(raw) == expected


def test_no_headers_finds_nothing():
    assert no_headers("retry-after") is None
