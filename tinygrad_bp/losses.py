"""Loss functions on Values: sse (the seeds' E), mse, hinge, bce.

Each takes the model's outputs (a Value or a list of Values) and the targets
(numbers or Values, same length) and returns one scalar Value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tinygrad_bp.engine import Value
from tinygrad_bp.nn import unit_name

Outputs = Value | Sequence[Value]


def _pair(name: str, outputs: Any, targets: Any) -> tuple[list[Any], list[Any]]:
    outs = [outputs] if isinstance(outputs, Value) or not hasattr(outputs, "__len__") else list(outputs)
    tgts = [targets] if isinstance(targets, Value) or not hasattr(targets, "__len__") else list(targets)
    if len(outs) != len(tgts):
        raise ValueError(f"{name}: {len(outs)} outputs but {len(tgts)} targets")
    if not outs:
        raise ValueError(f"{name}: no outputs")
    return outs, tgts


def sse(outputs: Outputs, targets: Sequence[Any] | Any) -> Value:
    """E = ½ Σ_k (t_k − a_k)², labelled "E"; each term E_<unit> = ½(target − out)² is a node of its own."""
    outs, tgts = _pair("sse", outputs, targets)
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
    out = Value.sum([(t - a) ** 2 for a, t in zip(outs, tgts)]) * (1.0 / len(outs))
    out.label = "mse"
    return out


def hinge(scores: Outputs, labels: Sequence[Any] | Any) -> Value:
    """Max-margin loss (1/n) Σ relu(1 − y·score) with labels y = ±1 (micrograd's demo loss)."""
    outs, ys = _pair("hinge", scores, labels)
    out = Value.sum([(1 - y * s).relu() for s, y in zip(outs, ys)]) * (1.0 / len(outs))
    out.label = "hinge"
    return out


def bce(probs: Outputs, targets: Sequence[Any] | Any, eps: float = 1e-7) -> Value:
    """Binary cross-entropy −(1/n) Σ [t ln p + (1 − t) ln(1 − p)] on probabilities p.

    p is clamped to [eps, 1 − eps] (as torch.clamp: zero gradient where clamped),
    so p = 0 or 1 gives a large finite loss instead of log(0).
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"bce: eps must be in (0, 0.5), got {eps!r}")
    outs, tgts = _pair("bce", probs, targets)
    terms = []
    for k, (p, t) in enumerate(zip(outs, tgts)):
        pd = p.data if isinstance(p, Value) else float(p)
        td = t.data if isinstance(t, Value) else float(t)
        if not 0.0 <= td <= 1.0:
            raise ValueError(f"bce: targets must be in [0, 1], got {td!r} at index {k}")
        if not isinstance(p, Value):
            p = Value(p)
        if pd < eps:
            p = p * 0.0 + eps
        elif pd > 1.0 - eps:
            p = p * 0.0 + (1.0 - eps)
        terms.append(t * p.log() + (1 - t) * (1 - p).log())
    out = Value.sum(terms) * (-1.0 / len(outs))
    out.label = "bce"
    return out
