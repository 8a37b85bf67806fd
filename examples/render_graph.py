"""Render the seeds' worked example (seed 001) as SVG: the loss graph of the 2-2-2 sigmoid network.

Builds the network with its starting weights, runs the forward pass and E.backward(),
then draws E's graph with every edge's local derivative ∂out/∂in on it.
Run:  python examples/render_graph.py [OUT.svg] [--collapse]   (default: docs/worked_example_loss.svg)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tinygrad_bp.viz import to_svg
from tinygrad_bp.worked_example import build, forward

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "worked_example_loss.svg"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(DEFAULT_OUT), help="SVG file to write")
    parser.add_argument("--collapse", action="store_true", help="draw each neuron as one node")
    args = parser.parse_args(argv)

    model = build()
    E, _ = forward(model)
    E.backward()
    svg = to_svg(E, args.out, edge_derivatives=True, collapse=args.collapse, parameters=model.parameters())
    print(f"E = {E.data:.9f}; wrote {args.out} ({len(svg)} characters)")


if __name__ == "__main__":
    main()
