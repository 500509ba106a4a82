"""The built-in detectors' patterns, and why each is shaped the way it is.

Every repetition that can run long is bounded or possessive, and what must come before a
match is checked right after its literal (or on the match): a failed attempt never re-reads
a long run from each of its positions (no quadratic, no catastrophic backtracking; the
tests feed each family 100 KB built to provoke it).

Python's ``re`` scans fast only where a pattern starts with a literal (it jumps from
one occurrence of that literal to the next in C); a pattern that starts with a class
(``\\d``, ``[A-Z]``, ``\\b``) is tried at every position, about 70 MB/s — 1.5 ms for a
100 KB prompt, per pattern. So every pattern here starts with a literal:

- numbers (SSNs, cards, phones, IPv4 addresses) and IBANs are found on a *view* of the
  text: its bytes translated so that every digit is ``0`` and every capital ``A``
  (``VIEW``); an SSN is then ``000-00-0000``, a card ``0000 0000 …`` and an IBAN's head
  ``AA00`` — literals, their shapes matched in C. The view keeps offsets (one byte per
  character: ``str.encode("latin-1", "replace")``); what matches is checked on the text
  itself (``checks``);
- emails are found at their ``@``, IPv6 addresses at a ``:``;
- secrets by their published prefixes (``AKIA``, ``ghp_``, ``xoxb-``, ``sk-``, ``eyJ``,
  ``-----BEGIN``); what must not precede them is checked on each match, not in the
  pattern (a look-behind in front of the literal costs the fast scan);
- generic ``key=value`` credentials by a few keywords on the lower-cased bytes;
- a text that cannot hold a family (no ``@``, no ``000``, no secret's prefix) skips it.
"""

from __future__ import annotations

import re

#: Byte translation of the view: digits -> "0", capitals -> "A", number punctuation kept, the rest "x".
_view = bytearray(b"x" * 256)
for _c in b"0123456789":
    _view[_c] = ord("0")
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _view[_c] = ord("A")
for _c in b" -.()/+":
    _view[_c] = _c
VIEW = bytes(_view)

#: Numbers by shape, on the view; each starts with a literal (``0`` is any digit). What
#: may not come before a match (a digit, a dot) is checked on the view afterwards.
SSN_SHAPE = re.compile(rb"000([- .])00\1(?:0000)(?![0-])")
CARD_SHAPE = re.compile(rb"0000(?:[ -]?0){8,15}(?!0)")
IPV4_SHAPE = re.compile(rb"\.0{1,3}\.0{1,3}\.0{1,3}(?![0.])")  # from its first dot: the digits before are read back
PHONE_SHAPES = (
    re.compile(rb"\+0{1,3}[ .-]?(?:\(0{1,4}\)[ .-]?)?0{1,4}(?:[ .-]?0{2,5}){1,4}(?!0)"),  # +country ...
    re.compile(rb"\(000\)[ .-]?000[ .-]0000(?!0)"),  # (area) exchange-line
    re.compile(rb"000[ .-]000[ .-]0000(?!0)"),  # area-exchange-line
    re.compile(rb"0000{0,2}[ -]0{3,4}[ -]?0{3,4}(?!0)"),  # trunk 0: 020 7946 0958
)
#: An IBAN's country code and check digits, then its groups (on the view).
IBAN_RUN = re.compile(rb"AA00(?: ?[A0]){10,32}")

EMAIL_AT = "@"
EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
EMAIL_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])")

#: A colon followed by a hex group and another colon: every IPv6 address has one.
IPV6_ANCHOR = re.compile(r":[0-9a-fA-F]{0,4}:")
IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")

#: Secrets by prefix: ``(kind, categories, pattern)``. Each pattern starts at its rarest literal
#: (``J`` of a JWT's ``eyJ``, ``k-`` of ``sk-``): ``re`` jumps between occurrences of a pattern's first
#: character, so a common one (``e``, ``s``) costs more; the rest of the prefix is checked on each
#: match (``scanner._secret``), with what must not come before it. (Searching the literal in C is
#: also faster than asking ``prefix in text`` first.)
SECRETS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("aws", ("aws_access_key",), re.compile(r"A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])")),
    ("github", ("github_token",),
     re.compile(r"g(?:h[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9])|ithub_pat_[A-Za-z0-9_]{22,255})")),
    ("slack", ("slack_token",), re.compile(r"xox[abposre]-[A-Za-z0-9-]{10,}+")),
    ("webhook", ("slack_token",), re.compile(r"\.slack\.com/services/[A-Za-z0-9/]{20,}+")),
    ("sk", ("openai_key", "anthropic_key"), re.compile(r"k-(?:ant-)?[A-Za-z0-9_-]{20,}+")),
    ("pem", ("private_key",), re.compile(r"-----BEGIN[A-Z ]{0,32} PRIVATE KEY(?: BLOCK)?-----[^\x00]*?"
                                        r"(?:-----END[A-Z ]{0,32} PRIVATE KEY(?: BLOCK)?-----|(?=\x00)|\Z)")),
    ("jwt", ("jwt",), re.compile(r"J(?<=(?<![A-Za-z0-9_-])eyJ)[A-Za-z0-9_-]{6,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]*+")),
)

#: Lower-case keywords of names that hold credentials, each followed by the rest of a name and an
#: assignment (``=``, ``:``, ``=>``, ``:=``, quoted or not): found on the lower-cased bytes.
#: (Anchored at a rarer part of the word where it pays: ``cret``, ``ken``, ``uth``; the name is read whole after.)
SECRET_WORDS = tuple(re.compile(word + rb"""[a-z0-9_.\-]{0,64}+["']?[ \t]{0,3}(?::=|=>|[:=])[ \t]{0,3}["']?""")
                     for word in (rb"p(?:ass|wd)", b"cret", b"ken", b"key", b"credential", b"uth"))
#: The value assigned (on the text).
ASSIGNED_VALUE = re.compile(r"""[^\s"'`,;<>(){}\[\]]{6,512}""")
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
#: A name's parts (``AWS_SECRET_ACCESS_KEY``, ``clientSecret``, ``api.key``); one of them must be a credential's.
NAME_PARTS = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")
PASSWORD_NAMES = frozenset({"pass", "password", "passwd", "passphrase", "pwd"})
SECRET_NAMES = PASSWORD_NAMES | {"secret", "secrets", "token", "key", "apikey", "credential", "credentials", "auth",
                                 "authkey", "privatekey", "secretkey", "accesskey", "accesstoken", "authtoken"}
#: ``Authorization: Bearer <token>`` (on the lower-cased bytes, then read from the text).
BEARER = re.compile(rb"bearer[ \t]{1,8}([a-z0-9\-._~+/]{16,4096}=*)")
