"""Config of the guard: what counts as personal data or a secret, and what is done about it.

``guard.policies`` are named; an alias takes one (``models.<alias>.guard``), a key
another (``auth.keys[].guard``; a virtual key, its team or tenant through the
``guard`` entry of their ``metadata``), and ``guard.default`` covers the rest.
The name ``off`` is no policy at all. See ``switchyard/guard`` for how each is applied.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from switchyard.core.config.base import Strict

Action = Literal["block", "redact", "mask"]
OnError = Literal["closed", "open"]
#: The policy name that means "no guard" wherever a policy is named.
OFF = "off"
def _policy_name(value: Any) -> Any:
    """YAML reads a bare ``off`` as false: it means the policy ``off`` (no guard)."""
    return OFF if value is False else value


#: Where a policy is named (``models.<alias>.guard``, ``auth.keys[].guard``, ``guard.default``).
PolicyName = Annotated[str, BeforeValidator(_policy_name)]

#: The built-in detectors' categories (``switchyard/guard/scanner.py``).
BUILTIN = ("email", "phone", "credit_card", "iban", "ssn", "ip_address", "aws_access_key", "github_token",
           "slack_token", "openai_key", "anthropic_key", "private_key", "jwt", "generic_secret")
#: Detector and category names: they become placeholders (``[EMPLOYEE_ID_1]``) and metric labels.
NAME = r"^[a-z][a-z0-9_]{0,30}$"


class OutputGuard(Strict):
    """The same detectors over the model's answer (its text, reasoning and tool-call arguments)."""

    action: Literal["block", "redact"] = Field(
        default="redact", description="block: the answer is refused (a stream ends with an error event); "
                                      "redact: each value is replaced by [REDACTED_<CATEGORY>].")
    categories: list[str] | None = Field(default=None, description="Default: the policy's categories.")
    holdback: int = Field(default=256, ge=32, le=8192,
                          description="A stream's characters held back at most while a value may still be growing.")


class Moderation(Strict):
    """A classifier alias asked about each request before it is sent (after masking: it sees no value)."""

    alias: str = Field(min_length=1, description="A configured alias, e.g. a Llama Guard deployment.")
    timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds for the classifier's answer.")
    on_error: OnError = Field(default="closed", description="The classifier failed or timed out: closed refuses "
                                                            "the request (503), open sends it on.")
    flagged: str = Field(default=r"^\s*unsafe\b", description="A regex over the classifier's answer (case "
                                                               "ignored): a match flags the request.")
    instructions: str | None = Field(default=None, description="A system message put before the conversation.")

    @field_validator("flagged")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"is not a valid regex: {exc}") from None
        return value


class GuardPolicy(Strict):
    """What to detect and what to do with each finding."""

    action: Action = Field(default="mask", description="block: refuse the request (400, naming the category); "
                                                      "redact: replace one way; mask: placeholders upstream, "
                                                      "the values restored in the answer.")
    categories: list[str] | None = Field(default=None, description="Built-in categories and detector names; "
                                                                   "default: every built-in and configured one.")
    actions: dict[str, Action] = Field(default_factory=dict, description="Per category, replacing `action`.")
    on_error: OnError = Field(default="closed", description="A detector failed or timed out: closed refuses the "
                                                            "request (503), open sends what the others found.")
    timeout: float = Field(default=1.0, gt=0, le=120, description="Seconds for plugin detectors (and the "
                                                                  "built-ins on inputs over 256K characters).")
    output: OutputGuard | None = Field(default=None, description="Detect in the answer too.")
    moderation: Moderation | None = None


class GuardDetector(Strict):
    """A detector besides the built-ins: a regex, a deny-list, or a plugin (``switchyard.detectors``)."""

    name: str = Field(pattern=NAME, description="Its category: in policies, placeholders, errors, metrics.")
    regex: str | None = Field(default=None, description="A named group `value` narrows the finding.")
    deny: list[str] | None = Field(default=None, description="Terms found as whole words.")
    ignore_case: bool | None = Field(default=None, description="Default: true for deny-lists, false for regexes.")
    plugin: str | None = Field(default=None, description="A detector registered in the switchyard.detectors "
                                                         "entry points (e.g. presidio).")
    options: dict[str, Any] = Field(default_factory=dict, description="Passed to the plugin's factory.")

    @model_validator(mode="after")
    def _one_kind(self) -> GuardDetector:
        kinds = [k for k in ("regex", "deny", "plugin") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("needs exactly one of regex, deny, plugin")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex is not valid: {exc}") from None
        if self.deny is not None and not [t for t in self.deny if t.strip()]:
            raise ValueError("deny needs at least one term")
        if self.options and self.plugin is None:
            raise ValueError("options are for plugin detectors")
        return self


class GuardConfig(Strict):
    """``guard:`` — named policies, extra detectors, the default policy."""

    default: PolicyName | None = Field(default=None, description="The policy of aliases and keys naming none "
                                                           "(default: none, no guard).")
    policies: dict[str, GuardPolicy] = Field(default_factory=dict)
    detectors: list[GuardDetector] = Field(default_factory=list)
    audit: bool | None = Field(default=None, description="Record each request where something was found "
                                                         "(categories and counts, never values) in the audit log; "
                                                         "default: as audit.requests.")

    @field_validator("policies")
    @classmethod
    def _names(cls, value: dict[str, GuardPolicy]) -> dict[str, GuardPolicy]:
        for name in value:
            if name == OFF:
                raise ValueError(f"`{OFF}` means no policy; name yours otherwise")
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
                raise ValueError(f"policy name {name!r}: letters, digits, _ . - only (at most 64)")
        return value

    @model_validator(mode="after")
    def _detectors_unique(self) -> GuardConfig:
        seen: set[str] = set()
        for detector in self.detectors:
            if detector.name in seen or detector.name in BUILTIN:
                raise ValueError(f"detector name {detector.name!r} is taken (a built-in category or another detector)")
            seen.add(detector.name)
        return self

    @property
    def enabled(self) -> bool:
        """Whether any policy exists (else the guard stage is left out)."""
        return bool(self.policies)
