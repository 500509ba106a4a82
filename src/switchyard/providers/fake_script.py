"""Scripted answers for the ``fake`` provider: which tool it calls, with which arguments, per turn.

A message of the conversation (the system message, or the last user message) holds a line
``fake-script: <JSON>``. The JSON is a list of *turns*, or an object mapping a phrase of the
last user message to such a list (``"*"``: any other message)::

    fake-script: [{"tool": "lookup", "arguments": {"order": "A1"}},
                  {"tools": [{"tool": "a", "arguments": {}}, {"tool": "b", "arguments": {"x": 1}}]},
                  "The order shipped."]

The turn played counts the assistant messages already in the conversation: for a list
in the system message, since the first user message (the whole conversation is one
script, across the turns of a session); for a script in a user message, since that
message; for a phrase's list, since the last user message with that phrase (its first
answer is turn 0, the answer after its tool results turn 1, and so on). A turn is a string (the answer's text), ``{"text": ...}``, ``{"tool": NAME,
"arguments": {...}}`` (one call; ``arguments`` as a string is sent as is, valid JSON or
not) or ``{"tools": [...]}`` (parallel calls), optionally with ``text`` beside the calls.
Past the script's end the fake echoes the last message (a tool's result, or the user's
text). The user message's own script wins over the system message's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

MARKER = "fake-script:"
#: The largest script read (characters of JSON); a longer one is an error, not a slow parse.
MAX_SCRIPT = 65_536


class ScriptError(ValueError):
    """The script is not valid; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One scripted answer: text, tool calls (name, arguments as JSON text), or both."""

    text: str = ""
    calls: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def scripted_turn(messages: list[dict[str, Any]]) -> Turn | None:
    """The turn the script plays for this conversation (past its end: the last message's
    text); None when there is no script."""
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    last_user = users[-1] if users else -1
    user_text = text_of(messages[last_user].get("content")) if users else ""
    source = _find(user_text)
    start = last_user
    if source is None:
        source = next((s for m in messages if m.get("role") in ("system", "developer")
                       if (s := _find(text_of(m.get("content")))) is not None), None)
        if source is None:
            return None
        start = users[0] if users else -1
    script = _parse(source)
    turns, phrase = _turns_for(script, user_text)
    if phrase is not None:  # counted from the last user message that asked for this phrase
        start = next((i for i in reversed(users)
                      if phrase.lower() in text_of(messages[i].get("content")).lower()), last_user)
    played = sum(1 for m in messages[start + 1:] if m.get("role") == "assistant")
    if played >= len(turns):
        return Turn(text=text_of(messages[-1].get("content")) or "(empty)")
    return _turn(turns[played], played)


def _find(text: str) -> str | None:
    at = text.find(MARKER)
    if at < 0:
        return None
    return text[at + len(MARKER):].strip()


def _parse(source: str) -> Any:
    """The first JSON value of ``source`` (prose may follow it, as in an instruction)."""
    if len(source) > MAX_SCRIPT:
        raise ScriptError(f"fake-script: {len(source)} characters; the limit is {MAX_SCRIPT}")
    try:
        return json.JSONDecoder().raw_decode(source)[0]
    except ValueError as exc:
        raise ScriptError(f"fake-script: not valid JSON ({exc})") from None


def _turns_for(script: Any, user_text: str) -> tuple[list[Any], str | None]:
    if isinstance(script, list):
        return script, None
    if isinstance(script, dict):
        for phrase, turns in script.items():
            if phrase != "*" and phrase.lower() in user_text.lower():
                return _list(turns, phrase), phrase
        return _list(script.get("*", []), "*"), None
    raise ScriptError("fake-script: must be a list of turns or an object of phrase -> turns")


def _list(turns: Any, phrase: str) -> list[Any]:
    if not isinstance(turns, list):
        raise ScriptError(f"fake-script.{phrase}: must be a list of turns")
    return turns


def _turn(raw: Any, index: int) -> Turn:
    where = f"fake-script[{index}]"
    if isinstance(raw, str):
        return Turn(text=raw)
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: a turn is a string or an object")
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise ScriptError(f"{where}.text: must be a string")
    if "tool" in raw:
        calls = [raw]
    else:
        calls = raw.get("tools", [])
        if not isinstance(calls, list):
            raise ScriptError(f"{where}.tools: must be a list")
    out: list[tuple[str, str]] = []
    for n, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("tool"), str):
            raise ScriptError(f"{where}.tools[{n}].tool: must be a tool name")
        arguments = call.get("arguments", {})
        encoded = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
        out.append((call["tool"], encoded))
    if not text and not out:
        raise ScriptError(f"{where}: needs text or a tool call")
    return Turn(text=text, calls=tuple(out))
