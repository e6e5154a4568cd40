"""Adam's update, compiled: one pass over each tensor instead of eight.

optim.Adam._update is the readable reference: whole-array NumPy operations, one
formula a line (Kingma & Ba 2015, Algorithm 1).  Each line is a pass over the tensor
and most make a temporary array, so one step of the dual VAE (24 tensors) is about two
hundred NumPy calls on small arrays, where the call overhead, not the arithmetic, costs
the time.  `adam_update` does the same arithmetic element by element in one compiled
loop per tensor:

    g ← scale · g  (clipping),   g ← g + λ p  (weight decay)
    m ← β₁ m + (1 − β₁) g
    v ← β₂ v + (1 − β₂) g²
    p ← p − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)

with every operation in the arrays' own precision, in the reference's order, each
scalar rounded to that precision first (as NumPy does with a Python float next to a
float32 array), and no fused multiply-add (fastmath=False); LLVM vectorises the loop
(8 float32 lanes here) without reordering any element's arithmetic.  The result is therefore
the reference's bit for bit (tests/test_optim.py checks it on float32 and float64).
"""

import numpy as np
from numba import njit


# error_model="numpy": a division by zero gives inf as in NumPy, instead of Numba's
# default Python check, whose ZeroDivisionError exit stops LLVM from vectorising the
# loop (with it: scalar, about 4 ns per element; without: 8 floats per instruction).
@njit(cache=True, fastmath=False, error_model="numpy")
def _adam_tensor(p, g, m, v, scale, weight_decay, beta1, one_minus_beta1, beta2,
                 one_minus_beta2, bias1, bias2, eps, lr, clip, decay):
    """One tensor, flattened: p, g, m, v (n,) of one dtype; the scalars of that dtype."""
    for i in range(p.size):
        gi = g[i]
        if clip:
            gi = gi * scale
        if decay:
            gi = gi + weight_decay * p[i]
        mi = m[i] * beta1
        mi = mi + one_minus_beta1 * gi                      # m = β₁ m + (1 − β₁) g
        vi = v[i] * beta2
        vi = vi + one_minus_beta2 * (gi * gi)               # v = β₂ v + (1 − β₂) g²
        m[i] = mi
        v[i] = vi
        denominator = np.sqrt(vi / bias2) + eps             # √v̂ + ε
        p[i] = p[i] - (lr * (mi / bias1)) / denominator     # p − lr · m̂ / (√v̂ + ε)


def adam_update(p, g, m, v, *, lr, beta1, beta2, eps, t, weight_decay=0.0, scale=1.0):
    """Adam's update of one parameter p (in place, with its buffers m and v) from its
    gradient g, at step t (1 for the first update).  p, g, m, v: C-contiguous arrays
    of one shape and one floating dtype; g is not changed."""
    dtype = p.dtype.type
    _adam_tensor(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                 dtype(scale), dtype(weight_decay), dtype(beta1), dtype(1 - beta1),
                 dtype(beta2), dtype(1 - beta2), dtype(1 - beta1 ** t), dtype(1 - beta2 ** t),
                 dtype(eps), dtype(lr), scale != 1.0, weight_decay != 0.0)


def warmup():
    """Compile (or load) the update for float32 and float64, both with and without
    clipping and weight decay (they are arguments, not separate kernels)."""
    for dtype in (np.float32, np.float64):
        a = [np.zeros(3, dtype) for _ in range(4)]
        adam_update(*a, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=1)


__all__ = ["adam_update", "warmup"]
