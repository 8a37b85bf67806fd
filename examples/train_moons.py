"""Train an MLP on the two-moons data set with the library API, save it, load it back.

The same run as `tinygrad-bp train --data moons`, written out as a plain training loop:
the data set, the network, the loss, the optimizer, the model file.
Run:  python examples/train_moons.py [MODEL.json]   (default: moons_model.json in the current folder)
"""

from __future__ import annotations

import sys

from tinygrad_bp.data import moons
from tinygrad_bp.losses import hinge
from tinygrad_bp.nn import MLP
from tinygrad_bp.optim import Adam


def accuracy(model: MLP, X: list[list[float]], y: list[float]) -> float:
    """Share of points whose score has the sign of their label (labels are ±1 for hinge)."""
    return sum((model(x).data > 0) == (t > 0) for x, t in zip(X, y)) / len(X)


def main(path: str = "moons_model.json") -> None:
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
    model.save(path)
    again = MLP.load(path)
    assert [p.data for p in again.parameters()] == [p.data for p in model.parameters()]  # exact round trip
    print(f"saved to {path}; the loaded model scores {accuracy(again, X, y):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
