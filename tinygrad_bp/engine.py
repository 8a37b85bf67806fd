"""Value: a scalar that records the computation graph, and the chain rule over it.

Every op is defined once, in `tinygrad_bp.ops`: its forward value and its local
derivatives ∂out/∂input side by side.  A Value remembers the op that made it
(`_op`) and that op's inputs (`_prev`).  `backward()` walks the graph from the
output back to the leaves and applies the chain rule at each node:

    for each input c of v, with local derivative p = ∂v/∂c:   c.grad += v.grad · p

`grad()` below is exactly that loop, written out; `backward()` runs the same
loop as code generated from the op table (`python -m tinygrad_bp.ops --show`).
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import add, attrgetter
from typing import Any

from tinygrad_bp import ops
from tinygrad_bp.ops import ADD, CONST, DIV, EXP, LEAF, LOG, MUL, NEG, NET, POW, RELU, SIGMOID, SUB, SUM, TANH, Op

__all__ = ["Value", "Op", "node", "make", "BUILD", "grad", "topological_order", "is_real", "is_whole", "to_float"]

Number = int | float


def is_real(x: Any) -> bool:
    """An int, a float or a numpy integer/float scalar: not a bool (numpy's either), str or anything else."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def is_whole(n: Any) -> bool:
    """An int or a numpy integer: not a bool (numpy's bool_ is not Integral), float or str."""
    return isinstance(n, numbers.Integral) and not isinstance(n, bool)


def to_float(x: Any, what: str) -> float:
    """x as a float (ints, numpy scalars, anything with __float__); TypeError/OverflowError naming `what`."""
    if type(x) is float:
        return x
    if isinstance(x, (str, bytes, complex)) or x is None or not hasattr(type(x), "__float__"):
        raise TypeError(f"{what}: expected an int or float, got {type(x).__name__} {x!r:.60}")
    try:
        f = float(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: expected an int or float, got {type(x).__name__} ({e})") from None
    except OverflowError:
        raise OverflowError(f"{what}: the {type(x).__name__} is too large for a float (|x| > 1.8e308)") from None
    if f - f and f == f and not (x == f):  # inf from a finite Decimal('1e400') or numpy longdouble
        raise OverflowError(f"{what}: the {type(x).__name__} {x!r:.40} is too large for a float (|x| > 1.8e308)")
    return f


def _label(label: Any) -> str:
    if type(label) is not str:
        raise TypeError(f"Value: label must be a str, got {type(label).__name__} {label!r:.40}")
    return label


class Value:
    """A scalar in a computation graph: `.data`, `.grad`, `.label`, `.op`."""

    __slots__ = ("data", "grad", "_label", "_op", "_prev", "__weakref__")
    __array_ufunc__ = None  # numpy scalars on the left defer to our reflected ops

    def __init__(self, data: Number, label: str = ""):
        self.data = to_float(data, "Value")
        self.grad = 0.0
        self._label = _label(label)
        self._op: Op = LEAF
        self._prev: tuple[Value, ...] = ()

    label = property(lambda self: self._label, lambda self, label: setattr(self, "_label", _label(label)),
                     doc="The node's name in drawings and explanations ('' unless set).")
    op = property(lambda self: str(self._op), doc="'' for a leaf, else the op's name ('+', '*', 'tanh', ...).")
    children = property(lambda self: self._prev, doc="The inputs of the op that made this Value (() for a leaf).")

    def local_grads(self) -> list[float]:
        """∂self/∂input for each input, as floats, at the current data (OverflowError as in backward)."""
        return checked(self) if self._prev else []

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r}, op={self.op!r}, label={self.label!r})"

    # The op methods (__add__, __radd__, ..., tanh, relu) are generated below from _METHODS: each is
    # node(op, ...) with node's steps written out for that op (python -m tinygrad_bp.generated shows them).
    __pos__ = lambda self: self

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return node(POW, self, other)
        return node(ops.pow_const(to_float(other, "**")), self)

    def __rpow__(self, other: Number) -> Value:
        return node(POW, other, self)

    @staticmethod
    def sum(values: Iterable[Value | Number]) -> Value:
        """Σ values as ONE node with n inputs (∂/∂x_i = 1)."""
        return node(SUM, *values)

    @staticmethod
    def net(weights: Sequence[Value | Number], inputs: Sequence[Value | Number], bias: Value | Number | None = None,
            label: str = "") -> Value:
        """A neuron's net input Σ w_i·x_i + b as ONE node (∂/∂w_i = x_i, ∂/∂x_i = w_i, ∂/∂b = 1)."""
        for name, seq in (("weights", weights), ("inputs", inputs)):
            if not hasattr(seq, "__len__") or isinstance(seq, (str, bytes)):
                raise TypeError(f"net: {name} must be a sequence of Values or numbers, got {type(seq).__name__}")
        if len(weights) != len(inputs):
            raise ValueError(f"net: {len(weights)} weights but {len(inputs)} inputs")
        return node(NET, *weights, *inputs, *([] if bias is None else [bias]), label=label)

    def backward(self) -> None:
        """Set d self/d self = 1 and apply the chain rule in reverse topological order.

        Leaves ADD this pass's gradient to what they hold (as in PyTorch); interior
        nodes hold this pass's gradient.  All or nothing: a pass that raises or is
        interrupted leaves every `.grad` of a leaf as it was.  Passes from several
        threads run one at a time, so graphs that share nodes give each leaf the sum.
        """
        with _one_pass_at_a_time:
            leaves: list[Value] = []
            interior = topological_order(self, leaves)
            before = [g if type(g := v.grad) is float else _leaf_grad(v) for v in leaves]  # before any change
            try:
                for v in interior:
                    v.grad = 0.0
                for v in leaves:
                    v.grad = 0.0
                self.grad = 1.0
                chain_rule(interior)
                after = list(map(add, before, map(_grad, leaves)))
                list(map(setattr, leaves, repeat("grad"), after))  # one C call: Ctrl-C cannot split it
            except BaseException:
                list(map(setattr, leaves, repeat("grad"), before))
                raise


_one_pass_at_a_time, _grad = threading.RLock(), attrgetter("grad")


def _leaf_grad(v: Value) -> float:
    g = v.grad
    if type(g) is float:
        return g
    if is_real(g):  # micrograd's zero_grad sets 0
        return float(g)
    raise TypeError(f"backward: leaf {v.label or v.data!r} holds .grad = {g!r:.40} ({type(g).__name__}); "
                    "expected a float")


def node(op: Op, *inputs: Value | Number, label: str = "") -> Value:
    """A new node: op applied to the inputs (numbers become constant leaves), labelled `label`."""
    inputs = tuple([x if type(x) is Value else _lift(x, op) for x in inputs])
    if type(label) is not str:
        _label(label)
    return BUILD.get(getattr(op, "key", ""), make)(inputs, label, op)


def make(prev: tuple[Value, ...], label: str, op: Op) -> Value:
    """The one place a node is made: op's forward on the data of its inputs `prev` (all Values).

    BUILD holds this function written out for each op of the table, generated from its forward.
    """
    data = op.forward(*ops.split(op, [x.data for x in prev]))
    if data - data:  # inf or NaN (x - x is 0.0 exactly for every finite x)
        _refuse_overflow(op, prev, data)
    out = _new(Value)
    out.data, out.grad, out._label, out._op, out._prev = data, 0.0, label, op, prev
    return out


def _refuse_overflow(op: Op, inputs: Sequence[Value], data: float) -> None:
    """Finite inputs that give inf or NaN are a float overflow: an error naming the op, never a silent inf.

    inf or NaN that the user put in propagate as in IEEE arithmetic.
    """
    if _finite(op, inputs):
        raise OverflowError(f"{op}: the result {data!r} overflows a float (inputs {_shown(inputs)})")


_METHODS = {  # Python's name for each op method, the op, and its inputs in order
    "__add__": (ADD, "self, other"), "__radd__": (ADD, "other, self"), "__sub__": (SUB, "self, other"),
    "__rsub__": (SUB, "other, self"), "__mul__": (MUL, "self, other"), "__rmul__": (MUL, "other, self"),
    "__truediv__": (DIV, "self, other"), "__rtruediv__": (DIV, "other, self"), "__neg__": (NEG, "self"),
    "exp": (EXP, "self"), "log": (LOG, "self"), "tanh": (TANH, "self"), "sigmoid": (SIGMOID, "self"),
    "relu": (RELU, "self"),
}


def _make_source(op: Op, head: list[str], names: list[str] | None = None) -> list[str]:
    """`make` for one op as straight lines: its forward inlined where it is one expression."""
    key, stars, fold = op.key, op.layout.count("*"), op.forward
    if not stars:
        unpack = names is None
        names = list(op.layout) if unpack else names
        datas = ", ".join(f"{x}.data" for x in names)
        data = ([f"{', '.join(names)}{',' if len(names) == 1 else ''} = prev"] if unpack else []) + [
                f"data = {ops.forward_source(fold, [f'{x}.data' for x in names]) or f'{key}_forward({datas})'}"]
    else:
        es = [f"e{i}" for i in range(stars)]
        spans = "prev" if stars == 1 else ", ".join(["prev[:n]", "prev[n:2 * n]", "prev[2 * n:3 * n]"][:stars])
        data = ([f"n = len(prev) // {stars}"] if stars > 1 else []) + ["s = 0.0"]
        data += [f"for {', '.join(es)} in {spans if stars == 1 else f'zip({spans})'}:",
                 f"    s = {ops.forward_source(fold.each, ['s', *[f'{e}.data' for e in es]])}"]
        if fold.last:
            data += [f"if len(prev) % {stars}:", f"    s = {ops.forward_source(fold.last, ['s', 'prev[-1].data'])}"]
        data += ["data = s"]
    return head + [f"    {line}" for line in data + [
        "if data - data:", f"    _refuse_overflow({key}, prev, data)", "out = _new(Value)", "out.data = data",
        "out.grad = 0.0", "out._label = label", f"out._op = {key}", "out._prev = prev", "return out"]] + ["", ""]


def _method_source(name: str, op: Op, inputs: str) -> list[str]:
    lift = ["    if type(other) is float:", "        other = _new(Value)", "        other.data = other_", "",
            ] if False else []
    if "other" in inputs:
        lift = ["    if type(other) is float:  # a constant leaf, made as _lift makes it", "        c = _new(Value)",
                "        c.data = other", "        c.grad = 0.0", '        c._label = ""', "        c._op = CONST",
                "        c._prev = ()", "        other = c", "    elif type(other) is not Value:",
                f"        other = _lift(other, {op.key})"]
    return _make_source(op, [f"def {name}(self{', other' if lift else ''}):", *lift, f"    prev = ({inputs},)",
                             '    label = ""'], inputs.split(", "))
def _finite(op: Op, inputs: Sequence[Value]) -> bool:
    """Every input and every number built into the op (x ** k: k) is finite."""
    return all(math.isfinite(x.data) for x in inputs) and all(map(math.isfinite, op.params))


_new = object.__new__


def _lift(x: Any, op: Op) -> Value:
    """A Value as it is; a number as a constant leaf; anything else a TypeError naming the op."""
    if isinstance(x, Value):
        return x
    c = _new(Value)
    c.data, c.grad, c._label, c._op, c._prev = x if type(x) is float else to_float(x, op or "Value"), 0.0, "", CONST, ()
    return c


def _shown(inputs: Sequence[Value]) -> str:
    return ", ".join(repr(x.data) for x in inputs[:4]) + (", ..." if len(inputs) > 4 else "")


def checked(v: Value) -> list[float]:
    """∂v/∂input for each input of v as floats; one that overflows from finite data is an OverflowError.

    (1/x at x = 1e-200 is -1e200, but its derivative -1e400: never a silent inf.)  The exception: the
    derivative with respect to a constant (x / 1e-200), whose gradient nobody asks for, is left ±inf.
    """
    data = [c.data for c in v._prev]
    try:
        ps = ops.partials(v._op, data, v.data)
    except OverflowError:
        ps = None
    if ps is None or not all(math.isfinite(p) or c._op is CONST for p, c in zip(ps, v._prev)):
        if _finite(v._op, v._prev) and math.isfinite(v.data):
            raise OverflowError(f"{v._op}: a local derivative overflows a float at inputs {_shown(v._prev)} "
                                f"(output {v.data!r})") from None
    return ps


# backward()'s chain rule, `make` for each op, and the op methods: generated from the op table
# (python -m tinygrad_bp.generated prints them)
_BUILT = [op for op in ops.OPS.values() if op.forward]
GENERATED = "\n".join([ops.generated_chain_rule(), *(line for op in _BUILT for line in _make_source(
    op, [f"def make_{op.key}(prev, label, op=None):"])), *(line for n, m in _METHODS.items() for line in
                                                           _method_source(n, *m))])
exec(compile(GENERATED, "<generated from tinygrad_bp.ops>", "exec"), _namespace := {
    **ops.OPS, **{f"{k}_forward": op.forward for k, op in ops.OPS.items()}, "checked": checked, "Value": Value,
    "_new": _new, "_lift": _lift, "_refuse_overflow": _refuse_overflow})
chain_rule = _namespace["chain_rule"]
BUILD = {op.key: _namespace[f"make_{op.key}"] for op in _BUILT}
for _name in _METHODS:
    setattr(Value, _name, _namespace[_name])


def topological_order(root: Value, leaves: list[Value] | None = None) -> list[Value]:
    """Every node of root's graph, each after all of its inputs (iterative: deep graphs are fine).

    Given a list `leaves`, the leaves go there (in the same order) and the result holds the others.
    A depth-first search with one flat stack: a node, then None once it is expanded,
    then its inputs; when the None comes back up, all of the node's inputs are done.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[Value | None] = [root]
    push, pop, visit, leaf = stack.append, stack.pop, visited.add, (order if leaves is None else leaves).append
    while stack:
        v = pop()
        if v is None:
            order.append(pop())
        elif v not in visited:
            visit(v)
            if v._prev:
                push(v)
                push(None)
                for c in reversed(v._prev):
                    if c not in visited:
                        push(c)
            else:
                leaf(v)
    return order


def grad(output: Value, inputs: Iterable[Value], create_graph: bool = False) -> list[Value]:
    """d output / d input for each input, leaving every `.grad` untouched.

    The chain rule node by node, from the output back: each input c of a node v
    gets ∂output/∂v · ∂v/∂c added to its gradient.  With create_graph=True the
    local derivatives are Values (the same rules applied to Values), so the results
    can be differentiated again.  An input that does not reach `output` gets 0.
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__}")
    if isinstance(output, Value) and isinstance(inputs, Value):
        raise TypeError("grad: inputs must be a list of Values (got one Value: write grad(output, [x]))")
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: inputs[{i}] must be a Value, got {type(x).__name__}")
    grads: dict[Value, Any] = {output: 1.0}
    start = None if create_graph else 0.0  # floats add from 0.0 as backward() does (bit for bit)
    for v in reversed(topological_order(output)):
        if v in grads and v._prev:
            local = ops.partials(v._op, v._prev, v) if create_graph else checked(v)
            for c, p in zip(v._prev, local):
                old = grads.get(c, start)
                grads[c] = grads[v] * p if old is None else old + grads[v] * p
    result = [grads.get(x, 0.0) for x in inputs]
    return [g if isinstance(g, Value) else Value(g) for g in result]
