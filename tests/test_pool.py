"""MaxPool2D, AvgPool2D and Unpool2D: forward against the loops of backend/loops.py, backward by
finite differences.

Shape grid (pooling): (N, C) ∈ {(1, 1), (2, 3)} × input (H, W) ∈ {(5, 5), (7, 4), (6, 9)}
× kernel ∈ {1, 2, 3} × stride ∈ {1, 2, 3}, plus the default stride (= kernel), kernels
equal to the input (5×5 on 5×5, 4 on 4×7) and AvgPool2D(30) on 60×60 (the thesis's g(x)).
Shape grid (Unpool2D): r ∈ {1, 2, 3} × input (N, C, H, W) ∈ {(1, 1, 1, 1), (2, 3, 3, 4), (1, 2, 5, 2)}.
"""

import itertools

import numpy as np
import pytest

from vae_from_scratch.backend import loops
from vae_from_scratch.nn import AvgPool2D, MaxPool2D, Unpool2D


def pool_grid():
    for (N, C), (H, W), k, s in itertools.product([(1, 1), (2, 3)], [(5, 5), (7, 4), (6, 9)],
                                                  (1, 2, 3), (1, 2, 3)):
        yield N, C, H, W, k, s
    yield 2, 2, 6, 4, 2, None
    yield 2, 2, 5, 5, 5, None
    yield 1, 3, 4, 7, 4, 1
    yield 2, 1, 60, 60, 30, None


@pytest.mark.parametrize("N,C,H,W,k,s", list(pool_grid()))
@pytest.mark.parametrize("cls,loop_forward", [(MaxPool2D, loops.max_pool2d_forward),
                                               (AvgPool2D, loops.avg_pool2d_forward)])
def test_pool_forward_matches_loops_and_gradcheck(cls, loop_forward, N, C, H, W, k, s, rng, check_grads):
    pool = cls(k, s, allow_uncovered=True, dtype=np.float64)   # strides that skip pixels too
    x = rng.standard_normal((N, C, H, W))
    expected, _ = loop_forward(x, k, pool.stride)
    np.testing.assert_allclose(pool.forward(x), expected, rtol=1e-12, atol=1e-14)
    check_grads(pool, x, rng=rng, n_coords=400)


def test_max_pool_tie_sends_gradient_to_first_element_in_row_major_order():
    pool = MaxPool2D(2, dtype=np.float64)
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])              # three-way tie for the maximum
    assert pool.forward(x)[0, 0, 0, 0] == 3.0
    dx = pool.backward(np.array([[[[5.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0], [0.0, 0.0]]]])


def test_max_pool_overlapping_windows_add_up():
    """With stride < kernel one pixel can be the maximum of several windows."""
    pool = MaxPool2D(2, 1, dtype=np.float64)
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 9.0                                     # the max of all four windows
    pool.forward(x)
    dx = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert dx[0, 0, 1, 1] == 10.0 and dx.sum() == 10.0


def test_avg_pool_30_is_the_thesis_background_average(rng):
    """thesis eq. 3.1 uses AvgPool with kernel and stride 30: the mean of each quadrant."""
    x = rng.random((3, 1, 60, 60))
    out = AvgPool2D(30, dtype=np.float64).forward(x)
    assert out.shape == (3, 1, 2, 2)
    np.testing.assert_allclose(out[2, 0, 0, 1], x[2, 0, :30, 30:].sum() / 30**2, rtol=1e-12)


@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 3, 4), (1, 2, 5, 2)])
def test_unpool_forward_matches_loops_and_gradcheck(r, shape, rng, check_grads):
    unpool = Unpool2D(r, dtype=np.float64)
    x = rng.standard_normal(shape)
    y = unpool.forward(x)
    np.testing.assert_array_equal(y, loops.unpool2d_forward(x, r)[0])
    assert np.count_nonzero(y) == np.count_nonzero(x)      # zeros everywhere else
    check_grads(unpool, x, rng=rng)


def test_unpool_then_max_pool_is_identity_for_positive_values(rng):
    """Each r×r block holds one value and zeros, so max-pooling it back returns the value."""
    x = rng.random((2, 3, 4, 5)) + 0.1
    np.testing.assert_array_equal(MaxPool2D(3).forward(Unpool2D(3).forward(x)), x)
