"""Activation functions g (thesis §2.6), applied elementwise, with their derivatives.

Every backward pass is dx = dy ⊙ g′(x).  At a kink the derivative is a chosen value:
relu′(0) := 0 as the thesis defines it, and LeakyReLU likewise takes the left-hand
slope at 0 (g′(0) := negative_slope).

No backend kernel: each forward and backward is one elementwise expression, written here
on the backend's array module (`backend.xp`), so it runs unchanged on every backend.
"""

from .functional import sigmoid, softplus
from .layer import Layer


class Identity(Layer):
    """g(x) = x."""

    def _forward(self, x):
        return x, None

    def _backward(self, dy, cache):
        return dy


class ReLU(Layer):
    """g(x) = max(0, x), g′(x) = 1 for x > 0 and 0 otherwise (relu′(0) := 0, thesis §2.6)."""

    def _forward(self, x):
        on = x > 0
        return x * on, on

    def _backward(self, dy, on):
        return dy * on


class LeakyReLU(Layer):
    """g(x) = x for x > 0 and a·x otherwise, with a = negative_slope."""

    def __init__(self, negative_slope=0.01, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def _describe(self):
        return f"{self.negative_slope}"

    def _forward(self, x):
        slope = self.backend.xp.where(x > 0, 1.0, self.negative_slope).astype(x.dtype)
        return x * slope, slope

    def _backward(self, dy, slope):
        return dy * slope


class Sigmoid(Layer):
    """g(x) = 1 / (1 + e^{−x}), g′ = g·(1 − g).  Stable for large |x| (see functional.sigmoid).

    The thesis's sigmoid (§2.6) has a slope k, 1 / (1 + e^{−kx}); this layer is k = 1,
    and a slope is a scaling of its input (as in the thesis's g(x), eq. 3.1, with k = 12).
    """

    def _forward(self, x):
        y = sigmoid(x, self.backend.xp)
        return y, y

    def _backward(self, dy, y):
        return dy * y * (1 - y)


class Tanh(Layer):
    """g(x) = tanh(x), g′ = 1 − g²."""

    def _forward(self, x):
        y = self.backend.xp.tanh(x)
        return y, y

    def _backward(self, dy, y):
        return dy * (1 - y * y)


class Softplus(Layer):
    """g(x) = log(1 + e^{x}), g′ = sigmoid(x).  Stable for large |x| (see functional.softplus)."""

    def _forward(self, x):
        return softplus(x, self.backend.xp), x

    def _backward(self, dy, x):
        return dy * sigmoid(x, self.backend.xp)
