"""OpenAI-compatible vendors whose paths or quirks differ, for the mock upstream.

* AI21 (``/studio/v1/chat/completions``): a field Jamba's API does not document is a 422
  ``{"detail": ...}`` (FastAPI's shape, as AI21 answers); a stream's last chunk carries the
  usage unasked.
* RunPod serverless (``/v2/{endpoint}/openai/v1/chat/completions``): the vLLM worker's
  OpenAI route under the endpoint's id.

Hugging Face's router and dedicated endpoints speak OpenAI at ``/v1``: the OpenAI routes
(``openai.py``) serve them.
"""

from __future__ import annotations

import orjson

from switchyard.mock.openai import OpenAIWire, chat_completions
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, StreamReply

#: The request fields of AI21's chat completions reference.
AI21_FIELDS = frozenset({"model", "messages", "tools", "documents", "response_format", "max_tokens", "temperature",
                         "top_p", "stop", "n", "stream"})


class AI21Wire(OpenAIWire):
    """AI21 Studio: Bearer key, errors as ``{"detail": ...}``."""

    name = "ai21"

    def error(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> Reply:
        return Reply(status, orjson.dumps({"detail": message}), ())


AI21 = AI21Wire()


def ai21_chat(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    body = req.json()
    unknown = sorted(set(body) - AI21_FIELDS)
    if unknown:
        return AI21.error(422, f"Unrecognized request argument supplied: {unknown[0]}")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in ("text", "json_object"):
        return AI21.error(422, "response_format.type must be text or json_object")
    if body.get("stream"):
        body["stream_options"] = {"include_usage": True}  # Jamba's last chunk has the usage, asked or not
    reply: Reply | StreamReply = chat_completions(req, settings)
    return reply


def runpod_chat(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    reply: Reply | StreamReply = chat_completions(req, settings)
    return reply




ROUTES = (
    Route("POST", "/studio/v1/chat/completions", ai21_chat, AI21),
    Route("POST", "/v2/{endpoint}/openai/v1/chat/completions", runpod_chat, OpenAIWire()),
)
