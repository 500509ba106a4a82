"""An input file's lines checked before a batch is created: each refusal names its line, field and reason."""

from __future__ import annotations

import orjson
import pytest

from switchyard.batch.lines import check_lines
from switchyard.core.errors import NotFound, PermissionDenied

CHAT = "/v1/chat/completions"


def resolve(model: str) -> str:
    if model == "secret":
        raise PermissionDenied("This key may not use the model `secret`.", param="model", code="model_not_allowed")
    if model != "chat":
        raise NotFound(f"The model `{model}` does not exist.", param="model", code="model_not_found")
    return model


def line(custom_id: object = "a", url: str = CHAT, method: str = "POST", **body: object) -> bytes:
    payload = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **body}
    return orjson.dumps({"custom_id": custom_id, "method": method, "url": url, "body": payload})


def test_good_lines_run_and_each_bad_one_says_which_line_field_and_why():
    content = b"\n".join([
        line("a"),
        b"",  # blank lines are skipped, but counted in the numbering
        b"{not json",
        b"[1, 2]",
        line(None),
        line("a"),  # a duplicate of line 1
        line("m", method="GET"),
        line("u", url="/v1/completions"),
        line("e", url="/v1/embeddings"),
        line("s", stream=True),
        line("t", temperature=7),
        line("x", model="nope"),
        line("y", model="secret"),
        line("b"),
    ]) + b"\n"
    checked = check_lines(content, CHAT, resolve, max_lines=100)
    assert [(x.line_no, x.custom_id, x.alias) for x in checked.lines] == [(1, "a", "chat"), (14, "b", "chat")]
    assert orjson.loads(checked.lines[0].body)["messages"][0]["content"] == "hi"
    refused = {r.line_no: (r.custom_id, r.code, r.param) for r in checked.refused}
    assert refused == {
        3: (None, "invalid_json", None),
        4: (None, "invalid_json", None),
        5: (None, "invalid_value", "custom_id"),
        6: ("a", "duplicate_custom_id", "custom_id"),
        7: ("m", "invalid_value", "method"),
        8: ("u", "invalid_url", "url"),
        9: ("e", "invalid_url", "url"),
        10: ("s", "invalid_value", "body.stream"),
        11: ("t", "invalid_value", "body.temperature"),
        12: ("x", "model_not_found", "body.model"),
        13: ("y", "model_not_allowed", "body.model"),
    }
    assert checked.total == 13
    assert all(r.message.startswith(f"Line {r.line_no}") for r in checked.refused)


def test_a_file_without_lines_or_with_too_many_is_refused_whole():
    with pytest.raises(ValueError, match="no lines"):
        check_lines(b"\n \n", CHAT, resolve, max_lines=10)
    with pytest.raises(ValueError, match="more than 2 lines"):
        check_lines(b"\n".join([line("a"), line("b"), line("c")]), CHAT, resolve, max_lines=2)
