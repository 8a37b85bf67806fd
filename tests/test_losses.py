"""losses: values and gradients by hand and against PyTorch float64; labels; bad input."""

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp.engine import Value, topological_order
from tinygrad_bp.losses import bce, hinge, mse, sse
from tinygrad_bp.nn import MLP


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def values(xs):
    return [Value(x) for x in xs]


def test_sse_by_hand_and_its_gradient():
    a = values([0.75, 0.25])
    E = sse(a, [0.0, 1.0])
    assert E.data == 0.5 * (0.75 ** 2 + 0.75 ** 2)
    E.backward()
    # dE/da_k = -(t_k - a_k)
    assert [v.grad for v in a] == [0.75, -0.75]


def test_sse_labels_follow_the_units():
    model = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
    E = sse(model([0.05, 0.1]), [0.01, 0.99])
    labels = {v.label: v for v in topological_order(E) if v.label}
    assert E.label == "E"
    assert {"E_o1", "E_o2", "target_o1", "target_o2"} <= set(labels)
    assert labels["target_o2"].data == 0.99
    assert math.isclose(labels["E_o1"].data + labels["E_o2"].data, E.data, rel_tol=1e-15)
    # unlabelled outputs are numbered
    E2 = sse(values([0.1, 0.2]), [0.0, 0.0])
    assert "E_2" in {v.label for v in topological_order(E2)}


def test_single_output_and_scalar_target():
    out = MLP(2, [3, 1], seed=0)([0.3, 0.4])
    E = sse(out, 1.5)
    assert math.isclose(E.data, 0.5 * (1.5 - out.data) ** 2, rel_tol=1e-15)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=6))
def test_sse_and_mse_match_torch(torch, pairs):
    F = torch.nn.functional
    outs, targets = [p[0] for p in pairs], [p[1] for p in pairs]
    for ours, theirs in [(sse, lambda a, t: 0.5 * F.mse_loss(a, t, reduction="sum")), (mse, F.mse_loss)]:
        a = values(outs)
        loss = ours(a, targets)
        loss.backward()
        ta = torch.tensor(outs, dtype=torch.float64, requires_grad=True)
        tl = theirs(ta, torch.tensor(targets, dtype=torch.float64))
        tl.backward()
        assert math.isclose(loss.data, tl.item(), rel_tol=1e-12, abs_tol=1e-15)
        for v, g in zip(a, ta.grad.tolist()):
            assert math.isclose(v.grad, g, rel_tol=1e-12, abs_tol=1e-15)


def test_hinge_by_hand():
    s = values([0.5, -2.0, 3.0])
    loss = hinge(s, [1, 1, -1])
    # relu(1 - 0.5) = 0.5, relu(1 + 2) = 3, relu(1 + 3) = 4; mean = 7.5 / 3
    assert math.isclose(loss.data, 2.5, rel_tol=1e-15)
    loss.backward()
    # d/ds relu(1 - y s) = -y where active, averaged
    assert [v.grad for v in s] == pytest.approx([-1 / 3, -1 / 3, 1 / 3], rel=1e-15)
    zero = hinge(values([2.0]), [1])
    assert zero.data == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.001, 0.999), st.floats(0, 1)), min_size=1, max_size=6))
def test_bce_matches_torch(torch, pairs):
    F = torch.nn.functional
    probs, targets = [p[0] for p in pairs], [p[1] for p in pairs]
    p = values(probs)
    loss = bce(p, targets)
    loss.backward()
    tp = torch.tensor(probs, dtype=torch.float64, requires_grad=True)
    tl = F.binary_cross_entropy(tp, torch.tensor(targets, dtype=torch.float64))
    tl.backward()
    assert math.isclose(loss.data, tl.item(), rel_tol=1e-12, abs_tol=1e-15)
    for v, g in zip(p, tp.grad.tolist()):
        assert math.isclose(v.grad, g, rel_tol=1e-10, abs_tol=1e-12)


def test_bce_clamps_zero_and_one():
    p = values([0.0, 1.0])
    loss = bce(p, [1.0, 0.0])
    # both terms are -ln(1e-7) after clamping to [1e-7, 1 - 1e-7]
    assert math.isclose(loss.data, -math.log(1e-7), rel_tol=1e-9)
    loss.backward()
    assert [v.grad for v in p] == [0.0, 0.0]  # as torch.clamp: no gradient where clamped
    assert bce(values([0.0]), [0.0]).data < 1e-6


@pytest.mark.parametrize("loss", [sse, mse, hinge, bce])
def test_length_mismatch(loss):
    with pytest.raises(ValueError, match=f"{loss.__name__}: 2 outputs but 3 targets"):
        loss(values([0.5, 0.5]), [1, 0, 1])
    with pytest.raises(ValueError, match="no outputs"):
        loss([], [])


def test_bce_bad_target_and_eps():
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\], got 2.0 at index 1"):
        bce(values([0.5, 0.5]), [1, 2])
    for eps in (0.0, 0.5, "1e-7", None, True, math.nan):
        with pytest.raises(ValueError, match=r"bce: eps must be a number in \(0, 0.5\), got"):
            bce(values([0.5]), [1], eps=eps)


@pytest.mark.parametrize("p", [1.7, -0.3, 1.0 + 1e-12, -1e-300, math.nan])
def test_bce_refuses_probabilities_outside_0_1_as_torch_does(torch, p):
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        torch.nn.functional.binary_cross_entropy(torch.tensor([0.5, p], dtype=torch.float64),
                                                 torch.tensor([1.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=rf"bce: probabilities must be in \[0, 1\], got {p!r} at index 1"):
        bce([Value(0.5), Value(p)], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"at index 0"):
        bce(p, 1.0)  # a plain number as well


def test_bce_edges_0_and_1_are_still_clamped_inside():
    # p = 1 with t = 1: -ln(1 - 1e-7); p = 0 with t = 0: -ln(1 - 1e-7) too
    loss = bce(values([1.0, 0.0]), [1.0, 0.0])
    assert math.isclose(loss.data, -math.log(1 - 1e-7), rel_tol=1e-9)
    np = pytest.importorskip("numpy")  # a numpy eps works as its float: -ln(eps) for p = 0, t = 1
    assert bce(Value(0.0), 1.0, eps=np.float64(1e-3)).data == pytest.approx(math.log(1000), rel=1e-15)


@pytest.mark.parametrize("targets, message", [
    (None, r"bce: targets\[0\] must be a Value or a number, got NoneType None"),
    ([object()], r"bce: targets\[0\] must be a Value or a number, got object"),
    ("1", "bce: targets must be Values or numbers, got str '1'"),
    (["1"], r"bce: targets\[0\] must be a Value or a number, got str '1'"),
])
def test_bce_bad_target_types_are_named(targets, message):
    with pytest.raises(TypeError, match=message):
        bce(Value(0.5), targets)
    with pytest.raises(TypeError, match=r"bce: probs\[0\] must be a Value or a number, got str '0.5'"):
        bce(["0.5"], [1.0])


def test_bce_numpy_targets_and_value_targets_by_hand():
    np = pytest.importorskip("numpy")
    p = values([0.8, 0.25])
    loss = bce(p, np.array([1.0, 0.0]))
    # -(ln 0.8 + ln 0.75) / 2; d/dp of -(1/2) ln p = -1/(2p), of -(1/2) ln(1 - p) = 1/(2(1 - p))
    assert math.isclose(loss.data, -(math.log(0.8) + math.log(0.75)) / 2, rel_tol=1e-15)
    loss.backward()
    assert [v.grad for v in p] == pytest.approx([-1 / 1.6, 1 / 1.5], rel=1e-14)
    t = Value(0.3)
    bce(Value(0.8), t).backward()
    assert t.grad == pytest.approx(-math.log(4.0), rel=1e-14)  # dL/dt = -(ln p - ln(1 - p)) = -ln(0.8/0.2)


@pytest.mark.parametrize("label", [0, 0.3, 2, -2.0, math.nan, True, None, Value(0.5)])
def test_hinge_labels_must_be_plus_or_minus_one(label):
    shown = f"Value {label.data!r}" if isinstance(label, Value) else repr(label)
    with pytest.raises(ValueError, match=rf"hinge: labels must be -1 or \+1, got {shown} at index 1"):
        hinge(values([0.3, 0.3]), [1, label])


def test_hinge_string_labels_are_refused():
    with pytest.raises(TypeError, match="hinge: labels must be Values or numbers, got str '1'"):
        hinge(Value(0.3), "1")
    with pytest.raises(ValueError, match="got '1' at index 0"):
        hinge(Value(0.3), ["1"])


def test_hinge_accepts_numpy_ints_and_values_as_labels():
    np = pytest.importorskip("numpy")
    s = values([0.25, 0.5])
    loss = hinge(s, [np.int64(1), Value(-1.0)])
    # relu(1 - 0.25) + relu(1 + 0.5) = 2.25, mean 1.125
    assert loss.data == 1.125
    loss.backward()
    assert [v.grad for v in s] == [-0.5, 0.5]


@pytest.mark.parametrize("loss, d_target", [(sse, lambda t, a: t - a), (mse, lambda t, a: 2 * (t - a) / 2)])
def test_the_gradient_reaches_a_target_given_as_a_value(loss, d_target):
    # sse = ½Σ(t − a)²: ∂/∂t_k = t_k − a_k; mse = (1/n)Σ(t − a)²: ∂/∂t_k = 2(t_k − a_k)/n (n = 2), by hand
    outs = [Value(0.3), Value(0.8)]
    targets = [Value(1.0), Value(0.0)]
    loss(outs, targets).backward()
    for t, a in zip(targets, outs):
        assert t.grad == pytest.approx(d_target(t.data, a.data), rel=1e-15)


@pytest.mark.parametrize("loss", [sse, mse])
@pytest.mark.parametrize("bad, shown", [(None, "NoneType None"), ("0.5", "str '0.5'"), (True, "bool True"),
                                        ([0.5], "list [0.5]")])
def test_a_bad_target_or_output_names_the_loss_and_the_index(loss, bad, shown):
    out = [Value(0.2), Value(0.7)]
    with pytest.raises(TypeError, match=rf"^{loss.__name__}: targets\[1\] must be a Value or a number, got "
                                        + re.escape(shown)):
        loss(out, [0.0, bad])
    with pytest.raises(TypeError, match=rf"^{loss.__name__}: outputs\[0\] must be a Value or a number, got "
                                        + re.escape(shown)):
        loss([bad, Value(0.7)], [0.0, 1.0])


def test_hinge_with_a_score_that_is_not_a_number_names_it():
    with pytest.raises(TypeError, match=r"^hinge: scores\[0\] must be a Value or a number, got str 's'"):
        hinge(["s"], [1])
    with pytest.raises(TypeError, match=r"^hinge: scores\[1\] must be a Value or a number, got NoneType None"):
        hinge([Value(0.5), None], [1, -1])
    # numbers as scores still work: (1/2)·(relu(1 − 0.5) + relu(1 − (−1)(−2))) = (0.5 + 0) / 2
    assert hinge([0.5, -2.0], [1, -1]).data == 0.25


@pytest.mark.parametrize("loss, what", [(sse, "targets"), (mse, "targets"), (bce, "targets"), (hinge, "scores")])
def test_a_huge_int_is_named_not_a_raw_overflow(loss, what):
    good = [Value(0.5), Value(0.5)] if what == "targets" else [1, -1]
    args = (good, [0.0, 10**400]) if what == "targets" else ([0.5, 10**400], good)
    with pytest.raises(ValueError, match=rf"^{loss.__name__}: {what}\[1\] is a number too large for a float"):
        loss(*args)
