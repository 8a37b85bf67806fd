"""optim: SGD and Adam step for step against torch.optim in float64; hyper-parameter validation."""

import math

import pytest

from tinygrad_bp.engine import Value
from tinygrad_bp.nn import MLP
from tinygrad_bp.optim import SGD, Adam

START = [0.8, -0.4, 1.3, 0.2]


def objective(p):
    """A small non-quadratic problem, written once for Values and torch tensors alike."""
    return (p[0] * p[1] - 0.3) ** 2 + (p[2].tanh() - p[0]) ** 2 + 0.1 * (p[1] + 2 * p[3]) ** 2 + (p[3] * p[2]).tanh()


def run_ours(make, steps):
    params = [Value(x) for x in START]
    opt = make(params)
    trace = []
    for _ in range(steps):
        opt.zero_grad()
        objective(params).backward()
        opt.step()
        trace.append([p.data for p in params])
    return trace


def run_torch(make, steps):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in START]
    opt = make(torch.optim, params)
    trace = []
    for _ in range(steps):
        opt.zero_grad()
        objective(params).backward()
        opt.step()
        trace.append([p.item() for p in params])
    return trace


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda ps: SGD(ps, lr=0.1), lambda optim, ps: optim.SGD(ps, lr=0.1)),
        (lambda ps: SGD(ps, lr=0.05, momentum=0.9), lambda optim, ps: optim.SGD(ps, lr=0.05, momentum=0.9)),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=0.01), lambda optim, ps: optim.SGD(ps, lr=0.1, weight_decay=0.01)),
        (lambda ps: SGD(ps, lr=0.05, momentum=0.5, weight_decay=0.1),
         lambda optim, ps: optim.SGD(ps, lr=0.05, momentum=0.5, weight_decay=0.1)),
        (lambda ps: Adam(ps), lambda optim, ps: optim.Adam(ps)),
        (lambda ps: Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6),
         lambda optim, ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
        (lambda ps: Adam(ps, lr=0.02, weight_decay=0.05), lambda optim, ps: optim.Adam(ps, lr=0.02, weight_decay=0.05)),
    ],
    ids=["sgd", "sgd-momentum", "sgd-weight-decay", "sgd-momentum-weight-decay", "adam", "adam-betas-eps",
         "adam-weight-decay"],
)
def test_matches_torch_optim(ours, theirs):
    a = run_ours(ours, 30)
    b = run_torch(theirs, 30)
    for step, (xs, ys) in enumerate(zip(a, b)):
        for x, y in zip(xs, ys):
            assert math.isclose(x, y, rel_tol=1e-11, abs_tol=1e-13), (step, x, y)
    # the parameters did move, and the objective went down
    assert a[-1] != START
    assert objective([Value(x) for x in a[-1]]).data < objective([Value(x) for x in START]).data


def test_sgd_step_by_hand():
    p = Value(2.0)
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5)
    p.grad = 1.0
    opt.step()  # v = 1 + 0.5*2 = 2; p = 2 - 0.2
    assert math.isclose(p.data, 1.8, rel_tol=1e-15)
    opt.step()  # v = 0.9*2 + (1 + 0.5*1.8) = 3.7; p = 1.8 - 0.37
    assert math.isclose(p.data, 1.43, rel_tol=1e-14)


def test_adam_first_step_is_lr_times_sign():
    # after bias correction the first Adam step is lr * g / (|g| + eps)
    ps = [Value(1.0), Value(-1.0)]
    ps[0].grad, ps[1].grad = 3.0, -0.5
    Adam(ps, lr=0.01, eps=1e-300).step()
    assert [p.data for p in ps] == pytest.approx([0.99, -0.99], rel=1e-14)


def test_accepts_a_module_and_zero_grad():
    model = MLP(2, [3, 1], seed=0)
    opt = SGD(model, lr=0.1)
    assert opt.params == model.parameters()
    model([1.0, 2.0]).backward()
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda ps: SGD(ps, lr=-0.1), "lr"),
        (lambda ps: SGD(ps, lr=float("nan")), "lr"),
        (lambda ps: SGD(ps, lr=0.1, momentum=-0.5), "momentum"),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=-1), "weight_decay"),
        (lambda ps: SGD(ps, lr="fast"), "lr"),
        (lambda ps: SGD(ps, lr="0.1"), "lr must be a real number .*got str '0.1'"),
        (lambda ps: SGD(ps, lr=True), "lr must be a real number .*got bool True"),
        (lambda ps: SGD(ps, lr=None), "lr must be a real number .*got NoneType"),
        (lambda ps: SGD(ps, lr=0.1, momentum="0.9"), "momentum must be a real number"),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=False), "weight_decay must be a real number"),
        (lambda ps: Adam(ps, betas=("0.9", 0.999)), r"betas\[0\] must be a real number"),
        (lambda ps: Adam(ps, eps="1e-8"), "eps must be a real number"),
        (lambda ps: Adam(ps, eps=0), r"eps must be > 0 \(it keeps the step .* finite .*got 0"),
        (lambda ps: Adam(ps, eps=0.0), "eps must be > 0"),
        (lambda ps: Adam(ps, lr=-1e-3), "lr"),
        (lambda ps: Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]"),
        (lambda ps: Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]"),
        (lambda ps: Adam(ps, betas=0.9), "betas must be a pair"),
        (lambda ps: Adam(ps, eps=-1e-8), "eps"),
        (lambda ps: Adam(ps, weight_decay=-0.1), "weight_decay"),
    ],
)
def test_bad_hyper_parameters(make, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        make([Value(1.0)])


def test_bad_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\] must be a Value, got float"):
        Adam([Value(1.0), 2.0])


def test_adam_eps_0_is_refused_where_torch_gives_nan():
    # torch accepts eps=0 and turns a parameter whose gradient is 0 into NaN (0/0); we refuse eps=0
    torch = pytest.importorskip("torch")
    w = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    w.grad = torch.tensor(0.0, dtype=torch.float64)
    torch.optim.Adam([w], eps=0).step()
    assert math.isnan(w.item())
    with pytest.raises(ValueError, match="eps must be > 0"):
        Adam([Value(1.0)], eps=0)


def test_numpy_scalar_hyper_parameters_are_accepted():
    np = pytest.importorskip("numpy")
    p = Value(2.0)
    opt = SGD([p], lr=np.float32(0.5), momentum=np.int64(0), weight_decay=np.float64(0.25))
    assert type(opt.lr) is float and opt.lr == 0.5
    p.grad = 1.0
    opt.step()  # 2 - 0.5·(1 + 0.25·2)
    assert p.data == 1.25
    adam = Adam([Value(1.0)], lr=np.float64(0.01), betas=(np.float32(0.5), 0.9), eps=np.float64(1e-8))
    assert adam.betas == (0.5, 0.9)


def test_duplicate_parameters_are_refused_by_index():
    q, a = Value(1.0), Value(2.0)
    q.grad = 1.0
    with pytest.raises(ValueError, match=r"^SGD: params\[0\] and params\[1\] are the same Value"):
        SGD([q, q], lr=0.1)
    with pytest.raises(ValueError, match=r"^Adam: params\[1\], params\[3\] and params\[4\] are the same Value"):
        Adam([a, q, Value(3.0), q, q])
    assert q.data == 1.0
    # equal numbers in different Values are different parameters
    SGD([Value(1.0), Value(1.0)], lr=0.1)


def test_torch_warns_about_duplicate_parameters():
    torch = pytest.importorskip("torch")
    w = torch.tensor(1.0, requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        torch.optim.SGD([w, w], lr=0.1)


def state(opt):
    """A copy of the optimizer's state: velocity (SGD), t, m and v (Adam)."""
    names = ("_velocity", "t", "_m", "_v")
    return [list(x) if isinstance(x, list) else x for x in (getattr(opt, n, None) for n in names)]


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: Adam(ps, lr=0.1)], ids=["sgd", "sgd-momentum", "adam"])
def test_a_failing_step_changes_nothing(make):
    ps = [Value(1.0), Value(2.0), Value(3.0)]
    opt = make(ps)
    for p in ps:
        p.grad = 0.5
    opt.step()  # one good step, so there is optimizer state to keep
    data, before = [p.data for p in ps], state(opt)
    ps[0].grad, ps[1].grad, ps[2].grad = 1.0, None, 1.0
    with pytest.raises(TypeError, match=r"step: params\[1\]\.grad must be a number, got NoneType"):
        opt.step()
    assert [p.data for p in ps] == data and state(opt) == before
    ps[1].grad = 1e200 if isinstance(opt, Adam) else -1e308  # g² overflows (Adam); the step overflows (SGD)
    ps[1].data = data[1] = 1.75e308  # SGD: 1.75e308 + 0.1·1e308 > the largest float
    with pytest.raises(OverflowError, match=r"params\[1\].*no parameter was changed"):
        opt.step()
    assert [p.data for p in ps] == data and state(opt) == before
    ps[1].grad = math.nan
    with pytest.raises(ValueError, match=r"params\[1\] would become nan .*no parameter was changed"):
        opt.step()
    assert [p.data for p in ps] == data and state(opt) == before  # no NaN written into momentum, m or v


def test_sgd_overflow_by_hand():
    p = Value(1e308)
    p.grad = -1e308
    with pytest.raises(OverflowError, match=r"SGD\.step: params\[0\] would become inf \(data 1e\+308, grad -1e\+308\)"):
        SGD([p], lr=1.0).step()
    assert p.data == 1e308


@pytest.mark.parametrize("make", [lambda ps: Adam(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: SGD(ps, lr=0.1)])
def test_parameters_added_after_building_are_refused_not_skipped(make):
    a = Value(1.0)
    opt = make([a])
    a.grad = 1.0
    opt.step()
    moved = a.data
    b = Value(1.0)
    opt.params.append(b)
    a.grad = b.grad = 1.0
    with pytest.raises(ValueError, match=r"params changed since the optimizer was built \(1 then, 2 now\)"):
        opt.step()
    assert (a.data, b.data) == (moved, 1.0)  # nothing changed
    opt.params[:] = [Value(5.0)]  # the same length, other Values: refused too
    with pytest.raises(ValueError, match="params changed"):
        opt.step()


def test_a_single_value_as_params_is_named():
    with pytest.raises(TypeError, match=r"SGD: params must be an iterable of Values or a model, got Value \(a single"):
        SGD(Value(1.0), lr=0.1)


@pytest.mark.parametrize("make, name", [
    (lambda ps: SGD(ps, lr=10**400), r"lr must be in \[0.0, inf\)"),
    (lambda ps: SGD(ps, lr=0.1, momentum=10**400), r"momentum must be in \[0.0, inf\)"),
    (lambda ps: SGD(ps, lr=0.1, weight_decay=-10**400), r"weight_decay must be in \[0.0, inf\)"),
    (lambda ps: Adam(ps, lr=10**400), r"lr must be in \[0.0, inf\)"),
    (lambda ps: Adam(ps, betas=(10**400, 0.999)), r"betas\[0\] must be in \[0.0, 1.0\)"),
    (lambda ps: Adam(ps, betas=(0.9, 10**5000)), r"betas\[1\] must be in \[0.0, 1.0\)"),  # str() of it fails too
    (lambda ps: Adam(ps, eps=10**400), r"eps must be in \[0.0, inf\)"),
    (lambda ps: Adam(ps, weight_decay=10**400), r"weight_decay must be in \[0.0, inf\)"),
], ids=["sgd-lr", "momentum", "sgd-weight_decay", "adam-lr", "beta1", "beta2", "eps", "adam-weight_decay"])
def test_a_huge_int_hyper_parameter_is_a_value_error_naming_it(make, name):
    with pytest.raises(ValueError, match=f"^{name}, got a number too large for a float \\(int beyond ±1.8e308\\)$"):
        make([Value(1.0)])


def test_an_int_within_the_float_range_is_taken_exactly():
    assert SGD([Value(1.0)], lr=10**300).lr == 1e300  # float(10**300) is the nearest float, 1e300


def test_a_huge_int_grad_is_named_and_changes_nothing():
    p, q = Value(1.0), Value(2.0)
    opt = SGD([p, q], lr=0.1)
    p.grad, q.grad = 0.5, 10**400
    with pytest.raises(ValueError, match=r"^SGD\.step: params\[1\]\.grad is a number too large for a float "
                                         r"\(int beyond ±1.8e308\); no parameter was changed"):
        opt.step()
    assert (p.data, q.data) == (1.0, 2.0)
