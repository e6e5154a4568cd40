"""im2col and col2im: the index arithmetic every convolution and pooling kernel shares.

A 2-D convolution, a pooling layer and a transposed convolution all look at the
input through the same set of k×k windows.  Window (i, j) of a zero-padded input
starts at row i·s and column j·s (stride s), so

    windows[n, c, i, j, u, v] = x_pad[n, c, i·s + u, j·s + v],     0 ≤ u, v < k.

There are Ho = ⌊(H + 2p − k) / s⌋ + 1 windows down and Wo = ⌊(W + 2p − k) / s⌋ + 1
across.  `im2col` gathers them (a view, no arithmetic); `col2im` is its adjoint:
it scatters values back to the pixel each one came from and *adds* where windows
overlap.  Every backward pass of a window layer ends in `col2im`.

Shapes:  x: (N, C, H, W)   windows / cols: (N, C, Ho, Wo, k, k)
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(size, kernel, stride, padding):
    """Window positions along one axis: ⌊(size + 2·padding − kernel) / stride⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def pad2d(x, padding):
    """Zero-pad the two spatial axes of x: (N, C, H, W) -> (N, C, H + 2p, W + 2p)."""
    if padding == 0:
        return x
    p = padding
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def im2col(x, kernel, stride, padding):
    """Every k×k window of the zero-padded input, as a strided view.

    x: (N, C, H, W) -> windows: (N, C, Ho, Wo, k, k) with
    windows[n, c, i, j, u, v] = x_pad[n, c, i·stride + u, j·stride + v].

    `sliding_window_view` builds the windows at *every* offset without copying
    (it only sets strides: moving one step along the window axis u moves one row
    in memory, as does moving one step along the position axis).  Taking every
    stride-th position keeps exactly Ho of them: there are H + 2p − k + 1 offsets
    and ⌈(H + 2p − k + 1) / s⌉ = ⌊(H + 2p − k) / s⌋ + 1 = Ho of them are multiples of s.
    The result is read-only; the kernels only read it (reshaping it for a matrix
    product copies it, except in the rare layouts where a view suffices).
    """
    x_pad = pad2d(x, padding)
    windows = sliding_window_view(x_pad, (kernel, kernel), axis=(2, 3))
    return windows[:, :, ::stride, ::stride]


def col2im(cols, x_shape, kernel, stride, padding):
    """The adjoint of im2col: scatter window values back onto the image, adding overlaps.

    cols: (N, C, Ho, Wo, k, k), x_shape = (N, C, H, W) -> (N, C, H, W) with
    out[n, c, y, x] = Σ over all (i, j, u, v) with i·s + u − p = y and j·s + v − p = x
                      of cols[n, c, i, j, u, v].

    Pixels that no window covers (padding, or rows dropped by a stride that does not
    divide H + 2p − k) receive nothing.  The sum is a loop over either the k·k kernel
    offsets or the Ho·Wo windows, whichever is fewer; both are exact:
      * offset (u, v) of every window lands on the strided grid
        rows u, u + s, …, u + (Ho − 1)·s  and  columns v, v + s, …, v + (Wo − 1)·s;
      * window (i, j) covers the block rows i·s … i·s + k − 1, columns j·s … j·s + k − 1.
    (The background encoder's 30×30 kernel at stride 30 has 900 offsets but, on a
    60×60 image, only 4 windows.)
    """
    N, C, H, W = x_shape
    _, _, Ho, Wo, k, _ = cols.shape
    s, p = stride, padding
    out = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=cols.dtype)
    if k * k <= Ho * Wo:
        for u in range(k):
            for v in range(k):
                out[:, :, u:u + s * (Ho - 1) + 1:s, v:v + s * (Wo - 1) + 1:s] += cols[:, :, :, :, u, v]
    else:
        for i in range(Ho):
            for j in range(Wo):
                out[:, :, i * s:i * s + k, j * s:j * s + k] += cols[:, :, i, j]
    return out[:, :, p:p + H, p:p + W]
