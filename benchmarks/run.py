"""Speed and memory of tinygrad_bp against the hand-written floor, micrograd and PyTorch.

    python benchmarks/run.py            # the full run (about 70 s here)
    python benchmarks/run.py --quick    # a smoke run (seconds)
    python benchmarks/run.py --check    # correctness checks only, no timing
    python benchmarks/run.py --only W3  # some workloads only (W1,W2,W3,W4,import,jit)
    python benchmarks/run.py --markdown # the full run, then its ratio tables into docs/performance.md
    python benchmarks/run.py --against 02bc1ca  # and the package as it was at that git revision

Workloads:
  W1 mazur   Mazur's worked example, the 2-2-2 sigmoid network: 1,000 rounds of forward, sse, backward, update
  W2 moons   micrograd's demo step: MLP 2-16-16-1 on 100 moons, max-margin loss + L2, backward, update
  W3 chain   y = tanh(1.0001·y + 0.1) repeated (micrograd: relu), forward + backward, per node
  W4 memory  bytes per graph node (tracemalloc), a chain graph of about 200,000 nodes
  import     `python -X importtime -c "import <package>"`

Contenders: tinygrad_bp (eager), jit (tinygrad_bp's `jit`: the same losses traced once, then
replayed), the floor (the same arithmetic in plain Python floats, in the engine's order), the tight
floor (W1, W2: what a person would write by hand: the delta rule written out for the 2-2-2 net, each
neuron as sum(map(mul, w, x))), micrograd and PyTorch when installed; with --against REV also
tinygrad_bp@REV: tinygrad_bp/ as it was at git revision REV, extracted into a temporary directory as
the package tinygrad_bp_at_<hash>, run on W1, W2, W3 as tinygrad_bp is.

Contenders run in one process, interleaved round by round (each one runs
right after each other one equally often); the tables give medians.  Before
anything is timed, each contender's loss and gradients are compared with the
floor's (and every timed run's result is checked again): a contender that
computes something else fails the run.  The jit's own costs are measured
beside: its trace + compile of W2 against eager steps, micrograd's whole demo
(100 steps) with and without it, and the cyclic collector's runs during 100
replayed W2 steps.  The output ends with the targets of the engine issue (11)
and the jit issue (12), each marked met or missed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib
import io
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

HERE = os.path.dirname(os.path.realpath(__file__))  # a symlinked benchmarks/: its checkout
ROOT = os.path.dirname(HERE)
for _p in (ROOT, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import floor  # noqa: E402

from tinygrad_bp import Value, atomic, jit  # noqa: E402
from tinygrad_bp.data import moons  # noqa: E402
from tinygrad_bp.engine import topological_order  # noqa: E402
from tinygrad_bp.losses import hinge, sse  # noqa: E402
from tinygrad_bp.nn import MLP  # noqa: E402

PAGE = os.path.join(ROOT, "docs", "performance.md")  # --markdown's default page
MARK_BEGIN = "<!-- benchmarks/run.py --markdown: begin -->"
MARK_END = "<!-- benchmarks/run.py --markdown: end -->"

TOL = 1e-12  # largest accepted deviation from the floor, relative to the largest |gradient| (and |loss|)

MAZUR_X = [0.05, 0.10]
MAZUR_TARGET = [0.01, 0.99]
MAZUR_LR = 0.5


def mazur_layers() -> list[floor.Layer]:
    """The network of Mazur's worked example: w1..w4 = .15 .20 .25 .30, b1 = .35, w5..w8 = .40 .45 .50 .55, b2 = .60."""
    return [([[0.15, 0.20], [0.25, 0.30]], [0.35, 0.35], "sigmoid"),
            ([[0.40, 0.45], [0.50, 0.55]], [0.60, 0.60], "sigmoid")]


def moons_layers(seed: int = 1337) -> list[floor.Layer]:
    """A 2-16-16-1 network (ReLU hidden, linear output) with weights from tinygrad_bp.nn.MLP(seed=seed)."""
    model = MLP(2, [16, 16, 1], seed=seed)
    acts = ["relu", "relu", "linear"]
    return [([[w.data for w in n.w] for n in layer.neurons], [n.b.data for n in layer.neurons], act)
            for layer, act in zip(model.layers, acts)]


def copy_layers(layers: list[floor.Layer]) -> list[floor.Layer]:
    return [([list(row) for row in W], list(b), act) for W, b, act in layers]


def flat_params(layers: list[floor.Layer]) -> list[float]:
    """Layer by layer, neuron by neuron, weights then bias (the order of MLP.parameters())."""
    return [p for W, b, _ in layers for row, bj in zip(W, b) for p in (*row, bj)]


def flat_grads(gW: list, gb: list) -> list[float]:
    return [g for gWl, gbl in zip(gW, gb) for grow, gbj in zip(gWl, gbl) for g in (*grow, gbj)]


# --- contenders ------------------------------------------------------------------
# Each contender has:
#   mazur(layers, rounds) -> (E, grads)     W1; grads of the last round, before its update
#   moons(layers, X, y, lr) -> (L, grads, params)   W2; one step (params after the update)
#   chain(rounds) -> (y, dy/dx)             W3
#   chain_graph(rounds) -> (graph, n_nodes) W4; graph kept alive by the caller
# and `chain_act`, the activation of its chain.  Model building happens in
# `prepare_*`, outside the timed call.


class Floor:
    name = "floor"
    chain_act = "tanh"
    workloads = ("W1", "W2", "W3")

    def prepare_mazur(self, layers, rounds):
        layers = copy_layers(layers)

        def run():
            E, gW, gb = floor.mazur_train(layers, MAZUR_X, MAZUR_TARGET, MAZUR_LR, rounds)
            return E, flat_grads(gW, gb)
        return run

    moons_step = staticmethod(floor.moons_step)

    def prepare_moons(self, layers, X, y, lr):
        layers = copy_layers(layers)

        def run():
            L, gW, gb = self.moons_step(layers, X, y, lr)
            return L, flat_grads(gW, gb), flat_params(layers)
        return run

    def prepare_chain(self, rounds, act=None):
        return lambda: floor.chain(0.5, rounds, act or self.chain_act)

    chain_graph = None


class TightFloor(Floor):
    """The tight floor (W1, W2): floor.mazur_train_tight and floor.moons_step_tight."""

    name = "floor (tight)"
    workloads = ("W1", "W2")
    moons_step = staticmethod(floor.moons_step_tight)

    def prepare_mazur(self, layers, rounds):
        layers = copy_layers(layers)
        return lambda: floor.mazur_train_tight(layers, MAZUR_X, MAZUR_TARGET, MAZUR_LR, rounds)


def chain(x: Value, rounds: int) -> Value:
    """W3's chain: y = tanh(1.0001·y + 0.1), `rounds` times from y = x."""
    y = x
    for _ in range(rounds):
        y = (y * 1.0001 + 0.1).tanh()
    return y


class TinygradBP:
    """tinygrad_bp, eager, with this checkout's Value, MLP and sse (Previous: with another revision's)."""

    name = "tinygrad_bp"
    chain_act = "tanh"
    workloads = ("W1", "W2", "W3")
    Value = Value
    MLP = MLP
    sse = staticmethod(sse)

    def _model(self, layers, nouts, **kw):
        model = self.MLP(2, nouts, **kw)
        for p, v in zip(model.parameters(), flat_params(layers)):
            p.data = v
        return model

    def prepare_mazur(self, layers, rounds):
        model = self._model(layers, [2, 2], activation="sigmoid", output_activation="sigmoid")
        params = model.parameters()
        weights = [w for layer in model.layers for n in layer.neurons for w in n.w]
        x, target, lr = MAZUR_X, MAZUR_TARGET, MAZUR_LR

        sse = self.sse

        def run():
            for _ in range(rounds):
                model.zero_grad()
                E = sse(model(x), target)
                E.backward()
                for w in weights:  # biases are not updated, as in Mazur's example
                    w.data -= lr * w.grad
            return E.data, [p.grad for p in params]
        return run

    def moons_loss(self, model, params, n, alpha=1e-4):
        """W2's loss as a function of the data: (1/n)·Σ relu(1 − y·score) + alpha·Σ p²."""
        scale, Value = 1.0 / n, self.Value

        def loss_fn(X, y):
            losses = [(1.0 + -yi * model(xi)).relu() for xi, yi in zip(X, y)]
            return Value.sum(losses) * scale + alpha * Value.sum([p * p for p in params])
        return loss_fn

    @staticmethod
    def moons_step(model, params, lr, loss):
        """The rest of a W2 step: backward, the gradients, the update; (loss, gradients, updated parameters)."""
        model.zero_grad()
        loss.backward()
        grads = [p.grad for p in params]
        for p in params:
            p.data -= lr * p.grad
        return loss.data, grads, [p.data for p in params]

    def prepare_moons(self, layers, X, y, lr, alpha=1e-4):
        model = self._model(layers, [16, 16, 1])
        params = model.parameters()
        loss_fn = self.moons_loss(model, params, len(X), alpha)
        return lambda: self.moons_step(model, params, lr, loss_fn(X, y))

    def prepare_chain(self, rounds, act=None):
        Value = self.Value

        def run():
            x = Value(0.5)
            y = chain(x, rounds)
            y.backward()
            return y.data, x.grad
        return run

    def chain_graph(self, rounds):
        y = chain(self.Value(0.5), rounds)
        return y, len(topological_order(y))


def _replays(f: Any, workload: str) -> None:
    """A jit contender that would run eagerly times something else: the run fails instead."""
    if f.stats["eager"] is not None or f.stats["cached"] != 1:
        raise RuntimeError(f"jit does not replay {workload}: {f.stats['eager']}")


class Jit(TinygradBP):
    """tinygrad_bp's `jit` on the same losses as TinygradBP: traced once in prepare (untimed), replayed after."""

    name = "jit"
    chain_graph = None

    def __init__(self):
        self._chains: dict[int, Any] = {}

    def prepare_mazur(self, layers, rounds):
        model = self._model(layers, [2, 2], activation="sigmoid", output_activation="sigmoid")
        params = model.parameters()
        weights = [w for layer in model.layers for n in layer.neurons for w in n.w]
        x, target, lr = MAZUR_X, MAZUR_TARGET, MAZUR_LR
        loss_fn = jit(lambda: sse(model(x), target))
        loss_fn()  # the trace
        _replays(loss_fn, "W1")

        def run():
            for _ in range(rounds):
                model.zero_grad()
                E = loss_fn()
                E.backward()
                for w in weights:  # biases are not updated, as in Mazur's example
                    w.data -= lr * w.grad
            return E.data, [p.grad for p in params]
        return run

    def prepare_moons(self, layers, X, y, lr, alpha=1e-4):
        model = self._model(layers, [16, 16, 1])
        params = model.parameters()
        loss_fn = jit(self.moons_loss(model, params, len(X), alpha))
        loss_fn(X, y)  # the trace
        _replays(loss_fn, "W2")
        return lambda: self.moons_step(model, params, lr, loss_fn(X, y))

    def prepare_chain(self, rounds, act=None):
        f = self._chains.get(rounds)
        if f is None:  # traced (and compiled) once per depth
            f = self._chains[rounds] = jit(lambda x: chain(x, rounds))
            f(Value(0.5))

        def run():
            x = Value(0.5)
            y = f(x)
            y.backward()
            return y.data, x.grad
        return run


# --- --against REV: the package as it was at another revision, as one more contender ----------------------

class AgainstError(Exception):
    """--against REV cannot be run: the message names REV and what is missing."""


PREFIX = "tinygrad_bp_at_"  # the renamed package: tinygrad_bp_at_<short hash>
_IMPORT = re.compile(r"^(\s*(?:from|import)\s+)tinygrad_bp(?=[\s.,;]|$)")


def _git(root: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", root, *args], capture_output=True)


def renamed_imports(source: str, name: str) -> str:
    """`source` with the package tinygrad_bp renamed `name` in its import lines (absolute `from tinygrad_bp...
    import` and `import tinygrad_bp...`), nothing else changed."""
    return "".join(_IMPORT.sub(rf"\g<1>{name}", line) for line in source.splitlines(keepends=True))


@contextlib.contextmanager
def package_at(rev: str, root: str = ROOT, tmp: str | None = None) -> Iterator[ModuleType]:
    """The package tinygrad_bp as it was at git revision `rev` of `root`, extracted into a temporary directory
    (in `tmp`, default the system's) and imported as tinygrad_bp_at_<short hash>, its import lines renamed; on
    exit its modules are dropped from sys.modules and the directory is removed.  AgainstError when `root` is no
    git checkout, `rev` no revision of it, or it has no tinygrad_bp/ or cannot be imported."""
    if rev.startswith("-") or not rev.strip():
        raise AgainstError(f"{rev!r}: not a revision")
    try:
        if _git(root, "rev-parse", "--git-dir").returncode:
            raise AgainstError(f"{rev}: {root} is not a git checkout")
        found = _git(root, "rev-parse", "--verify", "--quiet", "--short", f"{rev}^{{commit}}")
    except FileNotFoundError:
        raise AgainstError(f"{rev}: git is not installed") from None
    if found.returncode:
        raise AgainstError(f"{rev}: not a revision of the repository at {root}")
    short = found.stdout.decode().strip()
    name = PREFIX + short
    if _git(root, "cat-file", "-t", f"{short}:tinygrad_bp").stdout.strip() != b"tree":
        raise AgainstError(f"{rev}: there is no tinygrad_bp/ at {short}")
    archive = _git(root, "archive", "--format=tar", short, "tinygrad_bp")
    if archive.returncode:
        why = " ".join(archive.stderr.decode().split())
        raise AgainstError(f"{rev}: git archive {short} tinygrad_bp fails: {why}")
    with tempfile.TemporaryDirectory(prefix="tinygrad_bp_against_", dir=tmp) as where:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(where, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        os.rename(os.path.join(where, "tinygrad_bp"), os.path.join(where, name))
        for folder, _, files in os.walk(os.path.join(where, name)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(folder, f)
                    with open(path, encoding="utf-8") as fh:
                        source = fh.read()
                    with open(path, "w", encoding="utf-8") as fh:
                        fh.write(renamed_imports(source, name))
        sys.path.insert(0, where)
        bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no .pyc (a PYTHONPYCACHEPREFIX) left
        try:
            try:
                package = importlib.import_module(name)
            except Exception as e:
                raise AgainstError(f"{rev}: importing tinygrad_bp at {short} fails: {_one_line(e)}") from None
            yield package
        finally:
            sys.dont_write_bytecode = bytecode
            sys.path.remove(where)
            for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[m]


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


class Previous(TinygradBP):
    """TinygradBP's W1, W2, W3, run with the Value, MLP and sse of the package at another revision (--against)."""

    chain_graph = None  # W4 is not compared

    def __init__(self, package: ModuleType, rev: str):
        short = package.__name__.removeprefix(PREFIX)
        self.name = f"tinygrad_bp@{short}"
        for attr, module in (("Value", ""), ("MLP", ".nn"), ("sse", ".losses")):
            try:
                setattr(self, attr, getattr(importlib.import_module(package.__name__ + module), attr))
            except (ImportError, AttributeError) as e:
                raise AgainstError(f"{rev}: tinygrad_bp at {short} has no tinygrad_bp{module}.{attr} ({_one_line(e)}), "
                                   "which the workloads need") from None
        X, y = moons(4, noise=0.1, seed=0)
        for w, call in (("W1", lambda: self.prepare_mazur(mazur_layers(), 1)),
                        ("W2", lambda: self.prepare_moons(moons_layers(), X, y, 1.0)),
                        ("W3", lambda: self.prepare_chain(3))):
            try:
                call()()
            except Exception as e:
                raise AgainstError(f"{rev}: {w} fails on tinygrad_bp at {short}, which lacks what it needs: "
                                   f"{_one_line(e)}") from None


class Micrograd:
    """micrograd 0.1.0 used as in its demo; it has no sigmoid, so W1 adds one in micrograd's own style."""

    name = "micrograd"
    chain_act = "relu"  # micrograd has no tanh
    workloads = ("W1", "W2", "W3")

    def __init__(self):
        from micrograd import nn
        from micrograd.engine import Value as MGValue
        self.V = MGValue
        self.nn = nn

    def _sigmoid(self, v):
        s = floor.sigmoid(v.data)
        out = self.V(s, (v,), "sigmoid")

        def _backward():
            v.grad += s * (1 - s) * out.grad
        out._backward = _backward
        return out

    def prepare_mazur(self, layers, rounds):
        V = self.V
        net = [([[V(w) for w in row] for row in W], [V(bj) for bj in b]) for W, b, _ in layers]
        params = [p for W, b in net for row, bj in zip(W, b) for p in (*row, bj)]
        weights = [w for W, _ in net for row in W for w in row]
        sigmoid = self._sigmoid

        def run():
            for _ in range(rounds):
                for p in params:
                    p.grad = 0
                a = [V(xi) for xi in MAZUR_X]
                for W, b in net:
                    a = [sigmoid(sum((wi * xi for wi, xi in zip(row, a)), bj)) for row, bj in zip(W, b)]
                E = sum(0.5 * (t - ak) ** 2 for ak, t in zip(a, MAZUR_TARGET))
                E.backward()
                for w in weights:
                    w.data -= MAZUR_LR * w.grad
            return E.data, [p.grad for p in params]
        return run

    def prepare_moons(self, layers, X, y, lr, alpha=1e-4):
        V = self.V
        model = self.nn.MLP(2, [16, 16, 1])
        for p, v in zip(model.parameters(), flat_params(layers)):
            p.data = v

        def run():  # micrograd's demo.ipynb, loss() and one step of its training loop
            inputs = [list(map(V, xrow)) for xrow in X]
            scores = list(map(model, inputs))
            losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
            data_loss = sum(losses) * (1.0 / len(losses))
            reg_loss = alpha * sum(p * p for p in model.parameters())
            total_loss = data_loss + reg_loss
            model.zero_grad()
            total_loss.backward()
            grads = [p.grad for p in model.parameters()]
            for p in model.parameters():
                p.data -= lr * p.grad
            return total_loss.data, grads, [p.data for p in model.parameters()]
        return run

    def prepare_chain(self, rounds, act=None):
        V = self.V

        def run():
            x = V(0.5)
            y = x
            for _ in range(rounds):
                y = (y * 1.0001 + 0.1).relu()
            y.backward()
            return y.data, x.grad
        return run

    def chain_graph(self, rounds):
        y = self.V(0.5)
        for _ in range(rounds):
            y = (y * 1.0001 + 0.1).relu()
        seen, stack = {id(y)}, [y]
        while stack:
            for c in stack.pop()._prev:
                if id(c) not in seen:
                    seen.add(id(c))
                    stack.append(c)
        return y, len(seen)


class Torch:
    """PyTorch with 0-dim float64 tensors, used like micrograd (one tensor per scalar)."""

    name = "PyTorch"
    chain_act = "tanh"
    workloads = ("W1", "W2", "W3")

    def __init__(self):
        import torch
        self.torch = torch
        torch.set_num_threads(1)

    def _params(self, layers):
        t = self.torch
        return [([[t.tensor(w, dtype=t.float64, requires_grad=True) for w in row] for row in W],
                 [t.tensor(bj, dtype=t.float64, requires_grad=True) for bj in b], act) for W, b, act in layers]

    def _forward(self, net, a):
        t = self.torch
        for W, b, act in net:
            nets = [sum((wi * xi for wi, xi in zip(row, a)), bj) for row, bj in zip(W, b)]
            a = [t.sigmoid(n) for n in nets] if act == "sigmoid" else [t.relu(n) for n in nets] if act == "relu" \
                else nets
        return a

    def prepare_mazur(self, layers, rounds):
        t = self.torch
        net = self._params(layers)
        params = [p for W, b, _ in net for row, bj in zip(W, b) for p in (*row, bj)]
        weights = [w for W, _, _ in net for row in W for w in row]

        def run():
            for _ in range(rounds):
                for p in params:
                    p.grad = None
                a = self._forward(net, [t.tensor(xi, dtype=t.float64) for xi in MAZUR_X])
                E = sum(0.5 * (tk - ak) ** 2 for ak, tk in zip(a, MAZUR_TARGET))
                E.backward()
                with t.no_grad():
                    for w in weights:
                        w -= MAZUR_LR * w.grad
            return E.item(), [p.grad.item() for p in params]
        return run

    def prepare_moons(self, layers, X, y, lr, alpha=1e-4):
        t = self.torch
        net = self._params(layers)
        params = [p for W, b, _ in net for row, bj in zip(W, b) for p in (*row, bj)]

        def run():
            scores = [self._forward(net, [t.tensor(v, dtype=t.float64) for v in xrow])[0] for xrow in X]
            losses = [t.relu(1 + -yi * s) for yi, s in zip(y, scores)]
            total_loss = sum(losses) * (1.0 / len(losses)) + alpha * sum(p * p for p in params)
            for p in params:
                p.grad = None
            total_loss.backward()
            grads = [p.grad.item() for p in params]
            with t.no_grad():
                for p in params:
                    p -= lr * p.grad
            return total_loss.item(), grads, [p.item() for p in params]
        return run

    def prepare_chain(self, rounds, act=None):
        t = self.torch

        def run():
            x = t.tensor(0.5, dtype=t.float64, requires_grad=True)
            y = x
            for _ in range(rounds):
                y = t.tanh(y * 1.0001 + 0.1)
            y.backward()
            return y.item(), x.grad.item()
        return run

    chain_graph = None  # its nodes live in C++ memory, which tracemalloc does not see


def contenders() -> tuple[list[Any], list[str]]:
    """The available contenders and a note for each missing peer."""
    found: list[Any] = [TinygradBP(), Jit(), Floor(), TightFloor()]
    missing = []
    for cls, pkg in ((Micrograd, "micrograd"), (Torch, "torch")):
        try:
            found.append(cls())
        except ImportError as e:
            missing.append(f"{pkg} not installed ({e}); skipped")
    return found, missing


# --- checking ----------------------------------------------------------------------

class CheckError(AssertionError):
    """A contender's loss or gradients differ from the floor's."""


def deviation(got: tuple[Any, ...], ref: tuple[Any, ...]) -> float:
    """Largest deviation of (loss, grads[, updated parameters]) from ref: the loss relative to |loss|, each
    list relative to its largest entry."""
    (gl, *glists), (rl, *rlists) = got, ref
    if len(glists) != len(rlists):
        return math.inf
    devs = [abs(gl - rl) / abs(rl) if rl else abs(gl)]
    for gg, rg in zip(glists, rlists):  # gradients, then (W2) the updated parameters: each list on its own scale
        gg = gg if isinstance(gg, list) else [gg]
        rg = rg if isinstance(rg, list) else [rg]
        if len(gg) != len(rg):
            return math.inf
        scale = max(abs(g) for g in rg)
        for a, b in zip(gg, rg):
            if a != b:
                devs.append(abs(a - b) / scale if scale else math.inf)
    return math.inf if any(d != d for d in devs) else max(devs)  # NaN counts as infinitely wrong


def check(who: str, workload: str, got, ref, tol: float = TOL) -> float:
    """The deviation of `got` from `ref`; CheckError when above tol."""
    dev = deviation(got, ref)
    if not dev <= tol:
        raise CheckError(f"{workload}: {who} deviates from the floor by {dev:.3g} (> {tol:g}): "
                         f"loss {got[0]!r} vs {ref[0]!r}")
    return dev


# --- timing ------------------------------------------------------------------------

def balanced_orders(n: int) -> list[list[int]]:
    """Orders of n contenders in which each one runs right after each other one equally often.

    A Williams design (a Latin square balanced for the previous contender): a
    contender's time can depend on what ran just before it (caches, allocator
    state), and a rotation would always put the same contender after PyTorch.
    """
    first = [0]
    lo, hi = 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    rows = [[(i + r) % n for i in first] for r in range(n)]
    return rows + [row[::-1] for row in rows] if n % 2 else rows


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """call()'s result and its cost: its run time plus the time the cyclic garbage collector then takes to
    free what it left (less an empty collection's time).

    micrograd's nodes hold closures over themselves -- reference cycles, freed only by a collection --
    while the others' graphs are freed by reference counting as the call returns, inside its run time.
    """
    gc.collect()
    t0 = time.perf_counter()
    result = call()
    t1 = time.perf_counter()
    gc.collect()
    t2 = time.perf_counter()
    gc.collect()  # nothing left: the collector's own cost, subtracted
    t3 = time.perf_counter()
    return result, (t1 - t0) + max(0.0, (t2 - t1) - (t3 - t2))


def interleaved(runs: dict[str, Callable[[], Callable[[], Any]]], rounds: int, ref_name: str = "floor",
                workload: str = "", expected: dict[str, Any] | None = None
                ) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds of each contender's run; `runs[name]()` prepares one fresh zero-argument call.

    Contenders alternate round by round, in the orders of `balanced_orders` (rounds
    are rounded up to whole repetitions of it); each timed call's result is checked
    against the reference contender's result of the same round, or against `expected[name]`.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    devs: dict[str, float] = {name: 0.0 for name in runs}
    names = list(runs)
    design = balanced_orders(len(names))
    for r in range(-(-rounds // len(design)) * len(design)):  # whole repetitions of the design
        order = [names[i] for i in design[r % len(design)]]
        results = {}
        for name in order:
            call = runs[name]()
            results[name], seconds = timed(call)
            times[name].append(seconds)
            del call
        for name, res in results.items():
            ref = expected[name] if expected is not None else results.get(ref_name)
            if ref is not None:
                devs[name] = max(devs[name], check(name, workload, res, ref))
    return {name: statistics.median(ts) for name, ts in times.items()}, devs


def bytes_per_node(build: Callable[[int], tuple[Any, int]], rounds: int) -> tuple[float, int]:
    """tracemalloc's count of bytes allocated by `build(rounds)` and still held, per graph node."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        graph, n = build(rounds)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del graph
    return held / n, n


def import_ms(package: str, repeats: int) -> float | None:
    """Median cumulative import time of `package` (ms), from `python -X importtime` in fresh processes.

    As an installed package imports: from cached bytecode (.pyc files, written by the first run into a
    temporary folder, PYTHONPYCACHEPREFIX, even where PYTHONDONTWRITEBYTECODE is set), not compiling its source.
    """
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   PYTHONPYCACHEPREFIX=cache)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        out = []
        for _ in range(repeats + 1):  # the first run compiles and writes the .pyc files: not counted
            proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {package}"],
                                  capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode:
                return None
            m = re.search(rf"\|\s*(\d+)\s*\|\s*{re.escape(package)}\s*$", proc.stderr, re.M)
            out.append(int(m.group(1)) / 1000.0)
    return statistics.median(out[1:])


# --- the workloads ---------------------------------------------------------------

def fmt_t(s: float | None) -> str:
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


WORKLOADS = ("W1", "W2", "W3", "W4", "import", "jit")


def _workloads(text: str) -> tuple[str, ...]:
    names = tuple(w.strip() for w in text.split(",") if w.strip())
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown workload(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {','.join(WORKLOADS)}")
    return names


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and few rounds (a smoke run)")
    ap.add_argument("--check", action="store_true", help="only the correctness checks, no timing")
    ap.add_argument("--only", metavar="W", type=_workloads, default=WORKLOADS,
                    help=f"comma-separated workloads to run, of {','.join(WORKLOADS)} (default: all)")
    ap.add_argument("--markdown", metavar="FILE", nargs="?", const=PAGE,
                    help="after the run, replace the section between the markers "
                         f"{MARK_BEGIN!r} and {MARK_END!r} of FILE with the ratio tables "
                         "(default FILE: docs/performance.md); the rest of FILE is kept")
    ap.add_argument("--against", metavar="REV",
                    help="one more contender: the package tinygrad_bp as it was at git revision REV of this "
                         "repository, run as tinygrad_bp is (W1, W2, W3), with a ratio column tinygrad_bp / it")
    args = ap.parse_args(argv)
    if args.markdown is not None:  # before the long run: a bad page fails now, not after minutes
        if args.check:
            ap.error("--markdown writes the run's timings: it cannot go with --check")
        try:
            replace_section(_read(args.markdown), "")
            atomic.check_writable(args.markdown)
        except (OSError, ValueError) as e:
            ap.error(f"--markdown: {e}")
    with contextlib.ExitStack() as stack:  # --against's package: removed (modules and files) when the run ends
        previous = []
        if args.against is not None:
            try:
                previous.append(Previous(stack.enter_context(package_at(args.against)), args.against))
            except AgainstError as e:
                ap.exit(2, f"{ap.prog}: --against {e}\n")
        return run_all(args, previous)


def run_all(args: argparse.Namespace, previous: list[Previous]) -> dict[str, Any]:
    """The run of main's parsed options, with `previous` (--against's contender, if any) after tinygrad_bp."""
    quick, timing, only = args.quick, not args.check, args.only
    cs, missing = contenders()
    cs[1:1] = previous
    by_name = {c.name: c for c in cs}
    gc.collect()
    gc.freeze()  # the imports' objects (torch: ~10^5) stay out of every contender's garbage collections
    for note in missing:
        print(note)
    report: dict[str, Any] = {"checks": {}, "times": {}, "missing": missing,
                              "against": previous[0].name if previous else None}
    R = 3 if quick else 7

    # W1: Mazur's worked example
    mazur_rounds = 50 if quick else 1000
    refs = {1: Floor().prepare_mazur(mazur_layers(), 1)()}
    w1_cs = [c for c in cs if "W1" in c.workloads]
    for c in w1_cs * ("W1" in only):
        report["checks"][("W1", c.name)] = check(c.name, "W1", c.prepare_mazur(mazur_layers(), 1)(), refs[1])
    if timing and "W1" in only:
        runs = {c.name: (lambda c=c: c.prepare_mazur(mazur_layers(), mazur_rounds)) for c in w1_cs}
        report["times"]["W1"], devs = interleaved(runs, R, workload="W1")
        _merge(report, "W1", devs)

    # W2 moons
    X, y = moons(100, noise=0.1, seed=0)
    if quick:
        X, y = X[:20], y[:20]
    layers = moons_layers()
    ref = Floor().prepare_moons(layers, X, y, 1.0)()
    w2_cs = [c for c in cs if "W2" in c.workloads]
    for c in w2_cs * ("W2" in only):
        report["checks"][("W2", c.name)] = check(c.name, "W2", c.prepare_moons(layers, X, y, 1.0)(), ref)
    if timing and "W2" in only:
        runs = {c.name: (lambda c=c: c.prepare_moons(layers, X, y, 1.0)) for c in w2_cs}
        report["times"]["W2"], devs = interleaved(runs, R, workload="W2")
        _merge(report, "W2", devs)

    # W3 chain
    depths = ([300, 10_000] if quick else [300, 10_000, 1_000_000]) if "W3" in only else []
    for n in depths:
        key = f"W3/{n}"
        chain_cs = [c for c in cs if "W3" in c.workloads and (n <= 300 or c.name != "micrograd")]
        if n >= 1_000_000:
            chain_cs = [c for c in chain_cs if c.name in ("tinygrad_bp", "floor")]
        # each contender's own chain (micrograd's is relu) against the floor's: before timing and every timed run
        refs = {c.name: floor.chain(0.5, n, c.chain_act) for c in chain_cs}
        for c in chain_cs:
            report["checks"][(key, c.name)] = check(c.name, key, c.prepare_chain(n)(), refs[c.name])
        if timing:
            runs = {c.name: (lambda c=c, n=n: c.prepare_chain(n)) for c in chain_cs}
            reps = {300: 10 * R, 10_000: R}.get(n, 3)
            report["times"][key], devs = interleaved(runs, reps, workload=key, expected=refs)
            _merge(report, key, devs)
            if n >= 10_000 and not quick:  # the same calls with the garbage collector paused (a diagnostic)
                paused = {c.name: (lambda c=c, n=n: _gc_paused(c.prepare_chain(n))) for c in chain_cs
                          if c.name in ("tinygrad_bp", "floor")}
                report.setdefault("W3_gc_off", {})[n] = interleaved(paused, reps, workload=key, expected=refs)[0]
    if "micrograd" in by_name and "W3" in only:  # it recurses in backward: show where it stops
        try:
            by_name["micrograd"].prepare_chain(10_000)()
            report["micrograd_10k"] = "ok"
        except RecursionError:
            report["micrograd_10k"] = "RecursionError"

    # W4 memory
    if timing and "W4" in only:
        nodes = 40_000 if quick else 200_000
        report["W4"] = {c.name: bytes_per_node(c.chain_graph, nodes // 5) for c in cs if c.chain_graph}
    if timing and "import" in only:
        # micrograd/__init__.py is empty: its nn module (which imports its engine) is what a user imports
        pkgs = ["tinygrad_bp"] + ["micrograd.nn"] * ("micrograd" in by_name) + ["torch"] * ("PyTorch" in by_name)
        report["import"] = {pkg: import_ms(pkg, 3 if quick else 7) for pkg in pkgs}

    # jit's own costs: its trace + compile of W2, micrograd's demo with and without it, the collector in replays
    if timing and "jit" in only:
        report["jit"] = jit_costs(layers, X, y, R, quick)

    gc.unfreeze()  # as the caller had it (the tests call main())
    if timing:
        report["targets"] = targets(report)
    report["sizes"] = {"W1": mazur_rounds, "W2": len(X), "W4": 40_000 if quick else 200_000}
    print_report(report, [c.name for c in cs], quick)
    if args.markdown is not None:
        section = markdown(report, quick)
        # read again: the page may have been edited during the run
        atomic.write_atomic(args.markdown, replace_section(_read(args.markdown), section))
        report["markdown"] = section
        print(f"\nwrote the tables into {args.markdown}")
    return report


def demo(use_jit: bool, steps: int, n: int) -> tuple[float, list[float]]:
    """micrograd's demo.ipynb: MLP(2, [16, 16, 1]) on n moons, max-margin loss + 1e-4·Σp², SGD with its learning
    rate 1.0 − 0.9·k/100, `steps` steps; the last loss and the parameters.  (Its accuracy line reads each score's
    .data inside loss(), which a trace cannot replay: it is left out of both runs.)"""
    X, y = moons(n, noise=0.1, seed=0)
    model = MLP(2, [16, 16, 1], seed=1337)
    params = model.parameters()

    def loss_fn(X, y):
        return hinge([model(x) for x in X], y) + 1e-4 * Value.sum([p * p for p in params])

    f = jit(loss_fn) if use_jit else loss_fn
    for k in range(steps):
        loss = f(X, y)
        model.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in params:
            p.data -= lr * p.grad
    return loss.data, [p.data for p in params]


def jit_costs(layers: list[floor.Layer], X: list[list[float]], y: list[float], R: int, quick: bool) -> dict[str, Any]:
    """jit's trace + compile of W2 against eager W2 steps, micrograd's demo with and without jit (bit for bit),
    and the cyclic collector's runs during 100 replayed W2 steps."""
    def first_call():
        model = TinygradBP()._model(layers, [16, 16, 1])
        f = jit(TinygradBP().moons_loss(model, model.parameters(), len(X)))
        return lambda: f(X, y).data  # the first call: the traced eager forward, then analysis and compile()

    runs = {"eager step": lambda: TinygradBP().prepare_moons(layers, X, y, 1.0), "trace + compile": first_call}
    traced, _ = interleaved(runs, R, ref_name="", workload="W2 trace")
    steps, n = (10, 20) if quick else (100, 100)
    runs = {"eager": lambda: (lambda: demo(False, steps, n)), "jit": lambda: (lambda: demo(True, steps, n))}
    demo_times, demo_devs = interleaved(runs, 1 if quick else 3, ref_name="eager", workload="demo")
    run = Jit().prepare_moons(layers, X, y, 1.0)
    gc.collect()
    before = [st["collections"] for st in gc.get_stats()]
    for _ in range(100):
        run()
    after = [st["collections"] for st in gc.get_stats()]
    return {"trace": traced, "demo": demo_times, "demo_steps": steps, "demo_deviation": demo_devs["jit"],
            "collections": sum(after) - sum(before)}


def targets(report: dict[str, Any]) -> list[tuple[int, str, str, bool | None]]:
    """(issue, target, measured, met) for each target of issues 11 and 12 (met None: not measured in this run)."""
    times = report["times"]

    def ratio(w: str, a: str, b: str) -> float | None:
        t = times.get(w, {})
        return t[a] / t[b] if a in t and b in t else None

    def row(issue: int, text: str, value: float | None, fmt: str, ok: Callable[[float], bool]):
        return (issue, text, "—" if value is None else fmt.format(value), None if value is None else ok(value))

    w4 = report.get("W4", {}).get("tinygrad_bp")
    imp = report.get("import", {}).get("tinygrad_bp")
    j = report.get("jit", {})
    trace = j.get("trace", {})
    tr = trace["trace + compile"] / trace["eager step"] if trace else None
    dm = j.get("demo", {})
    dr = dm["jit"] / dm["eager"] if dm else None
    return [
        row(11, "W1: tinygrad_bp ≤ 3.0× the floor", ratio("W1", "tinygrad_bp", "floor"), "{:.2f}×", lambda v: v <= 3.0),
        row(11, "W2: tinygrad_bp ≤ 2.8× the floor", ratio("W2", "tinygrad_bp", "floor"), "{:.2f}×", lambda v: v <= 2.8),
        row(11, "W2: tinygrad_bp ≥ 60× faster than micrograd", ratio("W2", "micrograd", "tinygrad_bp"), "{:.1f}×",
            lambda v: v >= 60),
        row(11, "W3 at 300 rounds: tinygrad_bp ≥ 3.5× faster per node than micrograd",
            ratio("W3/300", "micrograd", "tinygrad_bp"), "{:.1f}×", lambda v: v >= 3.5),
        row(11, "W4: ≤ 130 bytes/node", None if w4 is None else w4[0], "{:.0f} bytes", lambda v: v <= 130),
        row(11, "import tinygrad_bp < 30 ms", imp, "{:.1f} ms", lambda v: v < 30),
        row(12, "W2: jit replay step ≤ 0.8× the tight floor", ratio("W2", "jit", "floor (tight)"), "{:.2f}×",
            lambda v: v <= 0.8),
        row(12, "W1: jit replay ≤ 1.5× the tight floor", ratio("W1", "jit", "floor (tight)"), "{:.2f}×",
            lambda v: v <= 1.5),
        row(12, "W2: jit's trace + compile ≤ 15 eager steps", tr, "{:.1f} steps", lambda v: v <= 15),
        row(12, f"micrograd's demo ({j.get('demo_steps', 100)} steps) with jit ≤ 0.4× its eager total, compile "
            "included", dr, "{:.2f}×", lambda v: v <= 0.4),
        row(12, "W2: 100 replayed steps leave the cyclic collector nothing to do (collections)",
            j.get("collections"), "{:d}", lambda v: v == 0),
    ]


def _gc_paused(call: Callable[[], Any]) -> Callable[[], Any]:
    """`call` with the garbage collector disabled while it runs (and re-enabled after)."""
    def run():
        gc.disable()
        try:
            return call()
        finally:
            gc.enable()
    return run


def _merge(report: dict[str, Any], workload: str, devs: dict[str, float]) -> None:
    for name, d in devs.items():
        key = (workload, name)
        report["checks"][key] = max(report["checks"].get(key, 0.0), d)


def print_report(report: dict[str, Any], names: list[str], quick: bool) -> None:
    print(f"\n## Checks: max deviation from the floor (tolerance {TOL:g}){' — quick' if quick else ''}\n")
    workloads = sorted({w for w, _ in report["checks"]}, key=lambda w: (len(w), w))
    print("| workload | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for w in workloads:
        cells = [f"{report['checks'][(w, n)]:.1e}" if (w, n) in report["checks"] else "—" for n in names]
        print(f"| {w} | " + " | ".join(cells) + " |")
    times = report["times"]
    if not times:
        return
    print("\n## Times (median)\n")
    ratios = {"tinygrad_bp / floor": ("tinygrad_bp", "floor", "{:.2f}×"),
              "micrograd / tinygrad_bp": ("micrograd", "tinygrad_bp", "{:.1f}×"),
              "jit / tight floor": ("jit", "floor (tight)", "{:.2f}×")}
    if report.get("against"):
        ratios[f"tinygrad_bp / {report['against']}"] = ("tinygrad_bp", report["against"], "{:.2f}×")
    print("| workload | " + " | ".join(names + list(ratios)) + " |")
    print("|---" * (len(names) + len(ratios) + 1) + "|")
    for w, t in times.items():
        if w.startswith("W3/"):
            n = int(w.split("/")[1])
            cells = [fmt_t(t[nm] / (3 * n)) + "/node" if nm in t else "—" for nm in names]
        else:
            cells = [fmt_t(t.get(nm)) for nm in names]
        cells += [fmt.format(t[a] / t[b]) if t.get(a) and t.get(b) else "—" for a, b, fmt in ratios.values()]
        print(f"| {w} | " + " | ".join(cells) + " |")
    if "W3/10000" in times and "W3/1000000" in times:
        tg = times["W3/1000000"]["tinygrad_bp"] / times["W3/10000"]["tinygrad_bp"]
        fl = times["W3/1000000"]["floor"] / times["W3/10000"]["floor"]
        print(f"\nW3 tinygrad_bp: 10^6 rounds take {tg:.0f}× the time of 10^4 rounds (linear: 100×; floor: {fl:.0f}×)")
        off = report.get("W3_gc_off", {})
        if 10_000 in off and 1_000_000 in off:
            r = {nm: off[1_000_000][nm] / off[10_000][nm] for nm in off[10_000]}
            print(f"with the garbage collector paused during the timed calls: tinygrad_bp {r['tinygrad_bp']:.0f}×, "
                  f"floor {r['floor']:.0f}× (10^4 rounds: {fmt_t(off[10_000]['tinygrad_bp'] / 3e4)}/node, "
                  f"10^6: {fmt_t(off[1_000_000]['tinygrad_bp'] / 3e6)}/node)")
    if "micrograd_10k" in report:
        print(f"W3 micrograd at 10^4 rounds: {report['micrograd_10k']}")
    if "W4" in report:
        print("\n## W4 memory: bytes per graph node (tracemalloc)\n")
        for name, (b, n) in report["W4"].items():
            print(f"- {name}: {b:.0f} bytes/node ({n} nodes)")
    if "import" in report:
        print("\n## Import time (python -X importtime, cumulative, median)\n")
        for pkg, ms in report["import"].items():
            print(f"- {pkg}: {'—' if ms is None else f'{ms:.1f} ms'}")
    if "jit" in report:
        j = report["jit"]
        print("\n## jit's own costs (median)\n")
        tr = j["trace"]
        print(f"- W2 trace + compile (the first call): {fmt_t(tr['trace + compile'])}, an eager W2 step "
              f"{fmt_t(tr['eager step'])}: {tr['trace + compile'] / tr['eager step']:.1f} steps")
        dm = j["demo"]
        print(f"- micrograd's demo, {j['demo_steps']} steps: eager {fmt_t(dm['eager'])}, jit {fmt_t(dm['jit'])} "
              f"(compile included): {dm['jit'] / dm['eager']:.2f}×; the runs deviate by {j['demo_deviation']:.1e}")
        print(f"- 100 replayed W2 steps: {j['collections']} runs of the cyclic garbage collector")
    for note in report["missing"]:
        print(f"\n{note}")
    if "targets" in report:
        machine = f"{platform.machine()} {platform.processor() or ''} ×{os.cpu_count()}".replace("  ", " ")
        note = ", quick: sizes too small to judge" if quick else ""
        print(f"\n## Targets ({datetime.date.today().isoformat()}, {machine}, Python {platform.python_version()}"
              f"{note})\n")
        print("| issue | target | measured | |")
        print("|---|---|---|---|")
        for issue, text, value, met in report["targets"]:
            print(f"| {issue} | {text} | {value} | {'not measured' if met is None else 'met' if met else 'missed'} |")


# --- the Markdown section (--markdown) ------------------------------------------------

def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def replace_section(text: str, section: str) -> str:
    """`text` with what lies between MARK_BEGIN and MARK_END replaced by `section` (the markers kept);
    ValueError unless each marker occurs once, begin before end."""
    counts = (text.count(MARK_BEGIN), text.count(MARK_END))
    if counts != (1, 1) or text.index(MARK_BEGIN) > text.index(MARK_END):
        raise ValueError(f"expected one {MARK_BEGIN!r} and, after it, one {MARK_END!r}; found {counts[0]} and "
                         f"{counts[1]}{' in the wrong order' if counts == (1, 1) else ''}")
    head, rest = text.split(MARK_BEGIN)
    _, tail = rest.split(MARK_END)
    return f"{head}{MARK_BEGIN}\n{section.strip()}\n{MARK_END}{tail}" if section.strip() else \
        f"{head}{MARK_BEGIN}\n{MARK_END}{tail}"


def machine() -> str:
    """The platform, the CPU count and, where /proc/cpuinfo has one, the CPU's model name."""
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.lower().startswith("model name")),
                         None)
    except OSError:
        pass
    return ", ".join([platform.platform(), f"{os.cpu_count()} CPUs"] + [model] * bool(model))


def ratio_columns(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The Markdown table's ratio columns: RATIOS, and with --against tinygrad_bp / its contender."""
    against = report.get("against")
    return {**RATIOS, f"tinygrad_bp / {against}": ("tinygrad_bp", against)} if against else RATIOS


def ratio_cells(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Per workload the ratio columns of the Markdown table (ratio_columns: numerator over denominator)."""
    times, cells = report["times"], {}
    for w, t in times.items():
        row = {}
        for col, (a, b) in ratio_columns(report).items():
            if a in t and b in t:
                row[col] = _times(t[a] / t[b])
            elif w != "W3/300" and w.startswith("W3/") and "micrograd" in (a, b) and "tinygrad_bp" in t:
                row[col] = "RecursionError" if report.get("micrograd_10k") == "RecursionError" and w == "W3/10000" \
                    else "not run"
            elif w == "W3/1000000" and "PyTorch" in (a, b) and "tinygrad_bp" in t:
                row[col] = "not run"
            else:
                row[col] = "—"
        cells[w] = row
    return cells


RATIOS = {  # column: (numerator, denominator)
    "tinygrad_bp / floor": ("tinygrad_bp", "floor"),
    "jit / floor": ("jit", "floor"),
    "jit / tight floor": ("jit", "floor (tight)"),
    "micrograd / tinygrad_bp": ("micrograd", "tinygrad_bp"),
    "PyTorch / tinygrad_bp": ("PyTorch", "tinygrad_bp"),
}


def _times(r: float) -> str:
    """A ratio to about three significant digits: 0.68×, 2.86×, 21.3×, 117×."""
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×" if r < 100 else f"{r:.0f}×"


def markdown(report: dict[str, Any], quick: bool) -> str:
    """The run's ratios as Markdown: the machine and date, the ratio table, W3's growth, W4, import, jit's own
    costs and the targets.  Absolute times only where labelled "on this machine"."""
    sizes = report.get("sizes", {})
    note = " A quick run (`--quick`): the sizes are too small to judge by." if quick else ""
    out = [f"Generated by `python benchmarks/run.py --markdown` on {datetime.date.today().isoformat()}: "
           f"{machine()}; Python {platform.python_version()} ({platform.python_implementation()}).{note}", ""]
    labels = {"W1": f"W1 worked example ({sizes.get('W1', 1000):,} rounds)",
              "W2": f"W2 moons (one step, {sizes.get('W2', 100)} samples)"}
    cells = ratio_cells(report)
    if cells:
        columns = ratio_columns(report)
        out += ["| workload | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for w, row in cells.items():
            label = labels.get(w) or (f"W3 chain, {int(w[3:]):,} rounds (per node)" if w.startswith("W3/") else w)
            out.append(f"| {label} | " + " | ".join(row.values()) + " |")
        out.append("")
    times = report["times"]
    if "W3/10000" in times and "W3/1000000" in times:
        t4, t6 = times["W3/10000"], times["W3/1000000"]
        line = (f"W3: 10⁶ rounds take {t6['tinygrad_bp'] / t4['tinygrad_bp']:.0f}× the time of 10⁴ rounds "
                f"(linear: 100×; the floor: {t6['floor'] / t4['floor']:.0f}×)")
        off = report.get("W3_gc_off", {})
        if 10_000 in off and 1_000_000 in off:
            g4, g6 = off[10_000], off[1_000_000]
            line += (f"; with the garbage collector paused during the timed calls "
                     f"{g6['tinygrad_bp'] / g4['tinygrad_bp']:.0f}× (the floor: {g6['floor'] / g4['floor']:.0f}×)")
        out += [line + ".", ""]
    if "W4" in report:
        w4 = report["W4"]
        b = {name: f"{v[0]:.0f}" for name, v in w4.items()}
        line = f"W4 memory (tracemalloc, a {sizes.get('W4', 200_000):,}-node chain): " + ", ".join(
            f"{name} {v} bytes/node" for name, v in b.items())
        if "micrograd" in w4 and "tinygrad_bp" in w4:
            line += f"; micrograd / tinygrad_bp {w4['micrograd'][0] / w4['tinygrad_bp'][0]:.1f}×"
        out += [line + ". PyTorch's nodes live in C++ memory, which tracemalloc cannot see.", ""]
    imp = {k: v for k, v in report.get("import", {}).items() if v is not None}
    if "tinygrad_bp" in imp:
        ms = imp["tinygrad_bp"]
        parts = []
        if "torch" in imp:
            parts.append(f"1/{imp['torch'] / ms:.0f} of `import torch`")
        if "micrograd.nn" in imp:
            parts.append(f"{ms / imp['micrograd.nn']:.0f}× `import micrograd.nn`")
        abs_ms = ", ".join(f"{pkg} {v:.1f} ms" for pkg, v in imp.items())
        out += [f"`import tinygrad_bp` (from cached bytecode) takes {' and '.join(parts) or 'the time below'} "
                f"(on this machine: {abs_ms}).", ""]
    if "jit" in report:
        j = report["jit"]
        tr, dm = j["trace"], j["demo"]
        out += ["jit's own costs:", "",
                f"- W2's trace + compile (the first call) costs {tr['trace + compile'] / tr['eager step']:.1f} "
                "eager W2 steps;",
                f"- micrograd's demo ({j['demo_steps']} steps) with jit takes {dm['jit'] / dm['eager']:.2f}× its "
                f"eager time, compile included (the two runs deviate by {j['demo_deviation']:.1e});",
                f"- 100 replayed W2 steps: {j['collections']} runs of the cyclic garbage collector.", ""]
    if "targets" in report:
        out += ["The targets of issues 11 (the engine) and 12 (jit), judged by this run (the import time on this "
                "machine):", "", "| issue | target | measured | |", "|---|---|---|---|"]
        for issue, text, value, met in report["targets"]:
            out.append(f"| {issue} | {text} | {value} | "
                       f"{'not measured' if met is None else 'met' if met else 'missed'} |")
        out.append("")
    for note in report["missing"]:
        out += [f"{note}.", ""]
    return "\n".join(out).strip() + "\n"


if __name__ == "__main__":
    main()
