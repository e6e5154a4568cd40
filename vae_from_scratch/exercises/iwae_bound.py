"""Exercise iwae_bound: the importance-weighted bound by log-sum-exp, and its gradient (ch10).

Given the K log importance weights of each example,
log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), the IWAE bound is
log (1/K) Σ_k w_k (slides Concept 11.7).  Log-weights of images are in the hundreds or
thousands of nats, where exp under- or overflows; the exercise is to never leave the
log domain.  Graded against objectives.log_mean_exp and objectives.softmax (what the
package's iwae() is made of), with log-weights near −2000 and +1000, one dominant
weight, one batch whose examples sit at very different scales (−2000, 0 and +1000:
one shift for the whole batch does not do), K = 1 (where the bound is the ELBO),
float32, and by central differences.
"""

import numpy as np

from ..objectives import log_mean_exp, softmax
from .grading import Case, compare, describe_shapes, gradient_check

NAME = "iwae_bound"
CHAPTER = "ch10"
TITLE = "the IWAE bound with log-sum-exp, and its gradient"
EQUATIONS = "slides Concepts 11.6-11.7; thesis eq. 2.9"
FUNCTIONS = ("iwae_bound", "iwae_bound_backward")


def _reference_iwae_bound(log_w):
    return log_mean_exp(log_w, axis=0)


def _reference_iwae_bound_backward(dbound, log_w):
    return softmax(log_w, axis=0) * dbound[None, :]


REFERENCE = {"iwae_bound": _reference_iwae_bound,
             "iwae_bound_backward": _reference_iwae_bound_backward}

HINT = """
Factor out the largest term.  With m = max_k log w_k (per example, keepdims=True):

    log (1/K) Σ_k exp(a_k) = m + log (1/K) Σ_k exp(a_k − m)

Every exp(a_k − m) is ≤ 1 (no overflow) and the largest is exactly 1 (the sum cannot
underflow to 0, so no log(0)).  Do not forget the 1/K: without it the bound is off by
log K.

Backward: ∂/∂a_k log Σ_j exp(a_j) = exp(a_k) / Σ_j exp(a_j), the normalised weight w̃_k,
a softmax over the K axis (axis 0), computed with the same shift by m.  The 1/K is a
constant and drops out.  Multiply by dbound[None, :].
"""


MEAN = ("that is the mean of the log-weights, the ELBO averaged over the K samples; the bound "
        "is the log of the mean of the weights, log (1/K) Σ_k exp(log w_k)")
NO_1_OVER_K = "the 1/K is missing: log Σ_k w_k is log K more than log (1/K) Σ_k w_k"


def _mistakes(log_w, dbound):
    """{output: {hint: what the mistake outputs}} for bound and dlog_w."""
    K = log_w.shape[0]
    mean_gradient = np.broadcast_to(dbound / K, log_w.shape)     # of the mean of the log w_k
    return {"bound": {MEAN: log_w.mean(axis=0), NO_1_OVER_K: _reference_iwae_bound(log_w) + np.log(K)},
            "dlog_w": {MEAN: mean_gradient}}


def _arrays(K, N, seed, loc=0.0, scale=3.0, dtype=np.float64):
    """log_w (K, N): loc + scale · a standard normal, where loc may be one number per
    example (N,); dbound (N,)."""
    rng = np.random.default_rng(seed)
    log_w = loc + scale * rng.standard_normal((K, N))
    dbound = rng.standard_normal(N)
    return log_w.astype(dtype), dbound.astype(dtype)


def _reference_case(label, K, N, seed, **kw):
    log_w, dbound = _arrays(K, N, seed, **kw)
    bound = _reference_iwae_bound(log_w)
    dlog_w = _reference_iwae_bound_backward(dbound, log_w)

    def run(student):
        error = compare("bound", student.iwae_bound(log_w), bound,
                        mistakes=lambda: _mistakes(log_w, dbound)["bound"])
        return max(error, compare("dlog_w", student.iwae_bound_backward(dbound, log_w), dlog_w,
                                  mistakes=lambda: _mistakes(log_w, dbound)["dlog_w"]))

    return Case(label, describe_shapes(log_w=log_w), run)


def _gradcheck_case(label, K, N, seed):
    log_w, dbound = _arrays(K, N, seed)

    def run(student):
        dlog_w = student.iwae_bound_backward(dbound, log_w)
        return gradient_check(lambda: _reference_iwae_bound(log_w), {"log_w": log_w},
                              {"log_w": dlog_w}, direction=dbound)

    return Case(label, describe_shapes(log_w=log_w), run)


def cases():
    return [
        _reference_case("K = 1: the bound is the ELBO", 1, 3, seed=0, loc=-50.0),
        _reference_case("K = 5, moderate log-weights", 5, 4, seed=1, loc=-100.0, scale=5.0),
        _reference_case("log w near -2000: exp underflows", 8, 3, seed=2, loc=-2000.0, scale=10.0),
        _reference_case("log w near +1000: exp overflows", 6, 2, seed=3, loc=1000.0, scale=10.0),
        _reference_case("one weight dominates", 10, 3, seed=4, scale=300.0),
        _reference_case("batch 1, K = 50", 50, 1, seed=5, loc=-300.0, scale=2.0),
        # one shift for the whole batch leaves the −2000 example with exp(−3000) = 0
        _reference_case("examples near -2000, 0, +1000", 6, 3, seed=8,
                        loc=np.array([-2000.0, 0.0, 1000.0]), scale=10.0),
        _gradcheck_case("gradient check", 4, 3, seed=6),
        _gradcheck_case("gradient check, K = 1", 1, 2, seed=7),
        _reference_case("float32 stays float32", 7, 4, seed=9, loc=-500.0, scale=5.0, dtype=np.float32),
    ]
