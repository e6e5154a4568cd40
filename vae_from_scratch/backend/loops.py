"""Every kernel once more, loop by loop, written straight from its definition.

Slow on purpose: one output value at a time (a stride-1 conv2d of one 60×60 image
to 16 channels is 3600 · 16 = 57 600 turns of the Python loop).  Nothing here is used for training; this
file is the definition you can read next to the vectorised reference kernels, in the
style of the CS231n assignments (`conv_forward_naive` beside `conv_forward_fast`):

    from vae_from_scratch.backend import loops, numpy_conv
    out_slow, cache_slow = loops.conv2d_forward(x, w, b, stride, padding)
    out_fast, cache_fast = numpy_conv.conv2d_forward(x, w, b, stride, padding)
    # np.allclose(out_slow, out_fast); the backward passes agree too

Every function has the name, the arguments and the defaults of its reference kernel
(backend/__init__.py lists them: `KERNELS`), and returns the same shapes.  The caches
are different, plain ones (the inputs), so a loop forward goes with a loop backward.

Each backward pass is written from the same index map as its forward pass: wherever
the forward adds a · b into out[o], the backward adds dout[o] · b into da and
dout[o] · a into db.  That is the chain rule for a sum of products, and it is why a
backward written this way needs no separate derivation.

The reference kernels, for comparison:

    dense                   numpy_dense.py   (one matrix product)
    conv2d, conv_transpose  numpy_conv.py    (im2col + matrix product, col2im)
    max/avg pool, unpool    numpy_pool.py    (im2col windows, col2im)

Shapes: x: (N, C, H, W) for the window layers, (N, in) for dense.
"""

import numpy as np

from . import KERNELS


# --- dense (thesis eq. 2.24) -------------------------------------------------------------

def dense_forward(x, w, b):
    """y[n, o] = b[o] + Σ_i w[o, i] · x[n, i].

    x: (N, in), w: (out, in), b: (out,) -> y: (N, out), cache = (x, w).
    """
    N, n_in = x.shape
    n_out = w.shape[0]
    y = np.zeros((N, n_out), dtype=np.result_type(x, w, b))
    for n in range(N):
        for o in range(n_out):
            total = b[o]
            for i in range(n_in):
                total += w[o, i] * x[n, i]
            y[n, o] = total
    return y, (x, w)


def dense_backward(dy, cache, need_dx=True):
    """dy: (N, out) -> (dx: (N, in), dw: (out, in), db: (out,)); dx is None if not need_dx.

    Each product w[o, i] · x[n, i] that went into y[n, o] sends dy[n, o] · x[n, i] to
    dw[o, i] and dy[n, o] · w[o, i] to dx[n, i]; the bias b[o] sends dy[n, o] to db[o]:
    dx[n, i] = Σ_o dy[n, o] · w[o, i],  dw[o, i] = Σ_n dy[n, o] · x[n, i],  db[o] = Σ_n dy[n, o].
    """
    x, w = cache
    N, n_in = x.shape
    n_out = w.shape[0]
    dx = np.zeros(x.shape, dtype=dy.dtype)
    dw = np.zeros(w.shape, dtype=dy.dtype)
    db = np.zeros(n_out, dtype=dy.dtype)
    for n in range(N):
        for o in range(n_out):
            g = dy[n, o]
            db[o] += g
            for i in range(n_in):
                dw[o, i] += g * x[n, i]
                dx[n, i] += g * w[o, i]
    return (dx if need_dx else None), dw, db


# --- conv2d (thesis eq. 2.32) ------------------------------------------------------------

def _pad(x, padding):
    """x: (N, C, H, W) -> x_pad: (N, C, H + 2p, W + 2p), zeros around the border."""
    N, C, H, W = x.shape
    x_pad = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=x.dtype)
    x_pad[:, :, padding:padding + H, padding:padding + W] = x
    return x_pad


def conv2d_forward(x, w, b, stride=1, padding=0):
    """out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v].

    x: (N, C, H, W), w: (F, C, k, k), b: (F,) -> out: (N, F, Ho, Wo),
    Ho = ⌊(H + 2p − k) / s⌋ + 1 (likewise Wo); cache = (x, w, stride, padding).
    The sum over (c, u, v) is one window of x_pad times the filter w[f], summed.
    """
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    s = stride
    x_pad = _pad(x, padding)
    Ho = (H + 2 * padding - k) // s + 1
    Wo = (W + 2 * padding - k) // s + 1
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w, b))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = x_pad[n, :, i * s:i * s + k, j * s:j * s + k]   # (C, k, k)
                    out[n, f, i, j] = b[f] + np.sum(window * w[f])
    return out, (x, w, stride, padding)


def conv2d_backward(dout, cache, need_dx=True):
    """dout: (N, F, Ho, Wo) -> (dx: (N, C, H, W), dw: (F, C, k, k), db: (F,)).

    Through the same index map as the forward pass, output value by output value:
        dx_pad[n, c, i·s + u, j·s + v] += dout[n, f, i, j] · w[f, c, u, v]
        dw[f, c, u, v]                 += dout[n, f, i, j] · x_pad[n, c, i·s + u, j·s + v]
        db[f]                          += dout[n, f, i, j]
    then dx is dx_pad without its border (the padding is not an input).  Pixels no
    window reads get 0.  dx is None when need_dx is False.
    """
    x, w, stride, padding = cache
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    s, p = stride, padding
    _, _, Ho, Wo = dout.shape
    x_pad = _pad(x, p)
    dx_pad = np.zeros(x_pad.shape, dtype=dout.dtype)
    dw = np.zeros(w.shape, dtype=dout.dtype)
    db = np.zeros(F, dtype=dout.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g = dout[n, f, i, j]
                    dx_pad[n, :, i * s:i * s + k, j * s:j * s + k] += g * w[f]
                    dw[f] += g * x_pad[n, :, i * s:i * s + k, j * s:j * s + k]
                    db[f] += g
    dx = dx_pad[:, :, p:p + H, p:p + W].copy() if need_dx else None
    return dx, dw, db


# --- conv_transpose2d (thesis §2.8.3) ----------------------------------------------------

def conv_transpose2d_forward(x, w, b, stride=1, padding=0, output_padding=(0, 0)):
    """Scatter definition: for every input pixel (n, c, i, j) and offset (u, v),
        out[n, f, i·s − p + u, j·s − p + v] += x[n, c, i, j] · w[c, f, u, v],
    positions outside the output dropped; then out[n, f] += b[f].

    x: (N, C, H, W), w: (C, F, k, k), b: (F,), output_padding = (op_h, op_w)
    -> out: (N, F, Ho, Wo),  Ho = s·(H − 1) − 2p + k + op_h  (likewise Wo with op_w);
    cache = (x, w, stride, padding).  One input value at a time, one product at a time.
    """
    N, C, H, W = x.shape
    _, F, k, _ = w.shape
    s, p = stride, padding
    Ho = s * (H - 1) - 2 * p + k + output_padding[0]
    Wo = s * (W - 1) - 2 * p + k + output_padding[1]
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w, b))
    for n in range(N):
        for f in range(F):
            out[n, f] += b[f]
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    for f in range(F):
                        for u in range(k):
                            for v in range(k):
                                y, z = i * s - p + u, j * s - p + v
                                if 0 <= y < Ho and 0 <= z < Wo:
                                    out[n, f, y, z] += x[n, c, i, j] * w[c, f, u, v]
    return out, (x, w, stride, padding)


def conv_transpose2d_backward(dout, cache):
    """dout: (N, F, Ho, Wo) -> (dx: (N, C, H, W), dw: (C, F, k, k), db: (F,)).

    Through the same index map as the forward pass, product by product:
        dx[n, c, i, j]    += dout[n, f, i·s − p + u, j·s − p + v] · w[c, f, u, v]
        dw[c, f, u, v]    += dout[n, f, i·s − p + u, j·s − p + v] · x[n, c, i, j]
    over the positions inside the output, and db[f] = Σ_{n,y,z} dout[n, f, y, z].
    """
    x, w, stride, padding = cache
    N, C, H, W = x.shape
    _, F, k, _ = w.shape
    s, p = stride, padding
    _, _, Ho, Wo = dout.shape
    dx = np.zeros(x.shape, dtype=dout.dtype)
    dw = np.zeros(w.shape, dtype=dout.dtype)
    db = np.zeros(F, dtype=dout.dtype)
    for n in range(N):
        for f in range(F):
            for y in range(Ho):
                for z in range(Wo):
                    db[f] += dout[n, f, y, z]
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    for f in range(F):
                        for u in range(k):
                            for v in range(k):
                                y, z = i * s - p + u, j * s - p + v
                                if 0 <= y < Ho and 0 <= z < Wo:
                                    g = dout[n, f, y, z]
                                    dx[n, c, i, j] += g * w[c, f, u, v]
                                    dw[c, f, u, v] += g * x[n, c, i, j]
    return dx, dw, db


# --- pooling (thesis §2.8.2) -------------------------------------------------------------

def max_pool2d_forward(x, kernel, stride):
    """out[n, c, i, j] = max_{u,v} x[n, c, i·s + u, j·s + v],  0 ≤ u, v < k.

    x: (N, C, H, W) -> out: (N, C, Ho, Wo), Ho = ⌊(H − k) / s⌋ + 1 (likewise Wo);
    cache = (x.shape, where, kernel, stride), where[n, c, i, j] = (u*, v*) the
    position of the maximum inside window (i, j).
    Ties: the window is scanned row by row, left to right, and a later element
    replaces the best so far only if it is strictly larger, so the first maximal
    element in row-major order wins (the reference's `argmax` rule).
    """
    N, C, H, W = x.shape
    k, s = kernel, stride
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    where = np.zeros((N, C, Ho, Wo, 2), dtype=np.intp)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    best, best_u, best_v = x[n, c, i * s, j * s], 0, 0
                    for u in range(k):
                        for v in range(k):
                            if x[n, c, i * s + u, j * s + v] > best:
                                best, best_u, best_v = x[n, c, i * s + u, j * s + v], u, v
                    out[n, c, i, j] = best
                    where[n, c, i, j] = best_u, best_v
    return out, (x.shape, where, kernel, stride)


def max_pool2d_backward(dout, cache):
    """dout: (N, C, Ho, Wo) -> dx: (N, C, H, W).

    Each window's gradient goes whole to the element that was its maximum:
        dx[n, c, i·s + u*, j·s + v*] += dout[n, c, i, j];
    one pixel that is the maximum of several overlapping windows (s < k) adds them up.
    """
    x_shape, where, kernel, stride = cache
    N, C, Ho, Wo = dout.shape
    s = stride
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    u, v = where[n, c, i, j]
                    dx[n, c, i * s + u, j * s + v] += dout[n, c, i, j]
    return dx


def avg_pool2d_forward(x, kernel, stride):
    """out[n, c, i, j] = (1 / k²) Σ_{u,v} x[n, c, i·s + u, j·s + v],  0 ≤ u, v < k.

    x: (N, C, H, W) -> out: (N, C, Ho, Wo), Ho = ⌊(H − k) / s⌋ + 1 (likewise Wo);
    cache = (x.shape, kernel, stride).
    """
    N, C, H, W = x.shape
    k, s = kernel, stride
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    total = 0.0
                    for u in range(k):
                        for v in range(k):
                            total += x[n, c, i * s + u, j * s + v]
                    out[n, c, i, j] = total / (k * k)
    return out, (x.shape, kernel, stride)


def avg_pool2d_backward(dout, cache):
    """dout: (N, C, Ho, Wo) -> dx: (N, C, H, W).

    Every element of a window had weight 1/k² in its mean, so it receives that share:
        dx[n, c, i·s + u, j·s + v] += dout[n, c, i, j] / k²   for all 0 ≤ u, v < k;
    overlapping windows (s < k) add up, pixels no window reads get 0.
    """
    x_shape, kernel, stride = cache
    N, C, Ho, Wo = dout.shape
    k, s = kernel, stride
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    share = dout[n, c, i, j] / (k * k)
                    for u in range(k):
                        for v in range(k):
                            dx[n, c, i * s + u, j * s + v] += share
    return dx


# --- unpooling (thesis §2.8.3) -----------------------------------------------------------

def unpool2d_forward(x, size):
    """out[n, c, r·i, r·j] = x[n, c, i, j], and 0 at every other position (r = size):
    each value in the top-left corner of an r×r block of zeros.

    x: (N, C, H, W) -> out: (N, C, r·H, r·W); cache = size.
    """
    N, C, H, W = x.shape
    r = size
    out = np.zeros((N, C, r * H, r * W), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    out[n, c, r * i, r * j] = x[n, c, i, j]
    return out, size


def unpool2d_backward(dout, cache):
    """dout: (N, C, r·H, r·W) -> dx: (N, C, H, W),  dx[n, c, i, j] = dout[n, c, r·i, r·j]:
    each input value went to one corner, and only that corner's gradient comes back."""
    r = cache
    N, C, Hr, Wr = dout.shape
    H, W = Hr // r, Wr // r
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    dx[n, c, i, j] = dout[n, c, r * i, r * j]
    return dx


__all__ = list(KERNELS)                  # the twelve kernels every backend has
