"""Dense (fully connected) layer: the affine map W x + b inside thesis eq. 2.24, with
examples as rows (y = x Wᵀ + b); the activation g of eq. 2.24 is a layer of its own."""

import numpy as np

from ..utils import check_int
from .init import initialize
from .layer import Layer


class Dense(Layer):
    """Fully connected layer.

    x: (N, in_features) -> y: (N, out_features).
    params["W"]: (out_features, in_features), params["b"]: (out_features,)
    (docs/design.md, "Conventions").
    Weights are drawn by `init` from `rng`; biases start at zero.
    Kernels: the backend's `dense_forward` / `dense_backward` (reference:
    backend/numpy_dense.py; fast: cupy_backend.py, the Numba backend uses the reference;
    loop by loop: backend/loops.py).
    """

    def __init__(self, in_features, out_features, *, rng, init="glorot_uniform",
                 backend=None, dtype=np.float32):
        super().__init__(backend, dtype)
        self.in_features = check_int("Dense", "in_features", in_features, 1)
        self.out_features = check_int("Dense", "out_features", out_features, 1)
        W = initialize(init, (self.out_features, self.in_features),
                       self.in_features, self.out_features, rng)
        self._add_param("W", W)
        self._add_param("b", np.zeros(self.out_features))

    def _describe(self):
        return f"{self.in_features}→{self.out_features}"

    def output_shape(self, in_shape):
        self._expect_ndim(in_shape, 2, f"(N, {self.in_features})")
        if in_shape[1] != self.in_features:
            raise ValueError(f"{self}: expected input of shape (N, {self.in_features}), "
                             f"got shape {tuple(in_shape)}")
        return (in_shape[0], self.out_features)

    def _forward(self, x):
        return self.backend.dense_forward(x, self.params["W"], self.params["b"])

    def _backward(self, dy, cache):
        """dx = dy · W, dW = dyᵀ · x, db = Σ_n dy (dx skipped when nothing needs it).

        Computed by `numpy_dense.dense_backward` (backend/numpy_dense.py; fast:
        cupy_backend.py, the Numba backend uses the reference; loop by loop:
        backend/loops.py)."""
        dx, dW, db = self.backend.dense_backward(dy, cache, need_dx=self._need_input_grad)
        self._set_grad("W", dW)
        self._set_grad("b", db)
        return dx
