"""Convolution layers: Conv2D (thesis §2.8.1, eq. 2.32) and its adjoint ConvTranspose2D (§2.8.3).

The arithmetic lives in the backend (`backend/numpy_conv.py` for the reference);
these classes hold the weights and check the shapes.
"""

import numpy as np

from ..backend.numpy_conv import conv_transpose2d_output_size
from ..utils import check_int
from .init import initialize
from .layer import Layer


class Conv2D(Layer):
    """2-D convolution (cross-correlation) with zero padding.

    x: (N, in_channels, H, W) -> y: (N, out_channels, Ho, Wo),
    Ho = ⌊(H + 2·padding − kernel_size) / stride⌋ + 1  (likewise Wo).
    params["W"]: (out_channels, in_channels, k, k), params["b"]: (out_channels,).

    A pixel that no window reads (the last rows when the stride does not divide
    H + 2·padding − k, or the rows between windows when stride > kernel) is usually a
    mistake in the architecture, so it is an error unless `allow_uncovered=True`.

    Kernels: the backend's `conv2d_forward` / `conv2d_backward` (reference:
    backend/numpy_conv.py; fast: numba_conv.py, cupy_backend.py; loop by loop:
    backend/loops.py).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *, rng,
                 init="glorot_uniform", allow_uncovered=False, backend=None, dtype=np.float32):
        super().__init__(backend, dtype)
        _set_window_hyperparameters(self, in_channels, out_channels, kernel_size, stride, padding)
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
        """dx: each dy[n, f, i, j] · W[f] added back onto the window it read (col2im);
        dW: dy against the windows; db = Σ dy over n, i, j.

        Computed by `numpy_conv.conv2d_backward` (backend/numpy_conv.py; fast:
        numba_conv.py, cupy_backend.py; loop by loop: backend/loops.py)."""
        dx, dW, db = self.backend.conv2d_backward(dy, cache, need_dx=self._need_input_grad)
        self._set_grad("W", dW)
        self._set_grad("b", db)
        return dx


class ConvTranspose2D(Layer):
    """Transposed convolution: the exact adjoint of `Conv2D` with the same weights.

    x: (N, in_channels, H, W) -> y: (N, out_channels, Ho, Wo),
    Ho = stride·(H − 1) − 2·padding + kernel_size + op_h  (likewise Wo with op_w).
    params["W"]: (in_channels, out_channels, k, k), params["b"]: (out_channels,).

    A stride-s convolution maps s different input sizes onto the same output size;
    `output_padding` (one integer, or (op_h, op_w), each 0 ≤ op < stride) picks which
    one the transposed convolution returns to.  With op = (H + 2p − k) mod s for the
    Conv2D's input size, and b = 0, ConvTranspose2D(F, C, k, s, p, op) and
    Conv2D(C, F, k, s, p) sharing one W satisfy ⟨conv(x), y⟩ = ⟨x, convT(y)⟩ for all
    x and y.  The thesis (§2.8.3, eq. 2.34) builds the same map from an unpooling
    layer followed by a convolution (tests/test_conv.py shows the exact recipe).

    Kernels: the backend's `conv_transpose2d_forward` / `conv_transpose2d_backward`
    (reference: backend/numpy_conv.py; fast: numba_conv.py, cupy_backend.py; loop by
    loop: backend/loops.py).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, *, rng, init="glorot_uniform", backend=None, dtype=np.float32):
        super().__init__(backend, dtype)
        _set_window_hyperparameters(self, in_channels, out_channels, kernel_size, stride, padding)
        name = type(self).__name__
        op = output_padding if isinstance(output_padding, (tuple, list)) else (output_padding,) * 2
        if len(op) != 2:
            raise ValueError(f"{name}: output_padding must be an integer or a pair (op_h, op_w), "
                             f"got {output_padding!r}")
        self.output_padding = tuple(check_int(name, "output_padding", v, 0) for v in op)
        if max(self.output_padding) >= self.stride:
            raise ValueError(f"{name}: output_padding must be smaller than the stride "
                             f"({self.stride}), got {output_padding!r}")
        k = self.kernel_size
        W = initialize(init, (self.in_channels, self.out_channels, k, k),
                       self.in_channels * k * k, self.out_channels * k * k, rng)
        self._add_param("W", W)
        self._add_param("b", np.zeros(self.out_channels))

    def _describe(self):
        op_h, op_w = self.output_padding
        op = "" if op_h == op_w == 0 else f", op={op_h}" if op_h == op_w else f", op=({op_h}, {op_w})"
        return (f"{self.in_channels}→{self.out_channels}, k={self.kernel_size}, "
                f"s={self.stride}, p={self.padding}{op}")

    def output_shape(self, in_shape):
        self._expect_ndim(in_shape, 4, f"(N, {self.in_channels}, H, W)")
        self._expect_channels(in_shape, self.in_channels)
        Ho, Wo = (conv_transpose2d_output_size(n, self.kernel_size, self.stride, self.padding, op)
                  for n, op in zip(in_shape[2:], self.output_padding))
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{self}: padding {self.padding} crops away the whole output of an "
                             f"input of shape {tuple(in_shape)} (output would be {Ho}×{Wo})")
        return (in_shape[0], self.out_channels, Ho, Wo)

    def _forward(self, x):
        return self.backend.conv_transpose2d_forward(x, self.params["W"], self.params["b"],
                                                     self.stride, self.padding,
                                                     self.output_padding)

    def _backward(self, dy, cache):
        """dx: conv2d of dy with the same W (the adjoint of a scatter is a gather);
        dW: x against the windows of dy; db = Σ dy over n, i, j.

        Computed by `numpy_conv.conv_transpose2d_backward` (backend/numpy_conv.py; fast:
        numba_conv.py, cupy_backend.py; loop by loop: backend/loops.py)."""
        dx, dW, db = self.backend.conv_transpose2d_backward(dy, cache)
        self._set_grad("W", dW)
        self._set_grad("b", db)
        return dx


def _set_window_hyperparameters(layer, in_channels, out_channels, kernel_size, stride, padding):
    """Check and store the hyperparameters both convolutions share."""
    name = type(layer).__name__
    layer.in_channels = check_int(name, "in_channels", in_channels, 1)
    layer.out_channels = check_int(name, "out_channels", out_channels, 1)
    layer.kernel_size = check_int(name, "kernel_size", kernel_size, 1)
    layer.stride = check_int(name, "stride", stride, 1)
    layer.padding = check_int(name, "padding", padding, 0)
