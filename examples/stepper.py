"""Backpropagation step by step: the worked example's backward pass as a page to step through in a browser.

Builds the 2-2-2 sigmoid network of Matt Mazur's "A Step by Step Backpropagation Example" (as
reproduced in A. K. Jain's "Back Propagation in Neural Networks"), runs the forward pass and
writes one self-contained HTML page (open it from disk; it needs no network). Prints the step
that forms ∂E/∂out_h1, as the page's panel shows it.
Run:  python examples/stepper.py [OUT.html] [--collapse]
(default: worked_example_stepper.html in the current folder; --collapse: one neuron a step, in the δ form)
"""

from __future__ import annotations

import argparse

from tinygrad_bp.stepper import backward_steps
from tinygrad_bp.viz import to_html
from tinygrad_bp.worked_example import build, forward


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="worked_example_stepper.html", help="HTML file to write")
    parser.add_argument("--collapse", action="store_true", help="one neuron a step (the textbooks' δ form)")
    args = parser.parse_args(argv)

    model = build()
    E, _ = forward(model)  # no backward(): the page computes every gradient itself, E's .grad stay 0
    to_html(E, args.out, collapse=args.collapse, parameters=model.parameters())
    steps = backward_steps(E, collapse=args.collapse)
    print(f"wrote {args.out}: {len(steps)} steps")
    wanted = "neuron h1" if args.collapse else "∂E/∂out_h1"
    k, step = next((k, s) for k, s in enumerate(steps, start=1) if s.title.startswith(wanted))
    print(f"step {k} of {len(steps)}: {step.title}")
    print("\n".join(step.lines))


if __name__ == "__main__":
    main()
