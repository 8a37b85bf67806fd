"""What plain bookkeeping in backward() costs: today's backward against the previous engine's marker order.

    python benchmarks/marker_order.py          # W1, W2, W3/300, interleaved in one process (about a minute)
    python benchmarks/marker_order.py --quick  # a smoke run

Issue 11 asked for visited nodes tracked plainly (a set, as micrograd) and the
previous engine's speed kept.  The previous engine (2026-11-26) ordered the graph
by storing one float object made for the pass, equal to 0.0, in each visited
node's `.grad`: one walk marked, zeroed and ordered the nodes, with no set, no
leaf list, no type check and no lock.  This script runs today's engine twice in
one process, interleaved with the floor: once as it is, once with `backward()`
replaced by that marker walk followed by the same generated chain rule.  The
difference between the two is the price of the plain bookkeeping alone; both
are checked against the floor on every timed run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (os.path.dirname(HERE), HERE) if p not in sys.path]

import floor  # noqa: E402
import run  # noqa: E402

from tinygrad_bp import Value, engine  # noqa: E402
from tinygrad_bp.data import moons  # noqa: E402


def marker_backward(self: Value) -> None:
    """The previous engine's pass: a visited node's grad is `mark`; leaves that held a gradient add to it."""
    mark, order, kept, stack = float(0), [], [], [self]  # float(0): a new object on each call
    push, pop = stack.append, stack.pop
    while stack:
        v = pop()
        if v is None:  # every input of the node below is done
            order.append(pop())
        elif v.grad is not mark:
            v.grad = mark
            push(v)
            push(None)
            for c in reversed(v._prev):
                if c.grad is not mark:
                    if c._prev:
                        push(c)
                    else:
                        if c.grad:
                            kept.append((c, c.grad))
                        c.grad = mark
    self.grad = 1.0
    engine.chain_rule(order)
    for v, old in kept:
        v.grad = old + v.grad


@contextlib.contextmanager
def marker_order():
    """Value.backward is marker_backward inside the block."""
    plain = Value.backward
    Value.backward = marker_backward
    try:
        yield
    finally:
        Value.backward = plain


def with_marker(prepare: Callable[[], Callable[[], Any]]) -> Callable[[], Callable[[], Any]]:
    def prepared() -> Callable[[], Any]:
        call = prepare()

        def run_marked() -> Any:
            with marker_order():
                return call()
        return run_marked
    return prepared


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and few rounds (a smoke run)")
    quick = ap.parse_args(argv).quick
    eager = run.TinygradBP()
    cs: dict[str, Any] = {"floor": run.Floor(), "tinygrad_bp": eager}
    with contextlib.suppress(ImportError):
        cs["micrograd"] = run.Micrograd()
    X, y = moons(20 if quick else 100, noise=0.1, seed=0)
    rounds, reps = (50, 3) if quick else (1000, 15)
    workloads = {
        "W1": lambda c: lambda: c.prepare_mazur(run.mazur_layers(), rounds),
        "W2": lambda c: lambda: c.prepare_moons(run.moons_layers(), X, y, 1.0),
        "W3/300": lambda c: lambda: c.prepare_chain(300),
    }
    table: dict[str, dict[str, float]] = {}
    gc.collect()
    gc.freeze()  # the imports' objects stay out of the timed calls' collections, as in run.py
    try:
        for w, prepare in workloads.items():
            runs = {name: prepare(c) for name, c in cs.items()}
            runs["marker order"] = with_marker(prepare(eager))
            expected = None
            if w.startswith("W3"):  # each one's own chain (micrograd's is relu); the marker's is tinygrad_bp's
                expected = {name: floor.chain(0.5, 300, cs.get(name, eager).chain_act) for name in runs}
            table[w], _ = run.interleaved(runs, reps * (10 if w.startswith("W3") else 1), workload=w,
                                          expected=expected)
    finally:
        gc.unfreeze()
    print(f"{len(runs)} contenders interleaved in one process, medians of {reps} (W3: {10 * reps}) runs")
    print("| workload | tinygrad_bp / floor | marker order / floor | tinygrad_bp / marker order | "
          "micrograd / tinygrad_bp | micrograd / marker order |")
    print("|---|---|---|---|---|---|")
    for w, t in table.items():
        mg = [f"{t['micrograd'] / t[who]:.1f}×" if "micrograd" in t else "—" for who in ("tinygrad_bp", "marker order")]
        print(f"| {w} | {t['tinygrad_bp'] / t['floor']:.2f}× | {t['marker order'] / t['floor']:.2f}× | "
              f"{t['tinygrad_bp'] / t['marker order']:.2f}× | {mg[0]} | {mg[1]} |")
    return table


if __name__ == "__main__":
    main()
