"""The safe expression language of `tinygrad-bp graph`: text -> checked syntax tree -> Value graph.

`parse_expression` checks the text against a whitelist and evaluates nothing:
numbers, the given names, + - * / **, unary minus and plus, and one-argument
calls of exp, log, tanh, sigmoid, relu.  Each operator and function is one op of
`tinygrad_bp.ops`, so the numbers are computed by the ops themselves, with their
domain checks and messages: sub-expressions of constants only are folded with
`op.forward` on floats (float arithmetic is bounded: `9**9**9` is refused by
pow's overflow check, never computed as a Python int), and `evaluate_expression`
builds the rest with `engine.node`, as Value's operators do.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable
from typing import Any

from tinygrad_bp.engine import Value, node
from tinygrad_bp.ops import ADD, DIV, EXP, LOG, MUL, NEG, POW, RELU, SIGMOID, SUB, TANH, Op, pow_const

__all__ = ["parse_expression", "evaluate_expression", "variables", "ExpressionError", "EvaluationError",
           "FUNCTIONS", "BINARY", "ALLOWED", "MAX_EXPRESSION_CHARS", "MAX_LABEL_CHARS"]


class ExpressionError(ValueError):
    """An expression refused by the parser: names the refused part and its column; nothing was evaluated."""


class EvaluationError(ValueError):
    """An accepted expression whose value cannot be computed at the given values (a domain error, an overflow)."""


FUNCTIONS: dict[str, Op] = {"exp": EXP, "log": LOG, "tanh": TANH, "sigmoid": SIGMOID, "relu": RELU}
BINARY: dict[type, Op] = {ast.Add: ADD, ast.Sub: SUB, ast.Mult: MUL, ast.Div: DIV, ast.Pow: POW}
MAX_EXPRESSION_CHARS = 2000
MAX_LABEL_CHARS = 30
ALLOWED = "numbers, names given with --at, + - * / **, unary minus and calls of " + ", ".join(FUNCTIONS)

_REFUSED_NAMES: dict[type, str] = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.Compare: "comparison", ast.BoolOp: "boolean operator", ast.IfExp: "conditional expression",
    ast.NamedExpr: "assignment expression", ast.Starred: "starred expression", ast.JoinedStr: "f-string",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression", ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict",
    ast.Set: "set", ast.Slice: "slice", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
}
_REFUSED_OPERATORS: dict[type, str] = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitAnd: "&", ast.BitXor: "^",
}


def _where(text: str, part: ast.AST) -> str:
    """'`segment` (column N)' for a part of `text`."""
    seg = ast.get_source_segment(text, part) or ""
    if len(seg) > 40:
        seg = seg[:37] + "..."
    col = len(text.encode("utf-8")[: getattr(part, "col_offset", 0)].decode("utf-8", "replace")) + 1
    return f"`{seg}` (column {col})"


def _postorder(tree: ast.AST) -> list[ast.AST]:
    """The parts of a syntax tree, children before parents (iterative: deep trees are fine)."""
    order: list[ast.AST] = []
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        part, expanded = stack.pop()
        if expanded:
            order.append(part)
            continue
        stack.append((part, True))
        for child in reversed(list(ast.iter_child_nodes(part))):
            stack.append((child, False))
    return order


def _inputs(part: ast.AST) -> list[ast.AST]:
    """The operands of a BinOp, UnaryOp or Call; [] for any other part."""
    if isinstance(part, ast.BinOp):
        return [part.left, part.right]
    if isinstance(part, ast.UnaryOp):
        return [part.operand]
    return list(part.args) if isinstance(part, ast.Call) else []


def _op_of(part: ast.AST) -> Op:
    """The op of a BinOp, UnaryOp (minus) or Call that parse_expression accepted."""
    if isinstance(part, ast.BinOp):
        return BINARY[type(part.op)]
    if isinstance(part, ast.UnaryOp):
        return NEG
    return FUNCTIONS[part.func.id]  # type: ignore[attr-defined]


def _fold(op: Op, *args: float) -> float:
    """op on constants, by the op's own forward (its domain checks); an overflow to inf is refused too."""
    try:
        r = op.forward(*args)
    except OverflowError as e:
        if op is POW:  # how far beyond a float: log10 |a ** b|
            raise OverflowError(f"{e} (the result would have about {args[1] * math.log10(abs(args[0])):.3g} "
                                "digits)") from None
        raise
    if r - r:  # inf or NaN from finite constants
        raise OverflowError(f"{op}: the result {r!r} overflows a float (inputs {', '.join(map(repr, args))})")
    return r


def _check(text: Any, names: Iterable[str]) -> tuple[ast.Expression, str, dict[int, float]]:
    """The checked tree of `text`, the stripped text, and the value of each constant part by id."""
    names = set(names)
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"expression of {len(text)} characters is longer than the limit of "
                              f"{MAX_EXPRESSION_CHARS}")
    text = text.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        col = f" at column {e.offset}" if e.offset else ""
        raise ExpressionError(f"syntax error{col}: {e.msg}") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise ExpressionError(f"cannot parse the expression: {type(e).__name__} {e}".strip()) from None
    callees: set[int] = set()
    for part in ast.walk(tree):  # outermost first: the message names the largest refused part
        if isinstance(part, (ast.Expression, ast.operator, ast.unaryop, ast.expr_context)):
            continue
        if isinstance(part, ast.BinOp):
            if type(part.op) not in BINARY:
                sym = _REFUSED_OPERATORS.get(type(part.op), type(part.op).__name__)
                raise ExpressionError(f"operator {sym} is not allowed in {_where(text, part)}; allowed: {ALLOWED}")
        elif isinstance(part, ast.UnaryOp):
            if not isinstance(part.op, (ast.USub, ast.UAdd)):
                raise ExpressionError(f"unary operator is not allowed in {_where(text, part)}; allowed: {ALLOWED}")
        elif isinstance(part, ast.Constant):
            v = part.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ExpressionError(f"constant {_where(text, part)} is not allowed: only int and float numbers")
            if isinstance(v, int) and v.bit_length() > 1024 or not math.isfinite(float(v)):
                raise ExpressionError(f"number {_where(text, part)} is too large for a float")
        elif isinstance(part, ast.Call):
            f = part.func
            if not isinstance(f, ast.Name) or f.id not in FUNCTIONS:
                raise ExpressionError(f"call of {_where(text, f)} is not allowed: only "
                                      f"{', '.join(FUNCTIONS)} can be called")
            if part.keywords or len(part.args) != 1 or isinstance(part.args[0], ast.Starred):
                raise ExpressionError(f"{f.id}() takes exactly one argument, in {_where(text, part)}")
            callees.add(id(f))
        elif isinstance(part, ast.Name):
            if id(part) in callees:
                continue
            if part.id in FUNCTIONS:
                raise ExpressionError(f"{part.id} is a function: call it as {part.id}(...), at {_where(text, part)}")
            if part.id not in names:
                raise ExpressionError(f"unknown name {_where(text, part)}: give it a value with --at {part.id}=...")
        else:
            what = _REFUSED_NAMES.get(type(part), type(part).__name__)
            raise ExpressionError(f"{what} is not allowed: {_where(text, part)}; allowed: {ALLOWED}")
    consts: dict[int, float] = {}
    for part in _postorder(tree.body):
        if isinstance(part, ast.Constant):
            consts[id(part)] = float(part.value)
            continue
        inputs = _inputs(part)
        if inputs and all(id(x) in consts for x in inputs):
            args = [consts[id(x)] for x in inputs]
            if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.UAdd):
                consts[id(part)] = args[0]
                continue
            try:
                consts[id(part)] = _fold(_op_of(part), *args)
            except (ArithmeticError, ValueError) as e:
                raise ExpressionError(f"refused {_where(text, part)}: {e}") from None
    return tree, text, consts


def parse_expression(text: str, names: Iterable[str]) -> ast.Expression:
    """Parse `text` and check it against the whitelist; nothing is evaluated (no Value is made).

    Allowed: int/float literals, the given `names`, + - * / **, unary minus/plus,
    and one-argument calls of exp, log, tanh, sigmoid, relu.  Anything else is an
    ExpressionError naming the offending part and its column, as is a part made of
    constants only that its op refuses (`1/0`, `log(-1)`, `9**9**9`: computed in floats).
    """
    return _check(text, names)[0]


def variables(tree: ast.Expression) -> set[str]:
    """The names an expression reads (not the functions it calls)."""
    callees = {id(part.func) for part in ast.walk(tree) if isinstance(part, ast.Call)}
    return {part.id for part in ast.walk(tree) if isinstance(part, ast.Name) and id(part) not in callees}


def _build(op: Op, inputs: list[Any]) -> Value:
    """The node of op on inputs (at least one a Value), as Value's operators make it: x ** k with k a number
    is the op x ** k, whose derivative k·x^(k−1) holds for any sign of x."""
    if op is POW and not isinstance(inputs[1], Value):
        return node(pow_const(inputs[1]), inputs[0])
    return node(op, *inputs)


def evaluate_expression(text: str, values: dict[str, float], root_label: str = "f") -> tuple[Value, dict[str, Value]]:
    """Parse `text` safely and build its Value graph; returns (root, leaves by name).

    Each name becomes a leaf Value labelled with its name; interior nodes are
    labelled with their piece of the expression (when short; operators in
    parentheses, as in "(x*w + b)"), numbers with their value, and the root
    `root_label` (or another name that no variable has).  An op that refuses its
    inputs (log of a negative number, an overflow) is an EvaluationError naming the part.
    """
    tree, text, consts = _check(text, values)
    leaves = {name: Value(v, label=name) for name, v in values.items()}
    results: dict[int, Any] = {}
    for part in _postorder(tree.body):
        if id(part) in consts:
            results[id(part)] = consts[id(part)]
            continue
        if isinstance(part, ast.Name):
            if part.id in leaves:  # else the callee of a Call
                results[id(part)] = leaves[part.id]
            continue
        inputs = _inputs(part)
        if not inputs:
            continue
        args = [results[id(x)] for x in inputs]
        if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.UAdd):
            results[id(part)] = args[0]
            continue
        try:
            r = _build(_op_of(part), args)
        except (ArithmeticError, ValueError) as e:
            raise EvaluationError(f"cannot evaluate {_where(text, part)}: {e}") from None
        seg = ast.get_source_segment(text, part) or ""
        if isinstance(part, (ast.BinOp, ast.UnaryOp)):
            seg = f"({seg})"  # reads unambiguously in ∂f/∂(x*w + b)
        r.label = seg if len(seg) <= MAX_LABEL_CHARS else ""
        for c in r.children:  # the numbers node() made constants of: labelled with their value
            if not c.children and not c.label:
                c.label = f"{c.data:g}"
        results[id(part)] = r
    root = results[id(tree.body)]
    if not isinstance(root, Value):
        root = Value(root)
    if root.children:
        root.label = next(name for name in (root_label, "out", "result", *(f"f{k}" for k in range(len(values) + 1)))
                          if name not in values)
    return root, leaves
