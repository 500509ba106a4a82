"""The checksums and rules that tell a real identifier from a string of the same shape.

A regex finds what *looks like* a card number, an IBAN or a social security number;
these decide whether it *is* one, so prose full of numbers is not masked at random:

- ``luhn``: the check digit of payment card numbers (ISO/IEC 7812);
- ``card_issuer``: a card's issuer prefix and length (Visa, Mastercard, Amex, Discover,
  JCB, Diners, UnionPay, Maestro);
- ``iban``: the country's IBAN length and the ISO 13616 mod-97 check;
- ``ssn``: the US Social Security Administration's rules (no area 000 or 666, no
  group 00, no serial 0000, none of the numbers published as examples);
- ``entropy``: Shannon entropy in bits per character, for generic secrets.
"""

from __future__ import annotations

import math
from collections import Counter

#: IBAN length by country (the ISO 13616 registry, SWIFT release 2024).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

#: SSNs the SSA or others published as examples; never anyone's.
_EXAMPLE_SSNS = frozenset({"078051120", "219099999", "123456789", "111111111", "987654320", "987654321",
                           "987654322", "987654323", "987654324", "987654325", "987654326", "987654327",
                           "987654328", "987654329"})


#: A digit's contribution when the Luhn algorithm doubles it.
_DOUBLED = {str(d): (2 * d if d < 5 else 2 * d - 9) for d in range(10)}


def luhn(digits: str) -> bool:
    """Whether ``digits`` (only digits) end in a valid Luhn check digit."""
    doubled = _DOUBLED
    return (sum(map(int, digits[-1::-2])) + sum(doubled[ch] for ch in digits[-2::-2])) % 10 == 0


def card_issuer(digits: str) -> bool:
    """Whether ``digits`` has the prefix and length of a card network's numbers."""
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    four = int(digits[:4])
    two, three = four // 100, four // 10
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # American Express
    if four == 6011 or two == 65 or 644 <= three <= 649:
        return 16 <= n <= 19  # Discover
    if two == 35:
        return 16 <= n <= 19  # JCB
    if two in (36, 38, 39) or 300 <= three <= 305:
        return 14 <= n <= 19  # Diners Club
    if two == 62:
        return 16 <= n <= 19  # UnionPay
    if two in (50, 56, 57, 58) or digits[0] == "6":
        return 12 <= n <= 19  # Maestro and other 6-series
    return False


def iban(compact: str) -> bool:
    """Whether ``compact`` (no spaces, upper case) is an IBAN: its country's length and mod 97 == 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def ssn(area: str, group: str, serial: str) -> bool:
    """Whether the three parts of a US SSN could be a real number (the ITIN range, 9xx, counts)."""
    if area in ("000", "666") or group == "00" or serial == "0000":
        return False
    digits = area + group + serial
    if digits in _EXAMPLE_SSNS or digits == digits[0] * 9:
        return False
    return True


def entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    n = len(value)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())
