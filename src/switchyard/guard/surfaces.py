"""Where a request's text is, for each surface the guard covers, and rewriting it.

Each function lists the strings of one kind of body as ``Text(path, value, json)``:

- chat (``/v1/chat/completions``, and the OpenAI shape of every other chat): each
  message's content (a string, or its text parts) — system, user, assistant and tool
  messages (tool results) alike — and the arguments of the assistant's tool calls
  (``json``: the text is JSON);
- legacy completions: ``prompt`` (a string or a list of strings; token ids are not text);
- embeddings: ``input`` (likewise);
- an Anthropic client's own body (``/v1/messages``, sent as is to Anthropic
  deployments): ``system``, text blocks, tool results (their text), the input of
  ``tool_use`` blocks, text documents.

``rewrite(body, changes)`` returns the body with those strings replaced, copying only
the dicts and lists on the way to them: the client's own objects (an in-process
caller's message list) are never changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from switchyard.core.messages import ChatRequest, CompletionRequest, EmbeddingRequest, RerankRequest

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Text:
    path: Path
    value: str
    #: The string is JSON (tool-call arguments): values restored into it are escaped.
    json: bool = False

    @property
    def param(self) -> str:
        """The path as the error's ``param`` (``messages.0.content``)."""
        return ".".join(str(p) for p in self.path)


def chat(body: dict[str, Any]) -> list[Text]:
    out: list[Text] = []
    for i, message in enumerate(body.get("messages") or ()):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            if content:
                out.append(Text(("messages", i, "content"), content))
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    out.append(Text(("messages", i, "content", j, "text"), part["text"]))
        for k, call in enumerate(message.get("tool_calls") or ()):
            arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
            if isinstance(arguments, str) and arguments:
                out.append(Text(("messages", i, "tool_calls", k, "function", "arguments"), arguments, json=True))
        legacy = message.get("function_call")
        if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
            out.append(Text(("messages", i, "function_call", "arguments"), legacy["arguments"], json=True))
    return out


def _strings(body: dict[str, Any], field: str) -> list[Text]:
    value = body.get(field)
    if isinstance(value, str):
        return [Text((field,), value)] if value else []
    if isinstance(value, list):
        return [Text((field, i), item) for i, item in enumerate(value) if isinstance(item, str) and item]
    return []


def completion(body: dict[str, Any]) -> list[Text]:
    return _strings(body, "prompt")


def embedding(body: dict[str, Any]) -> list[Text]:
    return _strings(body, "input")


def rerank(body: dict[str, Any]) -> list[Text]:
    """A rerank request's query and documents (plain, or ``{"text": ...}``)."""
    out = _strings(body, "query")
    for i, document in enumerate(body.get("documents") or ()):
        if isinstance(document, str):
            if document:
                out.append(Text(("documents", i), document))
        elif isinstance(document, dict) and isinstance(document.get("text"), str) and document["text"]:
            out.append(Text(("documents", i, "text"), document["text"]))
    return out


def anthropic(body: dict[str, Any]) -> list[Text]:
    out: list[Text] = []
    system = body.get("system")
    if isinstance(system, str):
        if system:
            out.append(Text(("system",), system))
    elif isinstance(system, list):
        out.extend(Text(("system", j, "text"), b["text"]) for j, b in enumerate(system)
                   if isinstance(b, dict) and isinstance(b.get("text"), str))
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            if content:
                out.append(Text(("messages", i, "content"), content))
            continue
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if isinstance(block, dict):
                out.extend(_block(block, ("messages", i, "content", j)))
    return out


def _block(block: dict[str, Any], path: Path) -> Iterator[Text]:
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        yield Text((*path, "text"), block["text"])
    elif kind == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            yield Text((*path, "content"), content)
        elif isinstance(content, list):
            for k, inner in enumerate(content):
                if isinstance(inner, dict) and inner.get("type") == "text" and isinstance(inner.get("text"), str):
                    yield Text((*path, "content", k, "text"), inner["text"])
    elif kind == "tool_use":
        yield from _values(block.get("input"), (*path, "input"))
    elif kind == "document":
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
            yield Text((*path, "source", "data"), source["data"])


def _values(node: Any, path: Path) -> Iterator[Text]:
    """Every string in a JSON value (a tool_use block's decoded input)."""
    if isinstance(node, str):
        if node:
            yield Text(path, node)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _values(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _values(value, (*path, index))


def with_body(request: Any, body: dict[str, Any], native: tuple[str, dict[str, Any]] | None = None) -> Any:
    """``request`` (chat, completion or embeddings) with ``body`` (and, for chat, ``native``) in place of its own."""
    if isinstance(request, ChatRequest):
        return ChatRequest(body, request.model, request.stream, request.include_usage, request.max_tokens,
                           request.user, request.metadata, native)
    if isinstance(request, CompletionRequest):
        return CompletionRequest(body, request.model, request.stream)
    if isinstance(request, RerankRequest):
        documents = [d if isinstance(d, str) else str(d.get("text", "")) for d in body["documents"]]
        return RerankRequest(body, request.model, body["query"], documents, request.top_n, request.return_documents)
    return EmbeddingRequest(body, request.model)


def rewrite(body: dict[str, Any], changes: list[tuple[Path, str]]) -> dict[str, Any]:
    """``body`` with each ``(path, text)`` set, copying the containers on each path (copy on write)."""
    root = dict(body)
    copied: dict[Path, Any] = {(): root}
    for path, text in changes:
        node: Any = root
        for depth in range(len(path) - 1):
            here = path[:depth + 1]
            child = copied.get(here)
            if child is None:
                original = node[path[depth]]
                child = list(original) if isinstance(original, list) else dict(original)
                node[path[depth]] = child
                copied[here] = child
            node = child
        node[path[-1]] = text
    return root
