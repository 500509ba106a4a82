"""The guard over MCP tool calls: the arguments a model sends a tool, and what the tool answers.

A tool call crosses the gateway's edge twice: its arguments leave for a server the gateway
does not own (a key in a ``fetch`` URL, a card number in a ``sql`` query), and its result
comes back to be read by a model. Both get the request guard's detectors and actions:

    block   the call is refused (``guard_blocked``: the category and where, never the value);
            a result that holds one is withheld (``guard_blocked`` too, the tool having run)
    redact  the value replaced for good: ``[REDACTED_EMAIL]``
    mask    as ``redact``: a tool cannot give a placeholder back, and a result's placeholder
            would have no request vault to be restored from

Which policy: the caller's own (its key's ``guard``, a virtual key's, its team's or
tenant's metadata), else ``mcp.guard``, else ``guard.default``; ``off`` is none. Strings
are looked at wherever they sit in the arguments (keys too), and a result's text
contents and structured content. A detector that fails refuses the call (``on_error:
closed``) or lets it through with what the others found acted on (``open``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from switchyard.core.errors import GuardUnavailable
from switchyard.guard.detection import DetectorFailed
from switchyard.guard.policy import Policies, Policy
from switchyard.guard.scanner import Finding
from switchyard.guard.vault import a_category, redact_all
from switchyard.mcp.refusals import ToolRefused

#: How deep arguments and structured results are walked; deeper strings are withheld unseen.
MAX_DEPTH = 32
#: What stands in for a value below ``MAX_DEPTH``: nothing unchecked leaves.
TOO_DEEP = "[NOT CHECKED]"


class ToolGuarded(ToolRefused):
    """A call (or its result) the guard refused: ``reason`` is ``guard_blocked`` or ``guard_unavailable``;
    ``kept``, the texts with what was found replaced (None: nothing could be checked)."""

    kept: list[str] | None = None


def _collect(value: Any, path: str, texts: list[str], paths: list[str], depth: int = 0) -> bool:
    """Every string of a JSON value (dict keys too), depth first, with the path to it;
    True when something lies deeper than ``MAX_DEPTH`` (and was not collected)."""
    deeper = False
    if isinstance(value, str):
        texts.append(value)
        paths.append(path)
    elif depth >= MAX_DEPTH:
        return isinstance(value, dict | list | tuple)
    elif isinstance(value, dict):
        for key, item in value.items():
            texts.append(str(key))
            paths.append(f"{path}.{key}")
            deeper = _collect(item, f"{path}.{key}", texts, paths, depth + 1) or deeper
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            deeper = _collect(item, f"{path}.{index}", texts, paths, depth + 1) or deeper
    return deeper


def _rebuild(value: Any, texts: Iterator[str], depth: int = 0) -> Any:
    """``value`` with its strings taken, in ``_collect``'s order, from ``texts``."""
    if isinstance(value, str):
        return next(texts)
    if depth >= MAX_DEPTH:
        return TOO_DEEP if isinstance(value, dict | list | tuple) else value
    if isinstance(value, dict):
        out = {}
        for item in value.values():
            key = next(texts)
            out[key] = _rebuild(item, texts, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_rebuild(item, texts, depth + 1) for item in value]
    return value


class ToolGuard:
    """The guard of one MCP hub (see the module docstring): ``check(caller)`` per call."""

    def __init__(self, policies: Policies, default: str | None) -> None:
        self.policies = policies
        #: ``mcp.guard`` (else ``guard.default``): the policy of callers naming none.
        self._default = policies.named(default) if default is not None else policies.default

    def check(self, caller: Any) -> CheckedCall | None:
        """The guard of one call by ``caller``; None: no policy applies."""
        named = getattr(caller, "guard", None) if caller is not None else None
        try:
            policy = self.policies.named(named) if named is not None else self._default
        except GuardUnavailable as exc:
            raise ToolGuarded("guard_unavailable", exc.message) from None
        return CheckedCall(policy) if policy is not None else None


class CheckedCall:
    """One tool call under one policy: its arguments, its result, and what was found
    (``found``: ``category:action`` -> count). ``arguments`` holds what may be kept of the
    arguments (for the audit) even when they were refused."""

    __slots__ = ("policy", "found", "arguments")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.found: dict[str, int] = {}
        self.arguments: dict[str, Any] | None = None

    async def check_arguments(self, arguments: dict[str, Any] | None) -> dict[str, Any] | None:
        """``arguments`` with what the policy redacts replaced; raises ``ToolGuarded`` on a block."""
        self.arguments = arguments
        if not arguments:
            return arguments
        texts: list[str] = []
        paths: list[str] = []
        deeper = _collect(arguments, "params.arguments", texts, paths)
        try:
            replaced = await self._apply(texts, paths, "the call's arguments")
        except ToolGuarded as refused:
            kept = refused.kept  # what the records may keep of refused arguments: nothing found
            self.arguments = _rebuild(arguments, iter(kept)) if kept is not None else {}
            raise
        if replaced is None:
            if not deeper:
                return arguments
            replaced = texts
        self.arguments = _rebuild(arguments, iter(replaced))
        return self.arguments

    async def check_result(self, result: Any) -> Any:
        """The tool's ``CallToolResult`` with its text and structured content guarded."""
        texts: list[str] = []
        paths: list[str] = []
        contents = list(result.content or ())
        at_text = [index for index, content in enumerate(contents)
                   if getattr(content, "type", None) == "text" and isinstance(getattr(content, "text", None), str)]
        for index in at_text:
            texts.append(contents[index].text)
            paths.append(f"result.content.{index}.text")
        structured = getattr(result, "structured_content", None)
        deeper = structured is not None and _collect(structured, "result.structuredContent", texts, paths)
        replaced = await self._apply(texts, paths, "the tool's result")
        if replaced is None:
            if not deeper:
                return result
            replaced = texts
        for index, text in zip(at_text, replaced):
            contents[index] = contents[index].model_copy(update={"text": text})
        update: dict[str, Any] = {"content": contents}
        if structured is not None:
            update["structured_content"] = _rebuild(structured, iter(replaced[len(at_text):]))
        return result.model_copy(update=update)

    async def _apply(self, texts: list[str], paths: list[str], what: str) -> list[str] | None:
        """Scan and act; the texts after, None: nothing found."""
        if not texts:
            return None
        policy, found = self.policy, self.found
        try:
            findings = await policy.detection.find(texts)
        except DetectorFailed as failure:
            found[f"detector_failed:{'passed' if policy.fail_open else 'blocked'}"] = 1
            if not policy.fail_open:
                raise ToolGuarded("guard_unavailable", f"The guard could not check {what}: its detector "
                                  f"`{failure.detector}` failed ({failure.reason}); the call was not let through.") from None
            findings = failure.findings or [[] for _ in texts]
        if not any(findings):
            return None
        out = list(texts)
        blocked: tuple[str, str] | None = None
        for index, spans in enumerate(findings):
            if spans:
                out[index], category = _replaced(texts[index], spans, policy, found)
                if category is not None and blocked is None:
                    blocked = (category, paths[index])
        if blocked is not None:
            category, path = blocked
            refused = ToolGuarded("guard_blocked", f"The guard blocked {what}: it contains {a_category(category)} "
                                  f"({path}), which the policy `{policy.name}` does not let through.")
            refused.kept = out
            raise refused
        return out


def _replaced(value: str, spans: list[Finding], policy: Policy, found: dict[str, int]) -> tuple[str, str | None]:
    """``value`` redacted, each finding counted; the first blocked category, if any."""
    blocked = None
    for _, _, category in spans:
        action = policy.action_for(category)
        found[f"{category}:{action}"] = found.get(f"{category}:{action}", 0) + 1
        if action == "block" and blocked is None:
            blocked = category
    return redact_all(value, spans), blocked
