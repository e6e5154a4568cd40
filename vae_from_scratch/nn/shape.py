"""Layers that only change the shape: Flatten and Reshape (no parameters, no arithmetic).

No backend kernel: forward and backward are one `reshape` each, here in the layer, and
run unchanged on every backend's arrays.
"""

from math import prod

from ..utils import check_int
from .layer import Layer


class Flatten(Layer):
    """x: (N, d1, d2, …) -> (N, d1·d2·…): from the convolutional part to the dense part."""

    def output_shape(self, in_shape):
        if len(in_shape) < 2:
            raise ValueError(f"{self}: expected an input of shape (N, …) with at least 2 "
                             f"dimensions, got shape {tuple(in_shape)}")
        return (in_shape[0], prod(in_shape[1:]))

    def _forward(self, x):
        return x.reshape(x.shape[0], -1), x.shape

    def _backward(self, dy, x_shape):
        return dy.reshape(x_shape)


class Reshape(Layer):
    """x: (N, …) -> (N, *shape): e.g. Reshape((16, 15, 15)) after Dense(4 → 3600)."""

    def __init__(self, shape, *, backend=None):
        super().__init__(backend)
        self.shape = tuple(check_int("Reshape", "every dimension of shape", d, 1) for d in shape)

    def _describe(self):
        return f"{self.shape}"

    def output_shape(self, in_shape):
        size = prod(self.shape)
        if len(in_shape) < 1 or prod(in_shape[1:]) != size:
            raise ValueError(f"{self}: expected an input of shape (N, …) with {size} values per "
                             f"example, got shape {tuple(in_shape)}")
        return (in_shape[0],) + self.shape

    def _forward(self, x):
        return x.reshape((x.shape[0],) + self.shape), x.shape

    def _backward(self, dy, x_shape):
        return dy.reshape(x_shape)
