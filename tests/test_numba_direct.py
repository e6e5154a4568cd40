"""The Numba backend's direct convolution for one input channel (backend/numba_direct.py).

Its forward pass (with the bias) and weight gradient (with the bias gradient) against
the NumPy reference, float64 to 1e-10 and float32 to 1e-4 (as tests/test_backend_parity.py),
on a grid that breaks the usual mistakes: batch 1 and a batch of 9 (more images than
groups, unequal groups), odd sizes, stride 1, 2, 3, padding 0, 1, 2, the kernel equal to
the input, C_out ∈ {1, 3, 16, 32}, and the dual VAE's first layer at batch 32.  Then the
layer's gradient check on the Numba backend in float64 through the dispatch of
numba_conv, and the determinism of the weight gradient: the same bits on every call
and with 1 or 2 Numba threads.  Each (kernel, stride, C_out) compiles its own kernels
(a few seconds the first time, cached after).
"""

import numba
import numpy as np
import pytest

from vae_from_scratch.backend import BackendUnavailable, get_backend

try:
    NUMBA = get_backend("numba")
except BackendUnavailable as why:                       # pragma: no cover - Numba is in `test`
    pytest.skip(str(why), allow_module_level=True)

from vae_from_scratch.backend import numba_conv, numba_direct  # noqa: E402
from vae_from_scratch.models.dual_vae import DualVAE  # noqa: E402
from vae_from_scratch.nn import Conv2D  # noqa: E402

REF = get_backend("numpy")
TOL = {np.float64: 1e-10, np.float32: 1e-4}

# N, F, H, W, k, s, p  (C = 1)
DIRECT_GRID = [
    (1, 1, 5, 7, 3, 1, 0),           # batch 1, one output channel, odd sizes
    (1, 1, 5, 7, 3, 1, 2),           # the same with padding 2
    (2, 3, 7, 8, 3, 3, 1),           # stride 3 = kernel
    (1, 3, 9, 5, 3, 3, 2),           # stride 3, padding 2, W < H
    (3, 32, 5, 5, 5, 1, 0),          # kernel equal to the input: a single output pixel
    (2, 32, 5, 5, 5, 1, 2),          # the same with padding
    (9, 16, 11, 13, 6, 2, 1),        # 9 images in 8 groups, odd sizes, the dual VAE's window
    (32, 16, 60, 60, 6, 2, 2),       # the dual VAE's first layer at its training batch
]


def output_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def relative_error(got, want):
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
    return float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale


def case(N, F, H, W, k, s, p, dtype):
    rng = np.random.default_rng([N, F, H, W, k, s, p])
    x = rng.standard_normal((N, 1, H, W)).astype(dtype)
    w = rng.standard_normal((F, 1, k, k)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    dy = rng.standard_normal((N, F, output_size(H, k, s, p), output_size(W, k, s, p))).astype(dtype)
    return x, w, b, dy


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,F,H,W,k,s,p", DIRECT_GRID)
def test_direct_kernels_match_the_reference(N, F, H, W, k, s, p, dtype):
    x, w, b, dy = case(N, F, H, W, k, s, p, dtype)
    out_ref, cache_ref = REF.conv2d_forward(x, w, b, s, p)
    _, dw_ref, db_ref = REF.conv2d_backward(dy, cache_ref, need_dx=False)
    out, padded = numba_direct.conv2d_forward(x, w, b, s, p)
    dw, db = numba_direct.conv2d_weight_grad(dy, padded, w.shape, s, p)
    for name, got, want in (("out", out, out_ref), ("dw", dw, dw_ref), ("db", db, db_ref)):
        assert got.shape == want.shape and got.dtype == want.dtype, (name, got.shape, got.dtype)
        assert relative_error(got, want) <= TOL[dtype], (name, relative_error(got, want))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,F,H,W,k,s,p", [g for g in DIRECT_GRID if numba_direct.use_direct(1, g[1], g[4])])
def test_the_dispatch_takes_the_direct_path_with_every_gradient(N, F, H, W, k, s, p, dtype):
    """numba_conv's kernels, as the layers call them: the direct path's cache, and the
    input gradient (still im2col's adjoint) when asked for."""
    x, w, b, dy = case(N, F, H, W, k, s, p, dtype)
    out_ref, cache_ref = REF.conv2d_forward(x, w, b, s, p)
    out, cache = numba_conv.conv2d_forward(x, w, b, s, p)
    assert isinstance(cache[1], numba_direct.PaddedInput)
    assert relative_error(out, out_ref) <= TOL[dtype]
    for need_dx in (True, False):
        got = numba_conv.conv2d_backward(dy, cache, need_dx=need_dx)
        want = REF.conv2d_backward(dy, cache_ref, need_dx=need_dx)
        for name, g, r in zip(("dx", "dw", "db"), got, want):
            if r is None:
                assert g is None
            else:
                assert relative_error(g, r) <= TOL[dtype], (name, need_dx, relative_error(g, r))


@pytest.mark.parametrize("N,F,H,W,k,s,p", [(1, 16, 11, 13, 6, 2, 1), (2, 32, 5, 5, 5, 1, 2),
                                           (3, 16, 14, 14, 6, 2, 2)])
def test_the_layer_passes_the_gradient_check_on_numba(N, F, H, W, k, s, p, check_grads):
    rng = np.random.default_rng(7)
    conv = Conv2D(1, F, k, stride=s, padding=p, rng=rng, allow_uncovered=True, dtype=np.float64,
                  backend=NUMBA)
    conv.params["b"][...] = rng.standard_normal(F)
    assert numba_direct.use_direct(1, F, k)
    check_grads(conv, rng.standard_normal((N, 1, H, W)), rng=rng, label="Conv2D (numba direct)")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_weight_gradient_has_the_same_bits_every_time_with_1_or_2_threads(dtype):
    x, w, b, dy = case(32, 16, 60, 60, 6, 2, 2, dtype)
    before = numba.get_num_threads()
    results = {}
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            runs = []
            for _ in range(4):
                out, cache = numba_conv.conv2d_forward(x, w, b, 2, 2)
                runs.append((out, *numba_conv.conv2d_backward(dy, cache, need_dx=False)[1:]))
            for run in runs[1:]:
                for got, want in zip(run, runs[0]):
                    np.testing.assert_array_equal(got, want)
            results[threads] = runs[0]
    finally:
        numba.set_num_threads(before)
    # the batch's partition into groups depends on N only: the thread count changes nothing
    for got, want in zip(results[max(results)], results[1]):
        np.testing.assert_array_equal(got, want)


def test_the_dual_vae_first_layer_runs_direct():
    """test_backend_parity's whole-model test covers the direct path: its first layer
    is dispatched there."""
    model = DualVAE(rng=np.random.default_rng(0), backend=NUMBA)
    conv = model.fg_encoder.layers[0]
    F, C, k, _ = conv.params["W"].shape
    assert numba_direct.use_direct(C, F, k)
