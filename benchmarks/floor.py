"""The floor: the benchmarks' arithmetic written by hand in plain Python floats.

No graph, no objects per number: a forward pass over lists of floats and a
backward pass derived by hand (the delta rule), for the same networks, losses
and updates as the engine runs in `run.py`.  It is written the way one would
write it without an autograd engine -- loops over layers, neurons and inputs,
in the same order of operations as the engine -- and it is checked against the
engine, micrograd and PyTorch before anything is timed.

A network is a list of layers; a layer is `(W, b, activation)` with `W` a list
of weight rows (one per neuron), `b` a list of biases and activation one of
"sigmoid", "relu", "linear".
"""

from __future__ import annotations

import math
from itertools import repeat
from operator import add, mul

Layer = tuple[list[list[float]], list[float], str]


def sigmoid(x: float) -> float:
    """1/(1+e^-x), without overflow for very negative x (the engine's formula)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def forward(layers: list[Layer], x: list[float]) -> list[list[float]]:
    """Activations of every layer, the input first: net_j = Σ_i w_ji·x_i + b_j, a_j = f(net_j)."""
    acts = [x]
    for W, b, act in layers:
        nets = []
        for row, bj in zip(W, b):
            s = 0.0
            for w, xi in zip(row, x):
                s += w * xi
            nets.append(s + bj)
        if act == "relu":
            x = [n if n > 0 else 0.0 for n in nets]
        elif act == "sigmoid":
            x = [sigmoid(n) for n in nets]
        elif act == "tanh":
            x = [math.tanh(n) for n in nets]
        else:
            x = nets
        acts.append(x)
    return acts


def backward(layers: list[Layer], acts: list[list[float]], g: list[float],
             gW: list[list[list[float]]], gb: list[list[float]]) -> None:
    """Add ∂L/∂w and ∂L/∂b into gW, gb, given g = ∂L/∂(output activations).

    delta_j = ∂L/∂net_j = g_j·f'(net_j); ∂L/∂w_ji = delta_j·x_i; ∂L/∂b_j = delta_j;
    ∂L/∂x_i = Σ_j delta_j·w_ji is the g of the layer below.
    """
    for l in range(len(layers) - 1, -1, -1):
        W, _, act = layers[l]
        a = acts[l + 1]
        x = acts[l]
        if act == "relu":
            delta = [gj if aj > 0 else 0.0 for gj, aj in zip(g, a)]
        elif act == "sigmoid":
            delta = [gj * (aj * (1.0 - aj)) for gj, aj in zip(g, a)]
        else:
            delta = g
        gWl = gW[l]
        gbl = gb[l]
        if l:
            gx = [0.0] * len(x)
            for j, dj in enumerate(delta):
                row = W[j]
                gWj = gWl[j]
                for i, xi in enumerate(x):
                    gWj[i] += dj * xi
                    gx[i] += dj * row[i]
                gbl[j] += dj
            g = gx
        else:
            for j, dj in enumerate(delta):
                gWj = gWl[j]
                for i, xi in enumerate(x):
                    gWj[i] += dj * xi
                gbl[j] += dj


def zeros_like(layers: list[Layer]) -> tuple[list[list[list[float]]], list[list[float]]]:
    """Zero gradients shaped like the weights and biases of `layers`."""
    return [[[0.0] * len(row) for row in W] for W, _, _ in layers], [[0.0] * len(b) for _, b, _ in layers]


def mazur_train(layers: list[Layer], x: list[float], target: list[float], lr: float, rounds: int):
    """W1: `rounds` of forward, E = ½Σ(a−t)², backward, w -= lr·∂E/∂w (biases not updated, as in Mazur's example).

    Returns E of the last round and its gradients (gW, gb), computed before that round's update.
    """
    E = 0.0
    gW = gb = None
    for _ in range(rounds):
        acts = forward(layers, x)
        out = acts[-1]
        E = 0.5 * sum([(a - t) ** 2 for a, t in zip(out, target)], 0.0)
        gW, gb = zeros_like(layers)
        backward(layers, acts, [a - t for a, t in zip(out, target)], gW, gb)
        for (W, _, _), gWl in zip(layers, gW):
            for row, grow in zip(W, gWl):
                for i, gwi in enumerate(grow):
                    row[i] -= lr * gwi
    return E, gW, gb


def moons_step(layers: list[Layer], X: list[list[float]], y: list[float], lr: float, alpha: float = 1e-4):
    """W2: micrograd's demo step. L = (1/N)·Σ relu(1 − y·score) + alpha·Σ p², then p -= lr·∂L/∂p.

    Returns L and its gradients (gW, gb), computed before the update.
    """
    n = len(X)
    scale = 1.0 / n
    gW, gb = zeros_like(layers)
    data_loss = 0.0
    for xi, yi in zip(X, y):
        acts = forward(layers, xi)
        margin = 1.0 + -yi * acts[-1][0]
        if margin > 0:
            data_loss += margin
            backward(layers, acts, [scale * -yi], gW, gb)
    reg = 0.0
    for W, b, _ in layers:
        for row, bj in zip(W, b):
            for w in row:
                reg += w * w
            reg += bj * bj
    loss = data_loss * scale + alpha * reg
    two_alpha = 2.0 * alpha
    for (W, b, _), gWl, gbl in zip(layers, gW, gb):
        for j, (row, grow) in enumerate(zip(W, gWl)):
            for i, w in enumerate(row):
                grow[i] += two_alpha * w
                row[i] = w - lr * grow[i]
            gbl[j] += two_alpha * b[j]
            b[j] -= lr * gbl[j]
    return loss, gW, gb


def chain(x: float, rounds: int, activation: str = "tanh") -> tuple[float, float]:
    """W3: y = f(1.0001·y + 0.1) repeated `rounds` times from y = x (f = tanh or relu); returns y, dy/dx."""
    outs = []
    y = x
    if activation == "tanh":
        tanh = math.tanh
        for _ in range(rounds):
            y = tanh(y * 1.0001 + 0.1)
            outs.append(y)
        g = 1.0
        for o in reversed(outs):
            g = g * (1.0 - o * o) * 1.0001
    else:
        for _ in range(rounds):
            s = y * 1.0001 + 0.1
            y = s if s > 0 else 0.0
            outs.append(y)
        g = 1.0
        for o in reversed(outs):
            g = g * (1.0 if o > 0 else 0.0) * 1.0001
    return y, g


# --- the tight floor: what a person would write by hand for these two networks --------------------------------

def mazur_train_tight(layers: list[Layer], x: list[float], target: list[float], lr: float, rounds: int):
    """W1 with the delta rule written out for the 2-2-2 sigmoid network: one local per number.

    Returns E of the last round and its gradients in parameter order (w1 w2 b1 w3 w4 b2 w5 w6 b3 w7 w8 b4),
    computed before that round's update; biases are not updated, as in Mazur's example.
    """
    ([[w1, w2], [w3, w4]], [b1, b2], _), ([[w5, w6], [w7, w8]], [b3, b4], _) = layers
    i1, i2 = x
    t1, t2 = target
    exp = math.exp
    E = 0.0
    grads: list[float] = []
    for _ in range(rounds):
        h1 = 1.0 / (1.0 + exp(-(w1 * i1 + w2 * i2 + b1)))
        h2 = 1.0 / (1.0 + exp(-(w3 * i1 + w4 * i2 + b2)))
        o1 = 1.0 / (1.0 + exp(-(w5 * h1 + w6 * h2 + b3)))
        o2 = 1.0 / (1.0 + exp(-(w7 * h1 + w8 * h2 + b4)))
        E = 0.5 * (t1 - o1) ** 2 + 0.5 * (t2 - o2) ** 2
        d1 = (o1 - t1) * o1 * (1.0 - o1)  # ∂E/∂net_o1
        d2 = (o2 - t2) * o2 * (1.0 - o2)
        e1 = (d1 * w5 + d2 * w7) * h1 * (1.0 - h1)  # ∂E/∂net_h1
        e2 = (d1 * w6 + d2 * w8) * h2 * (1.0 - h2)
        g1, g2, g3, g4 = e1 * i1, e1 * i2, e2 * i1, e2 * i2
        g5, g6, g7, g8 = d1 * h1, d1 * h2, d2 * h1, d2 * h2
        w1 -= lr * g1
        w2 -= lr * g2
        w3 -= lr * g3
        w4 -= lr * g4
        w5 -= lr * g5
        w6 -= lr * g6
        w7 -= lr * g7
        w8 -= lr * g8
        grads = [g1, g2, e1, g3, g4, e2, g5, g6, d1, g7, g8, d2]
    return E, grads


def moons_step_tight(layers: list[Layer], X: list[list[float]], y: list[float], lr: float, alpha: float = 1e-4):
    """W2 written tight: each neuron's net is `sum(map(mul, w, x)) + b`, the backward runs on lists with map/zip.

    ReLU hidden layers and one linear output, as `moons_step`; returns L and its gradients in parameter order
    (computed before the update) and updates the weights in place.
    """
    Ws = [W for W, _, _ in layers]
    bs = [b for _, b, _ in layers]
    WTs = [list(zip(*W)) for W in Ws]  # columns: ∂L/∂x_i = Σ_j δ_j·w_ji is sum(map(mul, column_i, δ))
    last = len(layers) - 1
    hidden = list(zip(Ws[:last], bs[:last]))
    w_out, b_out = Ws[last][0], bs[last][0]
    scale = 1.0 / len(X)
    gW = [[[0.0] * len(row) for row in W] for W in Ws]
    gb = [[0.0] * len(b) for b in bs]
    data_loss = 0.0
    for x, yi in zip(X, y):
        acts = [x]
        for W, b in hidden:
            x = [s if (s := sum(map(mul, row, x)) + bj) > 0.0 else 0.0 for row, bj in zip(W, b)]
            acts.append(x)
        margin = 1.0 - yi * (sum(map(mul, w_out, x)) + b_out)
        if margin > 0.0:
            data_loss += margin
            delta = [-yi * scale]
            for k in range(last, -1, -1):
                a = acts[k]
                gW[k] = [list(map(add, g, map(mul, repeat(dj), a))) if dj else g for g, dj in zip(gW[k], delta)]
                gb[k] = list(map(add, gb[k], delta))
                if k:  # δ of the layer below: back through the weights, then relu' (0 where the unit is off)
                    delta = [sum(map(mul, col, delta)) if ai > 0.0 else 0.0 for col, ai in zip(WTs[k], a)]
    reg = sum([sum(map(mul, row, row)) + bj * bj for W, b in zip(Ws, bs) for row, bj in zip(W, b)])
    loss = data_loss * scale + alpha * reg
    two_alpha = 2.0 * alpha
    for W, b, gWk, gbk in zip(Ws, bs, gW, gb):
        for j, (row, grow) in enumerate(zip(W, gWk)):
            grow[:] = [g + two_alpha * w for g, w in zip(grow, row)]
            row[:] = [w - lr * g for w, g in zip(row, grow)]
            gbk[j] += two_alpha * b[j]
            b[j] -= lr * gbk[j]
    return loss, gW, gb
