"""The safe expression evaluator: what it computes, and every input it must refuse."""

from __future__ import annotations

import math

import pytest

from switchyard.mcp.builtin.calc import Calculator, ExpressionError

calc = Calculator(max_length=200, max_power=1000)


@pytest.mark.parametrize(("expression", "value"), [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 // 2", 3), ("7 % 4", 3), ("2 ** 10", 1024), ("-3 + +2", -1),
    ("10 / 4", 2.5), ("sqrt(16) + log(e)", 5.0), ("max(1, 5, 3)", 5), ("round(pi, 2)", 3.14),
    ("1 < 2 < 3", True), ("1 < 2 > 3", False), ("not 0 and 1 or 0", True), ("5 if 2 > 1 else 6", 5),
    ("factorial(10)", 3628800), ("atan2(1, 1) * 4", math.pi),
])
def test_it_computes(expression, value):
    assert calc.evaluate(expression) == pytest.approx(value)


@pytest.mark.parametrize(("expression", "reason"), [
    ("__import__('os').system('id')", "is not allowed (Call)"),
    ("__import__('os')", "unknown function `__import__`"),
    ("open('/etc/passwd')", "unknown function `open`"),
    ("(1).__class__", "is not allowed (Attribute)"),
    ("x + 1", "unknown name `x`"),
    ("'a' * 3", "only numbers are allowed, not str"),
    ("[1, 2][0]", "is not allowed"),
    ("lambda: 1", "is not allowed (Lambda)"),
    ("[x for x in range(10)]", "is not allowed (ListComp)"),
    ("sqrt(x=4)", "is not allowed (Call)"),
    ("9 ** 9 ** 9", "over the limit of 1000"),
    ("9 ** 999 * 9 ** 999 * 9 ** 999 * 9 ** 999 * 9 ** 999", "more than 4300 digits"),
    ("10 ** 999 * 10 ** 999 * 10 ** 999 * 10 ** 999 * 10 ** 999", "more than 4300 digits"),
    ("factorial(100000)", "factorial is limited to 1000"),
    ("1 / 0", "division by zero"),
    ("1 +", "not valid syntax"),
    ("", "must be a non-empty string"),
    ("1 + " * 100 + "1", "the limit is 200"),
    ("sqrt(-1)", "math domain error"),
    ("10.0 ** 400", "Numerical result out of range"),
])
def test_it_refuses(expression, reason):
    with pytest.raises(ExpressionError) as refused:
        calc.evaluate(expression)
    assert reason in str(refused.value)
    assert str(refused.value).startswith("expression: ")


def test_nesting_is_bounded():
    deep = Calculator(max_length=10_000)
    with pytest.raises(ExpressionError, match="nested deeper than 50"):
        deep.evaluate("-" * 60 + "1")
