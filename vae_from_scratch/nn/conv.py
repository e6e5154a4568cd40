"""Convolution layers: Conv2D (thesis §2.8.1, eq. 2.32) and its adjoint ConvTranspose2D (§2.8.3).

The arithmetic lives in the backend (`backend/numpy_conv.py` for the reference);
these classes hold the weights and check the shapes.
"""

import numpy as np

from ..backend.numpy_conv import conv_transpose2d_output_size
from .init import initialize
from .layer import Layer


class Conv2D(Layer):
    """2-D convolution (cross-correlation) with zero padding.

    x: (N, in_channels, H, W) -> y: (N, out_channels, Ho, Wo),
    Ho = (H + 2·padding − kernel_size) / stride + 1  (likewise Wo).
    params["W"]: (out_channels, in_channels, k, k), params["b"]: (out_channels,).

    If the stride does not divide H + 2·padding − k, the last rows (or columns) are
    never read.  That is usually a mistake in the architecture, so it is an error
    unless `allow_uncovered=True`, which drops them as most frameworks do.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *, rng,
                 init="glorot_uniform", allow_uncovered=False, backend=None, dtype=np.float32):
        super().__init__(backend, dtype)
        _check_hyper(self, kernel_size=kernel_size, stride=stride, padding=padding)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        self.allow_uncovered = bool(allow_uncovered)
        k = self.kernel_size
        W = initialize(init, (self.out_channels, self.in_channels, k, k),
                       self.in_channels * k * k, self.out_channels * k * k, rng)
        self._add_param("W", W)
        self._add_param("b", np.zeros(self.out_channels))

    def _describe(self):
        return (f"{self.in_channels}→{self.out_channels}, k={self.kernel_size}, "
                f"s={self.stride}, p={self.padding}")

    def output_shape(self, in_shape):
        self._expect_ndim(in_shape, 4, f"(N, {self.in_channels}, H, W)")
        self._expect_channels(in_shape, self.in_channels)
        Ho, Wo = self._window_positions(in_shape, self.kernel_size, self.stride,
                                        self.padding, self.allow_uncovered)
        return (in_shape[0], self.out_channels, Ho, Wo)

    def _forward(self, x):
        return self.backend.conv2d_forward(x, self.params["W"], self.params["b"],
                                           self.stride, self.padding)

    def _backward(self, dy, cache):
        dx, dW, db = self.backend.conv2d_backward(dy, cache)
        self._set_grad("W", dW)
        self._set_grad("b", db)
        return dx


class ConvTranspose2D(Layer):
    """Transposed convolution: the exact adjoint of `Conv2D` with the same weights.

    x: (N, in_channels, H, W) -> y: (N, out_channels, Ho, Wo),
    Ho = stride·(H − 1) − 2·padding + kernel_size + output_padding  (likewise Wo).
    params["W"]: (in_channels, out_channels, k, k), params["b"]: (out_channels,).

    With b = 0, ConvTranspose2D(F, C, k, s, p) and Conv2D(C, F, k, s, p) sharing one W
    satisfy ⟨conv(x), y⟩ = ⟨x, convT(y)⟩ for all x, y.  A stride-s convolution maps
    several input sizes onto the same output size; `output_padding` (0 ≤ op < stride)
    picks which one the transposed convolution returns to.  The thesis (§2.8.3)
    builds the same map from an unpooling layer followed by a convolution.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, *, rng, init="glorot_uniform", backend=None, dtype=np.float32):
        super().__init__(backend, dtype)
        _check_hyper(self, kernel_size=kernel_size, stride=stride, padding=padding,
                     output_padding=output_padding)
        if not output_padding < stride:
            raise ValueError(f"{self.__class__.__name__}: output_padding must be smaller than "
                             f"the stride ({stride}), got {output_padding}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        self.output_padding = int(output_padding)
        k = self.kernel_size
        W = initialize(init, (self.in_channels, self.out_channels, k, k),
                       self.in_channels * k * k, self.out_channels * k * k, rng)
        self._add_param("W", W)
        self._add_param("b", np.zeros(self.out_channels))

    def _describe(self):
        op = f", op={self.output_padding}" if self.output_padding else ""
        return (f"{self.in_channels}→{self.out_channels}, k={self.kernel_size}, "
                f"s={self.stride}, p={self.padding}{op}")

    def output_shape(self, in_shape):
        self._expect_ndim(in_shape, 4, f"(N, {self.in_channels}, H, W)")
        self._expect_channels(in_shape, self.in_channels)
        Ho, Wo = (conv_transpose2d_output_size(n, self.kernel_size, self.stride, self.padding,
                                               self.output_padding) for n in in_shape[2:])
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{self}: padding {self.padding} crops away the whole output of an "
                             f"input of shape {tuple(in_shape)} (output would be {Ho}×{Wo})")
        return (in_shape[0], self.out_channels, Ho, Wo)

    def _forward(self, x):
        return self.backend.conv_transpose2d_forward(x, self.params["W"], self.params["b"],
                                                     self.stride, self.padding,
                                                     self.output_padding)

    def _backward(self, dy, cache):
        dx, dW, db = self.backend.conv_transpose2d_backward(dy, cache)
        self._set_grad("W", dW)
        self._set_grad("b", db)
        return dx


def _check_hyper(layer, **values):
    """Kernel size and stride ≥ 1, paddings ≥ 0, all integers."""
    for name, value in values.items():
        lowest = 1 if name in ("kernel_size", "stride", "size") else 0
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
            raise ValueError(f"{layer.__class__.__name__}: {name} must be an integer ≥ {lowest}, "
                             f"got {value!r}")
