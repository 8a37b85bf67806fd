"""Data sets: shapes, label conventions, geometry checked against the defining formulas, determinism."""

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import data
from tinygrad_bp.data import circles, moons, spiral, xor

GENERATORS = [moons, circles, spiral]


def test_xor_is_the_truth_table():
    X, y = xor()
    assert X == [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    assert y == [1.0 if a != b else -1.0 for a, b in X]
    X01, y01 = xor(labels="01")
    assert X01 == X
    assert y01 == [1.0 if a != b else 0.0 for a, b in X]


@pytest.mark.parametrize("n", [2, 3, 7, 100, 101])
def test_moons_without_noise_lie_on_their_arcs(n):
    X, y = moons(n=n, noise=0.0, seed=3)
    assert len(X) == len(y) == n
    upper = [p for p, t in zip(X, y) if t == -1.0]
    lower = [p for p, t in zip(X, y) if t == 1.0]
    assert len(upper) == n // 2 and len(lower) == n - n // 2
    for px, py in upper:  # (cos t, sin t), t in [0, π]
        assert math.hypot(px, py) == pytest.approx(1.0, abs=1e-12)
        assert py >= -1e-12
    for px, py in lower:  # (1 − cos t, 0.5 − sin t)
        assert math.hypot(px - 1.0, py - 0.5) == pytest.approx(1.0, abs=1e-12)
        assert py <= 0.5 + 1e-12


def test_moons_angles_are_evenly_spaced_from_0_to_pi():
    X, y = moons(n=10, noise=0.0)
    angles = sorted(math.atan2(py, px) for (px, py), t in zip(X, y) if t == -1.0)
    assert angles[0] == pytest.approx(0.0, abs=1e-12)
    assert angles[-1] == pytest.approx(math.pi, abs=1e-12)
    gaps = [b - a for a, b in zip(angles, angles[1:])]
    assert gaps == pytest.approx([math.pi / 4] * 4)


def test_moons_noise_has_the_requested_standard_deviation():
    sigma = 0.05
    X, y = moons(n=4000, noise=sigma, seed=1)
    # the radial offset from the arc of an isotropic Gaussian displacement has std ≈ sigma for small sigma
    radial = [math.hypot(px, py) - 1.0 if t == -1.0 else math.hypot(px - 1.0, py - 0.5) - 1.0
              for (px, py), t in zip(X, y)]
    assert abs(statistics.fmean(radial)) < 0.005
    assert statistics.pstdev(radial) == pytest.approx(sigma, rel=0.1)


@pytest.mark.parametrize("factor", [0.3, 0.5, 0.8])
def test_circles_without_noise_have_radius_1_and_factor(factor):
    X, y = circles(n=51, noise=0.0, factor=factor, labels="01")
    radii = {t: sorted(math.hypot(*p) for p, tt in zip(X, y) if tt == t) for t in (0.0, 1.0)}
    assert len(radii[0.0]) == 25 and len(radii[1.0]) == 26
    assert radii[0.0] == pytest.approx([1.0] * 25)
    assert radii[1.0] == pytest.approx([factor] * 26)


@pytest.mark.parametrize("turns", [0.5, 1.0, 1.75])
def test_spiral_without_noise_follows_its_formula(turns):
    X, y = spiral(n=40, noise=0.0, turns=turns)
    for (px, py), t in zip(X, y):
        r = math.hypot(px, py)
        assert 0.0 < r <= 1.0 + 1e-12
        expected = 2 * math.pi * turns * r + (math.pi if t == 1.0 else 0.0)
        diff = (math.atan2(py, px) - expected) % (2 * math.pi)
        assert min(diff, 2 * math.pi - diff) == pytest.approx(0.0, abs=1e-9)
    # the two arms are point reflections of each other: (x, y) on arm 0 ⇔ (−x, −y) on arm 1
    arm0 = sorted((round(px, 9), round(py, 9)) for (px, py), t in zip(X, y) if t == -1.0)
    arm1 = sorted((round(-px, 9) + 0.0, round(-py, 9) + 0.0) for (px, py), t in zip(X, y) if t == 1.0)
    assert arm0 == arm1


@settings(max_examples=60, deadline=None)
@given(gen=st.sampled_from(GENERATORS), n=st.integers(2, 300), noise=st.floats(0, 1), seed=st.integers(0, 2**32))
def test_generators_are_deterministic_and_well_formed(gen, n, noise, seed):
    X, y = gen(n=n, noise=noise, seed=seed)
    assert (X, y) == gen(n=n, noise=noise, seed=seed)
    assert len(X) == len(y) == n
    assert all(isinstance(p, list) and len(p) == 2 and all(type(c) is float and math.isfinite(c) for c in p)
               for p in X)
    assert sorted(set(y)) == [-1.0, 1.0]
    assert y.count(-1.0) == n // 2
    X01, y01 = gen(n=n, noise=noise, seed=seed, labels="01")
    assert X01 == X
    assert y01 == [(t + 1.0) / 2.0 for t in y]


@pytest.mark.parametrize("gen", GENERATORS)
def test_different_seeds_give_different_points(gen):
    assert gen(seed=1)[0] != gen(seed=2)[0]


def test_global_random_state_is_untouched():
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    moons(seed=5)
    spiral(seed=5)
    assert random.random() == expected


@pytest.mark.parametrize("gen", GENERATORS)
@pytest.mark.parametrize("kwargs, fragment", [
    ({"n": 1}, "n must be an int >= 2"),
    ({"n": 0}, "n must be an int >= 2"),
    ({"n": -5}, "n must be an int >= 2"),
    ({"n": 10.0}, "n must be an int"),
    ({"n": True}, "n must be an int"),
    ({"noise": -0.1}, "noise must be a finite number >= 0"),
    ({"noise": float("nan")}, "noise"),
    ({"noise": float("inf")}, "noise"),
    ({"noise": "0.1"}, "noise must be a number .*got str '0.1'"),
    ({"noise": True}, "noise must be a number .*got bool True"),
    ({"seed": "1"}, "seed must be an int, got str '1'"),
    ({"seed": 1.5}, "seed must be an int, got float 1.5"),
    ({"seed": None}, "seed must be an int, got NoneType None"),
    ({"labels": "+-1"}, "labels must be one of"),
])
def test_bad_arguments_are_value_errors(gen, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment) as e:
        gen(**kwargs)
    assert gen.__name__ in str(e.value)


def test_bad_shape_parameters():
    with pytest.raises(ValueError, match="factor"):
        circles(factor=1.0)
    with pytest.raises(ValueError, match="factor"):
        circles(factor=0)
    with pytest.raises(ValueError, match="turns"):
        spiral(turns=0)
    with pytest.raises(ValueError, match="labels"):
        xor(labels="pm")


def test_registry_names_every_data_set():
    assert data.DATASETS == {"xor": xor, "moons": moons, "circles": circles, "spiral": spiral}


def test_numpy_scalars_give_the_same_points_as_python_numbers():
    np = pytest.importorskip("numpy")
    assert moons(n=np.int64(10)) == moons(n=10)
    X, y = moons(noise=np.float32(0.1))
    assert (X, y) == moons(noise=float(np.float32(0.1)))
    assert all(type(c) is float for p in X for c in p)  # float32 noise does not leak into the points
    assert circles(n=np.int32(11), factor=np.float64(0.3), seed=np.int64(4)) == circles(n=11, factor=0.3, seed=4)
    assert spiral(turns=np.int64(2), noise=np.int64(0), seed=np.uint8(7)) == spiral(turns=2, noise=0, seed=7)


@pytest.mark.parametrize("call, fragment", [
    (lambda np: moons(n=np.float64(10.0)), "moons: n must be an int, got float64"),
    (lambda np: moons(n=np.bool_(True)), "moons: n must be an int, got bool"),
    (lambda np: moons(noise=np.bool_(False)), "moons: noise must be a number"),
    (lambda np: circles(factor=True), "circles: factor must be a number .*got bool True"),
    (lambda np: circles(factor=np.float32(1.5)), r"circles: factor must be a number in \(0, 1\), got 1.5"),
    (lambda np: spiral(turns="1"), "spiral: turns must be a number .*got str '1'"),
])
def test_numpy_and_other_bad_types_are_named(call, fragment):
    np = pytest.importorskip("numpy")
    with pytest.raises(ValueError, match=fragment):
        call(np)


def test_circles_go_all_the_way_round_and_rows_are_shuffled():
    n = 40
    X, y = data.circles(n, noise=0.0, factor=0.5, seed=3, labels="01")
    for cls, count in ((0, n // 2), (1, n - n // 2)):
        # evenly spaced angles 2πi/count, i = 0..count-1 (as scikit-learn's make_circles)
        angles = sorted(round(math.atan2(p[1], p[0]) % (2 * math.pi) * count / (2 * math.pi), 9) % count
                        for p, t in zip(X, y) if t == cls)
        assert angles == [float(i) for i in range(count)]
    assert y != sorted(y) and y != sorted(y, reverse=True)  # shuffled, not class by class
