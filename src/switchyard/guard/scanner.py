"""The built-in detectors: one pass per family over a text, offline, no model.

``Scanner(categories, custom).scan(text)`` returns ``Finding``s — ``(start, end,
category)``, sorted, never overlapping — for the categories it was built with:

=================  ==============================================================
``email``          ``local@domain.tld``
``phone``          ``+<country> …``, ``(area) …``, North American and trunk-0 shapes
``credit_card``    13–19 digits, an issuer's prefix and length, Luhn-checked
``iban``           the country's length, mod-97-checked
``ssn``            US social security (and ITIN) numbers, the SSA's rules
``ip_address``     IPv4 (octets checked) and IPv6 (parsed)
``aws_access_key`` ``AKIA``/``ASIA``… and 16 characters
``github_token``   ``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``, ``github_pat_``
``slack_token``    ``xoxb-``, ``xoxp-``… tokens and webhook URLs
``openai_key``     ``sk-…`` (``sk-proj-…``, ``sk-svcacct-…``)
``anthropic_key``  ``sk-ant-…``
``private_key``    PEM private key blocks, ``BEGIN`` to ``END``
``jwt``            ``eyJ….eyJ….…``
``generic_secret`` a credential-like name (``password``, ``api_key``, ``client_secret``,
                   ``token``…) assigned a high-entropy value; ``Bearer`` tokens
=================  ==============================================================

How each is found fast is in ``patterns.py``; what makes a match real, in ``checks.py``.
Custom detectors (``custom.py``) run in the same pass. Overlaps keep the earliest
finding, then the longest, then the most specific (a custom detector, a named secret,
personal data, a generic secret).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Protocol

from switchyard.core.config.guard import BUILTIN
from switchyard.guard import checks, patterns

#: ``(start, end, category)`` of one detected value in a text.
Finding = tuple[int, int, str]

NUMBERS = ("ssn", "credit_card", "ip_address", "phone")
SECRETS = tuple(dict.fromkeys(category for _, categories, _ in patterns.SECRETS for category in categories))

#: When two findings cover the same span, the higher wins.
_RANK = {"generic_secret": 1, **{c: 3 for c in SECRETS}}
_CUSTOM_RANK = 4
_PII_RANK = 2


class CustomDetector(Protocol):
    """A detector from the config (``custom.py``): its findings in a text."""

    name: str

    def find(self, text: str, raw: bytes, lowered: bytes) -> Iterable[tuple[int, int]]: ...


class Scanner:
    """The built-in and custom detectors for one set of categories (see the module docstring)."""

    __slots__ = ("categories", "custom", "_numbers", "_email", "_iban", "_ipv6", "_secrets", "_generic",
                 "_needs_bytes", "_ranks", "_wanted")

    def __init__(self, categories: Iterable[str], custom: Sequence[CustomDetector] = ()) -> None:
        wanted = frozenset(categories)
        self.custom = tuple(d for d in custom if d.name in wanted)
        self.categories = frozenset(c for c in wanted if c in BUILTIN) | {d.name for d in self.custom}
        self._numbers = frozenset(c for c in NUMBERS if c in wanted)
        self._email = "email" in wanted
        self._iban = "iban" in wanted
        self._ipv6 = "ip_address" in wanted
        self._secrets = tuple((kind, pattern) for kind, categories, pattern in patterns.SECRETS
                              if any(c in wanted for c in categories))
        self._wanted = wanted
        self._generic = "generic_secret" in wanted
        self._needs_bytes = bool(self._numbers or self._iban or self._generic or self.custom)
        self._ranks = {**_RANK, **{d.name: _CUSTOM_RANK for d in self.custom}}

    def scan(self, text: str) -> list[Finding]:
        """Every finding in ``text``, sorted by position, none overlapping."""
        found: list[Finding] = []
        raw = lowered = b""
        if self._needs_bytes:
            raw = text.encode("latin-1", "replace")  # one byte per character: offsets are the text's
            if self._numbers or self._iban:
                view = raw.translate(patterns.VIEW)
                if self._numbers and view.find(b"0") >= 0:
                    self._find_numbers(text, view, found)
                if self._iban:
                    _find_ibans(text, view, found)
            if self._generic or self.custom:
                lowered = raw.lower()
        if self._email and "@" in text:
            _find_emails(text, found)
        if self._ipv6 and ":" in text:
            _find_ipv6(text, found)
        for kind, pattern in self._secrets:
            for match in pattern.finditer(text):
                secret = _secret(kind, text, match.start(), match.end())
                if secret is not None and secret[1] in self._wanted:
                    found.append((secret[0], match.end(), secret[1]))
        if self._generic:
            _find_assigned(text, lowered, found)
        for detector in self.custom:
            name = detector.name
            found.extend((start, end, name) for start, end in detector.find(text, raw, lowered))
        if len(found) < 2:
            return found
        return self._resolve(found)

    def _resolve(self, found: list[Finding]) -> list[Finding]:
        found.sort()  # by start, then end: of two findings at one start, the longer comes second
        ranks = self._ranks
        out: list[Finding] = [found[0]]
        for finding in found[1:]:
            last = out[-1]
            if finding[0] >= last[1]:
                out.append(finding)
                continue
            if finding[0] == last[0]:  # the same start: the longer wins, then the more specific
                if finding[1] > last[1] or ranks.get(finding[2], _PII_RANK) > ranks.get(last[2], _PII_RANK):
                    out[-1] = finding
            elif finding[1] > last[1] and ranks.get(finding[2], _PII_RANK) > ranks.get(last[2], _PII_RANK):
                out[-1] = (last[0], finding[1], finding[2])  # a larger, more specific overlap takes the span
        return out

    # -- numbers ------------------------------------------------------------------------------------
    def _find_numbers(self, text: str, view: bytes, found: list[Finding]) -> None:
        wanted = self._numbers
        triple = view.find(b"000") >= 0  # every shape but an IPv4 address has three digits in a row
        if triple and "ssn" in wanted:
            for m in patterns.SSN_SHAPE.finditer(view):
                start, end = m.span()
                if (not start or view[start - 1] not in b"0-") and checks.ssn(
                        text[start:start + 3], text[start + 4:start + 6], text[end - 4:end]):
                    found.append((start, end, "ssn"))
        if triple and "credit_card" in wanted and view.find(b"0000") >= 0:
            for m in patterns.CARD_SHAPE.finditer(view):
                start, end = m.span()
                if (not start or view[start - 1] != 48) and _card(text[start:end]):
                    found.append((start, end, "credit_card"))
        if "ip_address" in wanted and view.find(b".") >= 0:
            for m in patterns.IPV4_SHAPE.finditer(view):
                start, end = m.span()
                lead = 0
                while lead < 3 and start - lead > 0 and view[start - lead - 1] == 48:  # the first octet's digits
                    lead += 1
                start -= lead
                if lead and _clear(view, start, b"0.") and all(int(p) <= 255 for p in text[start:end].split(".")):
                    found.append((start, end, "ip_address"))
        if triple and "phone" in wanted:
            plus, paren, nanp, trunk = patterns.PHONE_SHAPES
            if view.find(b"+") >= 0:
                for m in plus.finditer(view):
                    start, end = m.span()
                    if (not start or view[start - 1] != 48) and 8 <= view.count(b"0", start, end) <= 15:
                        found.append((start, end, "phone"))
            if view.find(b"(") >= 0:
                for m in paren.finditer(view):
                    if _clear(view, m.start(), b"0"):
                        found.append((m.start(), m.end(), "phone"))
            for m in nanp.finditer(view):
                if _clear(view, m.start(), b"0+"):
                    found.append((m.start(), m.end(), "phone"))
            for m in trunk.finditer(view):
                start, end = m.span()
                if text[start] == "0" and _clear(view, start, b"0+") and 10 <= view.count(b"0", start, end) <= 11:
                    found.append((start, end, "phone"))


def _clear(view: bytes, start: int, forbidden: bytes) -> bool:
    """Whether the character before ``start`` is none of ``forbidden`` (on the view)."""
    return start == 0 or view[start - 1] not in forbidden


def _card(value: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    if " " in value and "-" in value:
        return False  # mixed separators: two numbers side by side, not one card
    return checks.card_issuer(digits) and checks.luhn(digits)


def _find_ibans(text: str, view: bytes, found: list[Finding]) -> None:
    for run in patterns.IBAN_RUN.finditer(view):
        start, end = run.span()
        if start and text[start - 1].isalnum():
            continue
        span = text[start:end]
        compact = span.replace(" ", "")
        length = checks.IBAN_LENGTHS.get(compact[:2])
        if length is None or len(compact) < length:
            continue
        if len(compact) > length:
            if compact[length].isalnum() and " " not in span:
                continue  # more characters run on: not this IBAN
            kept = 0
            for i, ch in enumerate(span):  # the span's end after `length` characters that are not spaces
                kept += ch != " "
                if kept == length:
                    end = start + i + 1
                    break
            compact = compact[:length]
        if checks.iban(compact):
            found.append((start, end, "iban"))


def _find_emails(text: str, found: list[Finding]) -> None:
    local = patterns.EMAIL_LOCAL
    at = text.find("@")
    while at > 0:
        start = at
        floor = max(0, at - 64)
        while start > floor and text[start - 1] in local:
            start -= 1
        while start < at and text[start] in "._%+-":
            start += 1
        domain = patterns.EMAIL_DOMAIN.match(text, at + 1) if start < at else None
        if domain is not None:
            found.append((start, domain.end(), "email"))
            at = text.find("@", domain.end())
            continue
        at = text.find("@", at + 1)


def _find_ipv6(text: str, found: list[Finding]) -> None:
    pos = 0
    n = len(text)
    chars = patterns.IPV6_CHARS
    while True:
        anchor = patterns.IPV6_ANCHOR.search(text, pos)
        if anchor is None:
            return
        start = anchor.start()
        while start > 0 and text[start - 1] in chars:
            start -= 1
        end = anchor.end()
        while end < n and text[end] in chars:
            end += 1
        pos = end
        candidate = text[start:end].rstrip(".")
        end = start + len(candidate)
        if (start and (text[start - 1].isalnum() or text[start - 1] == "_")) or (end < n and text[end].isalnum()):
            continue
        if candidate.count(":") < 2 or not any(ch.isdigit() for ch in candidate):
            continue  # `a::b` is an address too, but far more often C++
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        found.append((start, end, "ip_address"))


_CATEGORY = {"aws": "aws_access_key", "github": "github_token", "slack": "slack_token", "pem": "private_key"}


def _secret(kind: str, text: str, start: int, end: int) -> tuple[int, str] | None:
    """``(start, category)`` of a secret pattern's match when it is one: its whole prefix there, not
    the tail of a longer word, a key's body random-looking; None otherwise."""
    if kind == "sk":
        if start == 0 or text[start - 1] != "s":
            return None
        start -= 1
        anthropic = text.startswith("sk-ant-", start)
        body = text[start + (7 if anthropic else 3):end]
        if not (any(ch.isdigit() for ch in body) and checks.entropy(body) >= 3.0):
            return None
        category = "anthropic_key" if anthropic else "openai_key"
    elif kind == "jwt":
        return start - 2, "jwt"  # the pattern checked its ``ey`` and what comes before
    elif kind == "webhook":
        for head in ("https://hooks", "http://hooks", "hooks"):
            if text.startswith(head, start - len(head)):
                return start - len(head), "slack_token"
        return None
    else:
        category = _CATEGORY[kind]
    if start and (text[start - 1].isalnum() or text[start - 1] in "_-"):
        return None
    return start, category


def _find_assigned(text: str, lowered: bytes, found: list[Finding]) -> None:
    """``name = value`` where the name is a credential's and the value looks like one; ``Bearer`` tokens."""
    seen: set[int] = set()
    names = patterns.NAME_CHARS
    for assignment in patterns.SECRET_WORDS:
        read_to = 0  # a value once read is not read again from a later keyword inside it
        for hit in assignment.finditer(lowered):
            if hit.start() < read_to:
                continue
            value = patterns.ASSIGNED_VALUE.match(text, hit.end())
            if value is None:
                continue
            read_to = value.end()
            if value.start() in seen:
                continue
            start = hit.start()
            floor = max(0, start - 64)
            while start > floor and text[start - 1] in names:
                start -= 1
            name = text[start:hit.end()].strip("\"' \t:=>")
            parts = {part.lower() for part in patterns.NAME_PARTS.split(name)}
            if parts & patterns.SECRET_NAMES and _credential(value.group(), password=bool(parts & patterns.PASSWORD_NAMES)):
                seen.add(value.start())
                found.append((value.start(), value.end(), "generic_secret"))
    if lowered.find(b"bearer") >= 0:
        for match in patterns.BEARER.finditer(lowered):
            start, end = match.span(1)
            if start not in seen and _credential(text[start:end], password=False):
                found.append((start, end, "generic_secret"))


_PLACEHOLDERS = ("${", "{{", "<", "%(", "$", "[", "*", "xxx", "...", "your")


def _credential(value: str, *, password: bool) -> bool:
    """Whether ``value`` looks like a credential rather than a word, a number or a placeholder."""
    if len(value) < (6 if password else 8) or value.lower().startswith(_PLACEHOLDERS):
        return False
    kinds = (any(ch.islower() for ch in value) + any(ch.isupper() for ch in value)
             + any(ch.isdigit() for ch in value) + any(not ch.isalnum() for ch in value))
    if kinds < 2:
        return False
    return password or checks.entropy(value) >= (3.0 if len(value) < 16 else 3.5)
