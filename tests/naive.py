"""Loop-by-loop implementations written straight from the definitions, as independent
references for the vectorised kernels.  Slow on purpose: one output value at a time."""

import numpy as np


def conv2d(x, w, b, stride, padding):
    """out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v]."""
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    xp[:, :, padding:padding + H, padding:padding + W] = x
    Ho = (H + 2 * padding - k) // stride + 1
    Wo = (W + 2 * padding - k) // stride + 1
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    patch = xp[n, :, i * stride:i * stride + k, j * stride:j * stride + k]
                    out[n, f, i, j] = b[f] + np.sum(patch * w[f])
    return out


def conv_transpose2d(x, w, b, stride, padding, output_padding):
    """Scatter definition: x[n, c, i, j]·w[c, f] is added to the k×k block at
    (i·s − p, j·s − p) of the output; positions outside the output are dropped.
    output_padding = (op_h, op_w) extra rows and columns at the bottom and right."""
    N, C, H, W = x.shape
    _, F, k, _ = w.shape
    Ho = stride * (H - 1) - 2 * padding + k + output_padding[0]
    Wo = stride * (W - 1) - 2 * padding + k + output_padding[1]
    out = np.zeros((N, F, Ho, Wo)) + b[None, :, None, None]
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    for f in range(F):
                        for u in range(k):
                            for v in range(k):
                                y, xx = i * stride - padding + u, j * stride - padding + v
                                if 0 <= y < Ho and 0 <= xx < Wo:
                                    out[n, f, y, xx] += x[n, c, i, j] * w[c, f, u, v]
    return out


def pool2d(x, kernel, stride, h):
    """out[n, c, i, j] = h(x[n, c, i·s : i·s + k, j·s : j·s + k])."""
    N, C, H, W = x.shape
    Ho, Wo = (H - kernel) // stride + 1, (W - kernel) // stride + 1
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = h(x[n, c, i * stride:i * stride + kernel,
                                          j * stride:j * stride + kernel])
    return out


def unpool2d(x, r):
    """Thesis §2.8.3: each value in the top-left corner of an r×r block of zeros."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, r * H, r * W))
    for i in range(H):
        for j in range(W):
            out[:, :, r * i, r * j] = x[:, :, i, j]
    return out
