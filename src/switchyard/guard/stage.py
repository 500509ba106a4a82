"""guard: personal data and secrets, found before anything is stored or sent, and put back after.

For a call whose policy (``policy.py``) is not ``off``::

    the request's texts (surfaces.py)  ->  detectors (detection.py)
        block   a category the policy blocks: 400 guard_blocked naming it and where,
                never the value; nothing is sent
        redact  the value replaced for good: [REDACTED_EMAIL]
        mask    the value replaced by a placeholder, [EMAIL_1], kept in the request's
                vault (vault.py)
    -> the moderation check, when the policy has one (moderation.py)
    -> next: budgets, limits, routing, the upstream — all see the masked request, and so
       does every record kept of it (the audit body, prompt logs)
    <- the answer: the output guard (scan, redact or block), then the placeholders
       restored — a unary answer whole (answers.py), a stream lane by lane (streams.py)

A detector that fails or times out refuses the request with ``503 guard_unavailable``
(``on_error: closed``, the default) or lets what the other detectors found be acted on
(``open``); either way it is logged (``guard_detector_failed``) and counted. What was
found — categories, counts, actions, never a value — is counted in the metrics
(``switchyard_guard_detections_total``) and, with ``guard.audit``, recorded in the
audit log as a ``guard`` entry when the call settles.

Why after resolve: policies are per alias (and per key), and the alias is known there;
why before budgets, limits and the cache: nothing downstream — no counter, no queue, no
cache key, no upstream — ever holds a raw value. The vault lives in this call's frames
only and is gone with the call: two requests never share one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any

from switchyard.core.call import Call, Kind
from switchyard.core.errors import GuardBlocked, GuardUnavailable, ModerationFlagged
from switchyard.core.messages import Chunk
from switchyard.core.stage import Streaming, Unary
from switchyard.guard import surfaces
from switchyard.guard.answers import Answer
from switchyard.guard.detection import DetectorFailed
from switchyard.guard.moderation import ModerationFailed
from switchyard.guard.policy import Policies, Policy
from switchyard.guard.scanner import Finding
from switchyard.guard.streams import GuardedStream
from switchyard.guard.vault import Vault, a_category, redacted

if TYPE_CHECKING:
    from switchyard.audit.log import AuditLog
    from switchyard.observe.metrics import Metrics

log = logging.getLogger("switchyard.guard")

#: The text of a request the guard could not check, in whatever records are kept of it.
UNCHECKED = "[NOT CHECKED]"


class Guard:
    """The request stage (see the module docstring)."""

    def __init__(self, policies: Policies, *, audit: AuditLog | None = None, metrics: Metrics | None = None) -> None:
        self.policies = policies
        self.audit = audit
        self.metrics = metrics

    # Plain functions where no policy applies: next's awaitable as it is, no frame of our own.
    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        policy = self.policies.for_call(call)
        if policy is None:
            return next(call)
        return self._unary(call, policy, next)

    def stream(self, call: Call, next: Streaming) -> Awaitable[AsyncIterator[Any]]:
        policy = self.policies.for_call(call)
        if policy is None:
            return next(call)
        return self._stream(call, policy, next)

    async def _unary(self, call: Call, policy: Policy, next: Unary) -> Any:
        inspection = await self._inspect(call, policy)
        answer = await next(call)
        return inspection.answer(answer)

    async def _stream(self, call: Call, policy: Policy, next: Streaming) -> AsyncIterator[Any]:
        inspection = await self._inspect(call, policy)
        chunks = await next(call)
        return inspection.stream(chunks)

    async def _inspect(self, call: Call, policy: Policy) -> Inspection:
        inspection = Inspection(self, call, policy)
        await inspection.request()
        if policy.moderation is not None:
            await inspection.moderate()
        return inspection


class Inspection:
    """One call under one policy: what was found, the vault, and the way back."""

    __slots__ = ("guard", "call", "policy", "vault", "found", "failed", "outcome", "settling")

    def __init__(self, guard: Guard, call: Call, policy: Policy) -> None:
        self.guard = guard
        self.call = call
        self.policy = policy
        self.vault: Vault | None = None
        #: ``(direction, category, action) -> count``.
        self.found: dict[tuple[str, str, str], int] = {}
        #: ``blocked`` or ``passed`` when a detector (or the classifier) failed.
        self.failed: str | None = None
        self.outcome: str | None = None
        self.settling = False

    # -- the request --------------------------------------------------------------------------------
    async def request(self) -> None:
        call = self.call
        request = call.request
        body = request.body
        kind = call.kind
        texts = (surfaces.chat(body) if kind is Kind.CHAT else surfaces.completion(body) if kind is Kind.COMPLETE
                 else surfaces.embedding(body) if kind is Kind.EMBED else surfaces.rerank(body))
        native = getattr(request, "native", None)
        native_texts = surfaces.anthropic(native[1]) if native is not None and native[0] == "anthropic" else []
        every = texts + native_texts
        if not every:
            return
        try:
            found = await self.policy.detection.find([t.value for t in every])
        except DetectorFailed as failure:
            found = self._detector_failed(failure, len(every), texts, native_texts)
        if not any(found):
            return
        blocked = None
        changes: list[tuple[surfaces.Path, str]] = []
        native_changes: list[tuple[surfaces.Path, str]] = []
        vault = None
        actions: dict[str, str] = {}
        counts: dict[tuple[str, str], int] = {}
        action_for = self.policy.action_for
        for index, (text, findings) in enumerate(zip(every, found)):
            if not findings:
                continue
            pieces: list[str] = []
            at = 0
            value = text.value
            for start, end, category in findings:
                action = actions.get(category)
                if action is None:
                    action = actions[category] = action_for(category)
                counts[(category, action)] = counts.get((category, action), 0) + 1
                if action == "block":
                    blocked = blocked or (category, text)
                    replacement = redacted(category)  # what the records keep of a refused request
                elif action == "mask":
                    if vault is None:
                        vault = self._vault(every)
                    replacement = vault.mask(category, value[start:end])
                else:
                    replacement = redacted(category)
                pieces.append(value[at:start])
                pieces.append(replacement)
                at = end
            if pieces:
                pieces.append(value[at:])
                (changes if index < len(texts) else native_changes).append((text.path, "".join(pieces)))
        for (category, action), count in counts.items():
            self.note("input", category, action, count)
        if native_changes and native is not None:
            native = (native[0], surfaces.rewrite(native[1], native_changes))
        call.request = surfaces.with_body(request, surfaces.rewrite(body, changes) if changes else body, native)
        if blocked is not None:
            category, where = blocked
            self.outcome = "guard.blocked"
            raise GuardBlocked(f"The request was blocked by the guard: it contains {a_category(category)} ({where.param}), "
                               f"which the policy `{self.policy.name}` does not let through.", param=where.param)
        self.vault = vault

    def _vault(self, texts: list[surfaces.Text]) -> Vault:
        vault = Vault()
        for text in texts:
            vault.reserve(text.value)
        return vault

    def _detector_failed(self, failure: DetectorFailed, count: int, texts: list[surfaces.Text],
                         native_texts: list[surfaces.Text]) -> list[list[Finding]]:
        call = self.call
        passed = self.policy.fail_open
        self.failed = "passed" if passed else "blocked"
        self._settle_once()
        log.warning("guard_detector_failed", extra={"request_id": call.request_id, "detector": failure.detector,
                                                    "reason": failure.reason, "policy": self.policy.name,
                                                    "outcome": self.failed})
        if not passed:
            self.outcome = "guard.failed"
            request = call.request  # what the records keep of a request nobody could check: none of its text
            native = getattr(request, "native", None)
            if native is not None and native_texts:
                native = (native[0], surfaces.rewrite(native[1], [(t.path, UNCHECKED) for t in native_texts]))
            call.request = surfaces.with_body(request, surfaces.rewrite(request.body, [(t.path, UNCHECKED)
                                                                                     for t in texts]), native)
            raise GuardUnavailable(f"The guard could not check this request: its detector `{failure.detector}` "
                                   f"failed ({failure.reason}); the request was not sent.")
        return failure.findings or [[] for _ in range(count)]

    async def moderate(self) -> None:
        moderator = self.policy.moderation
        assert moderator is not None
        try:
            await moderator.check(self.call)
        except ModerationFailed as failure:
            passed = moderator.config.on_error == "open"
            self.failed = "passed" if passed else "blocked"
            self._settle_once()
            log.warning("guard_moderation_failed", extra={"request_id": self.call.request_id, "reason": str(failure),
                                                         "policy": self.policy.name, "outcome": self.failed})
            if not passed:
                self.outcome = "guard.failed"
                raise GuardUnavailable(f"The guard could not check this request: the moderation check {failure}; "
                                       f"the request was not sent.") from None
        except ModerationFlagged:
            self.outcome = "guard.flagged"
            self._settle_once()
            raise

    # -- the answer ---------------------------------------------------------------------------------
    def _answer(self) -> Answer | None:
        output = self.policy.output
        if self.vault is None and output is None:
            return None
        return Answer(self.vault, output.scanner if output else None, bool(output and output.block), self._output)

    def answer(self, answer: Any) -> Any:
        guard = self._answer()
        if guard is None or self.call.kind is Kind.EMBED or self.call.kind is Kind.RERANK:
            return answer  # scores and indexes: nothing of the request's text to restore or scan
        try:
            return guard.response(answer)
        except BaseException:
            self._charge(answer)
            raise

    def stream(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        output = self.policy.output
        if self.vault is None and output is None:
            return chunks
        return GuardedStream(chunks, self.vault, output.scanner if output else None,
                             bool(output and output.block), output.holdback if output else 0, self._output)

    def _output(self, category: str, action: str) -> None:
        self.note("output", category, action)
        if action == "block":
            self.outcome = "guard.output_blocked"

    def _charge(self, answer: Any) -> None:
        """A refused answer was still produced upstream: its usage and cost stay on the call."""
        call = self.call
        usage = call.usage = getattr(answer, "usage", None)
        if usage is not None and call.deployment is not None:
            call.cost = call.deployment.price.cost(usage)

    # -- what was found -----------------------------------------------------------------------------
    def note(self, direction: str, category: str, action: str, count: int = 1) -> None:
        key = (direction, category, action)
        self.found[key] = self.found.get(key, 0) + count
        self._settle_once()

    def _settle_once(self) -> None:
        if not self.settling:
            self.settling = True
            self.call.on_settle(self._settled)

    async def _settled(self, call: Call) -> None:
        guard = self.guard
        if guard.metrics is not None:
            guard.metrics.guarded(call, self.found, self.failed)
        if guard.audit is not None:
            detections: dict[str, dict[str, dict[str, int]]] = {}
            for (direction, category, action), count in self.found.items():
                detections.setdefault(direction, {}).setdefault(category, {})[action] = count
            detail: dict[str, Any] = {"policy": self.policy.name, "detections": detections}
            if self.failed is not None:
                detail["detector_failed"] = self.failed
            outcome = self.outcome
            if outcome is None:
                actions = {action for _, _, action in self.found}
                outcome = "guard.masked" if "mask" in actions else "guard.redacted" if actions else "guard.passed"
            await guard.audit.guarded(call, outcome, detail)

