"""Optimizers and schedules: the first updates against the formulas worked out by hand,
in-place updates, convergence to the least-squares solution, clipping, checkpoints.

The hand computations use Python floats, one element at a time, so that they share
no code with the vectorized optimizers.
"""

import math

import numpy as np
import pytest

from vae_from_scratch.optim import SGD, Adam, Momentum, Optimizer, make_optimizer
from vae_from_scratch.schedules import (constant, cosine_decay, exponential_decay, linear_warmup,
                                        step_decay)

P0 = [1.0, -2.0]                                          # a 2-element parameter …
G = [[0.5, -1.5], [0.25, 2.0], [-1.0, 0.1]]               # … and the gradients of 3 steps


def run_three_steps(opt, params, grads):
    """Feed the gradients G one step at a time; return the parameter after each step."""
    out = []
    for g in G:
        grads["x"][...] = g
        opt.step()
        out.append(params["x"].copy())
    return out


def two_element(dtype=np.float64):
    params = {"x": np.array(P0, dtype=dtype)}
    return params, {"x": np.zeros(2, dtype=dtype)}


# --- the first three steps, by hand ------------------------------------------------------
def test_sgd_first_three_steps_by_hand():
    params, grads = two_element()
    got = run_three_steps(SGD(params, grads, lr=0.1), params, grads)
    # p ← p − 0.1 g
    expected = [[1.0 - 0.05, -2.0 + 0.15],                # [0.95, −1.85]
                [0.95 - 0.025, -1.85 - 0.2],              # [0.925, −2.05]
                [0.925 + 0.1, -2.05 - 0.01]]              # [1.025, −2.06]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_momentum_first_three_steps_by_hand():
    params, grads = two_element()
    opt = Momentum(params, grads, lr=0.1, momentum=0.9)
    got = run_three_steps(opt, params, grads)
    # v ← 0.9 v − 0.1 g,  p ← p + v
    v1 = [-0.05, 0.15]
    v2 = [0.9 * -0.05 - 0.025, 0.9 * 0.15 - 0.2]          # [−0.07, −0.065]
    v3 = [0.9 * -0.07 + 0.1, 0.9 * -0.065 - 0.01]         # [0.037, −0.0685]
    p1 = [1.0 + v1[0], -2.0 + v1[1]]
    p2 = [p1[0] + v2[0], p1[1] + v2[1]]
    p3 = [p2[0] + v3[0], p2[1] + v3[1]]
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-12)
    np.testing.assert_allclose(p3, [0.917, -1.9835], rtol=1e-12)
    np.testing.assert_allclose(opt.state["velocity"]["x"], v3, rtol=1e-12)


def test_nesterov_first_three_steps_by_hand():
    params, grads = two_element()
    got = run_three_steps(Momentum(params, grads, lr=0.1, momentum=0.9, nesterov=True),
                          params, grads)
    mu, lr = 0.9, 0.1
    p, v, expected = list(P0), [0.0, 0.0], []
    for g in G:
        for i in range(2):
            v[i] = mu * v[i] - lr * g[i]
            p[i] = p[i] + mu * v[i] - lr * g[i]           # the look-ahead step
        expected.append(list(p))
    np.testing.assert_allclose(expected[0], [0.905, -1.715], rtol=1e-12)   # by hand
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def adam_by_hand(lr, beta1, beta2, eps, weight_decay=0.0):
    p, m, v, out = list(P0), [0.0, 0.0], [0.0, 0.0], []
    for t, g in enumerate(G, start=1):
        for i in range(2):
            gi = g[i] + weight_decay * p[i]
            m[i] = beta1 * m[i] + (1 - beta1) * gi
            v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
            m_hat = m[i] / (1 - beta1 ** t)
            v_hat = v[i] / (1 - beta2 ** t)
            p[i] = p[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(list(p))
    return out, m, v


def test_adam_first_three_steps_by_hand():
    params, grads = two_element()
    opt = Adam(params, grads, lr=0.01)
    got = run_three_steps(opt, params, grads)
    expected, m, v = adam_by_hand(0.01, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(opt.state["m"]["x"], m, rtol=1e-12)
    np.testing.assert_allclose(opt.state["v"]["x"], v, rtol=1e-12)
    # step 1: the bias correction makes m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε)
    g = G[0]
    step1 = [P0[i] - 0.01 * g[i] / (abs(g[i]) + 1e-8) for i in range(2)]
    np.testing.assert_allclose(got[0], step1, rtol=1e-12)
    np.testing.assert_allclose(got[0], [0.99, -1.99], rtol=1e-8)     # ≈ p − lr·sign(g)


def test_adam_weight_decay_adds_l2_gradient():
    params, grads = two_element()
    got = run_three_steps(Adam(params, grads, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6,
                               weight_decay=0.1), params, grads)
    expected, _, _ = adam_by_hand(0.01, 0.8, 0.99, 1e-6, weight_decay=0.1)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.array_equal(grads["x"], G[-1])                          # grads not touched


# --- in place, dtype -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_updates_in_place_and_float32_stays_float32(name):
    params, grads = two_element(np.float32)
    x = params["x"]
    view = x[:1]                                           # a reference held elsewhere
    opt = make_optimizer(name, params, grads, lr=step_decay(0.1, 1, 0.5), clip_norm=1.0)
    got = run_three_steps(opt, params, grads)
    assert params["x"] is x and grads["x"].dtype == np.float32
    assert x.dtype == np.float32 and view[0] == got[-1][0] != P0[0]     # the view saw it
    assert all(b.dtype == np.float32 for bufs in opt.state.values() for b in bufs.values())
    ref_params, ref_grads = two_element(np.float64)        # the same run in float64
    ref = make_optimizer(name, ref_params, ref_grads, lr=step_decay(0.1, 1, 0.5), clip_norm=1.0)
    np.testing.assert_allclose(got, run_three_steps(ref, ref_params, ref_grads), rtol=1e-5)


def test_np_float64_learning_rate_does_not_upcast():
    params, grads = two_element(np.float32)
    grads["x"][...] = 1.0
    opt = SGD(params, grads, lr=lambda t: np.float64(0.1))
    assert type(opt.current_lr()) is float                 # np.float64 · float32 would be float64
    opt.step()
    assert params["x"].dtype == np.float32
    np.testing.assert_array_equal(params["x"], np.float32(P0) - np.float32(0.1))


def test_zero_grad_fills_the_same_arrays_with_zeros():
    params, grads = two_element()
    g = grads["x"]
    g[...] = [3.0, 4.0]
    SGD(params, grads).zero_grad()
    assert grads["x"] is g and np.array_equal(g, [0.0, 0.0])


# --- convergence on a least-squares problem (slides §1, Example 1.5) ----------------------
def least_squares(rng, dtype=np.float64):
    """½‖A x − b‖² with x split into two tensors, w (4,) and c (1,) as in a layer;
    backward(params, grads) writes the gradient Aᵀ(A x − b) into grads."""
    A, b = rng.standard_normal((30, 5)).astype(dtype), rng.standard_normal(30).astype(dtype)
    params = {"w": rng.standard_normal(4).astype(dtype), "c": rng.standard_normal(1).astype(dtype)}
    grads = {k: np.zeros_like(p) for k, p in params.items()}

    def backward(params, grads):
        x = np.concatenate([params["w"], params["c"]])
        g = A.T @ (A @ x - b)                              # ∇ ½‖A x − b‖²
        grads["w"][...], grads["c"][...] = g[:4], g[4:]

    return A, b, params, grads, backward


@pytest.mark.parametrize("name,kw,steps", [
    ("sgd", dict(lr=0.5), 400),                            # lr in units of 1/L
    ("momentum", dict(lr=0.5, momentum=0.5), 400),
    ("momentum", dict(lr=0.2, momentum=0.9, nesterov=True), 400),
    ("adam", dict(lr=0.05), 2000),
    ("adam", dict(lr=linear_warmup(cosine_decay(0.1, 1000), 10)), 1010),
])
def test_converges_to_the_least_squares_solution(name, kw, steps, rng):
    A, b, params, grads, backward = least_squares(rng)
    if name != "adam":
        kw = dict(kw, lr=kw["lr"] / np.linalg.eigvalsh(A.T @ A).max())   # L = λmax(AᵀA)
    opt = make_optimizer(name, params, grads, **kw)
    for _ in range(steps):
        backward(params, grads)
        opt.step()
    x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(np.concatenate([params["w"], params["c"]]), x_star, atol=1e-4)


# --- schedules -------------------------------------------------------------------------
def test_schedules_against_their_closed_forms():
    assert [constant(0.1)(t) for t in (0, 1, 1000)] == [0.1, 0.1, 0.1]
    s = step_decay(0.1, every=10, factor=0.5)
    np.testing.assert_allclose([s(t) for t in (0, 9, 10, 19, 20, 35)],
                               [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125], rtol=1e-15)
    s = exponential_decay(0.1, rate=0.5, every=10)
    np.testing.assert_allclose([s(t) for t in (0, 5, 10, 20)],
                               [0.1, 0.1 / math.sqrt(2), 0.05, 0.025], rtol=1e-15)
    s = exponential_decay(0.2, rate=0.9)
    np.testing.assert_allclose([s(t) for t in (0, 1, 2, 3)],
                               [0.2, 0.18, 0.162, 0.1458], rtol=1e-14)
    s = cosine_decay(0.1, total_steps=100, final_lr=0.01)
    np.testing.assert_allclose(
        [s(t) for t in (0, 25, 50, 100, 150)],
        [0.1, 0.01 + 0.045 * (1 + math.sqrt(0.5)), 0.055, 0.01, 0.01], rtol=1e-14)
    assert cosine_decay(1.0, 10)(10) == pytest.approx(0.0, abs=1e-16)


def test_linear_warmup():
    s = linear_warmup(0.1, 4)
    np.testing.assert_allclose([s(t) for t in range(6)],
                               [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rtol=1e-15)
    s = linear_warmup(step_decay(0.1, 10, 0.5), 5)        # the decay starts after the warmup
    np.testing.assert_allclose([s(t) for t in (0, 4, 5, 14, 15, 25)],
                               [0.02, 0.1, 0.1, 0.1, 0.05, 0.025], rtol=1e-15)
    s = linear_warmup(cosine_decay(0.1, 100), 0)          # no warmup: the schedule itself
    assert [s(t) for t in (0, 50, 100)] == [cosine_decay(0.1, 100)(t) for t in (0, 50, 100)]


def test_optimizer_uses_the_schedule_at_step_count():
    params = {"x": np.zeros(1)}
    grads = {"x": np.ones(1)}
    opt = SGD(params, grads, lr=step_decay(1.0, every=1, factor=0.5))
    lrs = []
    for _ in range(3):
        lrs.append(opt.current_lr())
        opt.step()
    assert lrs == [1.0, 0.5, 0.25] and opt.step_count == 3
    assert params["x"][0] == -(1.0 + 0.5 + 0.25)


@pytest.mark.parametrize("make,match", [
    (lambda: constant(0.0), "lr must be > 0"),
    (lambda: constant(-1e-3), "lr must be > 0"),
    (lambda: constant(float("nan")), "lr must be a finite number"),
    (lambda: step_decay(0.1, 0, 0.5), "every must be an integer ≥ 1"),
    (lambda: step_decay(0.1, 2.5, 0.5), "every must be an integer ≥ 1"),
    (lambda: step_decay(0.1, 10, 1.5), r"factor must be in \(0, 1\]"),
    (lambda: exponential_decay(0.1, 0.0), r"rate must be in \(0, 1\]"),
    (lambda: exponential_decay(0.1, 0.5, every=0), "every must be > 0"),
    (lambda: cosine_decay(0.1, 0), "total_steps must be an integer ≥ 1"),
    (lambda: cosine_decay(0.1, 10, final_lr=0.2), r"final_lr must be in \[0, 0.1\]"),
    (lambda: linear_warmup(0.1, -1), "warmup_steps must be an integer ≥ 0"),
    (lambda: linear_warmup(-0.1, 5), "lr must be > 0"),
])
def test_schedule_arguments_are_validated(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_learning_rates_and_hyperparameters():
    params, grads = two_element()
    for lr in (0.0, -0.1, "0.1", float("inf")):
        with pytest.raises(ValueError, match="lr must be"):
            SGD(params, grads, lr=lr)
    opt = SGD(params, grads, lr=lambda t: 0.1 if t < 1 else float("nan"))
    opt.step()
    with pytest.raises(ValueError, match="learning rate at step 1 must be a finite number"):
        opt.step()
    with pytest.raises(ValueError, match="clip_norm must be > 0"):
        SGD(params, grads, clip_norm=0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        Momentum(params, grads, momentum=1.0)
    with pytest.raises(ValueError, match=r"beta2 must be in \[0, 1\)"):
        Adam(params, grads, beta2=1.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        Adam(params, grads, eps=0.0)
    with pytest.raises(ValueError, match="weight_decay must be ≥ 0"):
        Adam(params, grads, weight_decay=-1e-4)


# --- gradient clipping -----------------------------------------------------------------
def clipping_problem():
    """Two tensors whose global gradient norm is ‖(3, 0, 4)‖ = 5."""
    params = {"a": np.zeros(1), "b": np.zeros(2)}
    grads = {"a": np.array([3.0]), "b": np.array([0.0, 4.0])}
    return params, grads


@pytest.mark.parametrize("c", [1.0, 4.0, 4.999])
def test_clipping_scales_the_global_norm_to_exactly_c(c):
    params, grads = clipping_problem()
    norm = SGD(params, grads, lr=1.0, clip_norm=c).step()
    assert norm == 5.0                                     # the norm before clipping
    step = np.concatenate([params["a"], params["b"]])      # = −lr · clipped g
    assert np.linalg.norm(step) == pytest.approx(c, rel=1e-15)
    np.testing.assert_allclose(step, -np.array([3.0, 0.0, 4.0]) * c / 5.0, rtol=1e-15)  # direction
    assert np.array_equal(grads["a"], [3.0]) and np.array_equal(grads["b"], [0.0, 4.0])


@pytest.mark.parametrize("c", [5.0, 10.0])
def test_clipping_leaves_a_norm_at_or_below_c_untouched(c):
    params, grads = clipping_problem()
    assert SGD(params, grads, lr=1.0, clip_norm=c).step() == 5.0
    assert np.array_equal(params["a"], [-3.0]) and np.array_equal(params["b"], [0.0, -4.0])


def test_adam_sees_the_clipped_gradient():
    params, grads = clipping_problem()
    opt = Adam(params, grads, clip_norm=2.5)
    assert opt.step() == 5.0
    np.testing.assert_allclose(opt.state["m"]["b"], [0.0, 0.1 * 4.0 * 0.5], rtol=1e-15)
    np.testing.assert_allclose(opt.state["v"]["a"], [0.001 * 1.5 ** 2], rtol=1e-15)


def test_step_returns_the_gradient_norm_without_clipping():
    params, grads = clipping_problem()
    assert Momentum(params, grads).step() == 5.0
    assert Momentum(params, grads).grad_norm() == 5.0


# --- non-finite gradients, mismatched dicts, make_optimizer -------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_non_finite_gradient_raises_and_writes_nothing(name, bad):
    params, grads = clipping_problem()
    grads["b"][1] = bad
    opt = make_optimizer(name, params, grads, clip_norm=1.0)
    with pytest.raises(FloatingPointError, match=r"NaN or inf in grads \['b'\]"):
        opt.step()
    assert not params["a"].any() and not params["b"].any() and opt.step_count == 0


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_overflowing_gradient_norm_raises():
    params = {"big": np.zeros(2, np.float32), "small": np.zeros(1, np.float32)}
    grads = {"big": np.full(2, 1e30, np.float32), "small": np.ones(1, np.float32)}
    with pytest.raises(FloatingPointError, match=r"overflowed float32 .*grads\['big'\]"):
        SGD(params, grads).step()


@pytest.mark.parametrize("grads,match", [
    ({"W": np.zeros((2, 3))}, r"missing from grads: \['b'\]"),
    ({"W": np.zeros((2, 3)), "b": np.zeros(2), "c": np.zeros(1)}, r"not in params: \['c'\]"),
    ({"W": np.zeros((3, 2)), "b": np.zeros(2)}, r"grads\['W'\] must have the shape .*\(2, 3\)"),
    ({"W": np.zeros((2, 3), np.float32), "b": np.zeros(2)}, r"got \(2, 3\) float32"),
    ({"W": np.zeros((2, 3), int), "b": np.zeros(2)}, r"grads\['W'\] must be a floating-point"),
])
def test_mismatched_params_and_grads_raise(grads, match):
    params = {"W": np.zeros((2, 3)), "b": np.zeros(2)}
    with pytest.raises(ValueError, match=match):
        Adam(params, grads)


def test_empty_params_raise():
    with pytest.raises(ValueError, match="params is empty"):
        SGD({}, {})


def test_make_optimizer():
    params, grads = two_element()
    opt = make_optimizer("Adam", params, grads, lr=0.02, beta1=0.5)
    assert isinstance(opt, Adam) and isinstance(opt, Optimizer)
    assert (opt.lr, opt.beta1) == (0.02, 0.5)
    assert isinstance(make_optimizer("momentum", params, grads, nesterov=True), Momentum)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; known optimizers: "
                                         "sgd, momentum, adam"):
        make_optimizer("rmsprop", params, grads)
    with pytest.raises(TypeError):                         # momentum is its own class
        SGD(params, grads, momentum=0.9)


# --- checkpoints -------------------------------------------------------------------------
OPTS = [(SGD, dict(lr=0.01)),
        (Momentum, dict(lr=0.01, momentum=0.9, nesterov=True, clip_norm=3.0)),
        (Adam, dict(lr=cosine_decay(0.05, 20), weight_decay=1e-3, clip_norm=3.0))]


@pytest.mark.parametrize("cls,kw", OPTS, ids=lambda v: getattr(v, "__name__", ""))
def test_state_dict_round_trip_through_npz_is_bit_identical(cls, kw, rng, tmp_path):
    _, _, params_a, grads_a, backward = least_squares(rng, np.float32)
    opt_a = cls(params_a, grads_a, **kw)
    for _ in range(5):
        backward(params_a, grads_a)
        opt_a.step()
    state = opt_a.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    assert str(state["optimizer"]) == cls.__name__ and int(state["step_count"]) == 5
    expected_keys = {"optimizer", "step_count"} | {f"{buf}.{k}" for buf in cls.buffers
                                                   for k in ("w", "c")}
    assert set(state) == expected_keys
    np.savez(tmp_path / "opt.npz", **state)
    loaded = dict(np.load(tmp_path / "opt.npz", allow_pickle=False))

    params_b = {k: p.copy() for k, p in params_a.items()}
    grads_b = {k: np.zeros_like(p) for k, p in params_b.items()}
    opt_b = cls(params_b, grads_b, **kw)
    opt_b.load_state_dict(loaded)
    assert opt_b.step_count == 5
    for _ in range(5):
        for params, grads, opt in ((params_a, grads_a, opt_a), (params_b, grads_b, opt_b)):
            backward(params, grads)
            opt.step()
    for k in params_a:
        assert params_b[k].dtype == np.float32
        assert np.array_equal(params_a[k], params_b[k])
    # the saved state was a copy: it did not move with the 5 further steps
    if cls is Adam:
        assert not np.array_equal(state["m.w"], opt_a.state["m"]["w"])


def adam_state(shape=(2,)):
    params = {"x": np.ones(shape)}
    grads = {"x": np.ones(shape)}
    opt = Adam(params, grads)
    opt.step()
    return opt.state_dict()


def test_load_state_dict_rejects_another_optimizer():
    params, grads = two_element()
    with pytest.raises(ValueError, match="expected the state of optimizer Momentum, "
                                         "got the state of optimizer Adam"):
        Momentum(params, grads).load_state_dict(adam_state())
    with pytest.raises(ValueError, match="without the entry 'optimizer'"):
        Adam(params, grads).load_state_dict({"step_count": np.array(1)})


def test_load_state_dict_rejects_wrong_shapes_and_keys():
    params, grads = two_element()
    opt = Adam(params, grads)
    with pytest.raises(ValueError, match=r"'m.x' must have shape \(2,\) and dtype float64, "
                                         r"got \(3,\) float64"):
        opt.load_state_dict(adam_state((3,)))
    state = adam_state()
    del state["v.x"]
    with pytest.raises(ValueError, match=r"missing: \['v.x'\], unexpected: \[\]"):
        opt.load_state_dict(state)
    state = dict(adam_state(), **{"m.y": np.zeros(2)})
    with pytest.raises(ValueError, match=r"missing: \[\], unexpected: \['m.y'\]"):
        opt.load_state_dict(state)
    state = adam_state()
    state["v.x"] = state["v.x"].astype(np.float32)
    with pytest.raises(ValueError, match="dtype float64, got \\(2,\\) float32"):
        opt.load_state_dict(state)
    # nothing was loaded by the failed attempts
    assert opt.step_count == 0 and not opt.state["m"]["x"].any()


# --- CuPy, where there is a GPU ------------------------------------------------------------
@pytest.mark.gpu
def test_adam_on_cupy_arrays_matches_numpy():
    cp = pytest.importorskip("cupy")
    try:
        cp.zeros(1)
    except Exception as e:                                 # cupy installed, no usable GPU
        pytest.skip(f"cupy cannot allocate: {e}")
    params, grads = two_element()
    expected = run_three_steps(Adam(params, grads, lr=0.01, clip_norm=1.0), params, grads)
    params = {"x": cp.asarray(P0)}
    grads = {"x": cp.zeros(2)}
    x = params["x"]
    opt = Adam(params, grads, lr=0.01, clip_norm=1.0)
    got = [cp.asnumpy(p) for p in run_three_steps(opt, params, grads)]
    assert params["x"] is x and isinstance(x, cp.ndarray)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert all(type(v) is np.ndarray for v in opt.state_dict().values())
    Adam({"x": cp.asarray(P0)}, {"x": cp.zeros(2)}).load_state_dict(opt.state_dict())


def test_adam_in_buffers_is_bit_identical_to_the_textbook_expression():
    """The update reuses two buffers instead of a temporary per operation; the order of
    operations is kept, so every step equals the one-line formula bit for bit (and
    published results stay reproducible)."""
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((40, 78)).astype(np.float32),
              "b": rng.standard_normal(7).astype(np.float32)}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    by_hand = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v2 = {k: np.zeros_like(v) for k, v in params.items()}
    opt = Adam(params, grads, lr=1e-3)
    for t in range(1, 21):
        for k in grads:
            grads[k][...] = rng.standard_normal(grads[k].shape)
        opt.step()
        for k, g in grads.items():
            m[k] *= 0.9
            m[k] += (1 - 0.9) * g
            v2[k] *= 0.999
            v2[k] += (1 - 0.999) * (g * g)
            by_hand[k] -= 1e-3 * (m[k] / (1 - 0.9 ** t)) / ((v2[k] / (1 - 0.999 ** t)) ** 0.5 + 1e-8)
        for k in params:
            np.testing.assert_array_equal(params[k], by_hand[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.01}, {"clip_norm": 0.5},
                                {"beta1": 0.5, "beta2": 0.9, "eps": 1e-3, "lr": 3e-2}])
def test_compiled_adam_is_the_reference_bit_for_bit(dtype, kw):
    """The Numba backend's one-pass update (backend/numba_optim.py) against optim.Adam's
    own NumPy lines, for ten steps on tensors of awkward sizes (one element, odd shapes, a
    non-contiguous view, which falls back to the reference)."""
    from vae_from_scratch.backend import get_backend
    try:
        numba = get_backend("numba")
    except Exception as why:                                       # noqa: BLE001
        pytest.skip(f"the Numba backend is not available here: {why}")
    rng = np.random.default_rng(7)
    shapes = {"odd": (3, 5), "w": (16, 1, 6, 6), "b": (1,), "big": (2048, 64)}
    start = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    runs = []
    for backend in (None, numba):
        params = {k: v.copy() for k, v in start.items()}
        params["view"] = np.zeros((6, 4), dtype)[:, ::2]           # not contiguous
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        opt = Adam(params, grads, **{"lr": 1e-3, **kw}, backend=backend)
        draws = np.random.default_rng(8)
        for _ in range(10):
            for g in grads.values():
                g[...] = draws.standard_normal(g.shape).astype(dtype) * 3
            opt.step()
        runs.append((params, opt.state))
    (p_ref, s_ref), (p_fast, s_fast) = runs
    for name in p_ref:
        assert p_fast[name].dtype == dtype
        np.testing.assert_array_equal(p_fast[name], p_ref[name], err_msg=name)
        for buf in ("m", "v"):
            np.testing.assert_array_equal(s_fast[buf][name], s_ref[buf][name], err_msg=name)
    assert not np.array_equal(p_ref["big"], start["big"])           # it did move
