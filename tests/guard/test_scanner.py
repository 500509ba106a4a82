"""The built-in detectors: what each finds, what it must not, and the checks that decide."""

from __future__ import annotations

import time

import pytest

from switchyard.core.config.guard import BUILTIN
from switchyard.guard import checks
from switchyard.guard.custom import DenyList, RegexDetector
from switchyard.guard.detection import Detection
from switchyard.guard.scanner import Scanner

ALL = Scanner(BUILTIN)


def found(text: str, scanner: Scanner = ALL) -> list[tuple[str, str]]:
    return [(category, text[start:end]) for start, end, category in scanner.scan(text)]


@pytest.mark.parametrize(("text", "category", "value"), [
    ("write to jrmccalx@example.com today", "email", "jrmccalx@example.com"),
    ("mail first.last+tag@mail.example.co.uk.", "email", "first.last+tag@mail.example.co.uk"),
    ("ssn 914-27-6083 on file", "ssn", "914-27-6083"),
    ("card 4111-1111-1111-1111 exp", "credit_card", "4111-1111-1111-1111"),
    ("amex 3782 822463 10005", "credit_card", "3782 822463 10005"),
    ("pan 5555555555554444", "credit_card", "5555555555554444"),
    ("iban DE89 3704 0044 0532 0130 00 ok", "iban", "DE89 3704 0044 0532 0130 00"),
    ("iban GB82WEST12345698765432", "iban", "GB82WEST12345698765432"),
    ("call +1 415 555 2671 now", "phone", "+1 415 555 2671"),
    ("call (415) 555-2671", "phone", "(415) 555-2671"),
    ("call 415.555.2671", "phone", "415.555.2671"),
    ("ring 020 7946 0958", "phone", "020 7946 0958"),
    ("host 10.0.0.1:8080", "ip_address", "10.0.0.1"),
    ("v6 2001:db8::8a2e:370:7334 up", "ip_address", "2001:db8::8a2e:370:7334"),
    ("loopback ::1 and", "ip_address", "::1"),
    ("key AKIAIOSFODNN7EXAMPLE", "aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
    ("gh ghp_EXAMPLENOTAREALGITHUBTOKEN0000000000", "github_token", "ghp_EXAMPLENOTAREALGITHUBTOKEN0000000000"),
    ("slack xoxb-00000-00000-EXAMPLENOTAREALTOKEN.", "slack_token", "xoxb-00000-00000-EXAMPLENOTAREALTOKEN"),
    ("openai sk-proj-AbC123dEf456GhI789jKl012MnO345", "openai_key", "sk-proj-AbC123dEf456GhI789jKl012MnO345"),
    ("claude sk-ant-api03-AbCdEf0123456789xyzXYZ-abc", "anthropic_key", "sk-ant-api03-AbCdEf0123456789xyzXYZ-abc"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc_def", "jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc_def"),
    ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "generic_secret",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ('{"client_secret": "d8f7A9s2Qx4Lm0Zp"}', "generic_secret", "d8f7A9s2Qx4Lm0Zp"),
    ("db password: hunter2!", "generic_secret", "hunter2!"),
    ("Authorization: Bearer abcdef0123456789ABCDEFxyz", "generic_secret", "abcdef0123456789ABCDEFxyz"),
])
def test_each_category_is_found(text, category, value):
    assert (category, value) in found(text)


def test_a_private_key_block_is_found_whole_and_without_its_end_to_the_text_end():
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----"
    assert found(f"key:\n{block}\nthanks") == [("private_key", block)]
    cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
    assert found(f"here {cut}") == [("private_key", cut)]


@pytest.mark.parametrize("text", [
    "card 4111-1111-1111-1112",            # Luhn fails
    "ssn 000-12-3456 or 666-12-3456",       # areas never issued
    "ssn 123-45-6789",                      # a published example
    "iban DE89 3704 0044 0532 0130 01",     # mod 97 fails
    "ip 999.1.1.1",                         # octet out of range
    "dates 2026-11-26 and times 12:30:45",
    "a version 1.2.3 and 12345 tokens",
    "std::vector<int> and a::b",
    "task-management-system-design-document",
    "max_tokens: 1024 and keyboard: Logitech",
    "password: ${DB_PASSWORD}",
    "the key point is simple",
    "id 4155552671",                        # ten bare digits: no phone shape
    "xAKIAIOSFODNN7EXAMPLE",                # the tail of a longer word
])
def test_lookalikes_are_not_found(text):
    assert found(text) == []


def test_checks():
    assert checks.luhn("4111111111111111") and not checks.luhn("4111111111111112")
    assert checks.card_issuer("4111111111111111") and not checks.card_issuer("9111111111111111")
    assert checks.iban("DE89370400440532013000") and not checks.iban("DE8937040044053201300")
    assert checks.ssn("914", "27", "6083") and not checks.ssn("914", "00", "6083")
    assert checks.entropy("aaaa") == 0.0 and checks.entropy("abcd") == 2.0


def test_findings_never_overlap_and_the_more_specific_wins():
    text = "aws_access_key_id=AKIAIOSFODNN7EXAMPLE"
    assert found(text) == [("aws_access_key", "AKIAIOSFODNN7EXAMPLE")]


def test_only_the_categories_asked_for_are_looked_for():
    text = "bob@example.com 914-27-6083"
    assert found(text, Scanner(["ssn"])) == [("ssn", "914-27-6083")]
    assert found(text, Scanner([])) == []


def test_custom_regex_and_deny_list():
    detectors = [RegexDetector("employee_id", r"EMP-(?P<value>\d{6})"), DenyList("codenames", ["bluebird", "Zürich"])]
    scanner = Scanner([*BUILTIN, "employee_id", "codenames"], detectors)
    text = "Project BLUEBIRD (not bluebirds) for EMP-123456 in zürich"
    assert found(text, scanner) == [("codenames", "BLUEBIRD"), ("employee_id", "123456"), ("codenames", "zürich")]
    case_sensitive = Scanner(["codenames"], [DenyList("codenames", ["Bluebird"], ignore_case=False)])
    assert found("bluebird Bluebird", case_sensitive) == [("codenames", "Bluebird")]
    many = DenyList("names", [f"name{i}" for i in range(100)])  # one alternation past 32 terms
    assert found("say name42 and name7x", Scanner(["names"], [many])) == [("names", "name42")]


async def test_several_texts_are_scanned_in_one_pass_and_mapped_back():
    detection = Detection(Scanner(BUILTIN))
    texts = ["first bob@example.com", "nothing", "card 4111 1111 1111 1111 and 914-27-6083"]
    result = await detection.find(texts)
    assert [[(c, texts[i][s:e]) for s, e, c in f] for i, f in enumerate(result)] == [
        [("email", "bob@example.com")], [], [("credit_card", "4111 1111 1111 1111"), ("ssn", "914-27-6083")]]
    # digits on both sides of a boundary never join into one number
    assert await detection.find(["4111 1111", "1111 1111"]) == [[], []]


def test_text_beyond_latin1_keeps_its_offsets():
    text = "名前 — “quoted” bob@example.com ✓ 914-27-6083"
    assert found(text) == [("email", "bob@example.com"), ("ssn", "914-27-6083")]


@pytest.mark.parametrize("text", [
    "J" * 100_000, "eyJ" * 33_000, "key" * 33_000, "key=" * 25_000, "api_key=Ab1" * 9_000, "a@" * 50_000,
    ":" * 100_000, "a1:" * 33_000, ".1" * 50_000, "123-45-" * 15_000, "4111 1111 1111 1111 " * 5_000,
    "-----BEGIN PRIVATE KEY-----\n" * 3_500, "sk-" * 33_000, "xoxb-" * 20_000, "bearer " * 14_000,
    "AB12 " * 20_000, "x@" + "a." * 50_000 + "1",
], ids=lambda text: repr(text[:12]))
def test_inputs_built_to_provoke_backtracking_stay_linear(text):
    """Each family against 100 KB shaped to make a regex re-read a long run from every position."""
    started = time.perf_counter()
    ALL.scan(text)
    assert time.perf_counter() - started < 1.0  # linear: tens of ms; quadratic: seconds to minutes
