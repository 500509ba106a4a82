"""The cache key: a deterministic hash of the canonical request.

Two requests get the same key exactly when they would ask the same of the same
model group: the same kind of call (chat, legacy completion, embeddings), on the
same surface (the OpenAI API, or Anthropic's Messages, whose body goes to an
Anthropic upstream as sent), to the same alias and deployment tags, with the
same body — messages, tools, tool choice, response format and every parameter
that changes the output (temperature, top_p, max tokens, stop, seed, n,
``stream`` and ``stream_options`` too: a stream is kept as it was streamed;
``model`` as asked, too, though the alias it resolved to decides).

Canonical means: keys sorted at every depth, a sampling parameter that is a
whole number written as that integer (``0.0`` and ``0`` are one temperature), a message whose
content is one plain text part written as that text — and fields that only
label a request (``user``, ``metadata``, ``safety_identifier``,
``prompt_cache_key``, ``store``) left out. The key is those canonical bytes; in
Redis their digest (BLAKE2b, 128 bits) — never Python's ``hash()``, which
differs between processes, while the key must be the same on every replica.
The partition (``cache/partition.py``) is kept beside the key, never inside the
request, so an entry can be found again only from the same partition.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from switchyard.core.call import Call, Kind

#: Fields that label a request without changing its answer.
LABELS = frozenset({"user", "metadata", "safety_identifier", "prompt_cache_key", "store"})
#: Request headers that change an Anthropic upstream's answer to a body sent as is.
ANTHROPIC_HEADERS = ("anthropic-version", "anthropic-beta")
#: Numbers clients write either way (``0`` or ``0.0``) at the top of a body.
NUMBERS = ("temperature", "top_p")


def request_key(call: Call) -> bytes:
    """The canonical request of ``call`` (resolved: its group is known), as bytes: the memory
    store keys by them directly (Python hashes them, no digest needed); ``digest`` names them
    where a key must be short and the same in every process (Redis). Written for the usual
    request — nothing to rewrite — to cost one ``orjson.dumps`` and a look at the few places that
    might be said another way (a label, a float temperature, a list content): only then is the body
    rewritten."""
    request = call.request
    native = getattr(request, "native", None)
    if native is None:
        surface, body, headers = "openai", request.body, None
    else:
        surface, body = native
        headers = [call.headers.get(name) for name in ANTHROPIC_HEADERS] if surface == "anthropic" else None
    if not LABELS.isdisjoint(body) or type(body.get("temperature")) is float or type(body.get("top_p")) is float:
        body = _canonical(body)
    else:
        messages = body.get("messages")
        if type(messages) is list:
            try:
                for message in messages:
                    if type(message.get("content")) is list:  # one text part is written as its text
                        body = _canonical(body)
                        break
            except AttributeError:  # not a message: ``_canonical`` leaves it as it is
                body = _canonical(body)
    # ``_value_``: the member's value as stored (``.value`` is a property, a tenth of this function's time)
    head = (call.kind._value_, surface, call.group.alias, sorted(call.tags) if call.tags else None, headers)
    return orjson.dumps((head, body), option=orjson.OPT_SORT_KEYS)


def _canonical(body: dict[str, Any]) -> dict[str, Any]:
    out = {name: value for name, value in body.items() if name not in LABELS}
    for name in NUMBERS:
        value = out.get(name)
        if type(value) is float and value.is_integer():
            out[name] = int(value)
    messages = out.get("messages")
    if type(messages) is list:
        out["messages"] = [_message(message) for message in messages]
    return out


def digest(key: bytes) -> str:
    """A short name of a canonical request, the same in every process (BLAKE2b, 128 bits, hex)."""
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def _message(message: Any) -> Any:
    """A message whose content is one plain text part, written with that text as its content."""
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, list) and len(content) == 1:
        part = content[0]
        if isinstance(part, dict) and part.get("type") == "text" and part.keys() == {"type", "text"}:
            return {**message, "content": part["text"]}
    return message


def deterministic(call: Call) -> bool:
    """Whether the request asks for the same answer every time: embeddings always; chat
    and completions with temperature 0 or a seed."""
    body = call.request.body
    if call.kind is Kind.EMBED:
        return True
    return body.get("temperature") == 0 or body.get("seed") is not None
