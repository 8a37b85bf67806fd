"""benchmarks/: the floor against the seeds and central differences; the benchmark's checks (no timings)."""

import importlib.util
import math
import os
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)
_spec = importlib.util.spec_from_file_location("bench_run", os.path.join(BENCH, "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)
floor = run.floor


def test_floor_reproduces_the_seed_worked_example():
    layers = run.seed_layers()
    E, gW, gb = floor.seed_train(layers, [0.05, 0.10], [0.01, 0.99], 0.5, 1)
    assert round(E, 9) == 0.298371109  # seed 001: E_total
    assert round(gW[1][0][0], 9) == 0.082167041  # ∂E/∂w5
    assert round(gW[0][0][0], 9) == 0.000438568  # ∂E/∂w1
    assert round(layers[1][0][0][0], 8) == 0.35891648  # w5+
    assert round(layers[0][0][0][0], 9) == 0.149780716  # w1+
    assert layers[0][1] == [0.35, 0.35] and layers[1][1] == [0.60, 0.60]  # biases not updated


def _moons_loss(layers, X, y, alpha=1e-4):
    data = sum(max(0.0, 1.0 - yi * floor.forward(layers, xi)[-1][0]) for xi, yi in zip(X, y)) / len(X)
    return data + alpha * sum(p * p for p in run.flat_params(layers))


def _set_flat(layers, k, value):
    for W, b, _ in layers:
        for row, j in zip(W, range(len(b))):
            if k < len(row):
                row[k] = value
                return
            k -= len(row)
            if k == 0:
                b[j] = value
                return
            k -= 1
    raise IndexError(k)


def test_floor_moons_gradients_match_central_differences():
    X, y = run.moons(12, noise=0.1, seed=3)
    layers = run.moons_layers(seed=7)
    loss, gW, gb = floor.moons_step(run.copy_layers(layers), X, y, lr=0.0)
    assert loss == pytest.approx(_moons_loss(layers, X, y), rel=1e-14)
    grads = run.flat_grads(gW, gb)
    flat = run.flat_params(layers)
    h = 1e-6
    for k in range(0, len(flat), 7):
        up, down = run.copy_layers(layers), run.copy_layers(layers)
        _set_flat(up, k, flat[k] + h)
        _set_flat(down, k, flat[k] - h)
        numeric = (_moons_loss(up, X, y) - _moons_loss(down, X, y)) / (2 * h)
        assert grads[k] == pytest.approx(numeric, rel=1e-4, abs=1e-7), f"parameter {k}"


@given(x=st.floats(-2.0, 2.0), n=st.integers(1, 40), act=st.sampled_from(["tanh", "relu"]))
@settings(max_examples=40, deadline=None)
def test_floor_chain_matches_its_closed_form_and_central_differences(x, n, act):
    assume(abs(x * 1.0001 + 0.1) > 1e-4)  # not at relu's kink
    f = math.tanh if act == "tanh" else (lambda s: max(s, 0.0))
    y = x
    for _ in range(n):
        y = f(y * 1.0001 + 0.1)
    got_y, got_g = floor.chain(x, n, act)
    assert got_y == y
    h = 1e-6
    numeric = (floor.chain(x + h, n, act)[0] - floor.chain(x - h, n, act)[0]) / (2 * h)
    assert got_g == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_benchmark_checks_pass_for_every_contender_quick():
    report = run.main(["--quick", "--check"])
    assert report["missing"] == []  # micrograd and torch are installed here: nothing skipped
    names = {name for _, name in report["checks"]}
    assert names == {"tinygrad_bp", "floor", "micrograd", "PyTorch"}
    assert {w for w, _ in report["checks"]} == {"W1", "W2", "W3/300", "W3/10000"}
    assert all(dev <= run.TOL for dev in report["checks"].values())
    assert report["micrograd_10k"] == "RecursionError"  # micrograd's recursive topological sort
    assert report["times"] == {}


def test_check_rejects_a_wrong_gradient_or_loss():
    ref = (0.5, [1.0, -2.0, 3.0])
    assert run.check("x", "W", (0.5, [1.0, -2.0, 3.0]), ref) == 0.0
    with pytest.raises(run.CheckError, match="W: x deviates"):
        run.check("x", "W", (0.5, [1.0, -2.0, 3.0 + 1e-9]), ref)
    with pytest.raises(run.CheckError):
        run.check("x", "W", (0.5 + 1e-9, [1.0, -2.0, 3.0]), ref)
    with pytest.raises(run.CheckError):
        run.check("x", "W", (0.5, [1.0, -2.0, math.nan]), ref)
    with pytest.raises(run.CheckError):
        run.check("x", "W", (0.5, [1.0, -2.0]), ref)
