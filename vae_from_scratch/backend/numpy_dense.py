"""The fully connected (dense) layer: the NumPy reference kernels (thesis eq. 2.24).

The thesis writes one example as a column vector, y = W x + b.  A batch stacks the
examples as rows, so the same map reads Y = X Wᵀ + b.

    x: (N, in), w: (out, in), b: (out,) -> y: (N, out)
"""


def dense_forward(x, w, b):
    """y = x wᵀ + b  (thesis eq. 2.24, one row per example).  x: (N, in) -> y: (N, out)."""
    return x @ w.T + b, (x, w)


def dense_backward(dy, cache, need_dx=True):
    """dy: (N, out) -> (dx, dw, db); dx is None when need_dx is False.

    From y[n, o] = Σ_i w[o, i] · x[n, i] + b[o]:
    dx[n, i] = Σ_o dy[n, o] · w[o, i],   dw[o, i] = Σ_n dy[n, o] · x[n, i],   db[o] = Σ_n dy[n, o].
    """
    x, w = cache
    dx = dy @ w if need_dx else None
    return dx, dy.T @ x, dy.sum(axis=0)
