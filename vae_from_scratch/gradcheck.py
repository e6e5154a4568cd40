"""Gradient checking by central finite differences, in float64.

A hand-written backward pass is only trusted once it agrees with the definition of
the derivative.  For a scalar function L of an array a,

    ∂L/∂a_i ≈ (L(a + h·e_i) − L(a − h·e_i)) / (2h),

with error O(h²) from truncation plus O(ε·|L| / h) from rounding (ε ≈ 1.1e-16 in
float64).  In float32 (ε ≈ 6e-8) the rounding term alone is ~1e-2 for h = 1e-6, which
is why checks run in float64.

To check a layer y = α(x; θ), which has a tensor output, we take a fixed random
direction G of the output's shape and check the scalar L = Σ (α(x; θ) ⊙ G); its
gradient is exactly what `backward(G)` returns, for x and for every parameter.  We
difference the outputs before summing, Σ (y₊ − y₋) ⊙ G / 2h: outputs that the
perturbed entry does not touch then cancel exactly, and only the touched ones add
rounding error.

Finite differences lie near kinks.  ReLU and max pooling are not differentiable
everywhere; if the step ±h carries some input across a kink (a pre-activation within
h of 0, two window entries within h of each other), the central difference is off by
up to half the jump in slope, although the backward pass is right.  Hence:

* h = 1e-6 is small on purpose.  A larger h lowers the rounding error but makes
  crossings likelier: over the test suite's shape grid and 16 seeds, h = 1e-5 hit
  kinks in most runs.
* An entry that disagrees is computed again with h/10, then h/100.  A wrong backward
  pass disagrees at every step (the analytic value does not depend on h); a kink
  stops mattering once the step no longer straddles it.  The number of entries
  retried is reported (`GradcheckResult.refined`).
* Check at a generic point: binary inputs with zero biases sit exactly on kinks and
  ties, where no step size helps.

The error reported per tensor is the normwise relative error

    ‖analytic − numeric‖∞ / max(‖analytic‖∞, ‖numeric‖∞),

the largest entrywise discrepancy measured against the tensor's own scale.  (An
entrywise relative error is meaningless for entries that are exactly zero, like the
gradient of a switched-off ReLU, and needlessly noisy for entries that are tiny.)
Correct gradients give ~1e-9 or less; a wrong index or a missing transpose gives
errors of order one.
"""

import copy
from dataclasses import dataclass, field

import numpy as np


def relative_error(analytic, numeric):
    """‖analytic − numeric‖∞ / max(‖analytic‖∞, ‖numeric‖∞); 0.0 when both are zero."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"relative_error: shapes differ, analytic {analytic.shape} "
                         f"vs numeric {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(np.abs(analytic).max(), np.abs(numeric).max())
    return 0.0 if scale == 0 else float(np.abs(analytic - numeric).max() / scale)


def numerical_gradient(f, a, h=1e-6, coords=None, direction=None):
    """Central differences of f() with respect to the array a.

    f: a function of no arguments that reads `a` (a is perturbed in place and restored)
    and returns a scalar, or, when `direction` G is given, an array y; the derivative
    is then that of Σ y ⊙ G, computed as Σ (y₊ − y₋) ⊙ G / 2h.
    a: float64 array.  coords: flat indices to differentiate (default: all of them).
    Returns an array of a's shape holding the estimates at `coords` (zero elsewhere).
    """
    if a.dtype != np.float64:
        raise ValueError(f"numerical_gradient: needs a float64 array, got {a.dtype}")
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, a):
        raise ValueError("numerical_gradient: the array must be contiguous (it is perturbed in place)")
    for i in (range(a.size) if coords is None else coords):
        old = flat[i]
        flat[i] = old + h
        f_plus = np.array(f(), dtype=np.float64)     # copies: f may return a view of `a`
        flat[i] = old - h
        f_minus = np.array(f(), dtype=np.float64)
        flat[i] = old
        difference = f_plus - f_minus
        if direction is not None:
            difference = np.sum(difference * direction)
        gflat[i] = float(difference) / (2 * h)
    return grad


@dataclass
class GradcheckResult:
    """Normwise relative error per checked tensor ("x", then each parameter name), and
    per tensor the number of entries retried with a smaller step (see the module notes)."""

    errors: dict = field(default_factory=dict)
    refined: dict = field(default_factory=dict)

    @property
    def max_error(self):
        return max(self.errors.values(), default=0.0)

    def passed(self, tol=1e-6):
        return self.max_error < tol

    def __str__(self):
        width = max((len(k) for k in self.errors), default=1)
        return "\n".join(f"{name:<{width}}  {err:.2e}"
                         + (f"  ({self.refined[name]} entries retried with a smaller step)"
                            if self.refined.get(name) else "")
                         for name, err in self.errors.items())


def compare_gradients(loss, arrays, analytic, h=1e-6, n_coords=None, rng=None, direction=None,
                      tol=1e-6):
    """Check analytic gradients of the scalar `loss()` against central differences.

    loss: function of no arguments that reads the arrays in `arrays`; with `direction`
    G it returns an array y and the scalar checked is Σ y ⊙ G.
    arrays: {name: float64 array}, perturbed in place one entry at a time.
    analytic: {name: array of the same shape}, the gradients to check.
    n_coords: check only this many randomly chosen entries per tensor (drawn from
    `rng`), for tensors too large to check entry by entry.  The error is still relative
    to the whole tensor's scale, max(‖analytic‖∞, ‖numeric on the sample‖∞).
    tol: entries whose error exceeds tol (relative to the tensor's scale) are computed
    again with h/10 and h/100, to tell a kink in the forward pass from a wrong gradient.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    result = GradcheckResult()
    for name, a in arrays.items():
        coords = np.arange(a.size)
        if n_coords is not None and a.size > n_coords:
            coords = np.sort(rng.choice(a.size, size=n_coords, replace=False))
        full = np.asarray(analytic[name], dtype=np.float64).reshape(-1)
        exact = full[coords]
        numeric = numerical_gradient(loss, a, h, coords, direction).reshape(-1)[coords]
        # The scale is that of the whole tensor, also when only some entries are checked:
        # the error is the normwise one of the full check, estimated on the sample (the
        # largest of a few sampled entries may be far below the tensor's largest).
        scale = max(np.abs(full).max(initial=0), np.abs(numeric).max(initial=0))
        suspects = np.flatnonzero(np.abs(exact - numeric) > tol * scale)
        result.refined[name] = len(suspects)
        for step in (h / 10, h / 100):
            if len(suspects) == 0:
                break
            again = numerical_gradient(loss, a, step, coords[suspects], direction)
            again = again.reshape(-1)[coords[suspects]]
            better = np.abs(exact[suspects] - again) < np.abs(exact[suspects] - numeric[suspects])
            numeric[suspects[better]] = again[better]
            suspects = suspects[np.abs(exact[suspects] - numeric[suspects]) > tol * scale]
        result.errors[name] = 0.0 if scale == 0 else float(np.abs(exact - numeric).max() / scale)
    return result


def gradcheck(layer, x, rng=None, h=1e-6, n_coords=None, tol=1e-6):
    """Check `layer.backward` against finite differences, for the input and every parameter.

    layer: a Layer (or a Sequential).  It is copied and the copy converted to float64,
    so the layer passed in is left untouched.  x: an input array, e.g. (N, C, H, W).
    rng: Generator for the output direction G and the sampled coordinates
    (default: np.random.default_rng(0), so the check is reproducible).
    h, n_coords, tol: see `compare_gradients`.
    Returns a GradcheckResult: errors {"x": err, "<param name>": err, …}.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    layer = copy.deepcopy(layer).astype(np.float64)
    x = np.array(x, dtype=np.float64)                  # our own contiguous copy
    G = rng.standard_normal(layer.output_shape(x.shape))
    layer.forward(x)
    analytic = {"x": layer.backward(G)}                 # the gradient of L = Σ y ⊙ G
    analytic.update({name: g.copy() for name, g in layer.grads.items()})
    arrays = {"x": x, **layer.params}
    return compare_gradients(lambda: layer.forward(x), arrays, analytic, h=h,
                             n_coords=n_coords, rng=rng, direction=G, tol=tol)


__all__ = ["gradcheck", "compare_gradients", "numerical_gradient", "relative_error",
           "GradcheckResult"]
