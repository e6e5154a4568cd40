"""Convolution and transposed convolution: the Numba kernels (same maths as numpy_conv.py).

Read `numpy_conv.py` first: it builds both layers from three linear maps,

    _correlate     out = cols(x) · wᵀ            conv2d forward, convT input gradient
    _scatter       dx  = col2im(dy · w)          conv2d input gradient, convT forward
    _weight_grad   dw  = dyᵀ · cols(x)           both layers' weight gradient

and this file keeps that structure.  The matrix products stay with BLAS, which no
loop of ours beats; what Numba replaces is the data movement around them, which is
where the reference spends its time on the thesis's small tensors:

* im2col: the reference reshapes a strided view, a copy NumPy does element by element
  in a generic loop; here one compiled loop per image writes each window's row.
* col2im: the reference adds k·k strided slices (or Ho·Wo blocks) of the whole batch
  one after another; here each image is scattered in one pass.
* the NCHW ↔ (pixels × channels) transposes around the products, fused with the bias.

Every kernel runs the images of the batch in parallel (`prange` over n): a batch of 32
splits evenly over the threads, where the output channels (1 to 32 here) often would
not.  Each image writes only its own rows and pixels, so there are no races, and each
output element is computed by the same additions in the same order as a serial loop
would, so these loops give the same results with any number of threads.  (OpenBLAS's
products do not: it splits its sums by thread count.)  fastmath stays off: the sums
are those of the reference up to the order of terms.

im2col + BLAS for all layers but one kind: the alternatives measured (direct loops, a
tap-major im2col) were slower overall.  The exception is a convolution of one input
channel (the first layer of an encoder), where im2col copies every pixel k²/s² times
for a product only k² deep: numba_direct.py computes it directly (docs/performance.md,
"Direct convolution for the first layer").
"""

import functools

import numpy as np
from numba import njit, prange

from . import numba_direct
from .numpy_conv import conv_transpose2d_output_size
from .numpy_im2col import conv_output_size

JIT = dict(parallel=True, cache=True, fastmath=False, nogil=True)


@functools.lru_cache(maxsize=None)
def window_kernels(k, s):
    """(im2col, col2im) compiled for one kernel size k and stride s, on first use.

    k and s are constants of the compiled code (closure variables), not arguments: the
    compiler then unrolls the k-long window loops and folds the stride into the
    addresses, which makes im2col several times faster than one kernel taking k and s
    at run time (docs/performance.md).  Each (k, s) is compiled once per machine and
    kept in Numba's on-disk cache like any other kernel."""

    @njit(**JIT)
    def im2col(x_pad, cols):
        """cols[(n·Ho + i)·Wo + j, (c·k + u)·k + v] = x_pad[n, c, i·s + u, j·s + v].

        x_pad: (N, C, H + 2p, W + 2p), zero-padded -> cols: (N·Ho·Wo, C·k·k), one row
        per output pixel, as the reference lays it out (numpy_conv._correlate).
        Padding the input first keeps the loops free of bounds tests."""
        N, C = x_pad.shape[0], x_pad.shape[1]
        Ho = (x_pad.shape[2] - k) // s + 1
        Wo = (x_pad.shape[3] - k) // s + 1
        for n in prange(N):
            for i in range(Ho):
                for j in range(Wo):
                    row = (n * Ho + i) * Wo + j
                    for c in range(C):
                        for u in range(k):
                            at = (c * k + u) * k
                            for v in range(k):
                                cols[row, at + v] = x_pad[n, c, i * s + u, j * s + v]

    @njit(**JIT)
    def col2im(dcols, dx_pad):
        """The adjoint of im2col: dx_pad[n, c, y, x] = Σ dcols[row, col] over every
        (row, col) that read position (y, x).  dcols: (N·Ho·Wo, C·k·k) -> dx_pad."""
        N, C = dx_pad.shape[0], dx_pad.shape[1]
        Ho = (dx_pad.shape[2] - k) // s + 1
        Wo = (dx_pad.shape[3] - k) // s + 1
        for n in prange(N):
            dx_pad[n] = 0.0
            for i in range(Ho):
                for j in range(Wo):
                    row = (n * Ho + i) * Wo + j
                    for c in range(C):
                        for u in range(k):
                            at = (c * k + u) * k
                            for v in range(k):
                                dx_pad[n, c, i * s + u, j * s + v] += dcols[row, at + v]

    return im2col, col2im



@njit(**JIT)
def _to_rows(a, rows, sums):
    """rows[(n·H + i)·W + j, c] = a[n, c, i, j]: NCHW to (pixels × channels), and
    sums[n, c] = Σ_{i,j} a[n, c, i, j] on the way (the bias gradient, summed over n after)."""
    N, C, H, W = a.shape
    for n in prange(N):
        for c in range(C):
            total = 0.0
            for i in range(H):
                for j in range(W):
                    rows[(n * H + i) * W + j, c] = a[n, c, i, j]
                    total += a[n, c, i, j]
            sums[n, c] = total


@njit(**JIT)
def _from_rows(rows, b, out):
    """out[n, f, i, j] = rows[(n·Ho + i)·Wo + j, f] + b[f]: back to NCHW, with the bias."""
    N, F, Ho, Wo = out.shape
    for n in prange(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = rows[(n * Ho + i) * Wo + j, f] + b[f]


# --- the three linear maps ----------------------------------------------------------

def _padded(x, p):
    """x zero-padded by p on both spatial axes: zeros and a slice copy, faster than
    the generic np.pad the reference uses (docs/performance.md)."""
    if p == 0:
        return np.ascontiguousarray(x)
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=x.dtype)
    out[:, :, p:p + H, p:p + W] = x
    return out


def _im2col(x, k, s, p):
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
    cols = np.empty((N * Ho * Wo, C * k * k), dtype=x.dtype)
    window_kernels(k, s)[0](_padded(x, p), cols)
    return cols, Ho, Wo


def _rows(a):
    """NCHW -> (N·H·W, C), and the sum over n, i, j of each channel: (C,)."""
    N, C, H, W = a.shape
    rows = np.empty((N * H * W, C), dtype=a.dtype)
    sums = np.empty((N, C), dtype=a.dtype)
    _to_rows(np.ascontiguousarray(a), rows, sums)
    return rows, sums.sum(axis=0)


def _correlate(x, w, b, s, p):
    """x: (N, C, H, W), w: (F, C, k, k), b: (F,) -> out: (N, F, Ho, Wo), and the cols."""
    N = x.shape[0]
    F, _, k, _ = w.shape
    cols, Ho, Wo = _im2col(x, k, s, p)
    out_rows = cols @ w.reshape(F, -1).T                                     # BLAS
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)
    _from_rows(out_rows, b, out)
    return out, cols


def _scatter(dy_rows, w, x_shape, s, p):
    """dy_rows: (N·Ho·Wo, F), w: (F, C, k, k) -> dx: x_shape = (N, C, H, W)."""
    F, _, k, _ = w.shape
    dcols = dy_rows @ w.reshape(F, -1)                                       # BLAS
    N, C, H, W = x_shape
    dx_pad = np.empty((N, C, H + 2 * p, W + 2 * p), dtype=dy_rows.dtype)
    window_kernels(k, s)[1](dcols, dx_pad)
    return dx_pad if p == 0 else np.ascontiguousarray(dx_pad[:, :, p:p + H, p:p + W])


def _weight_grad(dy_rows, cols, w_shape):
    """dw = dy_rowsᵀ · cols: (F, N·Ho·Wo) · (N·Ho·Wo, C·k·k) -> w_shape."""
    return (dy_rows.T @ cols).reshape(w_shape)                               # BLAS


# --- the kernels the layers call (signatures of backend/__init__.py) ---------------

def conv2d_forward(x, w, b, stride=1, padding=0):
    """As numpy_conv.conv2d_forward.  x: (N, C, H, W), w: (F, C, k, k) -> (N, F, Ho, Wo).

    One input channel and enough output channels (numba_direct.use_direct): the direct
    kernel, which keeps the padded input in the cache where im2col keeps its cols."""
    F, C, k, _ = w.shape
    if numba_direct.use_direct(C, F, k):
        out, padded = numba_direct.conv2d_forward(x, w, b, stride, padding)
        return out, (x.shape, padded, w, stride, padding)
    out, cols = _correlate(x, w, b, stride, padding)
    return out, (x.shape, cols, w, stride, padding)


def conv2d_backward(dout, cache, need_dx=True):
    """As numpy_conv.conv2d_backward: (dx or None, dw, db)."""
    x_shape, cols, w, stride, padding = cache
    if isinstance(cols, numba_direct.PaddedInput):        # the direct forward's cache
        dw, db = numba_direct.conv2d_weight_grad(dout, cols, w.shape, stride, padding)
        dx = _scatter(_rows(dout)[0], w, x_shape, stride, padding) if need_dx else None
        return dx, dw, db
    dy_rows, db = _rows(dout)
    dx = _scatter(dy_rows, w, x_shape, stride, padding) if need_dx else None
    return dx, _weight_grad(dy_rows, cols, w.shape), db


def conv_transpose2d_forward(x, w, b, stride=1, padding=0, output_padding=(0, 0)):
    """As numpy_conv.conv_transpose2d_forward: the scatter of conv2d, w: (C, F, k, k)."""
    N, C, H, W = x.shape
    F, k = w.shape[1], w.shape[2]
    Ho = conv_transpose2d_output_size(H, k, stride, padding, output_padding[0])
    Wo = conv_transpose2d_output_size(W, k, stride, padding, output_padding[1])
    x_rows, _ = _rows(x)
    out = _scatter(x_rows, w, (N, F, Ho, Wo), stride, padding)
    out += b[None, :, None, None]
    return out, (x_rows, x.shape, w, stride, padding)


def conv_transpose2d_backward(dout, cache):
    """As numpy_conv.conv_transpose2d_backward: the gather is conv2d of dout with w."""
    x_rows, x_shape, w, stride, padding = cache
    dx, cols = _correlate(dout, w, np.zeros(w.shape[0], dout.dtype), stride, padding)
    assert dx.shape == x_shape, (dx.shape, x_shape)
    return dx, _weight_grad(x_rows, cols, w.shape), dout.sum(axis=(0, 2, 3))


__all__ = ["conv2d_forward", "conv2d_backward",
           "conv_transpose2d_forward", "conv_transpose2d_backward"]
