"""Exercise elbo: the ELBO of a minibatch and its gradient, by reparameterization (ch07).

The whole VAE objective for a minibatch, with the encoder's outputs (mu, logvar) given
and a one-layer decoder: z = mu + σ ⊙ eps, logits = z Wᵀ + b, a Bernoulli likelihood,
and the closed-form KL.  It puts the earlier exercises together (dense layer,
reparameterization, Bernoulli log-likelihood, Gaussian KL), and adds the batch mean
(thesis eq. 2.11).  Graded against the package's objectives.elbo (through the
smallest model it accepts), by central differences of it, and in float32.
"""

import numpy as np

from .. import objectives
from ..backend import numpy_dense
from ..distributions import Bernoulli
from .grading import Case, Fail, compare, describe_shapes, gradient_check, outputs

NAME = "elbo"
CHAPTER = "ch07"
TITLE = "the ELBO of a minibatch and its gradient"
EQUATIONS = "thesis eq. 2.10, 2.11, 2.16, 2.17, 2.22; tutorial eq. 22, 38; slides Concept 11.20"
FUNCTIONS = ("elbo",)
GRAD_NAMES = ("mu", "logvar", "W", "b")


class _GivenEncoderDenseDecoder:
    """The smallest model objectives.elbo accepts: the encoder's outputs are given, the
    decoder is one dense layer that outputs Bernoulli logits."""

    def __init__(self, mu, logvar, W, b):
        self.mu, self.logvar, self.W, self.b = mu, logvar, W, b

    def encoder_forward(self, x):
        return self.mu, self.logvar

    def encoder_backward(self, dmu, dlogvar):
        self.dmu, self.dlogvar = dmu, dlogvar

    def decoder_forward(self, z):
        logits, self._cache = numpy_dense.dense_forward(z, self.W, self.b)
        self._p = Bernoulli(logits)
        return self._p

    def decoder_backward(self, x, dlogp):
        dlogits = self._p.log_prob_backward(x, dlogp)
        dz, self.dW, self.db = numpy_dense.dense_backward(dlogits, self._cache)
        return dz


def _reference_elbo(x, mu, logvar, eps, W, b):
    model = _GivenEncoderDenseDecoder(mu, logvar, W, b)
    estimate = objectives.elbo(model, x, eps=eps, kl="analytic")
    # objectives.elbo fills the gradients of the loss, −ELBO
    grads = {"mu": -model.dmu, "logvar": -model.dlogvar, "W": -model.dW, "b": -model.db}
    return np.asarray(estimate.elbo, dtype=mu.dtype), grads


def _elbo_value(x, mu, logvar, eps, W, b):
    model = _GivenEncoderDenseDecoder(mu, logvar, W, b)
    return objectives.elbo(model, x, eps=eps, kl="analytic", grads=False).elbo


REFERENCE = {"elbo": _reference_elbo}

HINT = """
Forward, keeping every intermediate you need later:

    sigma  = exp(0.5 * logvar)
    z      = mu + sigma * eps                       # (N, D)
    logits = z @ W.T + b                            # (N, P)
    rec    = Σ_p (x·logits − softplus(logits))      # (N,)  stable Bernoulli
    kl     = ½ Σ_d (exp(logvar) + mu² − 1 − logvar) # (N,)
    value  = mean(rec − kl)                         # the batch mean, eq. 2.11

Backward from d value = 1: each example's rec and kl get 1/N.  Then chain the
exercises you have done:  dlogits = (x − sigmoid(logits)) / N;  dW = dlogitsᵀ z,
db = Σ_n dlogits, dz = dlogits W;  through the sampler dmu = dz, dlogvar = dz·0.5·σ·eps;
and the KL adds −mu / N to dmu and −½ (exp(logvar) − 1) / N to dlogvar.
Signs: this is the gradient of the ELBO (to be maximised), not of the loss −ELBO.
"""


def _arrays(N, D, P, seed, weight_scale=1.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = (rng.random((N, P)) < 0.4).astype(np.float64)
    mu = rng.standard_normal((N, D))
    logvar = rng.uniform(-2.0, 1.0, size=(N, D))
    eps = rng.standard_normal((N, D))
    W = weight_scale * rng.standard_normal((P, D))
    b = rng.standard_normal(P)
    return tuple(a.astype(dtype) for a in (x, mu, logvar, eps, W, b))


def _unpack(result):
    value, grads = outputs(result, ("value", "grads"), NAME)
    if not isinstance(grads, dict) or set(grads) != set(GRAD_NAMES):
        got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise Fail(f"grads should be a dict with the keys {', '.join(GRAD_NAMES)}, got {got}")
    return value, grads


def _reference_case(label, N, D, P, seed, **kw):
    arrays = _arrays(N, D, P, seed, **kw)
    x, mu, logvar, eps, W, b = arrays
    value, grads = _reference_elbo(*arrays)

    def run(student):
        got_value, got_grads = _unpack(student.elbo(*arrays))
        error = compare("elbo", got_value, value)
        for name in GRAD_NAMES:
            error = max(error, compare(f"grads['{name}']", got_grads[name], grads[name]))
        return error

    return Case(label, describe_shapes(x=x, mu=mu, W=W), run)


def _gradcheck_case(label, N, D, P, seed):
    arrays = _arrays(N, D, P, seed)
    x, mu, logvar, eps, W, b = arrays

    def run(student):
        _, grads = _unpack(student.elbo(*arrays))
        return gradient_check(lambda: _elbo_value(x, mu, logvar, eps, W, b),
                              {"mu": mu, "logvar": logvar, "W": W, "b": b}, dict(grads))

    return Case(label, describe_shapes(x=x, mu=mu, W=W), run)


def cases():
    return [
        _reference_case("one example, latent and pixel", 1, 1, 1, seed=0),
        _reference_case("a minibatch", 8, 2, 12, seed=1),
        _reference_case("D = P: a transpose shows", 5, 3, 3, seed=2),
        _reference_case("a confident decoder: logits ±50", 4, 2, 6, seed=3, weight_scale=30.0),
        _gradcheck_case("gradient check", 3, 2, 4, seed=4),
        _gradcheck_case("gradient check, batch 1", 1, 3, 5, seed=5),
        _reference_case("float32 stays float32", 6, 3, 8, seed=6, dtype=np.float32),
    ]
