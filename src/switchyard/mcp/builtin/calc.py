"""A safe expression evaluator: an AST walker over a fixed set of nodes, never ``eval``.

Numbers (ints, floats; ``True``/``False``), ``+ - * / // % **``, unary ``+ -``,
comparisons (chained), ``and or not``, ``x if c else y``, parentheses, the constants
``pi``, ``e``, ``tau``, ``inf`` and the functions of ``FUNCTIONS``. No names beyond
those, no attributes, subscripts, calls of anything else, strings, comprehensions or
lambdas. Bounded: the expression's length and nesting, an exponent's size, and an
integer result's number of digits.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 50
MAX_INT_DIGITS = 4300  # Python's own default for int <-> str conversion

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "round": round, "min": min, "max": max,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "atan2": math.atan2, "floor": math.floor, "ceil": math.ceil, "hypot": math.hypot, "factorial": math.factorial,
    "gcd": math.gcd,
}
CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_MAX_FACTORIAL = 1000


class ExpressionError(ValueError):
    """The expression is refused or cannot be computed; the message says which part and why."""


class Calculator:
    def __init__(self, *, max_length: int = 1000, max_power: int = 10_000) -> None:
        self.max_length = max_length
        self.max_power = max_power

    def evaluate(self, expression: str) -> int | float | bool:
        if not isinstance(expression, str) or not expression.strip():
            raise ExpressionError("expression: must be a non-empty string")
        if len(expression) > self.max_length:
            raise ExpressionError(f"expression: {len(expression)} characters; the limit is {self.max_length}")
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"expression: not valid syntax at column {exc.offset}") from None
        try:
            value: int | float | bool = self._eval(tree.body, 0)
        except ExpressionError:
            raise
        except ZeroDivisionError:
            raise ExpressionError("expression: division by zero") from None
        except (OverflowError, ValueError, TypeError) as exc:
            raise ExpressionError(f"expression: {exc}") from None
        return value

    def _eval(self, node: ast.AST, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression: nested deeper than {MAX_DEPTH}")
        depth += 1
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool | int | float):
                return self._bounded(node.value)
            raise ExpressionError(f"expression: only numbers are allowed, not {type(node.value).__name__}")
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise ExpressionError(f"expression: unknown name `{node.id}`")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self._eval(node.left, depth), self._eval(node.right, depth)
            if isinstance(node.op, ast.Pow) and isinstance(right, int | float) and abs(right) > self.max_power:
                raise ExpressionError(f"expression: exponent {right} is over the limit of {self.max_power}")
            if isinstance(node.op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0 \
                    and abs(left) > 1 and right * math.log10(abs(left)) > MAX_INT_DIGITS:
                raise ExpressionError(f"expression: the result would have more than {MAX_INT_DIGITS} digits")
            if isinstance(node.op, ast.Mult) and isinstance(left, int) and isinstance(right, int) and left and right \
                    and math.log10(abs(left)) + math.log10(abs(right)) > MAX_INT_DIGITS:
                raise ExpressionError(f"expression: the result would have more than {MAX_INT_DIGITS} digits")
            return self._bounded(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand, depth)
            if isinstance(node.op, ast.USub):
                return -operand
            if isinstance(node.op, ast.UAdd):
                return +operand
            if isinstance(node.op, ast.Not):
                return not operand
        if isinstance(node, ast.BoolOp):
            values = [self._eval(v, depth) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            left = self._eval(node.left, depth)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, depth)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self._eval(node.body if self._eval(node.test, depth) else node.orelse, depth)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fn = FUNCTIONS.get(node.func.id)
            if fn is None:
                raise ExpressionError(f"expression: unknown function `{node.func.id}`")
            args = [self._eval(a, depth) for a in node.args]
            if fn is math.factorial and args and isinstance(args[0], int) and args[0] > _MAX_FACTORIAL:
                raise ExpressionError(f"expression: factorial is limited to {_MAX_FACTORIAL}")
            return self._bounded(fn(*args))
        raise ExpressionError(f"expression: `{ast.unparse(node)[:40]}` is not allowed ({type(node).__name__})")

    @staticmethod
    def _bounded(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_DIGITS * 3.33:
            raise ExpressionError(f"expression: the result has more than {MAX_INT_DIGITS} digits")
        return value
