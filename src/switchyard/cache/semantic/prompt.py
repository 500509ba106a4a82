"""What the semantic cache compares, and what it requires to be equal.

A chat request is matched *semantically* on its last user turn only; everything
else must be *exactly* equal for two requests to share an answer, so it is
hashed into the request's **context**: the partition and alias (never shared
across tenants or models), the embedder (vectors of two models never meet), the
caller's ``variant`` (what else must be equal, e.g. streamed or not), the
system prompt, the tools, every earlier turn, every parameter that changes the
output (temperature, max tokens, response format, ...) and — unless turned off —
the numbers written in the last turn ("what is 2 plus 2" and "what is 2 plus 3"
embed almost alike; their answers do not).

Fields that change nothing in the answer (``stream``, ``stream_options``,
``user``, ``metadata``, ``safety_identifier``, ``prompt_cache_key``) and the
``model`` (the alias stands for it) are left out of the context.

Requests that are not matched (``Skip``): the last message is not a user turn;
the conversation has more than ``max_turns`` user turns; the last turn holds
images, audio or files; it is longer than ``max_chars``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

#: Body fields that do not change the answer: left out of the context.
IGNORED = frozenset({"model", "stream", "stream_options", "user", "metadata", "safety_identifier",
                     "prompt_cache_key"})

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True, slots=True)
class Prompt:
    """A request the semantic cache can match: ``text`` is compared by meaning,
    ``context`` (a digest) must be equal."""

    text: str
    context: str


@dataclass(frozen=True, slots=True)
class Skip:
    """A request the semantic cache leaves alone, and why (``multi_turn``, ``not_user_turn``,
    ``non_text``, ``too_long``, ``empty``)."""

    reason: str


def prompt_of(body: Mapping[str, Any], *, partition: str, alias: str, embedder: str, max_turns: int,
              max_chars: int, exact_numbers: bool = True, variant: str = "") -> Prompt | Skip:
    """The last user turn of a chat ``body`` and the digest of everything that must match exactly;
    ``variant`` is whatever else the caller needs equal (the cache stage: the surface, streamed
    or not, routing tags)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Skip("empty")
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return Skip("not_user_turn")
    if sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user") > max_turns:
        return Skip("multi_turn")
    text = _text_of(last.get("content"))
    if text is None:
        return Skip("non_text")
    text = text.strip()
    if not text:
        return Skip("empty")
    if len(text) > max_chars:
        return Skip("too_long")
    rest = {k: v for k, v in body.items() if k not in IGNORED}
    rest["messages"] = [*messages[:-1], {k: v for k, v in last.items() if k != "content"}]
    digest = hashlib.blake2b(digest_size=16, person=b"sy-semantic-1")
    for part in (partition, alias, embedder, variant):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(orjson.dumps(_canonical(rest), option=orjson.OPT_SORT_KEYS))
    if exact_numbers:
        digest.update(b"\0#")
        digest.update(",".join(_NUMBER.findall(text)).encode())
    return Prompt(text, digest.hexdigest())


def _text_of(content: Any) -> str | None:
    """A turn's text: its string, or its text parts joined; None when it holds anything else."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            return None
        texts.append(part["text"])
    return "\n".join(texts)


def _canonical(value: Any) -> Any:
    """``1.0`` and ``1`` are one number (a temperature of ``0`` and ``0.0`` ask the same)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value
