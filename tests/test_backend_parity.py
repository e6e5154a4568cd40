"""Every fast backend computes what the NumPy reference computes.

Each kernel runs on every backend that loads here (Numba, CuPy), and on the CuPy
backend's kernels run with NumPy arrays (so that the GPU code is checked on every
machine), on the grid of shapes of the gradient checks (batch 1, odd sizes,
stride > 1, stride > kernel, padding, kernel equal to the input, output padding)
and the shapes the models use (the background encoder's 30×30 kernel at stride 30, the
foreground encoder's first layer, which Numba computes with its direct kernel),
forward and backward, need_dx=False included, and is compared with the NumPy
reference: float64 to 1e-10 and float32 to 1e-4, relative to the largest entry.
Results must stay on the backend's device.  A backend that cannot load is skipped
with the reason it gives.  Last, the whole dual VAE's loss and gradients, for one
seed and fixed ε, agree across backends.
"""

import numpy as np
import pytest
from test_conv import conv_grid, convT_grid
from test_pool import pool_grid

from vae_from_scratch.backend import (Backend, BackendUnavailable, array_module, get_backend,
                                      to_numpy)
from vae_from_scratch.backend.cupy_backend import make_kernels
from vae_from_scratch.models.dual_vae import DualVAE

REF = get_backend("numpy")
TOL = {np.float64: 1e-10, np.float32: 1e-4}
DTYPES = [np.float64, np.float32]

# beyond the shared grids: the shapes the models use, and the extreme ones
CONV_EXTRA = [
    (2, 1, 4, 60, 60, 30, 30, 0),       # the dual VAE's background encoder
    (2, 1, 3, 60, 60, 6, 2, 2),         # its foreground encoder's first convolution
    (3, 1, 16, 60, 60, 6, 2, 2),        # ... at its 16 channels: Numba's direct kernel (numba_direct.py)
    (3, 2, 3, 8, 8, 4, 2, 1),           # conv_vae: k = 4, s = 2, p = 1
    (2, 2, 2, 7, 7, 2, 3, 0),           # stride > kernel: skipped rows and columns
    (1, 1, 1, 1, 1, 1, 1, 0),           # a single pixel
]
CONVT_EXTRA = [
    (2, 4, 1, 2, 2, 30, 30, 0, (0, 0)),  # a 30×30 kernel at stride 30, back to 60×60
    (2, 8, 1, 15, 15, 4, 2, 1, (0, 0)),  # the dual VAE's last decoder layer
    (2, 2, 3, 3, 4, 2, 3, 0, (2, 1)),    # stride > kernel, unequal output paddings
]
POOL_EXTRA = [(2, 3, 30, 30, 2, 2), (1, 2, 9, 9, 3, 4)]



@pytest.fixture(params=["numba", pytest.param("cupy", marks=pytest.mark.gpu), "cupy-kernels-on-numpy"])
def bk(request):
    if request.param == "cupy-kernels-on-numpy":
        return Backend(name="cupy-kernels-on-numpy", xp=np, **make_kernels(np))
    try:
        return get_backend(request.param)
    except BackendUnavailable as why:
        pytest.skip(str(why))


def draw(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def check(bk, got, want, dtype, what=""):
    """`got` lives on bk's device, and matches `want` (a NumPy array): same shape and
    dtype, |got − want| ≤ tol · max|want| (tol by dtype)."""
    assert array_module(got) is bk.xp, f"{what}: a {type(got).__name__} left the device"
    got = to_numpy(got)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
    error = float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale
    assert error <= TOL[dtype], f"{what}: relative error {error:.2e} > {TOL[dtype]:.0e}"


def output_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


# --- parity with the NumPy reference ---------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,C,F,H,W,k,s,p", list(conv_grid()) + CONV_EXTRA)
def test_conv2d_matches_the_reference(bk, N, C, F, H, W, k, s, p, dtype):
    rng = np.random.default_rng([N, C, F, H, W, k, s, p])
    x, w, b = draw(rng, (N, C, H, W), dtype), draw(rng, (F, C, k, k), dtype), draw(rng, F, dtype)
    dout = draw(rng, (N, F, output_size(H, k, s, p), output_size(W, k, s, p)), dtype)
    out_ref, cache_ref = REF.conv2d_forward(x, w, b, s, p)
    grads_ref = REF.conv2d_backward(dout, cache_ref)

    out, cache = bk.conv2d_forward(bk.asarray(x), bk.asarray(w), bk.asarray(b), s, p)
    check(bk, out, out_ref, dtype, "out")
    for name, got, want in zip(("dx", "dw", "db"), bk.conv2d_backward(bk.asarray(dout), cache),
                               grads_ref):
        check(bk, got, want, dtype, name)
    dx, dw, db = bk.conv2d_backward(bk.asarray(dout), cache, need_dx=False)
    assert dx is None
    check(bk, dw, grads_ref[1], dtype, "dw without dx")
    check(bk, db, grads_ref[2], dtype, "db without dx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,C,F,H,W,k,s,p,op", list(convT_grid()) + CONVT_EXTRA, ids=str)
def test_conv_transpose2d_matches_the_reference(bk, N, C, F, H, W, k, s, p, op, dtype):
    rng = np.random.default_rng([N, C, F, H, W, k, s, p, *op])
    x, w, b = draw(rng, (N, C, H, W), dtype), draw(rng, (C, F, k, k), dtype), draw(rng, F, dtype)
    out_ref, cache_ref = REF.conv_transpose2d_forward(x, w, b, s, p, op)
    dout = draw(rng, out_ref.shape, dtype)

    out, cache = bk.conv_transpose2d_forward(bk.asarray(x), bk.asarray(w), bk.asarray(b), s, p, op)
    check(bk, out, out_ref, dtype, "out")
    for name, got, want in zip(("dx", "dw", "db"),
                               bk.conv_transpose2d_backward(bk.asarray(dout), cache),
                               REF.conv_transpose2d_backward(dout, cache_ref)):
        check(bk, got, want, dtype, name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("N,C,H,W,k,s", list(pool_grid()) + POOL_EXTRA)
def test_pooling_matches_the_reference(bk, kind, N, C, H, W, k, s, dtype):
    s = k if s is None else s
    rng = np.random.default_rng([N, C, H, W, k, s])
    x = draw(rng, (N, C, H, W), dtype)
    forward, backward = f"{kind}_pool2d_forward", f"{kind}_pool2d_backward"
    out_ref, cache_ref = getattr(REF, forward)(x, k, s)
    dout = draw(rng, out_ref.shape, dtype)
    out, cache = getattr(bk, forward)(bk.asarray(x), k, s)
    check(bk, out, out_ref, dtype, "out")
    check(bk, getattr(bk, backward)(bk.asarray(dout), cache),
          getattr(REF, backward)(dout, cache_ref), dtype, "dx")


@pytest.mark.parametrize("k,s", [(2, 2), (3, 1), (2, 1), (30, 30)])
def test_max_pool_ties_go_to_the_first_maximum_as_in_the_reference(bk, k, s):
    """Binary images are full of ties: every gradient must go exactly where the
    reference sends it (the first maximum of the window in row-major order)."""
    rng = np.random.default_rng(k * 10 + s)
    x = (rng.random((3, 2, 60, 60)) < 0.5).astype(np.float32)
    x[0, 0] = 1.0                                               # whole windows tied
    out_ref, cache_ref = REF.max_pool2d_forward(x, k, s)
    dout = rng.standard_normal(out_ref.shape).astype(np.float32)
    _, cache = bk.max_pool2d_forward(bk.asarray(x), k, s)
    # a gradient sent to the wrong element is off by O(1); overlapping windows (s < k)
    # may add their shares in another order, which is round-off
    check(bk, bk.max_pool2d_backward(bk.asarray(dout), cache),
          REF.max_pool2d_backward(dout, cache_ref), np.float32, "dx")


def test_max_pool_tie_by_hand(bk):
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])                 # a three-way tie for the maximum
    out, cache = bk.max_pool2d_forward(bk.asarray(x), 2, 2)
    assert float(to_numpy(out)[0, 0, 0, 0]) == 3.0
    dx = bk.max_pool2d_backward(bk.asarray(np.array([[[[5.0]]]])), cache)
    np.testing.assert_array_equal(to_numpy(dx), [[[[0.0, 5.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,n_in,n_out", [(1, 1, 1), (1, 5, 3), (7, 4, 6)])
def test_dense_matches_the_reference(bk, N, n_in, n_out, dtype):
    rng = np.random.default_rng([N, n_in, n_out])
    x, w, b = draw(rng, (N, n_in), dtype), draw(rng, (n_out, n_in), dtype), draw(rng, n_out, dtype)
    dy = draw(rng, (N, n_out), dtype)
    y_ref, cache_ref = REF.dense_forward(x, w, b)
    grads_ref = REF.dense_backward(dy, cache_ref)
    y, cache = bk.dense_forward(bk.asarray(x), bk.asarray(w), bk.asarray(b))
    check(bk, y, y_ref, dtype, "y")
    for name, got, want in zip(("dx", "dw", "db"), bk.dense_backward(bk.asarray(dy), cache),
                               grads_ref):
        check(bk, got, want, dtype, name)
    dx, dw, db = bk.dense_backward(bk.asarray(dy), cache, need_dx=False)
    assert dx is None
    check(bk, dw, grads_ref[1], dtype, "dw without dx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 3, 4), (1, 2, 5, 2)])
def test_unpool_matches_the_reference(bk, r, shape, dtype):
    rng = np.random.default_rng([r, *shape])
    x = draw(rng, shape, dtype)
    out_ref, cache_ref = REF.unpool2d_forward(x, r)
    dout = draw(rng, out_ref.shape, dtype)
    out, cache = bk.unpool2d_forward(bk.asarray(x), r)
    check(bk, out, out_ref, dtype, "out")
    check(bk, bk.unpool2d_backward(bk.asarray(dout), cache), REF.unpool2d_backward(dout, cache_ref),
          dtype, "dx")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_whole_dual_vae_agrees_across_backends(bk, dtype):
    """Same seed, same ε: the same loss, ELBOs and every gradient (the reference sizes)."""
    rng = np.random.default_rng(5)
    x = (rng.random((6, 1, 60, 60)) < 0.4).astype(dtype)
    eps = (rng.standard_normal((6, 4)).astype(dtype), rng.standard_normal((6, 1)).astype(dtype))
    results = {}
    for backend in (REF, bk):
        model = DualVAE(rng=np.random.default_rng(0), backend=backend, dtype=dtype)
        estimate = model.loss_and_grads(backend.asarray(x),
                                        eps=tuple(backend.asarray(e) for e in eps))
        results[backend.name] = (estimate, {k: to_numpy(v).copy() for k, v in model.grads.items()})
    (ref_est, ref_grads), (est, grads) = results["numpy"], results[bk.name]
    for name in ("loss", "elbo1", "elbo2", "kl1", "kl2"):
        want, got = getattr(ref_est, name), getattr(est, name)
        assert abs(got - want) <= TOL[dtype] * max(1.0, abs(want)), (name, got, want)
    assert set(grads) == set(ref_grads)
    for name in ref_grads:
        check(bk, bk.asarray(grads[name]), ref_grads[name], dtype, name)
