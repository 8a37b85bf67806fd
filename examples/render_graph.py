"""Draw the worked example's loss graph: the 2-2-2 sigmoid network of Matt Mazur's "A Step by Step
Backpropagation Example", as reproduced in A. K. Jain's "Back Propagation in Neural Networks".

Builds the network with its starting weights, runs the forward pass and E.backward(), then
draws E's graph with every edge's local derivative ∂out/∂in on it, in the format of the file's
extension (.svg, .png, .pdf, .jpg, .gv). Changes no file of the project unless asked:
  python examples/render_graph.py                      # into a new temporary folder (printed)
  python examples/render_graph.py --out loss.png [--collapse]
  python examples/render_graph.py --docs-figure        # rewrites docs/worked_example_loss.svg
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tinygrad_bp.viz import find_renderer, render
from tinygrad_bp.worked_example import build, forward

DOCS_FIGURE = Path(__file__).resolve().parent.parent / "docs" / "worked_example_loss.svg"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="FILE", help="the file to write (default: loss.svg in a new temporary "
                       "folder)")
    where.add_argument("--docs-figure", action="store_true",
                       help=f"rewrite the docs' figure, {DOCS_FIGURE.name}, with graphviz-pure (the same file on "
                            "every machine)")
    parser.add_argument("--collapse", action="store_true", help="draw each neuron as one node")
    args = parser.parse_args(argv)
    if args.docs_figure and args.collapse:
        parser.error("--docs-figure draws the full graph: no --collapse")
    renderer = None
    if args.docs_figure:
        out = DOCS_FIGURE
        renderer = "graphviz-pure"
        find_renderer(renderer)  # refused before any work if it is missing
    elif args.out is not None:
        out = Path(args.out)
    else:
        out = Path(tempfile.mkdtemp(prefix="render_graph-")) / "loss.svg"

    model = build()
    E, _ = forward(model)
    E.backward()
    render(E, out, renderer=renderer, edge_derivatives=True, collapse=args.collapse, parameters=model.parameters())
    print(f"E = {E.data:.9f}; wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
