"""Loss functions on Values: sse (E of Mazur's worked example), mse, hinge, bce.

Each takes the model's outputs (a Value or a list of Values) and the targets
(numbers or Values, same length) and returns one scalar Value.  They never read
a Value's `.data` directly: hinge's and bce's checks (and bce's clamp) go
through `jit.condition`, so a `jit` trace records them and a replay checks them
again; sse and mse only check types.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from tinygrad_bp.engine import Value
from tinygrad_bp.jit import condition
from tinygrad_bp.nn import unit_name

__all__ = ["sse", "mse", "hinge", "bce"]

Outputs = Value | Sequence[Value]


def _pair(name: str, outputs: Any, targets: Any,
          names: tuple[str, str] = ("outputs", "targets")) -> tuple[list[Any], list[Any]]:
    if type(outputs) is list and type(targets) is list and len(outputs) == len(targets) and outputs:
        return outputs, targets  # the usual case, nothing to convert
    for what, x in zip(names, (outputs, targets)):
        if isinstance(x, (str, bytes)):
            raise TypeError(f"{name}: {what} must be Values or numbers, got {type(x).__name__} {x!r:.40}")
    outs = [outputs] if isinstance(outputs, Value) or not hasattr(outputs, "__len__") else list(outputs)
    tgts = [targets] if isinstance(targets, Value) or not hasattr(targets, "__len__") else list(targets)
    if len(outs) != len(tgts):
        raise ValueError(f"{name}: {len(outs)} outputs but {len(tgts)} targets")
    if not outs:
        raise ValueError(f"{name}: no outputs")
    return outs, tgts


def _is_number(x: Any) -> bool:
    """Anything float() takes as a number (numpy scalars, Decimal, ...): not a str, bytes, bool or None."""
    return not isinstance(x, (str, bytes, bool)) and hasattr(type(x), "__float__")


def _number(name: str, what: str, k: int, x: Any) -> Any:
    """The float of a real number (not a str, bool or None), a Value as it is (its value is not read);
    TypeError naming what[k] else."""
    if isinstance(x, Value):
        return x
    if not _is_number(x):
        raise TypeError(f"{name}: {what}[{k}] must be a Value or a number, got {type(x).__name__} {x!r:.40}")
    try:
        return float(x)
    except OverflowError:  # an int such as 10**400
        raise ValueError(f"{name}: {what}[{k}] is a number too large for a float ({type(x).__name__} beyond "
                         "±1.8e308)") from None


_PLAIN = {Value, float}


def _check_numbers(name: str, outs: list[Any], tgts: list[Any]) -> None:
    """TypeError naming the loss and the index of the first output or target that is not a Value or a number."""
    if _PLAIN.issuperset(map(type, outs)) and _PLAIN.issuperset(map(type, tgts)):
        return  # the usual case: Values and floats
    for k, (a, t) in enumerate(zip(outs, tgts)):
        _number(name, "outputs", k, a)
        _number(name, "targets", k, t)


def sse(outputs: Outputs, targets: Sequence[Any] | Any) -> Value:
    """E = ½ Σ_k (t_k − a_k)², labelled "E"; each term E_<unit> = ½(target − out)² is a node of its own."""
    outs, tgts = _pair("sse", outputs, targets)
    _check_numbers("sse", outs, tgts)
    terms = []
    for k, (a, t) in enumerate(zip(outs, tgts)):
        name = (unit_name(a.label) if isinstance(a, Value) else "") or f"{k + 1}"
        t = t if isinstance(t, Value) else Value(t, label=f"target_{name}")
        e = 0.5 * (t - a) ** 2
        e.label = f"E_{name}"
        terms.append(e)
    out = Value.sum(terms)
    out.label = "E"
    return out


def mse(outputs: Outputs, targets: Sequence[Any] | Any) -> Value:
    """Mean squared error (1/n) Σ (t − a)²."""
    outs, tgts = _pair("mse", outputs, targets)
    _check_numbers("mse", outs, tgts)
    out = Value.sum([(t - a) ** 2 for a, t in zip(outs, tgts)]) * (1.0 / len(outs))
    out.label = "mse"
    return out


def _is_label(y: Any) -> bool:
    return _is_number(y) and float(y) in (-1.0, 1.0)


def hinge(scores: Outputs, labels: Sequence[Any] | Any) -> Value:
    """Max-margin loss (1/n) Σ relu(1 − y·score) with labels y = ±1 (micrograd's demo loss).

    A label other than -1 or +1 (a number or a Value) is a ValueError naming its index.
    """
    outs, ys = _pair("hinge", scores, labels, ("scores", "labels"))
    outs = [s if isinstance(s, Value) else Value(_number("hinge", "scores", k, s)) for k, s in enumerate(outs)]
    for k, y in enumerate(ys):
        if not (condition(y, _is_label) if isinstance(y, Value) else _is_label(y)):
            shown = f"Value {y.data!r:.40}" if isinstance(y, Value) else f"{y!r:.40}"
            raise ValueError(f"hinge: labels must be -1 or +1, got {shown} at index {k}")
    out = Value.sum([(1 - y * s).relu() for s, y in zip(outs, ys)]) * (1.0 / len(outs))
    out.label = "hinge"
    return out


def _clamped(k: int, eps: float, p: float) -> int:
    """-1 where bce clamps p up to eps, 1 where down to 1 − eps, 0 else; ValueError outside [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bce: probabilities must be in [0, 1], got {p!r} at index {k}")
    return -1 if p < eps else 1 if p > 1.0 - eps else 0


def _target(k: int, t: float) -> bool:
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"bce: targets must be in [0, 1], got {t!r} at index {k}")
    return True


def bce(probs: Outputs, targets: Sequence[Any] | Any, eps: float = 1e-7) -> Value:
    """Binary cross-entropy −(1/n) Σ [t ln p + (1 − t) ln(1 − p)] on probabilities p.

    p must lie in [0, 1] and t in [0, 1] (else ValueError naming the index, as PyTorch refuses
    them); p is clamped to [eps, 1 − eps] (as torch.clamp: zero gradient where clamped),
    so p = 0 or 1 gives a large finite loss instead of log(0).
    """
    if not _is_number(eps) or not 0.0 < float(eps) < 0.5:
        raise ValueError(f"bce: eps must be a number in (0, 0.5), got {eps!r:.40}")
    eps = float(eps)
    outs, tgts = _pair("bce", probs, targets, ("probs", "targets"))
    terms = []
    for k, (p, t) in enumerate(zip(outs, tgts)):
        pd = _number("bce", "probs", k, p)
        td = _number("bce", "targets", k, t)
        side = condition(p, partial(_clamped, k, eps)) if isinstance(p, Value) else _clamped(k, eps, pd)
        if isinstance(t, Value):
            condition(t, partial(_target, k))
        else:
            _target(k, td)
        t = td
        if not isinstance(p, Value):
            p = Value(pd)
        if side < 0:
            p = p * 0.0 + eps
        elif side > 0:
            p = p * 0.0 + (1.0 - eps)
        terms.append(t * p.log() + (1 - t) * (1 - p).log())
    out = Value.sum(terms) * (-1.0 / len(outs))
    out.label = "bce"
    return out
