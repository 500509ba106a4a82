"""The moderation check: a configured alias asked, as a classifier, whether a request may go.

The conversation (after masking: the classifier sees placeholders, never a value) goes
to the policy's ``moderation.alias`` as a chat request — the classifier's own
``instructions`` first when set, as a system message — through the route stage:
that alias's deployments, retries, breakers and fallbacks, but not the caller's
limits or budgets (the check is the gateway's own call). Its answer is matched
against ``flagged`` (by default, an answer starting with ``unsafe``, as Llama Guard
answers); a match refuses the request with ``400 moderation_flagged``, naming the
categories from the answer's second line (Llama Guard's ``S1,S10``), never the text.

A classifier that fails or does not answer within ``timeout`` refuses the request
(``503 guard_unavailable``) under ``on_error: closed``; ``open`` lets it through.
Either way it is logged and counted.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from switchyard.core.call import Call, Kind
from switchyard.core.config.guard import Moderation
from switchyard.core.errors import ModerationFlagged, UpstreamTimeout
from switchyard.core.messages import ChatRequest, validate_chat

_CATEGORY = re.compile(r"[A-Za-z0-9_, -]{1,64}")


class ModerationFailed(Exception):
    """The classifier raised or did not answer in time."""


class Moderator:
    """One policy's moderation check (see the module docstring)."""

    __slots__ = ("config", "catalog", "route", "flagged")

    def __init__(self, config: Moderation, catalog: Any, route: Any) -> None:
        self.config = config
        self.catalog = catalog
        self.route = route
        self.flagged = re.compile(config.flagged, re.IGNORECASE)

    async def check(self, call: Call) -> None:
        """Raises ``ModerationFlagged`` when the classifier flags ``call``'s request,
        ``ModerationFailed`` when it cannot say."""
        request = self._request(call)
        timeout = self.config.timeout
        inner = Call(f"{call.request_id}-moderation", request=request, kind=Kind.CHAT,
                     deadline=time.monotonic() + timeout)
        try:
            inner.group = self.catalog.resolve(self.config.alias)
            answer = await asyncio.wait_for(self.route.unary(inner), timeout)
        except (TimeoutError, UpstreamTimeout):  # the deadline may be met by either, whichever looks first
            raise ModerationFailed(f"`{self.config.alias}` gave no answer within {timeout:g} s") from None
        except Exception as exc:
            raise ModerationFailed(f"`{self.config.alias}` failed: {getattr(exc, 'code', None) or type(exc).__name__}"
                                   ) from None
        verdict = answer.text or ""
        if self.flagged.search(verdict):
            lines = verdict.strip().splitlines()
            named = _CATEGORY.fullmatch(lines[1].strip()) if len(lines) > 1 else None
            which = f" ({named.group()})" if named else ""
            raise ModerationFlagged(f"The request was refused by the moderation check{which}.")

    def _request(self, call: Call) -> ChatRequest:
        request = call.request
        if call.kind is Kind.CHAT:
            messages = [m for m in request.body["messages"] if isinstance(m, dict)]
        else:
            field = "prompt" if call.kind is Kind.COMPLETE else "input"
            value = request.body.get(field)
            parts = [value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)]
            messages = [{"role": "user", "content": "\n".join(parts)}]
        if self.config.instructions:
            messages = [{"role": "system", "content": self.config.instructions}, *messages]
        return validate_chat({"model": self.config.alias, "messages": messages})
