"""Render the seeds' worked example (seed 001) as SVG: the loss graph of the 2-2-2 sigmoid network.

Builds the network with its starting weights, runs the forward pass and E.backward(),
then draws E's graph with every edge's local derivative ∂out/∂in on it.
Run:  python examples/render_graph.py [OUT.svg] [--collapse]
(default: docs/worked_example_loss.svg, the README's figure; with --collapse: worked_example_collapsed.svg
in the current folder, so that the README's figure stays as it is)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tinygrad_bp.viz import to_svg
from tinygrad_bp.worked_example import build, forward

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "worked_example_loss.svg"
COLLAPSED_OUT = "worked_example_collapsed.svg"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help=f"SVG file to write (default: {DEFAULT_OUT.name} in docs/, "
                        f"or {COLLAPSED_OUT} here with --collapse)")
    parser.add_argument("--collapse", action="store_true", help="draw each neuron as one node")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = COLLAPSED_OUT if args.collapse else str(DEFAULT_OUT)

    model = build()
    E, _ = forward(model)
    E.backward()
    svg = to_svg(E, args.out, edge_derivatives=True, collapse=args.collapse, parameters=model.parameters())
    print(f"E = {E.data:.9f}; wrote {args.out} ({len(svg)} characters)")


if __name__ == "__main__":
    main()
