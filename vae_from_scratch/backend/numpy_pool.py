"""Pooling and unpooling: the NumPy reference kernels (thesis §2.8.2 and §2.8.3).

    max_pool2d / avg_pool2d:  x: (N, C, H, W) -> (N, C, Ho, Wo),  Ho = ⌊(H − k) / s⌋ + 1
    unpool2d:                 x: (N, C, H, W) -> (N, C, r·H, r·W)

Pooling applies a function h to every k×k window of each channel separately (no sum
over channels).  The windows are the same as a convolution's, so both kernels reuse
`im2col`, and both backward passes end in `col2im`, which adds up the gradient where
windows overlap (stride < kernel).
"""

import numpy as np

from .numpy_im2col import col2im, im2col


def max_pool2d_forward(x, kernel, stride):
    """h = max over each k×k window.  x: (N, C, H, W) -> out: (N, C, Ho, Wo).

    Ties: `argmax` returns the first maximal element of the window in row-major
    order (top row first, left to right), and the whole gradient goes to that one
    element.  Any choice is a valid subgradient; this one is deterministic.
    """
    N, C = x.shape[:2]
    windows = im2col(x, kernel, stride, 0)                          # (N, C, Ho, Wo, k, k)
    Ho, Wo = windows.shape[2:4]
    flat = windows.reshape(N, C, Ho, Wo, kernel * kernel)
    argmax = flat.argmax(axis=-1)                                   # (N, C, Ho, Wo)
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return out, (x.shape, argmax, kernel, stride)


def max_pool2d_backward(dout, cache):
    """dout: (N, C, Ho, Wo) -> dx: (N, C, H, W); each window sends its gradient to its argmax."""
    x_shape, argmax, kernel, stride = cache
    N, C, Ho, Wo = dout.shape
    dflat = np.zeros((N, C, Ho, Wo, kernel * kernel), dtype=dout.dtype)
    np.put_along_axis(dflat, argmax[..., None], dout[..., None], axis=-1)
    return col2im(dflat.reshape(N, C, Ho, Wo, kernel, kernel), x_shape, kernel, stride, 0)


def avg_pool2d_forward(x, kernel, stride):
    """h = mean over each k×k window.  x: (N, C, H, W) -> out: (N, C, Ho, Wo)."""
    windows = im2col(x, kernel, stride, 0)
    return windows.mean(axis=(-2, -1)), (x.shape, kernel, stride)


def avg_pool2d_backward(dout, cache):
    """dout: (N, C, Ho, Wo) -> dx: every pixel of a window receives dout / k²."""
    x_shape, kernel, stride = cache
    share = dout[..., None, None] / (kernel * kernel)
    dcols = np.broadcast_to(share, dout.shape + (kernel, kernel))
    return col2im(dcols, x_shape, kernel, stride, 0)


def unpool2d_forward(x, size):
    """Unpooling (thesis §2.8.3, with s = r): each value becomes an r×r block of zeros
    with the value in one entry; the thesis leaves the entry open, we use the top-left.

    x: (N, C, H, W) -> out: (N, C, r·H, r·W), out[n, c, r·i, r·j] = x[n, c, i, j].
    """
    N, C, H, W = x.shape
    out = np.zeros((N, C, size * H, size * W), dtype=x.dtype)
    out[:, :, ::size, ::size] = x
    return out, size


def unpool2d_backward(dout, cache):
    """dout: (N, C, r·H, r·W) -> dx: (N, C, H, W); only the corners carried a value."""
    size = cache
    return np.ascontiguousarray(dout[:, :, ::size, ::size])
