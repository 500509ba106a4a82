"""A memory that keeps a session within a token budget by summarising its oldest part.

``SummarisingMemory`` wraps another memory. After each run's messages are added, the
session is counted with the gateway's tokenizer (``core/tokens.py``, the count the
gateway's limits use); past ``max_tokens``, the oldest messages — all but the newest
ones that fit in ``keep_tokens`` — are summarised by one model call through the gateway
and the session is rewritten as that summary (one system message) followed by the kept
messages. The summary call goes through the same client, so its cost is accounted
like any other (it is the memory's, not a run's).
"""

from __future__ import annotations

from typing import Any

from switchyard.agents.memory import Memory
from switchyard.core.tokens import TokenCounter

INSTRUCTIONS = ("Summarise the conversation below for the assistant who will continue it: keep names, facts, "
                "numbers, decisions and open questions; drop pleasantries. Answer with the summary only.")
SUMMARY = "Summary of the conversation so far: "
#: Most characters of the transcript sent to be summarised (the oldest are cut first).
MAX_TRANSCRIPT = 400_000


class SummarisingMemory:
    """A memory bounded in tokens: the oldest part of a long session becomes a summary."""

    def __init__(self, inner: Memory, *, client: Any, model: str, max_tokens: int, keep_tokens: int | None = None,
                 instructions: str = INSTRUCTIONS, counter: TokenCounter | None = None) -> None:
        if not isinstance(max_tokens, int) or max_tokens < 64:
            raise ValueError("max_tokens: must be a whole number of at least 64")
        keep = max_tokens // 2 if keep_tokens is None else keep_tokens
        if not isinstance(keep, int) or not 0 < keep < max_tokens:
            raise ValueError("keep_tokens: must be positive and less than max_tokens")
        self.inner = inner
        self.client = client
        self.model = model
        self.max_tokens = max_tokens
        self.keep_tokens = keep
        self.instructions = instructions
        self.counter = counter or TokenCounter()
        #: Sessions summarised by this memory (for metrics and tests).
        self.summaries = 0

    async def messages(self, session: str) -> list[dict[str, Any]]:
        return await self.inner.messages(session)

    async def add(self, session: str, messages: list[dict[str, Any]]) -> None:
        await self.inner.add(session, messages)
        everything = await self.inner.messages(session)
        if self.counter.count_messages(everything) <= self.max_tokens:
            return
        cut = self._cut(everything)
        if cut == 0:
            return
        summary = await self._summarise(everything[:cut])
        await self.inner.replace(session, [{"role": "system", "content": SUMMARY + summary}, *everything[cut:]])
        self.summaries += 1

    async def replace(self, session: str, messages: list[dict[str, Any]]) -> None:
        await self.inner.replace(session, messages)

    async def clear(self, session: str) -> None:
        await self.inner.clear(session)

    def tokens(self, messages: list[dict[str, Any]]) -> int:
        return self.counter.count_messages(messages)

    def _cut(self, messages: list[dict[str, Any]]) -> int:
        """Where the kept part starts: the earliest user message from which the rest fits
        in ``keep_tokens`` (at least the last user message onwards is kept)."""
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        if not users:
            return 0
        for start in users:
            if start > 0 and self.counter.count_messages(messages[start:]) <= self.keep_tokens:
                return start
        return users[-1]

    async def _summarise(self, old: list[dict[str, Any]]) -> str:
        lines = []
        for message in old:
            content = message.get("content")
            text = content if isinstance(content, str) else str(content or "")
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                text += f" [called {function.get('name')}({function.get('arguments')})]"
            lines.append(f"{message.get('role')}: {text}")
        transcript = "\n".join(lines)[-MAX_TRANSCRIPT:]
        answer = await self.client.chat(model=self.model, messages=[
            {"role": "system", "content": self.instructions}, {"role": "user", "content": transcript}])
        return str(answer.text).strip()
