"""The classifier selector: a small alias asked which label a request is.

The request's last user turn goes to ``classifier.alias`` as a chat request — its
``instructions`` (by default: answer with one of the labels) as the system message —
through the route stage: that alias's deployments, retries, breakers and fallbacks,
not the caller's limits or budgets (the question is the gateway's own, like the
guard's moderation check). The first label the answer names (a whole word, any case)
picks the target alias. A classifier that fails, is not done within ``timeout``,
or names no label leaves the choice to ``default``, and the choice says why.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from switchyard.core.call import Call, Kind
from switchyard.core.config.selection import ClassifierSelect
from switchyard.core.messages import validate_chat
from switchyard.routing.selection import Choice, last_user_text

log = logging.getLogger("switchyard.routing")


class ClassifierSelector:
    """See the module docstring."""

    method = "classifier"

    def __init__(self, config: ClassifierSelect, catalog: Any, route: Callable[[], Any]) -> None:
        self.config = config
        self.catalog = catalog
        self.route = route
        labels = list(config.labels)
        self.instructions = config.instructions or (
            "Classify the user's request by the model it needs. Answer with exactly one word, one of: "
            + ", ".join(labels) + ".")
        self._label = re.compile(r"\b(" + "|".join(re.escape(label) for label in labels) + r")\b", re.IGNORECASE)
        self._by_lower = {label.lower(): label for label in labels}

    async def start(self) -> None:
        """Nothing to prepare."""

    async def choose(self, request: Any, call: Call) -> Choice:
        config = self.config
        text = last_user_text(request, config.max_chars)
        if not text:
            return Choice(config.default, "default", reason="no_user_text")
        question = validate_chat({"model": config.alias, "messages": [
            {"role": "system", "content": self.instructions}, {"role": "user", "content": text}]})
        timeout = config.timeout
        remaining = call.remaining()
        if remaining is not None:
            timeout = max(min(timeout, remaining), 0.001)
        inner = Call(f"{call.request_id}-select", request=question, kind=Kind.CHAT,
                     deadline=time.monotonic() + timeout)
        try:
            inner.group = self.catalog.resolve(config.alias)
            answer = await asyncio.wait_for(self.route().unary(inner), timeout)
        except TimeoutError:
            return Choice(config.default, "default", reason="classifier_timeout", alternatives=self._others())
        except Exception as exc:
            log.warning("classifier selector: %s failed: %s", config.alias,
                        getattr(exc, "code", None) or type(exc).__name__)
            code = getattr(exc, "code", None)
            reason = "classifier_timeout" if code == "upstream_timeout" else "classifier_failed"
            return Choice(config.default, "default", reason=reason, alternatives=self._others())
        found = self._label.search(answer.text or "")
        if found is None:
            return Choice(config.default, "default", reason="no_label", alternatives=self._others())
        label = self._by_lower[found.group(1).lower()]
        return Choice(config.labels[label], "classifier", label=label, alternatives=self._others(label))

    def _others(self, chosen: str | None = None) -> list[dict[str, Any]]:
        return [{"label": label, "route": alias} for label, alias in self.config.labels.items() if label != chosen]

    async def aclose(self) -> None:
        """Nothing: the route stage belongs to the gateway."""
