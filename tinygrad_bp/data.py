"""Small deterministic 2-D data sets for binary classification: xor, moons, circles, spiral.

Pure Python, nothing downloaded. Each function returns `(X, y)`: `X` a list of
`[x1, x2]` float pairs, `y` a list of float labels in the form the losses expect:

- `labels="pm1"` (default): y = -1.0 or +1.0, for `hinge` (score > 0 predicts +1);
- `labels="01"`: y = 0.0 or 1.0, for `sse`, `mse` and `bce` (probability > 0.5 predicts 1).

The same `seed` always gives the same points (each call uses its own
`random.Random(seed)`, never the global one). Counts and the seed are ints, the
other parameters real numbers (numpy scalars too; bools and strs are not):
anything else, or out of range, is a `ValueError` naming the parameter.
"""

from __future__ import annotations

import math
import random
from typing import Any

from tinygrad_bp.ops import is_real, is_whole

__all__ = ["DATASETS", "xor", "moons", "circles", "spiral"]

LABELS = ("pm1", "01")

Dataset = tuple[list[list[float]], list[float]]


def _count(name: str, what: str, n: Any, low: int | None = None) -> int:
    """n as an int (>= low): ints and numpy integers, not bools (numpy's either) or floats."""
    if not is_whole(n):
        raise ValueError(f"{name}: {what} must be an int, got {type(n).__name__} {n!r:.40}")
    k = int(n)
    if low is not None and k < low:
        raise ValueError(f"{name}: {what} must be an int >= {low}, got {n!r}")
    return k


def _real(name: str, what: str, x: Any, expected: str) -> float:
    """x as a float: ints, floats and numpy integer/float scalars, not bools or strs."""
    if not is_real(x):
        raise ValueError(f"{name}: {what} must be a number ({expected}), got {type(x).__name__} {x!r:.40}")
    return float(x)


def _check(name: str, n: Any, noise: Any, seed: Any, labels: str) -> tuple[int, float, int]:
    """(n, noise, seed) as int, float, int; ValueError naming a bad one (or a bad labels)."""
    n = _count(name, "n", n, 2)
    noise = _real(name, "noise", noise, "finite, >= 0")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"{name}: noise must be a finite number >= 0, got {noise!r}")
    seed = _count(name, "seed", seed)
    if labels not in LABELS:
        raise ValueError(f"{name}: labels must be one of {LABELS}, got {labels!r}")
    return n, noise, seed


def _label_values(labels: str) -> tuple[float, float]:
    """(negative class, positive class) for the label convention."""
    return (-1.0, 1.0) if labels == "pm1" else (0.0, 1.0)


def _linspace(start: float, stop: float, k: int) -> list[float]:
    if k == 1:
        return [start]
    step = (stop - start) / (k - 1)
    return [start + i * step for i in range(k)]


def _finish(name: str, points: list[tuple[float, float, int]], noise: float, labels: str,
            rng: random.Random) -> Dataset:
    """Add Gaussian noise, shuffle, map class 0/1 to the label convention (ValueError if a point overflows)."""
    neg, pos = _label_values(labels)
    rows = [([x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)] if noise else [x, y], c) for x, y, c in points]
    if not all(math.isfinite(v) for r, _ in rows for v in r):
        raise ValueError(f"{name}: noise {noise!r} makes points overflow a float; use a smaller noise")
    rng.shuffle(rows)
    return [r for r, _ in rows], [pos if c else neg for _, c in rows]


def xor(labels: str = "pm1") -> Dataset:
    """The four XOR points (0,0), (0,1), (1,0), (1,1); positive class where exactly one input is 1."""
    _check("xor", 4, 0.0, 0, labels)
    neg, pos = _label_values(labels)
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    return X, [neg, pos, pos, neg]


def moons(n: int = 100, noise: float = 0.1, seed: int = 0, labels: str = "pm1") -> Dataset:
    """Two interleaving half circles (as scikit-learn's make_moons).

    Class 0 (negative): the upper arc (cos t, sin t); class 1 (positive): the lower
    arc (1 − cos t, 0.5 − sin t), t evenly spaced in [0, π]; n // 2 points on the
    first, the rest on the second; Gaussian noise of standard deviation `noise`.
    """
    n, noise, seed = _check("moons", n, noise, seed, labels)
    rng = random.Random(seed)
    n_out = n // 2
    pts = [(math.cos(t), math.sin(t), 0) for t in _linspace(0.0, math.pi, n_out)]
    pts += [(1.0 - math.cos(t), 0.5 - math.sin(t), 1) for t in _linspace(0.0, math.pi, n - n_out)]
    return _finish("moons", pts, noise, labels, rng)


def circles(n: int = 100, noise: float = 0.05, factor: float = 0.5, seed: int = 0, labels: str = "pm1") -> Dataset:
    """Two concentric circles (as scikit-learn's make_circles).

    Class 0 (negative): the unit circle; class 1 (positive): the circle of radius
    `factor` (0 < factor < 1); n // 2 points on the outer circle, the rest inside.
    """
    n, noise, seed = _check("circles", n, noise, seed, labels)
    factor = _real("circles", "factor", factor, "in (0, 1)")
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor must be a number in (0, 1), got {factor!r}")
    rng = random.Random(seed)
    n_out = n // 2
    n_in = n - n_out
    pts = [(math.cos(2 * math.pi * i / n_out), math.sin(2 * math.pi * i / n_out), 0) for i in range(n_out)]
    pts += [(factor * math.cos(2 * math.pi * i / n_in), factor * math.sin(2 * math.pi * i / n_in), 1)
            for i in range(n_in)]
    return _finish("circles", pts, noise, labels, rng)


def spiral(n: int = 100, noise: float = 0.05, turns: float = 1.0, seed: int = 0, labels: str = "pm1") -> Dataset:
    """Two interleaved spirals (arms 180° apart), radius growing from 0 to 1 over `turns` turns.

    Point i of an arm with k points sits at radius r = (i + 1) / k and angle
    θ = 2π·turns·r (+ π for the second arm): (r cos θ, r sin θ). Class 0 gets
    n // 2 points, class 1 the rest.
    """
    n, noise, seed = _check("spiral", n, noise, seed, labels)
    turns = _real("spiral", "turns", turns, "in (0, 10]")
    if not 0 < turns <= 10:
        raise ValueError(f"spiral: turns must be a number in (0, 10], got {turns!r}")
    rng = random.Random(seed)
    pts: list[tuple[float, float, int]] = []
    for c, k in ((0, n // 2), (1, n - n // 2)):
        for i in range(k):
            r = (i + 1) / k
            theta = 2 * math.pi * turns * r + c * math.pi
            pts.append((r * math.cos(theta), r * math.sin(theta), c))
    return _finish("spiral", pts, noise, labels, rng)


DATASETS = {"xor": xor, "moons": moons, "circles": circles, "spiral": spiral}
