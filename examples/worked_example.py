"""Mazur's worked example: a 2-2-2 sigmoid network, one input, trained by backpropagation.

The 2-2-2 example of Matt Mazur's "A Step by Step Backpropagation Example", as
reproduced in A. K. Jain's "Back Propagation in Neural Networks" (docs/delta_rule.md).

Prints the forward pass, the first round's chain-rule table, the eight updated
weights and the error after N rounds; the same as `tinygrad-bp worked-example`.
Run:  python examples/worked_example.py [--rounds N]
"""

from __future__ import annotations

import argparse

from tinygrad_bp.worked_example import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10000,
                        help="report the forward pass of this round (after rounds-1 updates); default 10000")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    run(args.rounds)


if __name__ == "__main__":
    main()
