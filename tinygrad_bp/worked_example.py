"""Mazur's worked example: a 2-2-2 sigmoid network, one input, trained by backpropagation.

The 2-2-2 example of Matt Mazur's "A Step by Step Backpropagation Example", as
reproduced in A. K. Jain's "Back Propagation in Neural Networks" (docs/delta_rule.md).

Every number is read off the Value graph: forward values are node `.data`,
∂E/∂node is node `.grad` after `E.backward()`, and the factors of the chain rule
are the nodes' local derivatives. `run()` prints it all (used by
`tinygrad-bp worked-example` and `examples/worked_example.py`).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from tinygrad_bp.engine import Value, topological_order
from tinygrad_bp.losses import sse
from tinygrad_bp.nn import MLP

__all__ = ["build", "weights", "forward", "run"]
from tinygrad_bp.optim import SGD

INPUTS = [0.05, 0.10]
TARGETS = [0.01, 0.99]
WEIGHTS = [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]  # w1..w4, w5..w8
BIASES = [0.35, 0.60]  # b1 (both hidden neurons), b2 (both output neurons)
ETA = 0.5


def build() -> MLP:
    """Mazur's network with its starting weights."""
    model = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid")
    for i, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            for k, w in enumerate(neuron.w):
                w.data = WEIGHTS[i][j][k]
            neuron.b.data = BIASES[i]
    return model


def weights(model: MLP) -> list[Value]:
    """w1..w8 (the biases are not updated in Mazur's example)."""
    return [w for layer in model.layers for n in layer.neurons for w in n.w]


def forward(model: MLP) -> tuple[Value, dict[str, Value]]:
    """E for Mazur's input and target, and the graph's labelled nodes by label."""
    E = sse(model(INPUTS), TARGETS)
    return E, {v.label: v for v in topological_order(E) if v.label}


def run(rounds: int = 10_000, graph: str | os.PathLike[str] | None = None, file: TextIO | None = None,
        html: str | os.PathLike[str] | None = None, *, svg: str | os.PathLike[str] | None = None) -> float:
    """Print the worked example to `file` (default stdout); returns E at the forward pass of round `rounds`.

    `graph`: also write the loss graph of the first forward pass, with the first
    round's gradients and each edge's local derivative, to this file, in the
    format of its extension (.svg, .png, .pdf, ...: see viz.render); `svg` is its
    former name. `html`: also write that graph's step-by-step backward pass page
    (viz.to_html) to this file.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"worked example: rounds must be an int >= 1, got {rounds!r}")
    if svg is not None:
        if graph is not None:
            raise ValueError("worked example: give graph= or its former name svg=, not both")
        graph = svg
    if graph is not None:
        from tinygrad_bp.viz import output_format

        output_format(graph)  # an unknown extension is refused before anything is printed
    out = sys.stdout if file is None else file

    def say(text: str) -> None:
        print(text, file=out)

    model = build()
    E, n = forward(model)
    say("The Forward Pass")
    for h, (wa, wb) in (("h1", ("w1", "w2")), ("h2", ("w3", "w4"))):
        say(f"  net_{h} = {wa}*i1 + {wb}*i2 + b_{h}*1 = {n[wa].data} * {n['i1'].data} + {n[wb].data} * "
            f"{n['i2'].data} + {n['b_' + h].data} * 1 = {n['net_' + h].data:.9f}")
        say(f"  out_{h} = 1/(1 + e^-net_{h}) = {n['out_' + h].data:.9f}")
    for o, (wa, wb) in (("o1", ("w5", "w6")), ("o2", ("w7", "w8"))):
        say(f"  net_{o} = {wa}*out_h1 + {wb}*out_h2 + b_{o}*1 = {n[wa].data} * {n['out_h1'].data:.9f} + "
            f"{n[wb].data} * {n['out_h2'].data:.9f} + {n['b_' + o].data} * 1 = {n['net_' + o].data:.9f}")
        say(f"  out_{o} = 1/(1 + e^-net_{o}) = {n['out_' + o].data:.9f}")
    say("Calculating the Total Error")
    for o, t in zip(("o1", "o2"), TARGETS):
        say(f"  E_{o} = 1/2 (target_{o} - out_{o})^2 = 1/2 ({t} - {n['out_' + o].data:.9f})^2 = "
            f"{n['E_' + o].data:.9f}")
    say(f"  E_total = E_o1 + E_o2 = {E.data:.9f}")
    final = (E.data, n["out_o1"].data, n["out_o2"].data)

    E.backward()
    if graph is not None:
        from tinygrad_bp.viz import render

        render(E, graph, edge_derivatives=True, parameters=model.parameters())
    if html is not None:
        from tinygrad_bp.viz import to_html

        to_html(E, html, edge_derivatives=True, parameters=model.parameters())
    say("The Backwards Pass (first round, eta = 0.5)")
    say(f"  {'derivative':<24}{'chain rule':<50}{'value':>14}")

    def row(name: str, rule: str, value: float) -> None:
        say(f"  {name:<24}{rule:<50}{value:>14.9f}")

    out_o1, net_o1 = n["out_o1"], n["net_o1"]
    row("dE/dout_o1", "-(target_o1 - out_o1)", out_o1.grad)
    row("dout_o1/dnet_o1", "out_o1 (1 - out_o1)", out_o1.local_grads()[0])
    row("dnet_o1/dw5", "out_h1", net_o1.local_grads()[0])
    row("dE/dw5", "dE/dout_o1 * dout_o1/dnet_o1 * dnet_o1/dw5", n["w5"].grad)
    row("dE/dnet_o1", "dE/dout_o1 * dout_o1/dnet_o1", net_o1.grad)
    dnet_o1_dout_h1 = net_o1.local_grads()[2]  # inputs of net: w5, w6, out_h1, out_h2, b_o1
    dnet_o2_dout_h1 = n["net_o2"].local_grads()[2]
    row("dnet_o1/dout_h1", "w5", dnet_o1_dout_h1)
    row("dE_o1/dout_h1", "dE/dnet_o1 * dnet_o1/dout_h1", net_o1.grad * dnet_o1_dout_h1)
    row("dE_o2/dout_h1", "dE/dnet_o2 * dnet_o2/dout_h1", n["net_o2"].grad * dnet_o2_dout_h1)
    row("dE/dout_h1", "dE_o1/dout_h1 + dE_o2/dout_h1", n["out_h1"].grad)
    row("dout_h1/dnet_h1", "out_h1 (1 - out_h1)", n["out_h1"].local_grads()[0])
    row("dnet_h1/dw1", "i1", n["net_h1"].local_grads()[0])
    row("dE/dw1", "dE/dout_h1 * dout_h1/dnet_h1 * dnet_h1/dw1", n["w1"].grad)

    ws = weights(model)
    old = [w.data for w in ws]
    optimizer = SGD(ws, lr=ETA)
    optimizer.step()
    say("Updated weights  w+ = w - eta * dE/dw")
    for k, (w, w0) in enumerate(zip(ws, old), start=1):
        grad = f"{w.grad:.9f}" if w.grad >= 0 else f"({w.grad:.9f})"
        say(f"  w{k}+ = {w0} - 0.5 * {grad} = {w.data:.9f}")

    E, n = forward(model)
    say(f"Error after the first round: {E.data:.9f}  (the source prints 0.291027924, which the stated "
        "procedure does not give; see docs/delta_rule.md)")
    for _ in range(rounds - 2):  # round r's forward pass comes after r - 1 updates
        optimizer.zero_grad()
        sse(model(INPUTS), TARGETS).backward()
        optimizer.step()
    if rounds > 1:
        E, n = forward(model)
        final = (E.data, n["out_o1"].data, n["out_o2"].data)
    say(f"Round {rounds} (after {rounds - 1} update{'' if rounds == 2 else 's'}): E = {final[0]:.10f}, "
        f"outputs {final[1]:.9f} (target 0.01) and {final[2]:.9f} (target 0.99)")
    if rounds == 10000:
        say("  (the source prints E = 0.0000351085 and outputs 0.015912196 / 0.984065734; its outputs match no"
            " single round: they lie between rounds 10002 and 10003, see docs/delta_rule.md)")
    return final[0]
