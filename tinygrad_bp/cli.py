"""The `tinygrad-bp` command: worked-example, train, predict, graph, explain.

User errors (bad options, a refused expression, an unreadable file) print one
line on stderr and exit non-zero, without a traceback: 2 for usage errors
(bad arguments, refused expressions, a missing optional dependency), 1 for
errors while running.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from tinygrad_bp import __version__
from tinygrad_bp.atomic import check_writable, write_atomic
from tinygrad_bp.engine import topological_order
from tinygrad_bp.expr import ALLOWED, FUNCTIONS, ExpressionError, evaluate_expression, parse_expression, variables

__all__ = ["main", "build_parser", "train", "evaluate_expression", "parse_expression", "CLIError",
           "ExpressionError"]

PROG = "tinygrad-bp"


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit with `code`."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# --- argument parsing ------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump): `tinygrad-bp train: error: ... (see --help)`."""

    def error(self, message: str) -> NoReturn:
        hint = f"see {self.prog} --help"
        if "EXPR" in message:
            hint = "an EXPR that starts with '-' goes after '--', as in: graph --at x=2 -- '-x*x'; " + hint
        self.exit(2, f"{self.prog}: error: {message} ({hint})\n")


def _number(kind: type, want: str, ok: Callable[[Any], bool]) -> Callable[[str], Any]:
    """An argparse type: a finite `kind` (int or float) for which `ok` holds; else says `want`."""

    def parse(s: str) -> Any:
        try:
            v = kind(s)
        except ValueError:
            v = None
        if v is None or not math.isfinite(v) or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {want}, got {s!r}")
        return v

    return parse


_positive_int = _number(int, "a positive integer", lambda v: v > 0)
_nonneg_int = _number(int, "an integer >= 0", lambda v: v >= 0)
_positive_float = _number(float, "a finite number > 0", lambda v: v > 0)
_nonneg_float = _number(float, "a finite number >= 0", lambda v: v >= 0)
_finite_float = _number(float, "a finite number", lambda v: True)
MAX_SAMPLES = 100_000  # full batch at 16,16: about 2.3 GB (estimate_step_bytes); 2,000,000 points would need ~45 GB
_samples = _number(int, f"an integer from 2 to {MAX_SAMPLES:,} (each point of a batch holds its graph in "
                        "memory)", lambda v: 2 <= v <= MAX_SAMPLES)


def _sizes(s: str) -> list[int]:
    parts = [p.strip() for p in s.split(",")]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes such as 16,16, got {s!r}") from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {s!r}")
    return sizes


def _assignment(s: str) -> tuple[str, float]:
    name, sep, value = s.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE such as x=2.5, got {s!r}")
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected a number after '=', got {value!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{name}: expected a finite number, got {value!r}")
    return name, v


TRAIN_DEFAULTS: dict[str, Any] = {
    "data": "moons", "hidden": [16, 16], "activation": "relu", "loss": "hinge", "optimizer": "adam",
    "lr": 0.05, "epochs": 100, "batch_size": 0, "seed": 0,
}
GRAPH_FORMATS = ".svg, .png, .pdf, .jpg, .gv (the DOT source)"  # viz.FORMATS, without importing viz at start-up


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `tinygrad-bp` (subcommands worked-example, train, predict, graph, explain)."""
    parser = _Parser(prog=PROG, description="Backpropagation made visible and checkable.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("worked-example", help="Matt Mazur's 2-2-2 network, digit for digit",
                       description="Forward pass, first round's derivatives and updated weights, and the error "
                                   "after N rounds of Matt Mazur's \"A Step by Step Backpropagation Example\" (as "
                                   "reproduced in A. K. Jain's \"Back Propagation in Neural Networks\").")
    p.add_argument("--rounds", type=_positive_int, default=10_000, metavar="N",
                   help="print the error at round N: its forward pass comes after N-1 weight updates, "
                        "as the worked example counts (default: 10000)")
    p.add_argument("--graph", metavar="FILE", help="write the loss graph of the first forward pass to FILE, in the "
                   "format of its extension: " + GRAPH_FORMATS)
    p.add_argument("--svg", metavar="FILE", help="the former name of --graph (any of its formats)")
    p.add_argument("--html", metavar="FILE", help="write the step-by-step backward pass of that graph as one "
                   "self-contained HTML page")

    d = TRAIN_DEFAULTS
    p = sub.add_parser("train", help="train an MLP on a small 2-D data set",
                       description="Train an MLP on a small 2-D data set with a tqdm progress bar; "
                                   "prints the training accuracy last.")
    p.add_argument("--data", choices=["xor", "moons", "circles", "spiral"], default=d["data"],
                   help=f"data set (default: {d['data']})")
    p.add_argument("--samples", type=_samples, metavar="N",
                   help=f"number of points, at most {MAX_SAMPLES:,} (default: 100; not for xor). The limit is "
                        "memory: a step holds the graph of every point of its batch, about 23 KB a point with "
                        "--hidden 16,16")
    p.add_argument("--noise", type=_nonneg_float, metavar="F",
                   help="noise standard deviation (default: 0.1 for moons, 0.05 for circles and spiral; not for xor)")
    p.add_argument("--hidden", type=_sizes, default=d["hidden"], metavar="SIZES",
                   help="hidden layer sizes, comma-separated (default: 16,16)")
    p.add_argument("--activation", choices=["relu", "tanh", "sigmoid", "linear"], default=d["activation"],
                   help=f"hidden activation (default: {d['activation']})")
    p.add_argument("--loss", choices=["hinge", "sse", "mse", "bce"], default=d["loss"],
                   help="loss: hinge uses labels ±1 and a linear output; sse, mse, bce use labels 0/1 and a "
                        f"sigmoid output (default: {d['loss']})")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=d["optimizer"],
                   help=f"optimizer (default: {d['optimizer']})")
    p.add_argument("--lr", type=_positive_float, default=d["lr"], metavar="F",
                   help=f"learning rate (default: {d['lr']})")
    p.add_argument("--epochs", type=_positive_int, default=d["epochs"], metavar="N",
                   help=f"passes over the data (default: {d['epochs']})")
    p.add_argument("--batch-size", type=_nonneg_int, default=d["batch_size"], metavar="B",
                   help="examples per step; 0 = the whole data set (default: 0)")
    p.add_argument("--seed", type=_nonneg_int, default=d["seed"], metavar="S",
                   help="seed of the data, the initial weights and the batch order (default: 0)")
    p.add_argument("--save", metavar="FILE", help="write the trained model to FILE (JSON)")
    p.add_argument("--plot", metavar="PREFIX",
                   help="write PREFIX_loss.png and PREFIX_boundary.png (needs matplotlib: the plot extra)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("predict", help="score input rows or a data set with a model saved by train --save",
                       description="Load a model file (train --save) and print one line per input row: its "
                                   "output and, when the file says what the model was trained on, its label "
                                   "counted as training counted it. With --data, score that data set and print "
                                   "the accuracy.")
    p.add_argument("--model", required=True, metavar="FILE", help="the model file (JSON, from train --save)")
    p.add_argument("inputs", nargs="*", type=_finite_float, metavar="X",
                   help="input values, row after row: with a 2-input model, 0.5 -0.2 1 1 is two rows")
    p.add_argument("--data", choices=["xor", "moons", "circles", "spiral"],
                   help="score this data set instead of input rows, and print the accuracy")
    p.add_argument("--samples", type=_samples, metavar="N", help="with --data: number of points (default: 100)")
    p.add_argument("--noise", type=_nonneg_float, metavar="F", help="with --data: noise standard deviation "
                   "(default: as train's)")
    p.add_argument("--seed", type=_nonneg_int, default=d["seed"], metavar="S",
                   help="with --data: seed of the data (default: 0, the data train uses by default)")

    p = sub.add_parser("graph", help="gradients, drawn graph and chain rule of an expression",
                       description="Evaluate EXPR (a safe subset of Python: " + ALLOWED + "), run backward, "
                                   "print each name's gradient. Put EXPR in quotes; one starting with '-' "
                                   "goes after '--'.")
    p.add_argument("expr", metavar="EXPR", help="an expression such as 'tanh(x*w + b)'")
    p.add_argument("--at", type=_assignment, action="append", default=[], metavar="NAME=VALUE",
                   help="the value of a name in EXPR (repeat for each name)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the computation graph to FILE, in the format of "
                   "its extension: " + GRAPH_FORMATS)
    p.add_argument("--explain", metavar="NAME", help="print the chain-rule derivation of the gradient of NAME")
    p.add_argument("--html", metavar="FILE", help="write the step-by-step backward pass as one self-contained "
                   "HTML page")

    p = sub.add_parser("explain", help="the chain rule of one gradient, for a saved model or an expression",
                       description="Write out the chain rule of the gradient with respect to NAME, every factor "
                                   "with its number. With --model: the model's output at one input row X ... (a "
                                   "model with one output), or with --target its loss on that row: the loss the "
                                   "model file says it was trained with, else sse. Without --model: EXPR with its "
                                   "--at values, as graph --explain.")
    p.add_argument("items", nargs="*", metavar="X|EXPR",
                   help="with --model: one input row (0.5 -0.2 for a 2-input model); else the expression")
    p.add_argument("--wrt", required=True, metavar="NAME",
                   help="the node to differentiate by: a label such as w1, b_h1, net_o1, out_h2, i1 (or a name "
                        "of EXPR)")
    p.add_argument("--model", metavar="FILE", help="a model file (JSON, from train --save)")
    p.add_argument("--target", type=_finite_float, nargs="+", metavar="T",
                   help="with --model: the row's target, one per output (labels as the model was trained: +1/-1 "
                        "for hinge, 1/0 for bce, sse, mse): explain its loss")
    p.add_argument("--at", type=_assignment, action="append", default=[], metavar="NAME=VALUE",
                   help="without --model: the value of a name in EXPR (repeat for each name)")
    p.add_argument("--max-lines", type=_positive_int, default=40, metavar="N",
                   help="lines of each part of the derivation before the rest is left out (default: 40)")
    return parser


# --- subcommands ---------------------------------------------------------------------

def _fmt(x: float) -> str:
    """A number as explain writes it (9 decimals), so that graph and --explain agree digit for digit."""
    from tinygrad_bp.explain import format_number

    return format_number(x)


def _check_output(option: str, value: str, example: str = "", suffixes: Sequence[str] = ("",)) -> None:
    """Refuse (exit 2) an output `value` unless each file `value + suffix` can really be written.

    Empty, a folder, a device or FIFO, a missing folder or one that does not accept a
    new file (a temporary file is created and removed there). Called before any work.
    """
    if not value:
        raise CLIError(f"{option}: the file name is empty; give one{example}", code=2)
    for suffix in suffixes:
        path = value + suffix
        which = f"{path}: " if suffix and os.path.lexists(path) else ""  # else its folder is the problem
        try:
            check_writable(path)
        except IsADirectoryError:
            raise CLIError(f"{option} {value}: {which}is a folder; give a file name{example}", code=2) from None
        except OSError as e:
            raise CLIError(f"{option} {value}: {which}{e.strerror}", code=2) from None


def _require_renderer() -> None:
    """Refuse graph output up front when neither `dot` nor `graphviz-pure` is installed (exit 2)."""
    from tinygrad_bp.viz import RendererNotFoundError, find_renderer

    try:
        find_renderer(None)
    except RendererNotFoundError as e:
        raise CLIError(str(e), code=2) from None


def _drawings(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (option, file) pairs of `graph` that dot lays out: -o (unless the DOT source, .gv) and --html."""
    from tinygrad_bp.viz import output_format

    drawings = [] if args.output is None or output_format(args.output) == "gv" else [("-o", args.output)]
    return drawings + ([] if args.html is None else [("--html", args.html)])


def _check_graph_output(option: str, value: str, example: str) -> None:
    """Refuse (exit 2) a graph file that cannot be written, whose extension names no format, or with no renderer."""
    from tinygrad_bp.viz import output_format

    _check_output(option, value, example)
    try:
        fmt = output_format(value)
    except ValueError as e:
        raise CLIError(f"{option} {value}: {str(e).removeprefix('render: ')}", code=2) from None
    if fmt != "gv":  # the DOT source needs no renderer
        _require_renderer()


# dot gives each value a column (rankdir LR) and, to lay out an edge that skips columns, adds a node on each column
# it skips: x*x*...*x with n factors skips (n-2)(n-1)/2, and dot's time grows about as n cubed (125 factors: 7,626
# columns, 0.9-2 s; 250: 30,876, 4-7 s; 500: 124,251, 36 s and 415 MB; 1,000: > 60 s and 1.6 GB). The slowest shape
# measured at the limit: x*y*z*x*y*z*... (1,413 columns, 0.1-2.1 s); above it the cost is erratic (a sum of tanh
# terms times x*x*...: 2,704 columns 3-10 s, 5,359 columns 117 s). See docs/cli.md.
MAX_SKIPPED_COLUMNS = 1_500


def _skipped_columns(root: Any) -> tuple[int, Any]:
    """How many columns the edges of root's graph skip, and the value whose edges skip the most (one pass).

    Columns as dot's ranking gives them here: an op one after its latest input, a leaf
    just before its first user. Dot minimises the total, so this is an upper bound.
    """
    order = topological_order(root)
    rank: dict[int, int] = {}
    for v in order:
        rank[id(v)] = 1 + max((rank[id(c)] for c in v.children), default=-1)
    first_use: dict[int, int] = {}
    for v in order:
        for c in v.children:
            if not c.children:
                first_use[id(c)] = min(first_use.get(id(c), rank[id(v)]), rank[id(v)])
    rank.update((k, r - 1) for k, r in first_use.items())
    skipped: dict[int, int] = {}
    for v in order:
        for c in v.children:
            skipped[id(c)] = skipped.get(id(c), 0) + rank[id(v)] - rank[id(c)] - 1
    worst = max(order, key=lambda c: skipped.get(id(c), 0))
    return sum(skipped.values()), worst


def _check_drawable(root: Any, drawings: list[tuple[str, str]]) -> None:
    """Refuse (exit 2, before any output) to lay out a graph that dot would take more than seconds on."""
    if not drawings:
        return
    n, worst = _skipped_columns(root)
    if n > MAX_SKIPPED_COLUMNS:
        option, value = drawings[0]
        who = worst.label or f"a `{worst.op}` node"
        raise CLIError(f"{option} {value}: this graph is too costly to lay out: its edges skip {n:,} columns (a value "
                       f"used far from where it is made, such as {who} here), more than the limit of "
                       f"{MAX_SKIPPED_COLUMNS:,} that keeps dot within seconds; draw a smaller expression, or write "
                       "its DOT source with -o FILE.gv", code=2)


def _expression_values(expr: str, at: Sequence[tuple[str, float]], wrt_option: str, wrt: str | None
                       ) -> dict[str, float]:
    """The --at values of EXPR by name; exit 2 for a name given twice, a function name, a name EXPR does not use,
    or a `wrt` (the option `wrt_option`) that is not a name of EXPR."""
    values: dict[str, float] = {}
    for name, v in at:
        if name in values:
            raise CLIError(f"--at {name}: given twice", code=2)
        if name in FUNCTIONS:
            raise CLIError(f"--at {name}: {name} is a function name, not a variable", code=2)
        values[name] = v
    try:
        used = variables(parse_expression(expr, values))
    except ExpressionError as e:
        raise CLIError(str(e), code=2) from None
    unused = [n for n in values if n not in used]
    if unused:
        raise CLIError(f"--at {unused[0]}: {unused[0]} does not appear in the expression", code=2)
    if wrt is not None and wrt not in values:
        raise CLIError(f"{wrt_option} {wrt}: not a name of the expression (names: "
                       f"{', '.join(values) or 'none'})", code=2)
    return values


def cmd_graph(args: argparse.Namespace) -> int:
    values = _expression_values(args.expr, args.at, "--explain", args.explain)
    if args.output is not None:
        _check_graph_output("-o", args.output, " such as graph.svg")
    if args.html is not None:
        _check_output("--html", args.html, " such as graph.html")
        _require_renderer()
    root, leaves = evaluate_expression(args.expr, values)
    _check_drawable(root, _drawings(args))
    root.backward()
    name = root.label or "f"
    if any(root is leaf for leaf in leaves.values()):  # EXPR is one name: the result is named as for any other EXPR
        name = next(n for n in ("f", "out", "result", *(f"f{k}" for k in range(len(values) + 1))) if n not in values)
    results = {id(v) for v in leaves.values()}
    for v in topological_order(root):  # never print an inf or NaN gradient as if it were a result
        if not math.isfinite(v.grad) and (v.children or id(v) in results):  # a number's own gradient is no result
            who = f"∂{name}/∂{v.label}" if v.label else f"the gradient of a `{v.op}` node"
            raise CLIError(f"{who} is {v.grad}: a float overflowed in the backward pass")
    print(f"{name} = {args.expr.strip()} = {_fmt(root.data)}")
    for n, leaf in leaves.items():
        print(f"∂{name}/∂{n} = {_fmt(leaf.grad)}")
    if args.explain is not None:
        from tinygrad_bp.explain import explain

        print()
        print(explain(root, leaves[args.explain]))
    if args.output is not None:
        from tinygrad_bp.viz import render

        render(root, args.output, max_nodes=None)  # an expression's graph is small enough (MAX_EXPRESSION_CHARS)
        print(f"wrote {args.output}", file=sys.stderr)
    if args.html is not None:
        from tinygrad_bp.viz import to_html

        to_html(root, args.html, max_nodes=None)
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def cmd_worked_example(args: argparse.Namespace) -> int:
    from tinygrad_bp.worked_example import run

    if args.graph is not None and args.svg is not None:
        raise CLIError("--svg is the former name of --graph: give one of them", code=2)
    option, graph = ("--svg", args.svg) if args.svg is not None else ("--graph", args.graph)
    if graph is not None:  # fail before printing anything, not halfway through
        _check_graph_output(option, graph, " such as worked.svg")
    if args.html is not None:
        _check_output("--html", args.html, " such as worked.html")
        _require_renderer()
    run(rounds=args.rounds, graph=graph, html=args.html)
    for written in (graph, args.html):
        if written is not None:
            print(f"wrote {written}", file=sys.stderr)
    return 0


def _dataset(args: argparse.Namespace, labels: str | None = None) -> tuple[list[list[float]], list[float]]:
    from tinygrad_bp import data

    if labels is None:
        labels = "pm1" if args.loss == "hinge" else "01"
    if args.data == "xor":
        if args.samples is not None or args.noise is not None:
            raise CLIError("--samples and --noise do not apply to xor (its four points are fixed)", code=2)
        return data.xor(labels=labels)
    kwargs: dict[str, Any] = {"seed": args.seed, "labels": labels}
    if args.samples is not None:
        kwargs["n"] = args.samples
    if args.noise is not None:
        kwargs["noise"] = args.noise
    try:
        return data.DATASETS[args.data](**kwargs)
    except ValueError as e:
        raise CLIError(str(e), code=2) from None


def _require_matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CLIError("--plot needs matplotlib, which is not installed: pip install 'tinygrad-bp[plot]' "
                       "(or pip install matplotlib)", code=2) from None
    return plt


def _batches(n: int, size: int, rng: random.Random) -> list[list[int]]:
    idx = list(range(n))
    if size == 0 or size >= n:
        return [idx]
    rng.shuffle(idx)
    return [idx[i:i + size] for i in range(0, n, size)]


def train(args: argparse.Namespace, progress: bool = True) -> tuple[Any, list[float], float]:
    """Train as the `train` subcommand says; returns (model, loss per epoch, final training accuracy)."""
    from tinygrad_bp import losses, optim
    from tinygrad_bp.nn import MLP

    X, y = _dataset(args)
    positive = 1.0
    if args.loss == "hinge":
        out_act, threshold = "linear", 0.0
    else:
        out_act, threshold = "sigmoid", 0.5
    loss_fn = {"hinge": losses.hinge, "sse": losses.sse, "mse": losses.mse, "bce": losses.bce}[args.loss]
    model = MLP(2, [*args.hidden, 1], activation=args.activation, output_activation=out_act, seed=args.seed)
    params = model.parameters()
    opt = optim.Adam(params, lr=args.lr) if args.optimizer == "adam" else optim.SGD(params, lr=args.lr)
    rng = random.Random(args.seed)
    history: list[float] = []
    epochs: Iterable[int] = range(args.epochs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(epochs, desc=f"train {args.data}", unit="epoch", file=sys.stderr, dynamic_ncols=True)
        epochs = bar
    for epoch in epochs:
        total, correct = 0.0, 0
        diverged = f"training diverged in epoch {epoch + 1} of {args.epochs}"
        for batch in _batches(len(X), args.batch_size, rng):
            try:
                scores = [model(X[i]) for i in batch]
                targets = [y[i] for i in batch]
                loss = loss_fn(scores, targets)
                opt.zero_grad()
                loss.backward()
                opt.step()
            except OverflowError:  # the engine refuses a value beyond a float
                raise CLIError(f"{diverged}: a value overflowed a float (try a smaller --lr)") from None
            if not math.isfinite(loss.data):
                raise CLIError(f"{diverged}: the loss became {loss.data} (try a smaller --lr)")
            total += loss.data if args.loss == "sse" else loss.data * len(batch)  # sse sums, the others average
            correct += sum((s.data > threshold) == (t == positive) for s, t in zip(scores, targets))
        history.append(total / len(X))
        if bar is not None:
            bar.set_postfix(loss=f"{history[-1]:.4f}", acc=f"{correct / len(X):.3f}", refresh=False)
    if bar is not None:
        bar.close()
    try:
        accuracy = sum((model(x).data > threshold) == (t == positive) for x, t in zip(X, y)) / len(X)
    except OverflowError:
        raise CLIError("training diverged in its last step: a value overflowed a float (try a smaller --lr)") from None
    return model, history, accuracy


PLOT_SUFFIXES = ("_loss.png", "_boundary.png")


def _plot(plt: Any, prefix: str, model: Any, history: list[float], X: Sequence[Sequence[float]],
          y: Sequence[float], threshold: float, loss_name: str) -> list[str]:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(history) + 1), history, marker="o" if len(history) == 1 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{loss_name} loss")
    ax.set_title("training loss")
    fig.tight_layout()
    loss_path = prefix + PLOT_SUFFIXES[0]
    _save_figure(plt, fig, loss_path)

    xs = [p[0] for p in X]
    ys = [p[1] for p in X]
    pad = 0.5
    x0, x1, y0, y1 = min(xs) - pad, max(xs) + pad, min(ys) - pad, max(ys) + pad
    k = 60
    gx = [x0 + (x1 - x0) * i / (k - 1) for i in range(k)]
    gy = [y0 + (y1 - y0) * j / (k - 1) for j in range(k)]
    z = [[model([a, b]).data for a in gx] for b in gy]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(gx, gy, z, levels=[-1e300, threshold, 1e300], colors=["#f4c7c3", "#c6dbef"])
    ax.contour(gx, gy, z, levels=[threshold], colors="k", linewidths=1)
    pos = max(y)
    ax.scatter([p[0] for p, t in zip(X, y) if t != pos], [p[1] for p, t in zip(X, y) if t != pos],
               c="#d62728", s=14, label="negative")
    ax.scatter([p[0] for p, t in zip(X, y) if t == pos], [p[1] for p, t in zip(X, y) if t == pos],
               c="#1f77b4", s=14, label="positive")
    ax.set_title("decision boundary")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    boundary_path = prefix + PLOT_SUFFIXES[1]
    _save_figure(plt, fig, boundary_path)
    return [loss_path, boundary_path]


def _save_figure(plt: Any, fig: Any, path: str) -> None:
    """Render `fig` as PNG in memory, then write it atomically (no half-written image on failure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_atomic(path, buf.getvalue())


MAX_PARAMETERS = 1_000_000  # a scalar engine: beyond this a typo in --hidden would only exhaust memory
MAX_STEP_BYTES = 4_000_000_000  # one training step's graph; 16,16 with MAX_SAMPLES in one batch needs about 2.3 GB
DEFAULT_SAMPLES = 100  # the data sets' default number of points (xor has 4)
# Bytes a step holds, measured with tracemalloc (docs/cli.md) and rounded up: for each point of the batch, 2,100 for
# its inputs, loss nodes and bookkeeping (bce, the largest loss), 22 per weight (its place, and its input's, in the
# neuron's net node) and 400 per neuron (the net and activation nodes with their floats, the backward pass's
# order); 400 per parameter (its Value, gradient and Adam's two moments); 1 MB for the rest.
STEP_BYTES_PER_POINT, STEP_BYTES_PER_WEIGHT, STEP_BYTES_PER_NEURON, STEP_BYTES_PER_PARAMETER = 2_100, 22, 400, 400
STEP_BYTES_FIXED = 1_000_000


def estimate_step_bytes(hidden: Sequence[int], batch: int) -> int:
    """An upper bound of the memory one training step of `train` takes: an MLP 2-hidden-1 on `batch` points."""
    sizes = [2, *hidden, 1]
    params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    per_point = STEP_BYTES_PER_POINT + STEP_BYTES_PER_WEIGHT * params + STEP_BYTES_PER_NEURON * sum(sizes[1:])
    return STEP_BYTES_FIXED + STEP_BYTES_PER_PARAMETER * params + batch * per_point


def _size_text(n: float) -> str:
    unit = next((u for u, k in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)) if n >= k), "KB")
    return f"{n / {'TB': 1e12, 'GB': 1e9, 'MB': 1e6, 'KB': 1e3}[unit]:.1f} {unit}"


def _check_step_memory(args: argparse.Namespace) -> None:
    """Refuse (exit 2, before any work) a training step whose graph would not fit MAX_STEP_BYTES."""
    n = 4 if args.data == "xor" else args.samples or DEFAULT_SAMPLES
    batch = n if args.batch_size == 0 else min(args.batch_size, n)
    need = estimate_step_bytes(args.hidden, batch)
    if need <= MAX_STEP_BYTES:
        return
    hidden = ",".join(map(str, args.hidden))
    points = "--data xor's 4 points" if args.data == "xor" else f"--samples {n}"
    what = f"--hidden {hidden} with " + (f"{points} in one batch" if batch == n else f"--batch-size {batch}")
    base = estimate_step_bytes(args.hidden, 0)
    fits = max(0, (MAX_STEP_BYTES - base) // (estimate_step_bytes(args.hidden, 1) - base))  # linear in the batch
    fix = f"use --batch-size {fits} or less, fewer --samples or smaller --hidden" if fits else "use smaller --hidden"
    raise CLIError(f"{what}: a training step would hold about {_size_text(need)} of graph, more than the limit of "
                   f"{_size_text(MAX_STEP_BYTES)}; {fix}", code=2)


def cmd_train(args: argparse.Namespace) -> int:
    sizes = [2, *args.hidden, 1]
    n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if n_params > MAX_PARAMETERS:
        raise CLIError(f"--hidden {','.join(map(str, args.hidden))}: {n_params:,} parameters, more than this scalar "
                       f"engine's limit of {MAX_PARAMETERS:,}; use smaller layers such as 16,16", code=2)
    _check_step_memory(args)
    plt = _require_matplotlib() if args.plot is not None else None
    if args.save is not None:  # fail before training, not after
        _check_output("--save", args.save, " such as model.json")
    if args.plot is not None:
        _check_output("--plot", args.plot, " such as run", suffixes=PLOT_SUFFIXES)
    model, history, accuracy = train(args, progress=not args.no_progress)
    if plt is not None:
        X, y = _dataset(args)
        for path in _plot(plt, args.plot, model, history, X, y, 0.0 if args.loss == "hinge" else 0.5, args.loss):
            print(f"wrote {path}")
    if args.save is not None:
        from tinygrad_bp.modelfile import save_model

        save_model(model, args.save, trained_on=trained_on(args))
        print(f"saved model to {args.save}")
    for warning in training_warnings(history):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    print(f"accuracy: {accuracy:.3f}")
    return 0


STALL_FRACTION = 1e-3  # a loss that fell by less than this share of its first epoch's value did not learn


def trained_on(args: argparse.Namespace) -> dict[str, Any]:
    """What `train` trained on, as a model file records it (modelfile's `trained_on`)."""
    info: dict[str, Any] = {"data": args.data, "loss": args.loss, "labels": "pm1" if args.loss == "hinge" else "01"}
    if args.data != "xor":
        import inspect

        from tinygrad_bp import data

        noise = inspect.signature(data.DATASETS[args.data]).parameters["noise"].default
        info.update(samples=args.samples or DEFAULT_SAMPLES, noise=noise if args.noise is None else args.noise,
                    seed=args.seed)
    return info


def training_warnings(history: Sequence[float]) -> list[str]:
    """What to say about a loss per epoch that did not go down: diverged (grew tenfold) or stalled (fell < 0.1%)."""
    if len(history) < 2 or history[0] == 0 or history[-1] < (1 - STALL_FRACTION) * history[0]:
        return []
    first, last = _fmt(history[0]), _fmt(history[-1])
    span = f"from {first} in epoch 1 to {last} in epoch {len(history)}"
    if history[-1] > 10 * history[0] or max(history) > 10 * history[0]:
        return [f"the loss diverged ({span}, at most {_fmt(max(history))}): the accuracy is not that of a "
                "trained model; try a smaller --lr"]
    return [f"the loss stalled: it fell by less than {STALL_FRACTION:.1%} ({span}); try another --lr, more "
            "--epochs or --optimizer adam"]


def _threshold(trained: dict[str, Any] | None, model: Any) -> tuple[str, float, str]:
    """(labels, threshold, how the file says so) for a 1-output model: from trained_on, else its output activation."""
    if trained is not None:
        labels = trained["labels"]
        return labels, 0.0 if labels == "pm1" else 0.5, ""
    if model.output_activation == "sigmoid":
        return "01", 0.5, "the model file does not say what it was trained on; its sigmoid output > 0.5 counts as 1"
    return "pm1", 0.0, "the model file does not say what it was trained on; an output > 0 counts as +1"


def _label(score: float, labels: str, threshold: float) -> str:
    if labels == "pm1":
        return "+1" if score > threshold else "-1"
    return "1" if score > threshold else "0"


def cmd_predict(args: argparse.Namespace) -> int:
    from tinygrad_bp.modelfile import load_model

    if args.data is None:
        given = [o for o, v in (("--samples", args.samples), ("--noise", args.noise)) if v is not None]
        if given:
            raise CLIError(f"{given[0]} applies only with --data", code=2)
        if not args.inputs:
            raise CLIError("give input values (X ...) or --data NAME to score a data set", code=2)
    elif args.inputs:
        raise CLIError(f"--data {args.data}: give input values or --data, not both", code=2)
    model = load_model(args.model)
    trained = getattr(model, "trained_on", None)
    nout = len(model.layers[-1].neurons)
    labels, threshold, note = _threshold(trained, model) if nout == 1 else ("", 0.0, "")
    if args.data is not None:
        if model.nin != 2 or nout != 1:
            raise CLIError(f"--data {args.data}: the data sets have 2 inputs and one label, but the model "
                           f"{args.model} has {model.nin} inputs and {nout} outputs", code=2)
        args.loss = "hinge" if labels == "pm1" else "bce"
        X, y = _dataset(args, labels)
        if note:
            print(f"{PROG}: note: {note}", file=sys.stderr)
        positive = 1.0
        correct = sum((model(x).data > threshold) == (t == positive) for x, t in zip(X, y))
        print(f"accuracy: {correct / len(X):.3f} ({correct} of {len(X)} points of {args.data})")
        return 0
    if len(args.inputs) % model.nin:
        raise CLIError(f"{len(args.inputs)} input values: the model {args.model} takes {model.nin} per row, so "
                       f"give a multiple of {model.nin}", code=2)
    if note:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    for k in range(0, len(args.inputs), model.nin):
        row = args.inputs[k:k + model.nin]
        out = model(row)
        scores = out if isinstance(out, list) else [out]
        text = " ".join(_fmt(x) for x in row) + " -> " + " ".join(_fmt(s.data) for s in scores)
        if nout == 1:
            text += f"  label {_label(scores[0].data, labels, threshold)}"
        print(text)
    return 0


def _model_output(args: argparse.Namespace) -> Any:
    """The node `explain --model` differentiates: the model's output at the row, or its loss with --target."""
    from tinygrad_bp import losses
    from tinygrad_bp.modelfile import load_model

    if args.at:
        raise CLIError(f"--at {args.at[0][0]}={args.at[0][1]:g}: --at gives the names of an EXPR; with --model "
                       "give the input row as X ...", code=2)
    row = []
    for x in args.items:
        try:
            v = float(x)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            raise CLIError(f"X {x!r}: with --model, give the input row as finite numbers", code=2)
        row.append(v)
    model = load_model(args.model)
    nout = len(model.layers[-1].neurons)
    if len(row) != model.nin:
        raise CLIError(f"{len(row)} input value{'' if len(row) == 1 else 's'}: explain takes one row, and the model "
                       f"{args.model} takes {model.nin}", code=2)
    out = model(row)
    outs = out if isinstance(out, list) else [out]
    if args.target is None:
        if nout != 1:
            raise CLIError(f"the model {args.model} has {nout} outputs: give --target with {nout} values to explain "
                           "its loss", code=2)
        return outs[0]
    if len(args.target) != nout:
        raise CLIError(f"--target: {len(args.target)} value{'' if len(args.target) == 1 else 's'} for the "
                       f"{nout} output{'' if nout == 1 else 's'} of the model {args.model}", code=2)
    trained = getattr(model, "trained_on", None)
    name = trained["loss"] if trained is not None else "sse"
    try:
        return getattr(losses, name)(outs, args.target)
    except ValueError as e:
        raise CLIError(f"--target: {e}", code=2) from None


def cmd_explain(args: argparse.Namespace) -> int:
    from tinygrad_bp.explain import explain

    if args.model is not None:
        root = _model_output(args)
        nodes = {}
        for v in topological_order(root):
            if v.label and v.label not in nodes:
                nodes[v.label] = v
        if args.wrt not in nodes:
            raise CLIError(f"--wrt {args.wrt}: no node of the model's graph is labelled so; its weights are w1 ... "
                           "(in parameters() order), its biases, sums and outputs b_, net_ and out_ with the unit's "
                           "name (b_h1, net_o1, out_h1.2), its inputs i1 ...", code=2)
        print(explain(root, nodes[args.wrt], max_lines=args.max_lines))
        return 0
    if args.target is not None:
        raise CLIError("--target applies only with --model", code=2)
    if len(args.items) != 1:
        raise CLIError("give --model FILE and an input row, or one EXPR in quotes with its --at values", code=2)
    [expr] = args.items
    values = _expression_values(expr, args.at, "--wrt", args.wrt)
    root, leaves = evaluate_expression(expr, values)
    print(explain(root, leaves[args.wrt], max_lines=args.max_lines))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "worked-example": cmd_worked_example, "train": cmd_train, "predict": cmd_predict, "graph": cmd_graph,
    "explain": cmd_explain,
}


def main(argv: list[str] | None = None) -> int:
    """Run `tinygrad-bp` with `argv` (default: sys.argv[1:]); returns the exit code."""
    for stream in (sys.stdout, sys.stderr):  # never die on ∂ in a non-UTF-8 terminal
        if hasattr(stream, "reconfigure") and getattr(stream, "errors", "") == "strict":
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover
                pass
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed in one line
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.command is None:  # a missing command is a usage error, as argparse's required subcommands make it
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: give a command: {', '.join(COMMANDS)} (see {PROG} --help)", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args)
    except CLIError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return e.code
    except BrokenPipeError:  # the reader went away (`tinygrad-bp ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python exits
        return 128 + 13  # the shell's code for a program ended by SIGPIPE
    except (ValueError, OSError, RuntimeError, ArithmeticError) as e:
        msg = str(e) or type(e).__name__
        if isinstance(e, OSError) and e.filename is not None and e.strerror:
            msg = f"{e.filename}: {e.strerror}"
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 1
    except ImportError as e:  # a runtime dependency missing from this environment
        fix = f"pip install {e.name}" if e.name else "reinstall tinygrad-bp with its dependencies"
        print(f"{PROG}: error: {e}; {fix}", file=sys.stderr)
        return 1
    except MemoryError:
        hint = "; try fewer --samples, smaller --hidden or a --batch-size" if args.command == "train" else ""
        print(f"{PROG}: error: out of memory{hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
