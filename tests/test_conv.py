"""Conv2D and ConvTranspose2D: forward against the loops of backend/loops.py, backward against
finite differences over the shape grid, and the adjoint identity ⟨conv(x), y⟩ = ⟨x, convT(y)⟩.

Shape grid (Conv2D): batch/channels (N, C_in, C_out) ∈ {(1, 1, 1), (2, 3, 4)} ×
input (H, W) ∈ {(5, 5), (7, 4), (6, 9)} × kernel ∈ {1, 2, 3} × stride ∈ {1, 2, 3} ×
padding ∈ {0, 1, 2}, plus kernels equal to the input (5×5 on 5×5, with and without
padding and stride; 4 on a 4×7 input) and the background encoder's 30×30 kernel at
stride 30 on a 60×60 image.  The grid layers are built with allow_uncovered=True, so
that strides which skip pixels are checked too (by default they raise; the rule is
tested against brute force in test_bad_input.py).

Shape grid (ConvTranspose2D): (N, C_in, C_out) ∈ {(1, 1, 1), (2, 3, 2)} ×
input (H, W) ∈ {(1, 3), (3, 3), (4, 5)} × kernel ∈ {1, 2, 3, 4} × stride ∈ {1, 2, 3}
× padding ∈ {0, 1, 2} × output_padding ∈ {0, stride − 1}, where the output is not empty.
"""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vae_from_scratch.backend import loops
from vae_from_scratch.nn import Conv2D, ConvTranspose2D, Unpool2D

CHANNELS = [(1, 1, 1), (2, 3, 4)]
SIZES = [(5, 5), (7, 4), (6, 9)]


def conv_grid():
    for (N, C, F), (H, W), k, s, p in itertools.product(CHANNELS, SIZES, (1, 2, 3), (1, 2, 3),
                                                        (0, 1, 2)):
        yield N, C, F, H, W, k, s, p
    # kernel equal to the input
    yield 2, 2, 3, 5, 5, 5, 1, 0
    yield 1, 2, 3, 5, 5, 5, 1, 1
    yield 2, 1, 2, 5, 5, 5, 2, 2
    yield 1, 3, 2, 4, 7, 4, 1, 0


def make_conv(C, F, k, s, p, rng, dtype=np.float64):
    conv = Conv2D(C, F, k, stride=s, padding=p, rng=rng, allow_uncovered=True, dtype=dtype)
    conv.params["b"][...] = rng.standard_normal(F)        # a nonzero bias is checked too
    return conv


@pytest.mark.parametrize("N,C,F,H,W,k,s,p", list(conv_grid()))
def test_conv2d_forward_matches_loops_and_gradcheck(N, C, F, H, W, k, s, p, rng, check_grads):
    conv = make_conv(C, F, k, s, p, rng)
    x = rng.standard_normal((N, C, H, W))
    expected, _ = loops.conv2d_forward(x, conv.params["W"], conv.params["b"], s, p)
    np.testing.assert_allclose(conv.forward(x), expected, rtol=1e-12, atol=1e-12)
    check_grads(conv, x, rng=rng)


def test_conv2d_background_encoder_kernel_30_stride_30(rng, check_grads):
    """The background encoder's receptive field: 30×30 windows that tile a 60×60 image."""
    conv = Conv2D(1, 4, 30, stride=30, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 1, 60, 60))
    out = conv.forward(x)
    assert out.shape == (2, 4, 2, 2)
    # each output is the inner product of one quadrant with the filter
    quadrant = x[1, 0, 30:, :30]
    np.testing.assert_allclose(out[1, 3, 1, 0], np.sum(quadrant * conv.params["W"][3, 0]),
                               rtol=1e-12)
    check_grads(conv, x, rng=rng)


def test_conv2d_uncovered_rows_get_zero_gradient(rng):
    """allow_uncovered=True drops the last rows: they must not influence anything."""
    conv = Conv2D(1, 2, 3, stride=2, rng=rng, allow_uncovered=True, dtype=np.float64)
    x = rng.standard_normal((1, 1, 6, 6))                  # windows read rows 0-2 and 2-4: not 5
    y = conv.forward(x)
    dx = conv.backward(np.ones_like(y))
    assert np.all(dx[:, :, 5, :] == 0) and np.all(dx[:, :, :, 5] == 0)
    assert np.all(dx[:, :, :5, :5] != 0)


def convT_grid():
    for (N, C, F), (H, W), k, s, p in itertools.product([(1, 1, 1), (2, 3, 2)],
                                                        [(1, 3), (3, 3), (4, 5)],
                                                        (1, 2, 3, 4), (1, 2, 3), (0, 1, 2)):
        for op in [(0, 0), (s - 1, s - 1), (0, s - 1)][:3 if s > 1 else 1]:
            if min(s * (n - 1) - 2 * p + k + o for n, o in zip((H, W), op)) >= 1:
                yield N, C, F, H, W, k, s, p, op


@pytest.mark.parametrize("N,C,F,H,W,k,s,p,op", list(convT_grid()), ids=str)
def test_conv_transpose2d_forward_matches_loops_and_gradcheck(N, C, F, H, W, k, s, p, op, rng,
                                                               check_grads):
    convT = ConvTranspose2D(C, F, k, stride=s, padding=p, output_padding=op, rng=rng,
                            dtype=np.float64)
    convT.params["b"][...] = rng.standard_normal(F)
    x = rng.standard_normal((N, C, H, W))
    expected, _ = loops.conv_transpose2d_forward(x, convT.params["W"], convT.params["b"], s, p, op)
    np.testing.assert_allclose(convT.forward(x), expected, rtol=1e-12, atol=1e-12)
    check_grads(convT, x, rng=rng)


def _adjoint_gap(N, C, F, H, W, k, s, p, rng):
    """|⟨conv(x), y⟩ − ⟨x, convT(y)⟩| relative to the Cauchy–Schwarz scale of the two sides
    (not to their values, which are zero when every window reads only padding)."""
    conv = make_conv(C, F, k, s, p, rng)
    conv.params["b"][...] = 0
    op = ((H + 2 * p - k) % s, (W + 2 * p - k) % s)   # the rows and columns a strided conv skipped
    convT = ConvTranspose2D(F, C, k, stride=s, padding=p, output_padding=op, rng=rng,
                            dtype=np.float64)
    convT.params["W"][...] = conv.params["W"]  # (F, C, k, k): conv's (out, in) is convT's (in, out)
    x = rng.standard_normal((N, C, H, W))
    y = rng.standard_normal(conv.output_shape(x.shape))
    convT_y = convT.forward(y)
    assert convT_y.shape == x.shape
    conv_x = conv.forward(x)
    lhs, rhs = np.sum(conv_x * y), np.sum(x * convT_y)
    scale = np.linalg.norm(conv_x) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(convT_y)
    if scale == 0:          # every window reads only padding: both sides are exactly 0
        return abs(lhs - rhs)
    return abs(lhs - rhs) / scale


@pytest.mark.parametrize("N,C,F,H,W,k,s,p", list(conv_grid()))
def test_conv_transpose_is_adjoint_of_conv(N, C, F, H, W, k, s, p, rng):
    assert _adjoint_gap(N, C, F, H, W, k, s, p, rng) < 1e-12


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 3), C=st.integers(1, 3), F=st.integers(1, 3), H=st.integers(1, 9),
       W=st.integers(1, 9), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 2),
       seed=st.integers(0, 2**32 - 1))
def test_adjoint_identity_on_random_shapes(N, C, F, H, W, k, s, p, seed):
    assume(min(H, W) + 2 * p >= k)
    assert _adjoint_gap(N, C, F, H, W, k, s, p, np.random.default_rng(seed)) < 1e-12


def _pad_or_crop(z, before, after):
    """Zero-pad (positive amounts) or crop (negative amounts) the two spatial axes."""
    z = np.pad(z, ((0, 0), (0, 0), (max(before, 0), max(after, 0)), (max(before, 0), max(after, 0))))
    H, W = z.shape[2:]
    return z[:, :, max(-before, 0):H - max(-after, 0), max(-before, 0):W - max(-after, 0)]


@pytest.mark.parametrize("k,s,p,op", [(3, 1, 0, 0), (4, 2, 1, 0), (4, 2, 1, 1), (3, 2, 0, 1),
                                      (5, 3, 2, 2), (2, 3, 0, 0), (1, 2, 0, 1), (3, 3, 1, 0),
                                      (6, 2, 4, 1)])
def test_transposed_conv_is_unpooling_then_convolution(k, s, p, op, rng):
    """Thesis §2.8.3, eq. 2.34: unpooling (r = s, value in the corner of a block of zeros)
    followed by a stride-1 convolution with the flipped kernel is a transposed convolution.

    Derivation, one axis: convT(x)[o] = Σ_i x[i] w[o + p − s·i].  Unpooling puts x[i] at
    position s·i of z; a stride-1 correlation with the flipped kernel over z padded by
    k − 1 − p on the left and k − s − p + op on the right sums the same terms.
    """
    N, C, F, H, W = 2, 3, 2, 4, 3
    convT = ConvTranspose2D(C, F, k, stride=s, padding=p, output_padding=op, rng=rng,
                            dtype=np.float64)
    x = rng.standard_normal((N, C, H, W))
    z = Unpool2D(s, dtype=np.float64).forward(x)
    z = _pad_or_crop(z, k - 1 - p, k - s - p + op)
    conv = Conv2D(C, F, k, stride=1, rng=rng, dtype=np.float64)
    conv.params["W"][...] = convT.params["W"].transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    np.testing.assert_allclose(conv.forward(z), convT.forward(x), rtol=1e-12, atol=1e-12)


def test_float32_stays_float32(rng):
    conv = Conv2D(2, 3, 3, padding=1, rng=rng)
    convT = ConvTranspose2D(3, 2, 4, stride=2, padding=1, rng=rng)
    x = rng.standard_normal((2, 2, 8, 8)).astype(np.float32)
    y = conv.forward(x)
    z = convT.forward(y)
    assert y.dtype == z.dtype == np.float32
    assert convT.backward(np.ones_like(z)).dtype == np.float32
    assert conv.params["W"].dtype == conv.grads["W"].dtype == np.float32
