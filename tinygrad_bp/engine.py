"""Value: a scalar that records the computation graph, and the chain rule over it.

Each op is defined once, in `tinygrad_bp.ops` (forward and local derivatives side by
side).  A Value remembers the op that made it (`_op`) and the op's inputs (`_prev`);
`backward()` applies the chain rule at each node, from the output back (`chain_rule`):

    for each input c of v, with local derivative p = ∂v/∂c:   c.grad += v.grad · p

This file is the readable reference, complete on its own.  At import, tinygrad_bp.codegen
writes `chain_rule`, `make` and the op methods out for each op from the same rules and
installs them here: the same arithmetic in the same order, faster (python -m tinygrad_bp.generated).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from typing import Any

from tinygrad_bp import ops
from tinygrad_bp.ops import CONST, LEAF, Op, is_real, to_float

__all__ = ["Value", "Op", "node", "make", "maker", "BUILD", "chain_rule", "checked", "grad", "topological_order"]


def _label(label: Any) -> str:
    if type(label) is str:
        return label
    raise TypeError(f"Value: label must be a str, got {type(label).__name__} {label!r:.40}")


class Value:
    """A scalar in a computation graph: `.data`, `.grad`, `.label`, `.op`."""

    __slots__ = ("data", "grad", "_label", "_op", "_prev", "__weakref__")
    __array_ufunc__ = None  # numpy scalars on the left defer to our reflected ops

    def __init__(self, data: float, label: str = ""):
        self.data = data if type(data) is float else to_float(data, "Value")
        self.grad = 0.0
        self._label = label if type(label) is str else _label(label)
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

    # --- ops: each builds one node (codegen installs these written out, from METHODS) ---
    __add__ = lambda self, other: node(ops.ADD, self, other)
    __radd__ = lambda self, other: node(ops.ADD, other, self)
    __sub__ = lambda self, other: node(ops.SUB, self, other)
    __rsub__ = lambda self, other: node(ops.SUB, other, self)
    __mul__ = lambda self, other: node(ops.MUL, self, other)
    __rmul__ = lambda self, other: node(ops.MUL, other, self)
    __truediv__ = lambda self, other: node(ops.DIV, self, other)
    __rtruediv__ = lambda self, other: node(ops.DIV, other, self)
    __neg__ = lambda self: node(ops.NEG, self)
    exp = lambda self: node(ops.EXP, self)
    log = lambda self: node(ops.LOG, self)
    tanh = lambda self: node(ops.TANH, self)
    sigmoid = lambda self: node(ops.SIGMOID, self)
    relu = lambda self: node(ops.RELU, self)
    __pos__ = lambda self: self

    def __pow__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return node(ops.POW, self, other)
        return maker(op := ops.pow_const(to_float(other, "**")))((self,), "", op)

    __rpow__ = lambda self, other: node(ops.POW, other, self)

    @staticmethod
    def sum(values: Iterable[Value | float]) -> Value:
        """Σ values as ONE node with n inputs (∂/∂x_i = 1)."""
        return node(ops.SUM, *values)

    @staticmethod
    def net(weights: Sequence[Value | float], inputs: Sequence[Value | float], bias: Value | float | None = None,
            label: str = "") -> Value:
        """A neuron's net input Σ w_i·x_i + b as ONE node (∂/∂w_i = x_i, ∂/∂x_i = w_i, ∂/∂b = 1)."""
        for name, seq in (("weights", weights), ("inputs", inputs)):
            if not hasattr(seq, "__len__") or isinstance(seq, (str, bytes)):
                raise TypeError(f"net: {name} must be a sequence of Values or numbers, got {type(seq).__name__}")
        if len(weights) != len(inputs):
            raise ValueError(f"net: {len(weights)} weights but {len(inputs)} inputs")
        return node(ops.NET, *weights, *inputs, *([] if bias is None else [bias]), label=label)

    def backward(self) -> None:
        """Set d self/d self = 1 and apply the chain rule in reverse topological order.  Leaves ADD this pass's
        gradient (as in PyTorch), all or nothing: a pass that raises or is interrupted leaves them as they were.
        Interior nodes hold this pass's gradient.  Passes from several threads run one at a time."""
        with pass_lock:
            interior = topological_order(self, leaves := [])
            before = [v.grad for v in leaves]
            for v in leaves:
                if type(v.data) is not float or type(v.grad) is not float:
                    before = [_leaf(v) for v in leaves]  # checked before any change; ints become floats
                    break
            try:
                for v in chain(interior, leaves):
                    v.grad = 0.0
                self.grad = 1.0
                chain_rule(interior)
                if any(before):  # one C call (Ctrl-C cannot split it); after zero_grad, 0.0 + g is g: no call
                    list(map(setattr, leaves, repeat("grad"), [b + v.grad for b, v in zip(before, leaves)]))
            except BaseException:
                list(map(setattr, leaves, repeat("grad"), before))
                raise


pass_lock = threading.RLock()  # backward: one pass at a time
_new, _only_values = object.__new__, {Value}.issuperset  # (_only_values(map(type, xs)): one C call)
BUILD: dict[str, Any] = {}  # op key -> its maker, written out by codegen


def _leaf(v: Value) -> float:  # micrograd's zero_grad sets grad = 0 (an int): ints pass
    for name, x in (("data", v.data), ("grad", v.grad)):
        if not is_real(x):
            raise TypeError(f"backward: leaf {v.label or v.data!r} holds .{name} = {x!r:.40}: expected a float")
    v.data = float(v.data)
    return float(v.grad)


def node(op: Op, *inputs: Value | float, label: str = "") -> Value:
    """A new node: op applied to the inputs (numbers become constant leaves), labelled `label`."""
    if not _only_values(map(type, inputs)):
        inputs = tuple([x if type(x) is Value else _lift(x, op) for x in inputs])
    return maker(op)(inputs, _label(label), op)


def maker(op: Op) -> Any:
    """`make` written out for op (BUILD: by key, filled by codegen), else `make` itself."""
    return BUILD.get(op.key, make)


def make(prev: tuple[Value, ...], label: str, op: Op) -> Value:
    """The one place a node is made: op's forward on the data of its inputs `prev` (Values, unchecked)."""
    data = op.forward(*ops.split(op, [x.data for x in prev]))
    if data - data:  # inf or NaN (x - x is 0.0 exactly for every finite x)
        _refuse_overflow(op, prev, data)
    out = _new(Value)
    out.data, out.grad, out._label, out._op, out._prev = data, 0.0, label, op, prev
    return out


def _refuse_overflow(op: Op, inputs: Sequence[Value], data: float) -> None:
    """Finite inputs that give inf/NaN overflow: an error naming the op (a user's inf/NaN propagates)."""
    if _finite(op, inputs):
        raise OverflowError(f"{op}: the result {data!r} overflows a float (inputs {_shown(inputs)})")


def _finite(op: Op, inputs: Sequence[Value]) -> bool:  # every input, and each number built in (x ** k: k)
    return all(math.isfinite(x.data) for x in inputs) and all(map(math.isfinite, op.params))


def _lift(x: Any, op: Op) -> Value:
    """A Value as it is; a number as a constant leaf; anything else a TypeError naming the op."""
    if isinstance(x, Value):
        return x
    c = _new(Value)
    c.data, c.grad, c._label, c._op, c._prev = x if type(x) is float else to_float(x, op or "Value"), 0.0, "", CONST, ()
    return c


def _shown(inputs: Sequence[Value]) -> str:  # the first inputs' data, for error messages
    return ", ".join(repr(x.data) for x in inputs[:4]) + (", ..." if len(inputs) > 4 else "")


def checked(v: Value) -> list[float]:
    """∂v/∂input for each input as floats; overflowing from finite data (d/dx 1/x at 1e-200) is an OverflowError,
    except with respect to a constant (x / 1e-200), whose gradient nobody asks for."""
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


def chain_rule(nodes: list[Value]) -> None:
    """Over interior nodes in topological order, latest first: each input c of v gets v.grad · ∂v/∂c."""
    for v in reversed(nodes):
        for c, p in zip(v._prev, checked(v)):
            c.grad += v.grad * p


def topological_order(root: Value, leaves: list[Value] | None = None) -> list[Value]:
    """Every node of root's graph after its inputs, in micrograd's order (given a list `leaves`, the leaves go there):
    its depth-first recursion with the call stack made explicit (deep graphs are fine), `path` and `pending` inputs."""
    order: list[Value] = []
    leaf = (order if leaves is None else leaves).append
    if not root._prev:
        leaf(root)
        return order
    visited, path, pending = {root}, [root], [iter(root._prev)]
    visit, done = visited.add, order.append
    while pending:
        for c in pending[-1]:
            if c not in visited:
                visit(c)
                if not (prev := c._prev):
                    leaf(c)
                elif len(prev) > 2 and visited.issuperset(prev):  # done at once (a layer's neurons share inputs)
                    done(c)
                else:  # down to c, back once c is done (1-2 inputs: no iterator kept alive, the tuple is scanned again)
                    path.append(c)
                    pending.append(prev if len(prev) < 3 else iter(prev))
                    break
        else:  # every input of the last node on the path is done
            pending.pop()
            done(path.pop())
    return order


def grad(output: Value, inputs: Iterable[Value], create_graph: bool = False) -> list[Value]:
    """d output / d input for each input (0 if it does not reach output), leaving every `.grad` untouched:
    the chain rule from the output back, each input c of a node v getting ∂output/∂v · ∂v/∂c.  With
    create_graph=True the local derivatives are Values (the same rules), so results can be differentiated."""
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__}")
    if isinstance(inputs, Value):
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
    return [g if isinstance(g := grads.get(x, 0.0), Value) else Value(g) for x in inputs]
