"""Pooling (thesis §2.8.2) and unpooling (thesis §2.8.3) layers.

Pooling works on every channel separately: x: (N, C, H, W) -> (N, C, Ho, Wo) with
Ho = (H − kernel_size) / stride + 1.  The stride defaults to the kernel size
(non-overlapping windows).  No parameters.
"""

import numpy as np

from .conv import _check_hyper
from .layer import Layer


class _Pool2D(Layer):
    def __init__(self, kernel_size, stride=None, *, allow_uncovered=False, backend=None,
                 dtype=np.float32):
        super().__init__(backend, dtype)
        stride = kernel_size if stride is None else stride
        _check_hyper(self, kernel_size=kernel_size, stride=stride)
        self.kernel_size, self.stride = int(kernel_size), int(stride)
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
    """

    def _forward(self, x):
        return self.backend.max_pool2d_forward(x, self.kernel_size, self.stride)

    def _backward(self, dy, cache):
        return self.backend.max_pool2d_backward(dy, cache)


class AvgPool2D(_Pool2D):
    """Mean over each kernel_size×kernel_size window (the thesis's g(x) uses AvgPool2D(30))."""

    def _forward(self, x):
        return self.backend.avg_pool2d_forward(x, self.kernel_size, self.stride)

    def _backward(self, dy, cache):
        return self.backend.avg_pool2d_backward(dy, cache)


class Unpool2D(Layer):
    """Unpooling as in thesis §2.8.3 with stride s = r: each value is placed in the top-left
    corner of an r×r block of zeros.

    x: (N, C, H, W) -> y: (N, C, r·H, r·W).  Followed by a stride-1 convolution it
    realises a transposed convolution (thesis eq. 2.34; tests/test_conv.py shows how).
    """

    def __init__(self, size, *, backend=None, dtype=np.float32):
        super().__init__(backend, dtype)
        _check_hyper(self, size=size)
        self.size = int(size)

    def _describe(self):
        return f"r={self.size}"

    def output_shape(self, in_shape):
        self._expect_ndim(in_shape, 4, "(N, C, H, W)")
        N, C, H, W = in_shape
        return (N, C, self.size * H, self.size * W)

    def _forward(self, x):
        return self.backend.unpool2d_forward(x, self.size)

    def _backward(self, dy, cache):
        return self.backend.unpool2d_backward(dy, cache)
