"""Convolution and transposed convolution: the NumPy reference kernels.

Conventions (docs/design.md, "Conventions"): NCHW data, cross-correlation (as in
most frameworks),
    conv2d:            x: (N, C, H, W),  w: (F, C, k, k),  b: (F,)  ->  (N, F, Ho, Wo)
    conv_transpose2d:  x: (N, C, H, W),  w: (C, F, k, k),  b: (F,)  ->  (N, F, Ho, Wo)

A convolution is two linear maps glued together, and this file is built from them:

* `_correlate`   out = windows(x) · w        (the forward pass of conv2d, thesis eq. 2.32)
* `_scatter`     dx  = col2im(dy · w)        (its adjoint: the input gradient of conv2d)

The transposed convolution is *defined* as the adjoint of conv2d, so its forward pass
is `_scatter` and its input gradient is `_correlate` — the same two functions with
their roles swapped.  That is why `ConvTranspose2D` with the same `w` satisfies
⟨conv(x), y⟩ = ⟨x, convT(y)⟩ exactly (tests/test_conv.py proves it numerically).

Each public kernel returns (out, cache) and its backward takes (dout, cache), in the
style of the CS231n assignments; the cache is opaque to the layers.
"""

import numpy as np

from .numpy_im2col import col2im, conv_output_size, im2col


def _correlate(x, w, stride, padding):
    """out[n, f, i, j] = Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v]  (no bias).

    x: (N, C, H, W), w: (F, C, k, k) -> out: (N, F, Ho, Wo), cols: (N·Ho·Wo, C·k·k).
    Laying the windows out as the rows of a matrix turns the whole sum into one
    matrix product (im2col + GEMM); cols is kept for the weight gradient.
    """
    N, C, _, _ = x.shape
    F, _, k, _ = w.shape
    windows = im2col(x, k, stride, padding)                                  # (N, C, Ho, Wo, k, k)
    Ho, Wo = windows.shape[2:4]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, C * k * k)  # one row per output pixel
    out = cols @ w.reshape(F, C * k * k).T                                   # (N·Ho·Wo, F)
    out = out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out), cols


def _scatter(dy, w, x_shape, stride, padding):
    """The adjoint of `_correlate` in x: dx = Σ over windows of dy · w, added onto the image.

    dy: (N, F, Ho, Wo), w: (F, C, k, k), x_shape = (N, C, H, W) -> dx: (N, C, H, W).
    Each output pixel (i, j) sent w[f] · x_window to dy; going back, it sends
    dy[n, f, i, j] · w[f] to the k×k block it read from.
    """
    N, F, Ho, Wo = dy.shape
    _, C, k, _ = w.shape
    dy_mat = dy.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, F)
    dcols = dy_mat @ w.reshape(F, C * k * k)                                 # (N·Ho·Wo, C·k·k)
    dcols = dcols.reshape(N, Ho, Wo, C, k, k).transpose(0, 3, 1, 2, 4, 5)    # (N, C, Ho, Wo, k, k)
    return col2im(dcols, x_shape, k, stride, padding)


def _weight_grad(dy, cols, w_shape):
    """dw[f, c, u, v] = Σ_{n,i,j} dy[n, f, i, j] · x_pad[n, c, i·s + u, j·s + v].

    dy: (N, F, Ho, Wo), cols: (N·Ho·Wo, C·k·k) from `_correlate` -> dw: w_shape.
    """
    F = dy.shape[1]
    dy_mat = dy.transpose(0, 2, 3, 1).reshape(-1, F)
    return (dy_mat.T @ cols).reshape(w_shape)


def conv2d_forward(x, w, b, stride=1, padding=0):
    """2-D convolution (cross-correlation) with zero padding (thesis eq. 2.32).

    x: (N, C, H, W), w: (F, C, k, k), b: (F,) -> out: (N, F, Ho, Wo),
    Ho = ⌊(H + 2p − k) / s⌋ + 1, and likewise Wo.
    out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v].
    """
    out, cols = _correlate(x, w, stride, padding)
    out += b[None, :, None, None]
    return out, (x.shape, cols, w, stride, padding)


def conv2d_backward(dout, cache, need_dx=True):
    """Gradients of conv2d_forward.  dout: (N, F, Ho, Wo) -> (dx, dw, db) shaped like (x, w, b).

    need_dx=False skips dx (returned as None): the first layer of an encoder sees the
    data, and nothing needs the gradient with respect to the data."""
    x_shape, cols, w, stride, padding = cache
    dx = _scatter(dout, w, x_shape, stride, padding) if need_dx else None
    dw = _weight_grad(dout, cols, w.shape)
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def conv_transpose2d_output_size(size, kernel, stride, padding, output_padding):
    """Output length of a transposed convolution: s·(size − 1) − 2p + k + output_padding."""
    return stride * (size - 1) - 2 * padding + kernel + output_padding


def conv_transpose2d_forward(x, w, b, stride=1, padding=0, output_padding=(0, 0)):
    """Transposed convolution: the input gradient of conv2d, used as a layer (thesis §2.8.3).

    x: (N, C, H, W), w: (C, F, k, k), b: (F,), output_padding = (op_h, op_w)
    -> out: (N, F, Ho, Wo),  Ho = s·(H − 1) − 2p + k + op_h,  Wo = s·(W − 1) − 2p + k + op_w.
    Every input pixel x[n, c, i, j] adds x[n, c, i, j] · w[c, f] into the k×k block of
    the output whose top-left corner is (i·s − p, j·s − p); overlaps add up.  This is
    exactly conv2d's `_scatter` with `w` read as a conv2d weight from F to C channels.
    `output_padding` (< stride) adds rows and columns at the bottom and right that a
    stride-s convolution of that larger image would not have reached, so that convT can
    return to any size a conv2d came from.
    """
    N, C, H, W = x.shape
    _, F, k, _ = w.shape
    op_h, op_w = output_padding
    Ho = conv_transpose2d_output_size(H, k, stride, padding, op_h)
    Wo = conv_transpose2d_output_size(W, k, stride, padding, op_w)
    out = _scatter(x, w, (N, F, Ho, Wo), stride, padding)
    out += b[None, :, None, None]
    return out, (x, w, stride, padding)


def conv_transpose2d_backward(dout, cache):
    """Gradients of conv_transpose2d_forward.  dout: (N, F, Ho, Wo) -> (dx, dw, db).

    The adjoint of a scatter is a gather: dx is conv2d of dout with the same w
    (read as (C, F, k, k): F input channels, C output channels).  Because
    output_padding < stride, dout has exactly H × W windows.
    """
    x, w, stride, padding = cache
    dx, cols = _correlate(dout, w, stride, padding)
    assert dx.shape == x.shape, (dx.shape, x.shape)
    dw = _weight_grad(x, cols, w.shape)
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


__all__ = [
    "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "conv_output_size", "conv_transpose2d_output_size",
]
