"""The loop-by-loop kernels (backend/loops.py): each backward against central finite
differences of its own loop forward, and each forward and backward against the
vectorised NumPy reference kernel (backend/numpy_*.py), in float64.

The two are independent computations: the loops follow the definitions index by
index, the reference kernels use im2col / col2im and matrix products.  A few tiny cases
are also worked out by hand.

Shape grid (small: the loops are slow, the file runs in a few seconds):
  dense (N, in, out):            (1, 1, 1), (1, 5, 3), (4, 3, 7), (3, 8, 1)
  conv2d (N, C, F, H, W, k, s, p): a single pixel; 5×5 with padding 1; 7×4 at stride 2
      (the last row unread); 5×7, k = 2 at stride 3 (stride > kernel) with padding 2;
      kernel equal to the input (5 on 5×5; 4 on 4×4 with stride 2 and padding 1);
      6×9 with k = 3 at stride 3; k = 1 with padding 2 (border outputs read only
      zeros); the background encoder's 30×30 kernel at stride 30 on 60×60
  conv_transpose2d (…, op): a single pixel; stride 2 with op (1, 0); stride 3 with
      k = 4, p = 2, op (2, 1); stride 1; a 1×2 input whose padding crops the output
      to one row; stride > kernel
  pooling (N, C, H, W, k, s): a single pixel; 5×5, k = 2, s = 2 (last row unread);
      7×4 overlapping (k = 3, s = 1); 6×9 stride > kernel; kernel equal to the input
      (5 on 5×5; 4 on 4×7 at stride 1); k = s = 30 on 60×60 (the thesis's g(x))
  unpooling: r ∈ {1, 2, 3} × (1, 1, 1, 1), (2, 3, 3, 4), (1, 2, 5, 2)
Batch 1 and batch > 1 both occur in every family.  Finite differences cover every
entry of tensors up to 150 entries, and 150 sampled entries of larger ones.
"""

import inspect

import numpy as np
import pytest

from vae_from_scratch.backend import KERNELS, loops, numpy_conv, numpy_dense, numpy_pool
from vae_from_scratch.gradcheck import compare_gradients

REFERENCE = {name: getattr(module, name)
             for module in (numpy_dense, numpy_conv, numpy_pool)
             for name in KERNELS if hasattr(module, name)}

DENSE = [(1, 1, 1), (1, 5, 3), (4, 3, 7), (3, 8, 1)]
CONV = [  # N, C, F, H, W, k, s, p
    (1, 1, 1, 1, 1, 1, 1, 0),
    (1, 2, 3, 5, 5, 3, 1, 1),
    (2, 3, 2, 7, 4, 3, 2, 0),
    (2, 1, 2, 5, 7, 2, 3, 2),
    (1, 2, 2, 5, 5, 5, 1, 0),
    (2, 2, 1, 4, 4, 4, 2, 1),
    (1, 1, 2, 6, 9, 3, 3, 0),
    (2, 2, 2, 3, 3, 1, 1, 2),           # padding ≥ kernel: border outputs read only zeros
    (1, 1, 2, 60, 60, 30, 30, 0),       # the background encoder's 30×30 windows
]
CONVT = [  # N, C, F, H, W, k, s, p, (op_h, op_w)
    (1, 1, 1, 1, 1, 1, 1, 0, (0, 0)),
    (2, 2, 3, 3, 2, 3, 2, 1, (1, 0)),
    (1, 3, 2, 2, 3, 4, 3, 2, (2, 1)),
    (2, 1, 2, 3, 3, 2, 1, 0, (0, 0)),
    (1, 2, 1, 1, 2, 3, 2, 1, (0, 1)),
    (2, 2, 2, 2, 3, 2, 3, 0, (1, 2)),
]
POOL = [  # N, C, H, W, k, s
    (1, 1, 1, 1, 1, 1),
    (2, 3, 5, 5, 2, 2),
    (1, 2, 7, 4, 3, 1),
    (2, 1, 6, 9, 2, 3),
    (1, 2, 5, 5, 5, 5),
    (2, 2, 4, 7, 4, 1),
    (1, 1, 60, 60, 30, 30),             # the thesis's g(x): AvgPool2D(30) on 60×60
]
UNPOOL = [(r, shape) for r in (1, 2, 3) for shape in ((1, 1, 1, 1), (2, 3, 3, 4), (1, 2, 5, 2))]


def draw(rng, *shapes):
    return [rng.standard_normal(shape) for shape in shapes]


def assert_close(got, want, what):
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-300)
    assert float(np.abs(got - want).max(initial=0.0)) <= 1e-12 * scale, what


def check_against_finite_differences(forward, backward, arrays, hyper, rng, n_coords=150):
    """backward(G, cache) against central differences of Σ forward(…) ⊙ G, for every
    array in `arrays` (in the order of forward's arguments and backward's results)."""
    out, cache = forward(*arrays.values(), *hyper)
    G = rng.standard_normal(out.shape)
    grads = backward(G, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    analytic = dict(zip(arrays, grads))
    result = compare_gradients(lambda: forward(*arrays.values(), *hyper)[0], arrays, analytic,
                               n_coords=n_coords, rng=rng, direction=G)
    assert result.passed(1e-6), f"{forward.__name__}:\n{result}"


def check_against_reference(name, inputs, hyper, rng, **backward_kwargs):
    """loops.<name>_forward / _backward against the reference kernels, for one random dout."""
    fwd, bwd = f"{name}_forward", f"{name}_backward"
    out, cache = getattr(loops, fwd)(*inputs, *hyper)
    ref_out, ref_cache = REFERENCE[fwd](*inputs, *hyper)
    assert_close(out, ref_out, fwd)
    dout = rng.standard_normal(out.shape)
    grads = getattr(loops, bwd)(dout, cache, **backward_kwargs)
    ref_grads = REFERENCE[bwd](dout, ref_cache, **backward_kwargs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    ref_grads = ref_grads if isinstance(ref_grads, tuple) else (ref_grads,)
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        if r is None:
            assert g is None, (bwd, i)
        else:
            assert_close(g, r, f"{bwd} gradient {i}")


# --- the interface -------------------------------------------------------------------------

def test_every_kernel_with_the_reference_signature():
    for name in KERNELS:
        mine = inspect.signature(getattr(loops, name)).parameters
        ref = inspect.signature(REFERENCE[name]).parameters
        assert list(mine) == list(ref), name
        assert [p.default for p in mine.values()] == [p.default for p in ref.values()], name


# --- worked by hand ------------------------------------------------------------------------

def test_small_cases_by_hand():
    x = np.arange(9.0).reshape(1, 1, 3, 3)          # 0 1 2 / 3 4 5 / 6 7 8
    out, cache = loops.conv2d_forward(x, np.ones((1, 1, 2, 2)), np.array([1.0]))
    np.testing.assert_array_equal(out, [[[[0 + 1 + 3 + 4 + 1, 1 + 2 + 4 + 5 + 1],
                                          [3 + 4 + 6 + 7 + 1, 4 + 5 + 7 + 8 + 1]]]])
    dx, dw, db = loops.conv2d_backward(np.ones((1, 1, 2, 2)), cache)
    np.testing.assert_array_equal(dx, [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]])  # windows per pixel
    np.testing.assert_array_equal(dw, [[[[8, 12], [20, 24]]]])            # sums of the 4 windows' corners
    np.testing.assert_array_equal(db, [4])

    # one pixel, k = 2, s = 1, p = 0: convT writes the kernel itself, times the pixel
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, _ = loops.conv_transpose2d_forward(np.array([[[[2.0]]]]), w, np.array([0.5]))
    np.testing.assert_array_equal(out, 2 * w + 0.5)

    y, cache = loops.dense_forward(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]]), np.array([5.0]))
    np.testing.assert_array_equal(y, [[1 * 3 + 2 * 4 + 5]])
    dx, dw, db = loops.dense_backward(np.array([[2.0]]), cache)
    np.testing.assert_array_equal(dx, [[6, 8]])
    np.testing.assert_array_equal(dw, [[2, 4]])
    np.testing.assert_array_equal(db, [2])


def test_max_pool_tie_goes_to_the_first_element_in_row_major_order():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])      # three-way tie for the maximum
    out, cache = loops.max_pool2d_forward(x, 2, 2)
    assert out[0, 0, 0, 0] == 3.0
    dx = loops.max_pool2d_backward(np.array([[[[5.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("N,C,H,W,k,s", POOL)
def test_max_pool_ties_like_the_reference(N, C, H, W, k, s, rng):
    """Values from {0, 1, 2}: almost every window has ties.  The gradient must go to
    the same element as the reference's, so the two agree exactly (dout is integer-valued:
    where windows overlap, the sums are exact in either order)."""
    x = rng.integers(0, 3, (N, C, H, W)).astype(np.float64)
    out, cache = loops.max_pool2d_forward(x, k, s)
    ref_out, ref_cache = numpy_pool.max_pool2d_forward(x, k, s)
    np.testing.assert_array_equal(out, ref_out)
    dout = rng.integers(-9, 10, out.shape).astype(np.float64)
    np.testing.assert_array_equal(loops.max_pool2d_backward(dout, cache),
                                  numpy_pool.max_pool2d_backward(dout, ref_cache))


def test_need_dx_false_returns_none(rng):
    x, w, b = draw(rng, (2, 3), (4, 3), 4)
    _, cache = loops.dense_forward(x, w, b)
    dx, dw, _ = loops.dense_backward(rng.standard_normal((2, 4)), cache, need_dx=False)
    assert dx is None and dw.shape == w.shape
    x, w, b = draw(rng, (1, 2, 4, 4), (3, 2, 3, 3), 3)
    _, cache = loops.conv2d_forward(x, w, b, 1, 1)
    dx, dw, _ = loops.conv2d_backward(rng.standard_normal((1, 3, 4, 4)), cache, need_dx=False)
    assert dx is None and dw.shape == w.shape


def test_float32_in_float32_out_like_the_reference(rng):
    f32 = np.float32
    x2, w2, b2 = (a.astype(f32) for a in draw(rng, (2, 3), (4, 3), 4))
    x4, w4, wt, b4 = (a.astype(f32) for a in draw(rng, (1, 2, 5, 5), (3, 2, 3, 3), (2, 3, 3, 3), 3))
    cases = {"dense": ((x2, w2, b2), ()), "conv2d": ((x4, w4, b4), (2, 1)),
             "conv_transpose2d": ((x4, wt, b4), (2, 1, (1, 0))),
             "max_pool2d": ((x4,), (2, 1)), "avg_pool2d": ((x4,), (3, 2)), "unpool2d": ((x4,), (2,))}
    for name, (inputs, hyper) in cases.items():
        out, cache = getattr(loops, f"{name}_forward")(*inputs, *hyper)
        ref_out, _ = REFERENCE[f"{name}_forward"](*inputs, *hyper)
        assert out.dtype == ref_out.dtype == f32, name
        np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5, err_msg=name)
        grads = getattr(loops, f"{name}_backward")(np.ones_like(out), cache)
        for g in grads if isinstance(grads, tuple) else (grads,):
            assert g.dtype == f32, name


# --- dense ---------------------------------------------------------------------------------

@pytest.mark.parametrize("N,n_in,n_out", DENSE)
def test_dense(N, n_in, n_out, rng):
    x, w, b = draw(rng, (N, n_in), (n_out, n_in), n_out)
    check_against_finite_differences(loops.dense_forward, loops.dense_backward,
                                     {"x": x, "w": w, "b": b}, (), rng)
    check_against_reference("dense", (x, w, b), (), rng)
    check_against_reference("dense", (x, w, b), (), rng, need_dx=False)


# --- convolutions --------------------------------------------------------------------------

@pytest.mark.parametrize("N,C,F,H,W,k,s,p", CONV)
def test_conv2d(N, C, F, H, W, k, s, p, rng):
    x, w, b = draw(rng, (N, C, H, W), (F, C, k, k), F)
    check_against_finite_differences(loops.conv2d_forward, loops.conv2d_backward,
                                     {"x": x, "w": w, "b": b}, (s, p), rng)
    check_against_reference("conv2d", (x, w, b), (s, p), rng)
    check_against_reference("conv2d", (x, w, b), (s, p), rng, need_dx=False)


@pytest.mark.parametrize("N,C,F,H,W,k,s,p,op", CONVT, ids=str)
def test_conv_transpose2d(N, C, F, H, W, k, s, p, op, rng):
    x, w, b = draw(rng, (N, C, H, W), (C, F, k, k), F)
    check_against_finite_differences(loops.conv_transpose2d_forward,
                                     loops.conv_transpose2d_backward,
                                     {"x": x, "w": w, "b": b}, (s, p, op), rng)
    check_against_reference("conv_transpose2d", (x, w, b), (s, p, op), rng)


# --- pooling -------------------------------------------------------------------------------

@pytest.mark.parametrize("N,C,H,W,k,s", POOL)
@pytest.mark.parametrize("kind", ["max_pool2d", "avg_pool2d"])
def test_pool(kind, N, C, H, W, k, s, rng):
    (x,) = draw(rng, (N, C, H, W))
    check_against_finite_differences(getattr(loops, f"{kind}_forward"),
                                     getattr(loops, f"{kind}_backward"), {"x": x}, (k, s), rng)
    check_against_reference(kind, (x,), (k, s), rng)


@pytest.mark.parametrize("r,shape", UNPOOL)
def test_unpool(r, shape, rng):
    (x,) = draw(rng, shape)
    check_against_finite_differences(loops.unpool2d_forward, loops.unpool2d_backward,
                                     {"x": x}, (r,), rng)
    check_against_reference("unpool2d", (x,), (r,), rng)
