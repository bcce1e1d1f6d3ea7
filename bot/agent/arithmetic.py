"""Arithmetic for the calculator tool, bounded so that no expression can hold the process.

Python's big integers make `(7**100)**100` cheap to write and ruinous to compute: one C call
that holds the GIL for as long as it runs, starving every other thread of the process (lease
renewals, acks). Every limit here is checked *before* the work it bounds: the text's length
before parsing, the syntax tree's size before evaluating, each power's result size before
computing it. Evaluation walks the tree with an explicit stack (no Python recursion), so the
longest allowed expression costs milliseconds.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

MAX_CHARS = 1_000  # expression length, checked before parsing
MAX_OPERATIONS = 500  # + - * / // % ** and signs, checked before evaluating
MAX_BITS = 4_096  # an integer result of up to about 1,233 digits
MAX_DIGITS = 1_233

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, *_BINARY, *_UNARY)


class CalcError(ValueError):
    """An expression the calculator will not evaluate; the message is for the model."""


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression (numbers, + - * / // % ** and parentheses).

    Raises CalcError (or ZeroDivisionError / OverflowError, also ValueErrors or
    ArithmeticErrors) with a message the model can act on; nothing else."""
    tree = _parse(expression)
    _check_tree(tree)
    return _run(tree.body)


def _parse(expression: str) -> ast.Expression:
    if len(expression) > MAX_CHARS:
        raise CalcError(
            f"expression too long ({len(expression)} characters; at most "
            f"{MAX_CHARS}): split the calculation into steps"
        )
    try:
        return ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise CalcError(f"not an arithmetic expression ({exc.msg})") from None
    except (RecursionError, MemoryError):
        raise CalcError("expression nested too deeply: split the calculation into steps") from None
    except ValueError as exc:  # e.g. a null byte
        raise CalcError(f"not an arithmetic expression ({exc})") from None


def _check_tree(tree: ast.Expression) -> None:
    operations = 0
    for node in ast.walk(tree):  # breadth-first, no recursion
        if not isinstance(node, _ALLOWED):
            raise CalcError("only numbers and + - * / // % ** and parentheses are allowed")
        if isinstance(node, ast.BinOp | ast.UnaryOp):
            operations += 1
        elif isinstance(node, ast.Constant):
            _number(node.value)
    if operations > MAX_OPERATIONS:
        raise CalcError(
            f"too many operations ({operations}; at most {MAX_OPERATIONS}): "
            "split the calculation into steps"
        )


def _run(root: ast.expr) -> Number:
    """Post-order evaluation with an explicit stack: children first, then the operation."""
    values: list[Number] = []
    stack: list[tuple[ast.expr, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if isinstance(node, ast.Constant):
            values.append(_number(node.value))
        elif isinstance(node, ast.UnaryOp):
            if children_done:
                values.append(_checked(_UNARY[type(node.op)](values.pop())))
            else:
                stack += [(node, True), (node.operand, False)]
        elif isinstance(node, ast.BinOp):
            if children_done:
                right, left = values.pop(), values.pop()
                values.append(_binary(node.op, left, right))
            else:
                stack += [(node, True), (node.right, False), (node.left, False)]
    return values[0]


def _binary(op: ast.operator, left: Number, right: Number) -> Number:
    if isinstance(op, ast.Pow):
        _check_power(left, right)
    return _checked(_BINARY[type(op)](left, right))


def _check_power(base: Number, exponent: Number) -> None:
    """Refuse an integer power whose result would exceed MAX_BITS, before computing it:
    |base| ** exponent has at least (bit_length(|base|) - 1) * exponent bits."""
    if not (isinstance(base, int) and isinstance(exponent, int)):
        return
    if exponent > 0 and (abs(base).bit_length() - 1) * exponent > MAX_BITS:
        raise CalcError(f"result too large (more than {MAX_DIGITS} digits)")


def _number(value: object) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalcError("only numbers and + - * / // % ** and parentheses are allowed")
    return _checked(value)


def _checked(value: object) -> Number:
    """Every intermediate result: a real number, an integer of at most MAX_BITS."""
    if not isinstance(value, int | float):  # complex, e.g. (-8) ** 0.5
        raise CalcError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise CalcError(f"result too large (more than {MAX_DIGITS} digits)")
    return value
