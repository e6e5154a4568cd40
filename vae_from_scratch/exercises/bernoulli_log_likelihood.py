"""Exercise bernoulli_log_likelihood: a numerically stable Bernoulli log-likelihood from
logits, and its gradient (ch07).

The decoder of a VAE on binary images outputs logits l, and the reconstruction term is
log p(x|z) = Σ x log p + (1 − x) log(1 − p) with p = sigmoid(l) (thesis eq. 2.31).
Computed that way it returns −inf or NaN as soon as a logit is confident (|l| ≳ 37 in
float64, ≳ 17 in float32, where sigmoid rounds to 0 or 1).  Graded against
vae_from_scratch.distributions.Bernoulli, with logits up to ±1000 (mixed in each example,
and examples whose logits sit near −1000, 0 and +1000), soft targets, NCHW images and
float32, and by central differences.
"""

import numpy as np

from ..distributions import Bernoulli
from .grading import Case, compare, describe_shapes, gradient_check

NAME = "bernoulli_log_likelihood"
CHAPTER = "ch07"
TITLE = "a stable Bernoulli log-likelihood from logits"
EQUATIONS = "thesis eq. 2.31"
FUNCTIONS = ("bernoulli_log_likelihood", "bernoulli_log_likelihood_backward")


def _reference_log_likelihood(x, logits):
    return Bernoulli(logits).log_prob(x)


def _reference_log_likelihood_backward(dlogp, x, logits):
    return Bernoulli(logits).log_prob_backward(x, dlogp)


REFERENCE = {"bernoulli_log_likelihood": _reference_log_likelihood,
             "bernoulli_log_likelihood_backward": _reference_log_likelihood_backward}

HINT = """
Never form p.  With p = sigmoid(l) = 1 / (1 + e^{−l}):

    log p       = −log(1 + e^{−l}) = −softplus(−l)
    log (1 − p) = −log(1 + e^{l})  = −softplus(l)

and softplus(l) − softplus(−l) = l, so  x log p + (1 − x) log(1 − p) = x·l − softplus(l).
softplus(l) = log(1 + e^{l}) overflows for large l; write it as
max(l, 0) + log1p(exp(−|l|)), where exp only ever sees a number ≤ 0.

Sum over every axis but the first: axis=tuple(range(1, x.ndim)).
Backward: ∂/∂l (x·l − softplus(l)) = x − sigmoid(l), times dlogp[n] of the row (reshape
dlogp so it broadcasts against (N, ...)).  A stable sigmoid also uses exp(−|l|).
"""


def _arrays(shape, seed, logits_scale=2.0, soft=False, dtype=np.float64, extreme=False, row_locs=None):
    """x, logits of `shape` and dlogp (N,); row_locs: one offset per example for its logits."""
    rng = np.random.default_rng(seed)
    if extreme:
        logits = rng.choice([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0], size=shape)
    else:
        logits = logits_scale * rng.standard_normal(shape)
    if row_locs is not None:
        logits += np.reshape(row_locs, (-1,) + (1,) * (len(shape) - 1))
    x = rng.random(shape) if soft else (rng.random(shape) < 0.5).astype(np.float64)
    dlogp = rng.standard_normal(shape[0])
    return x.astype(dtype), logits.astype(dtype), dlogp.astype(dtype)


def _reference_case(label, shape, seed, **kw):
    x, logits, dlogp = _arrays(shape, seed, **kw)
    logp = _reference_log_likelihood(x, logits)
    dlogits = _reference_log_likelihood_backward(dlogp, x, logits)

    def run(student):
        error = compare("log_p", student.bernoulli_log_likelihood(x, logits), logp)
        result = student.bernoulli_log_likelihood_backward(dlogp, x, logits)
        return max(error, compare("dlogits", result, dlogits))

    return Case(label, describe_shapes(x=x, logits=logits), run)


def _gradcheck_case(label, shape, seed):
    x, logits, dlogp = _arrays(shape, seed)

    def run(student):
        dlogits = student.bernoulli_log_likelihood_backward(dlogp, x, logits)
        return gradient_check(lambda: _reference_log_likelihood(x, logits), {"logits": logits},
                              {"logits": dlogits}, direction=dlogp)

    return Case(label, describe_shapes(x=x, logits=logits), run)


def cases():
    return [
        _reference_case("one pixel", (1, 1), seed=0),
        _reference_case("binary vectors", (4, 10), seed=1),
        _reference_case("NCHW images: sum over C, H, W", (2, 1, 5, 5), seed=2),
        _reference_case("confident logits, up to ±1000", (3, 14), seed=3, extreme=True),
        _reference_case("soft targets in [0, 1]", (4, 6), seed=4, soft=True),
        # softplus is a log-sum-exp, log(e⁰ + eˡ): one shift for the batch cannot serve both rows
        _reference_case("examples near -1000, 0, +1000", (3, 6), seed=8, row_locs=[-1000.0, 0.0, 1000.0]),
        _gradcheck_case("gradient check", (3, 5), seed=5),
        _gradcheck_case("gradient check, NCHW", (2, 2, 3, 3), seed=6),
        _reference_case("float32, confident logits", (3, 8), seed=7, logits_scale=60.0,
                        dtype=np.float32),
    ]
