"""Convolution and transposed convolution: the Numba kernels (same maths as numpy_conv.py).

Read `numpy_conv.py` first: it builds both layers from three linear maps,

    _correlate     out = windows(x) · w          conv2d forward, convT input gradient
    _scatter       dx  = col2im(dy · w)          conv2d input gradient, convT forward
    _weight_grad   dw  = dyᵀ · windows(x)        both layers' weight gradient

and this file does the same with loops that Numba compiles, instead of im2col + GEMM.
On the small tensors of the thesis's model (batch 32, 1–32 channels) the matrix
products are too small for BLAS to pay for the copies im2col makes; direct loops over
the kernel taps, parallel over the images of the batch, are faster.

The one trick: *phase planes* (space-to-depth).  With stride s, window (i, j) reads
x_pad[i·s + u, j·s + v].  Split the padded image into s × s planes

    planes[c, a, b, i', j'] = x_pad[c, i'·s + a, j'·s + b],

then x_pad[i·s + u, j·s + v] = planes[c, u mod s, v mod s, i + u div s, j + v div s]:
for a fixed tap (u, v), consecutive outputs j read consecutive memory.  The innermost
loop, over j, is then a contiguous multiply-add that LLVM vectorises without
reassociating sums (we compile with fastmath=False, so results stay within
round-off of the reference).  The scatter writes into planes of the same layout and
folds them back; the weight gradient keeps one partial sum per j and adds them last.

Every kernel runs the batch in parallel (`prange` over n); each image writes only its
own output, so there are no races; the weight gradient keeps one partial result per
image and sums them afterwards.
"""

import numpy as np
from numba import njit, prange, uint64

from .numpy_conv import conv_transpose2d_output_size
from .numpy_im2col import conv_output_size

JIT = dict(parallel=True, cache=True, fastmath=False, nogil=True)


@njit(cache=True, fastmath=False, nogil=True)
def _to_planes(x, s, p, planes):
    """planes[c, a, b, i', j'] = x_pad[c, i'·s + a, j'·s + b] (zero outside x), one image.
    x: (C, H, W) -> planes: (C, s, s, Hq, Wq)."""
    C, H, W = x.shape
    Hq, Wq = planes.shape[3], planes.shape[4]
    for c in range(C):
        for a in range(s):
            for b in range(s):
                for ii in range(Hq):
                    r = ii * s + a - p
                    row_ok = 0 <= r < H
                    for jj in range(Wq):
                        q = jj * s + b - p
                        planes[c, a, b, ii, jj] = x[c, r, q] if row_ok and 0 <= q < W else 0.0


@njit(cache=True, fastmath=False, nogil=True)
def _from_planes(planes, s, p, dx):
    """The adjoint of `_to_planes`: dx[c, y, x] = planes[c, (y + p) mod s, (x + p) mod s,
    (y + p) div s, (x + p) div s] (padding is dropped).  dx: (C, H, W)."""
    C, H, W = dx.shape
    Hq, Wq = planes.shape[3], planes.shape[4]
    for c in range(C):
        for y in range(H):
            r = y + p
            a, ii = r % s, r // s
            for xx in range(W):
                q = xx + p
                b, jj = q % s, q // s
                dx[c, y, xx] = planes[c, a, b, ii, jj] if ii < Hq and jj < Wq else 0.0


def _geometry(Ho, Wo, k, s):
    """Plane rows and columns: window taps reach i + u div s ≤ Ho − 1 + (k − 1) div s.

    The kernels work on a *wide* output grid of Ho rows of Wq (not Wo) columns, so that
    output pixel t = i·Wq + j reads plane entry t + (u div s)·Wq + v div s: one flat,
    contiguous index for the whole image.  Columns j ≥ Wo are scratch (they read into
    the next row) and are dropped; one extra plane row keeps the last reads in bounds."""
    Wq = Wo + (k - 1) // s
    Hq = Ho + (k - 1) // s + 1
    return Hq, Wq


@njit(**JIT)
def _correlate_kernel(x, w, s, p, out, planes, wide):
    """out[n, f, i, j] = Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v]."""
    N, C = x.shape[0], x.shape[1]
    F, k = w.shape[0], w.shape[2]
    Ho, Wo = out.shape[2], out.shape[3]
    Hq, Wq = planes.shape[4], planes.shape[5]
    L = Ho * Wq
    for n in prange(N):
        _to_planes(x[n], s, p, planes[n])
        src = planes[n].ravel()              # flat views, made once per image (see below)
        acc = wide[n]
        acc[:] = 0.0
        for f in range(F):
            for c in range(C):
                for u in range(k):
                    for v in range(k):
                        wv = w[f, c, u, v]
                        # plane (c, u mod s, v mod s) shifted by the tap's whole-stride part
                        a = uint64(((c * s + u % s) * s + v % s) * Hq * Wq + (u // s) * Wq + v // s)
                        o = uint64(f * L)
                        # Unsigned flat indices: a signed index might be negative, Numba
                        # then wraps it, and the check stops LLVM from vectorising; a
                        # slice view per tap would cost a reference count each.
                        for t in range(L):                       # contiguous: vectorised
                            acc[o + uint64(t)] += wv * src[a + uint64(t)]
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = acc[f * L + i * Wq + j]


@njit(**JIT)
def _scatter_kernel(dy, w, s, p, dx, planes, wide):
    """dx = the adjoint of `_correlate_kernel` in x: each dy[n, f, i, j] sends
    dy · w[f, c, u, v] back to x_pad[n, c, i·s + u, j·s + v]."""
    N, F, Ho, Wo = dy.shape
    C, k = w.shape[1], w.shape[2]
    Hq, Wq = planes.shape[4], planes.shape[5]
    L = Ho * Wq
    for n in prange(N):
        g = wide[n]                         # dy on the wide grid, zero in the scratch columns
        g[:] = 0.0
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g[f * L + i * Wq + j] = dy[n, f, i, j]
        dst = planes[n].ravel()
        dst[:] = 0.0
        for c in range(C):
            for u in range(k):
                for v in range(k):
                    a = uint64(((c * s + u % s) * s + v % s) * Hq * Wq + (u // s) * Wq + v // s)
                    # f innermost: consecutive updates hit the same stretch of dst, so a
                    # store is never half-overlapped by the next load (a forwarding stall)
                    for f in range(F):
                        wv = w[f, c, u, v]
                        o = uint64(f * L)
                        for t in range(L):                       # contiguous: vectorised
                            dst[a + uint64(t)] += wv * g[o + uint64(t)]
        _from_planes(planes[n], s, p, dx[n])


@njit(**JIT)
def _wide_windows_kernel(x, k, s, p, planes, cols):
    """cols[c·k·k + u·k + v, n·L + t] = x_pad[n, c, i·s + u, j·s + v] at wide pixel
    t = i·Wq + j (L = Ho·Wq): every window tap as one contiguous row, copied from the
    phase planes.  The scratch columns hold values that a zero gradient cancels."""
    N, C = x.shape[0], x.shape[1]
    Hq, Wq = planes.shape[4], planes.shape[5]
    NL = cols.shape[1]
    L = NL // N
    flat = cols.ravel()
    for n in prange(N):
        _to_planes(x[n], s, p, planes[n])
        src = planes[n].ravel()
        for c in range(C):
            for u in range(k):
                for v in range(k):
                    a = uint64(((c * s + u % s) * s + v % s) * Hq * Wq + (u // s) * Wq + v // s)
                    o = uint64(((c * k + u) * k + v) * NL + n * L)
                    for t in range(L):
                        flat[o + uint64(t)] = src[a + uint64(t)]


@njit(**JIT)
def _to_wide_kernel(dy, Wq, out):
    """out[f, n·L + i·Wq + j] = dy[n, f, i, j], zero in the scratch columns j ≥ Wo."""
    N, F, Ho, Wo = dy.shape
    L = Ho * Wq
    for n in prange(N):
        for f in range(F):
            row = out[f, n * L:(n + 1) * L]
            row[:] = 0.0
            for i in range(Ho):
                for j in range(Wo):
                    row[i * Wq + j] = dy[n, f, i, j]


@njit(**JIT)
def _add_bias(out, b):
    N, F = out.shape[0], out.shape[1]
    for n in prange(N):
        for f in range(F):
            out[n, f] += b[f]


# --- the three linear maps, with their buffers -------------------------------------

def _correlate(x, w, s, p):
    """x: (N, C, H, W), w: (F, C, k, k) -> out: (N, F, Ho, Wo), no bias."""
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    Ho, Wo = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
    Hq, Wq = _geometry(Ho, Wo, k, s)
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)
    planes = np.empty((N, C, s, s, Hq, Wq), dtype=x.dtype)
    wide = np.empty((N, F * Ho * Wq), dtype=x.dtype)
    _correlate_kernel(np.ascontiguousarray(x), np.ascontiguousarray(w), s, p, out, planes, wide)
    return out


def _scatter(dy, w, x_shape, s, p):
    """dy: (N, F, Ho, Wo), w: (F, C, k, k) -> dx: x_shape = (N, C, H, W)."""
    N, F, Ho, Wo = dy.shape
    _, C, k, _ = w.shape
    Hq, Wq = _geometry(Ho, Wo, k, s)            # pixels beyond the planes receive nothing
    dx = np.empty(x_shape, dtype=dy.dtype)
    planes = np.empty((N, C, s, s, Hq, Wq), dtype=dy.dtype)
    wide = np.empty((N, F * Ho * Wq), dtype=dy.dtype)
    _scatter_kernel(np.ascontiguousarray(dy), np.ascontiguousarray(w), s, p, dx, planes, wide)
    return dx


def _weight_grad(dy, x, w_shape, s, p):
    """dy: (N, F, Ho, Wo), x: (N, C, H, W) the correlated input -> dw: w_shape (F, C, k, k).

    dw[f, c, u, v] is a sum over every output pixel.  As a loop it is a reduction, which
    LLVM does not vectorise without reordering additions (fastmath), so the window taps
    are copied into rows (in parallel) and BLAS does the sums: dw = dy · colsᵀ, with
    both on the wide grid (the scratch columns of dy are zero)."""
    N, F, Ho, Wo = dy.shape
    C, k = x.shape[1], w_shape[2]
    Hq, Wq = _geometry(Ho, Wo, k, s)
    planes = np.empty((N, C, s, s, Hq, Wq), dtype=x.dtype)
    cols = np.empty((C * k * k, N * Ho * Wq), dtype=x.dtype)
    _wide_windows_kernel(np.ascontiguousarray(x), k, s, p, planes, cols)
    dy_wide = np.empty((F, N * Ho * Wq), dtype=dy.dtype)
    _to_wide_kernel(np.ascontiguousarray(dy), Wq, dy_wide)
    return (dy_wide @ cols.T).reshape(w_shape)


def _bias_grad(dy):
    """db[f] = Σ_{n,i,j} dy[n, f, i, j]."""
    return dy.sum(axis=(0, 2, 3))


# --- the kernels the layers call (signatures of backend/__init__.py) ---------------

def conv2d_forward(x, w, b, stride=1, padding=0):
    """As numpy_conv.conv2d_forward.  x: (N, C, H, W), w: (F, C, k, k) -> (N, F, Ho, Wo)."""
    out = _correlate(x, w, stride, padding)
    _add_bias(out, b)
    return out, (x, w, stride, padding)


def conv2d_backward(dout, cache, need_dx=True):
    """As numpy_conv.conv2d_backward: (dx or None, dw, db)."""
    x, w, stride, padding = cache
    dx = _scatter(dout, w, x.shape, stride, padding) if need_dx else None
    return dx, _weight_grad(dout, x, w.shape, stride, padding), _bias_grad(dout)


def conv_transpose2d_forward(x, w, b, stride=1, padding=0, output_padding=(0, 0)):
    """As numpy_conv.conv_transpose2d_forward: the scatter of conv2d, w: (C, F, k, k)."""
    N, C, H, W = x.shape
    F, k = w.shape[1], w.shape[2]
    Ho = conv_transpose2d_output_size(H, k, stride, padding, output_padding[0])
    Wo = conv_transpose2d_output_size(W, k, stride, padding, output_padding[1])
    out = _scatter(x, w, (N, F, Ho, Wo), stride, padding)
    _add_bias(out, b)
    return out, (x, w, stride, padding)


def conv_transpose2d_backward(dout, cache):
    """As numpy_conv.conv_transpose2d_backward: the gather is conv2d of dout with w."""
    x, w, stride, padding = cache
    dx = _correlate(dout, w, stride, padding)
    dw = _weight_grad(x, dout, w.shape, stride, padding)
    return dx, dw, _bias_grad(dout)


__all__ = ["conv2d_forward", "conv2d_backward",
           "conv_transpose2d_forward", "conv_transpose2d_backward"]
