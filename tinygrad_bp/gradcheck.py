"""Gradient checking: the chain rule of the engine against central differences.

`gradcheck` compares the gradients `backward()` computes with
(f(x + ε) − f(x − ε)) / 2ε for every input; `gradgradcheck` does the same for
second derivatives, built by `grad(..., create_graph=True)`.  In the manner of
`torch.autograd.gradcheck`: True when every entry is within
|analytic − numeric| ≤ atol + rtol·|numeric|, else a `GradcheckError` whose
message is a table of every entry (or False with `raise_exception=False`).
A probe x ± ε outside f's domain is a ValueError naming it, whatever `raise_exception`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tinygrad_bp.engine import Value, grad, topological_order
from tinygrad_bp.ops import is_real

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(RuntimeError):
    """Analytic and numeric derivatives disagree; the message is the table of every entry."""


def _leaves(inputs: Sequence[Value | float], who: str) -> list[Value]:
    """Fresh leaf Values holding the inputs' numbers (labels kept), so no user `.grad` is touched."""
    if isinstance(inputs, (Value, int, float)) or not hasattr(inputs, "__len__"):
        raise TypeError(f"{who}: inputs must be a sequence of Values or numbers, got {type(inputs).__name__}")
    leaves = []
    for i, x in enumerate(inputs):
        if isinstance(x, Value):
            leaves.append(Value(x.data, label=x.label))
        elif is_real(x):
            try:
                leaves.append(Value(float(x)))
            except OverflowError:
                raise ValueError(f"{who}: inputs[{i}] is too large for a float ({type(x).__name__})") from None
        else:
            raise TypeError(f"{who}: inputs[{i}] must be a Value or an int/float (numpy scalars too), "
                            f"got {type(x).__name__} {x!r:.40}")
        if not math.isfinite(leaves[-1].data):
            raise ValueError(f"{who}: inputs[{i}] is not finite ({leaves[-1].data!r})")
    if not leaves:
        raise ValueError(f"{who}: no inputs to check")
    return leaves


def _require_dependence(xs: list[Value], reached: list[Value], numeric: Callable[[], list[float]], who: str) -> None:
    """A check that would pass vacuously is refused: f's graph reaches none of the inputs and f's value
    depends on none of them (f uses other Values, by closure, such as a model's weights).  One unused
    input among used ones is fine, as in torch: its derivative 0 is checked like any other."""
    seen = {id(v) for v in reached}
    if all(id(x) not in seen for x in xs) and not any(numeric()):  # numeric: only asked when nothing is reached
        raise ValueError(f"{who}: f does not compute from its inputs: f is called on fresh Values holding the "
                         "inputs' numbers, so Values it reaches otherwise (by closure, such as a model's weights) "
                         "are not checked; write f in terms of its arguments")


def _check_callable(f: Any, who: str) -> None:
    if not callable(f):
        raise TypeError(f"{who}: f must be callable (a function of the inputs that returns one scalar Value), "
                        f"got {type(f).__name__} {f!r:.40}")


def _call(f: Callable[..., Value], xs: list[Value], who: str) -> Value:
    out = f(*xs)
    if not isinstance(out, Value):
        raise TypeError(f"{who}: f must return one scalar Value, got {type(out).__name__} {out!r:.40}")
    return out


def _at(evaluate: Callable[[], Any], xs: list[Value], i: int, x: float) -> Any:
    """evaluate() with input i moved to x (restored afterwards, also on error)."""
    old = xs[i].data
    xs[i].data = x
    try:
        return evaluate()
    finally:
        xs[i].data = old


def _probes(evaluate: Callable[[], Any], xs: list[Value], i: int, eps: float, who: str) -> tuple[Any, Any]:
    """evaluate() at x_i + eps and x_i − eps; a probe that f cannot take is a ValueError naming it."""
    x = xs[i].data
    results = []
    for sign, moved in (("+", x + eps), ("-", x - eps)):
        try:
            results.append(_at(evaluate, xs, i, moved))
        except (ArithmeticError, ValueError) as e:
            raise ValueError(
                f"{who}: the central-difference probe x {sign} eps = {x!r} {sign} {eps!r} = {moved!r} of "
                f"inputs[{i}] is outside f's domain ({type(e).__name__}: {e}); use a smaller eps or check "
                f"a point farther from the edge of the domain") from e
    return results[0], results[1]


def _close(analytic: float, numeric: float, atol: float, rtol: float) -> bool:
    return math.isfinite(analytic) and math.isfinite(numeric) and abs(analytic - numeric) <= atol + rtol * abs(numeric)


def _rel(analytic: float, numeric: float) -> float:
    err = abs(analytic - numeric)
    if err == 0:
        return 0.0
    scale = max(abs(analytic), abs(numeric))
    return err / scale if scale > 0 else math.inf


def _table(title: str, head: tuple[str, str], rows: list[tuple[str, str, float, float, float]],
           atol: float, rtol: float) -> str:
    """Rows (index, label, value, analytic, numeric) as a fixed-width table; failing rows marked ✗."""
    cols = (*head, "value", "analytic", "numeric", "abs err", "rel err", "")
    body = []
    bad = 0
    for idx, label, value, a, n in rows:
        ok = _close(a, n, atol, rtol)
        bad += not ok
        body.append((idx, label or "-", f"{value:.9g}", f"{a:.9g}", f"{n:.9g}", f"{abs(a - n):.3g}",
                     f"{_rel(a, n):.3g}", "" if ok else "✗"))
    widths = [max(len(c), *(len(r[k]) for r in body)) for k, c in enumerate(cols)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths)).rstrip()
    lines = [f"{title}: {bad} of {len(rows)} entries differ by more than atol + rtol·|numeric| "
             f"(atol={atol:g}, rtol={rtol:g}); ✗ marks them", line(cols), line(["-" * w for w in widths])]
    lines += [line(r) for r in body]
    return "\n".join(lines)


def _check_tolerances(eps: float, atol: float, rtol: float, who: str) -> tuple[float, float, float]:
    """eps, atol, rtol as floats (numpy scalars welcome); ValueError naming a bad one."""
    checked = []
    for name, v in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not is_real(v):
            raise ValueError(f"{who}: {name} must be a finite number >= 0, got {v!r}")
        try:
            x = float(v)
        except OverflowError:  # an int such as 10**400: float() says only "int too large to convert to float"
            raise ValueError(f"{who}: {name} must be a finite number >= 0, got a number too large "
                             f"for a float ({type(v).__name__} beyond ±1.8e308)") from None
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"{who}: {name} must be a finite number >= 0, got {v!r}")
        checked.append(x)
    if checked[0] == 0:
        raise ValueError(f"{who}: eps must be > 0")
    return checked[0], checked[1], checked[2]


def _verdict(ok: bool, message: str, raise_exception: bool) -> bool:
    if not ok and raise_exception:
        raise GradcheckError(message)
    return ok


def gradcheck(f: Callable[..., Value], inputs: Sequence[Value | float], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check `backward()` of f(*inputs) against central differences, input by input.

    Inputs are Values or numbers; f is called on fresh leaf Values with the same
    numbers and labels, and the `.grad` of every other node in f's graph is
    restored afterwards.  A gradient lost because f breaks the graph (builds a
    Value from `.data`) shows up as analytic 0 against a nonzero numeric one.
    """
    _check_callable(f, "gradcheck")
    eps, atol, rtol = _check_tolerances(eps, atol, rtol, "gradcheck")
    xs = _leaves(inputs, "gradcheck")
    out = _call(f, xs, "gradcheck")
    nodes = topological_order(out)
    saved = [(v, v.grad) for v in nodes]
    try:
        out.backward()
        analytic = [x.grad for x in xs]
    finally:
        for v, g in saved:
            v.grad = g
    rows = []
    for i, x in enumerate(xs):
        plus, minus = _probes(lambda: _call(f, xs, "gradcheck").data, xs, i, eps, "gradcheck")
        numeric = (plus - minus) / (2 * eps)
        rows.append((str(i), x.label, x.data, analytic[i], numeric))
    _require_dependence(xs, nodes, lambda: [n for *_, n in rows], "gradcheck")
    ok = all(_close(a, n, atol, rtol) for *_, a, n in rows)
    message = "" if ok else _table("gradcheck", ("input", "label"), rows, atol, rtol)
    return _verdict(ok, message, raise_exception)


def _first_derivatives(f: Callable[..., Value], xs: list[Value]) -> list[float]:
    return [g.data for g in grad(_call(f, xs, "gradgradcheck"), xs)]


def gradgradcheck(f: Callable[..., Value], inputs: Sequence[Value | float], eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check second derivatives ∂²f/∂x_i∂x_j against central differences of the first derivatives.

    The analytic side differentiates the Values `grad(f, inputs, create_graph=True)`
    returns; the numeric side is (∂f/∂x_i(x + ε·e_j) − ∂f/∂x_i(x − ε·e_j)) / 2ε.
    No `.grad` is touched.
    """
    _check_callable(f, "gradgradcheck")
    eps, atol, rtol = _check_tolerances(eps, atol, rtol, "gradgradcheck")
    xs = _leaves(inputs, "gradgradcheck")
    out = _call(f, xs, "gradgradcheck")
    firsts = grad(out, xs, create_graph=True)
    hessian = [[h.data for h in grad(g, xs)] for g in firsts]
    numeric = [[0.0] * len(xs) for _ in xs]
    for j in range(len(xs)):
        plus, minus = _probes(lambda: _first_derivatives(f, xs), xs, j, eps, "gradgradcheck")
        for i in range(len(xs)):
            numeric[i][j] = (plus[i] - minus[i]) / (2 * eps)
    f_changes = lambda: [p - m for p, m in (_probes(lambda: _call(f, xs, "gradgradcheck").data, xs, j, eps,
                                                     "gradgradcheck") for j in range(len(xs)))]
    _require_dependence(xs, topological_order(out), f_changes, "gradgradcheck")
    rows = []
    for i, xi in enumerate(xs):
        for j, xj in enumerate(xs):
            label = f"{xi.label or '-'},{xj.label or '-'}" if (xi.label or xj.label) else ""
            rows.append((f"{i},{j}", label, xj.data, hessian[i][j], numeric[i][j]))
    ok = all(_close(a, n, atol, rtol) for *_, a, n in rows)
    message = "" if ok else _table("gradgradcheck (∂²f/∂x_i∂x_j; value is x_j)", ("i,j", "labels"), rows, atol, rtol)
    return _verdict(ok, message, raise_exception)
