"""Train an MLP on the two-moons data set with the library API, save it, load it back.

The same run as `tinygrad-bp train --data moons`, written out as a plain training loop:
the data set, the network, the loss, the optimizer, the model file.
Run:  python examples/train_moons.py [MODEL.json]
(without MODEL.json the model goes to a temporary folder, removed at the end: nothing is left behind)
"""

from __future__ import annotations

import os
import sys
import tempfile

from tinygrad_bp.data import moons
from tinygrad_bp.losses import hinge
from tinygrad_bp.nn import MLP
from tinygrad_bp.optim import Adam


def accuracy(model: MLP, X: list[list[float]], y: list[float]) -> float:
    """Share of points whose score has the sign of their label (labels are ±1 for hinge)."""
    return sum((model(x).data > 0) == (t > 0) for x, t in zip(X, y)) / len(X)


def main(path: str | None = None) -> None:
    X, y = moons(n=100, noise=0.1, seed=0)  # labels ±1, as hinge expects
    model = MLP(2, [16, 16, 1], activation="relu", output_activation="linear", seed=0)
    optimizer = Adam(model.parameters(), lr=0.05)
    for epoch in range(1, 101):
        loss = hinge([model(x) for x in X], y)  # mean of relu(1 − y·score)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch % 20 == 0:
            print(f"epoch {epoch:3d}  loss {loss.data:.4f}  accuracy {accuracy(model, X, y):.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        target = path if path is not None else os.path.join(tmp, "moons_model.json")
        model.save(target)
        again = MLP.load(target)
        assert [p.data for p in again.parameters()] == [p.data for p in model.parameters()]  # exact round trip
        where = target if path is not None else "a temporary file (removed)"
        print(f"saved to {where}; the loaded model scores {accuracy(again, X, y):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
