"""Pooling (thesis §2.8.2) and unpooling (thesis §2.8.3) layers.

Pooling works on every channel separately: x: (N, C, H, W) -> (N, C, Ho, Wo) with
Ho = ⌊(H − kernel_size) / stride⌋ + 1.  The stride defaults to the kernel size
(non-overlapping windows).  As for Conv2D, pixels that no window reads are an error
unless `allow_uncovered=True`.  No parameters.
"""

import numpy as np

from ..utils import check_int
from .layer import Layer


class _Pool2D(Layer):
    def __init__(self, kernel_size, stride=None, *, allow_uncovered=False, backend=None,
                 dtype=np.float32):
        super().__init__(backend, dtype)
        name = type(self).__name__
        self.kernel_size = check_int(name, "kernel_size", kernel_size, 1)
        self.stride = check_int(name, "stride", kernel_size if stride is None else stride, 1)
        self.allow_uncovered = bool(allow_uncovered)

    def _describe(self):
        return f"k={self.kernel_size}, s={self.stride}"

    def output_shape(self, in_shape):
        self._expect_ndim(in_shape, 4, "(N, C, H, W)")
        Ho, Wo = self._window_positions(in_shape, self.kernel_size, self.stride, 0,
                                        self.allow_uncovered)
        return (in_shape[0], in_shape[1], Ho, Wo)


class MaxPool2D(_Pool2D):
    """Maximum over each kernel_size×kernel_size window.

    Where several elements of a window share the maximum, the whole gradient goes to
    one of them: the first in row-major order (top row first, left to right).

    Kernels: the backend's `max_pool2d_forward` / `max_pool2d_backward` (reference:
    backend/numpy_pool.py; fast: numba_pool.py, cupy_backend.py; loop by loop:
    backend/loops.py).
    """

    def _forward(self, x):
        return self.backend.max_pool2d_forward(x, self.kernel_size, self.stride)

    def _backward(self, dy, cache):
        """Each window's gradient goes whole to its maximum; overlapping windows add up.

        Computed by `numpy_pool.max_pool2d_backward` (backend/numpy_pool.py; fast:
        numba_pool.py, cupy_backend.py; loop by loop: backend/loops.py)."""
        return self.backend.max_pool2d_backward(dy, cache)


class AvgPool2D(_Pool2D):
    """Mean over each kernel_size×kernel_size window (the thesis's g(x) uses AvgPool2D(30)).

    Kernels: the backend's `avg_pool2d_forward` / `avg_pool2d_backward` (reference:
    backend/numpy_pool.py; fast: numba_pool.py, cupy_backend.py; loop by loop:
    backend/loops.py).
    """

    def _forward(self, x):
        return self.backend.avg_pool2d_forward(x, self.kernel_size, self.stride)

    def _backward(self, dy, cache):
        """Every element of a window receives dy / k²; overlapping windows add up.

        Computed by `numpy_pool.avg_pool2d_backward` (backend/numpy_pool.py; fast:
        numba_pool.py, cupy_backend.py; loop by loop: backend/loops.py)."""
        return self.backend.avg_pool2d_backward(dy, cache)


class Unpool2D(Layer):
    """Unpooling (thesis §2.8.3) with stride s = r: each value becomes an r×r block of
    zeros with the value in one entry.  The thesis leaves the entry open; we use the
    top-left corner.

    x: (N, C, H, W) -> y: (N, C, r·H, r·W).  Followed by a stride-1 convolution with
    the flipped kernel, swapped channels and suitable zero padding, it realises a
    transposed convolution (thesis eq. 2.34; tests/test_conv.py derives the padding).

    Kernels: the backend's `unpool2d_forward` / `unpool2d_backward` (reference:
    backend/numpy_pool.py; fast: cupy_backend.py, the Numba backend uses the reference;
    loop by loop: backend/loops.py).
    """

    def __init__(self, size, *, backend=None, dtype=np.float32):
        super().__init__(backend, dtype)
        self.size = check_int(type(self).__name__, "size", size, 1)

    def _describe(self):
        return f"r={self.size}"

    def output_shape(self, in_shape):
        self._expect_ndim(in_shape, 4, "(N, C, H, W)")
        N, C, H, W = in_shape
        return (N, C, self.size * H, self.size * W)

    def _forward(self, x):
        return self.backend.unpool2d_forward(x, self.size)

    def _backward(self, dy, cache):
        """dx[n, c, i, j] = dy[n, c, r·i, r·j]: only the corners carried a value.

        Computed by `numpy_pool.unpool2d_backward` (backend/numpy_pool.py; fast:
        cupy_backend.py, the Numba backend uses the reference; loop by loop:
        backend/loops.py)."""
        return self.backend.unpool2d_backward(dy, cache)
