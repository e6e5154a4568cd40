"""The probability side of a VAE: the densities, the sampler, the KL, and their gradients.

One variance convention everywhere (docs/design.md, "Conventions"): a Gaussian is given
by its mean `mu` and its log-variance `logvar` = log σ², and the sampler uses
σ = exp(0.5 · logvar).
(The thesis's eq. 2.26 writes the encoder output as (μ, log σ); any of the two works,
but mixing them is the classic VAE bug, and the tests catch it by Monte Carlo.)

Shapes.  A distribution holds one factorised distribution per example: its
parameters have shape (N, *event), for example (N, D) for a latent code or
(N, C, H, W) for an image.  Densities are summed over the event axes and returned
per example, shape (N,).  A value may carry extra leading sample axes, (*S, N, *event)
(K samples per example in IWAE); its log-density then has shape (*S, N).

Gradients.  Nothing here records a graph.  Each density has a `log_prob_backward`
that takes dL/d(log p), shape (*S, N), and returns dL/d(value) and dL/d(parameters),
the latter summed over the sample axes; the sampler has `backward(dz)`; the KL has
`kl_backward(dkl)`.  The objectives (objectives.py) chain these by hand.

Everything works on NumPy or CuPy arrays alike (the array module is the one the
parameters live in).  Randomness comes only from a `numpy.random.Generator` passed
in, or from an explicit `eps`, which makes a stochastic computation deterministic.
"""

import math

import numpy as np

from .backend import array_module
from .nn.functional import sigmoid, softplus
from .utils import check_rng

LOG_2PI = math.log(2.0 * math.pi)


def _event_sum(a, event_ndim):
    """Sum over the trailing `event_ndim` axes: per-element terms -> one number per example."""
    return a.sum(axis=tuple(range(a.ndim - event_ndim, a.ndim))) if event_ndim else a


def _per_element(g, event_ndim):
    """Broadcast a per-example gradient (*S, N) against per-element terms (*S, N, *event)."""
    return g.reshape(g.shape + (1,) * event_ndim)


def _sum_samples(a, param_ndim):
    """Sum a (*S, N, *event) array over its leading sample axes -> (N, *event)."""
    extra = a.ndim - param_ndim
    return a.sum(axis=tuple(range(extra))) if extra else a


def _check_value(value, params, who):
    """A value's trailing axes must be the parameters' shape (leading sample axes allowed)."""
    tail = tuple(value.shape[value.ndim - params.ndim:]) if value.ndim >= params.ndim else None
    if tail != tuple(params.shape):
        raise ValueError(f"{who}: expected a value of shape {tuple(params.shape)}, optionally with "
                         f"leading sample axes (K, ...), got shape {tuple(value.shape)}")


class DiagonalGaussian:
    """N(mu, diag(exp(logvar))), one per example.

    mu, logvar: (N, *event), same shape; logvar = log σ², so σ = exp(0.5 · logvar).
    """

    def __init__(self, mu, logvar):
        if mu.shape != logvar.shape:
            raise ValueError(f"DiagonalGaussian: mu and logvar must have one shape, got "
                             f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
        if mu.ndim < 1:
            raise ValueError("DiagonalGaussian: mu needs a batch axis, shape (N, *event)")
        self.mu, self.logvar = mu, logvar
        self.xp = array_module(mu)
        self.event_ndim = mu.ndim - 1
        self.eps = None                      # the noise of the last sample(), for backward

    @property
    def mean(self):
        """E[z] = mu."""
        return self.mu

    @property
    def std(self):
        """σ = exp(0.5 · logvar)."""
        return self.xp.exp(0.5 * self.logvar)

    @property
    def var(self):
        """σ² = exp(logvar)."""
        return self.xp.exp(self.logvar)

    # --- sampling by reparameterization -------------------------------------------
    def sample(self, rng=None, eps=None, n_samples=None):
        """z = mu + σ ⊙ eps with eps ~ N(0, I)  (thesis eq. 2.15/2.27, tutorial eq. 35).

        rng: numpy.random.Generator that draws eps; or eps given explicitly, of shape
        (N, *event) or (*S, N, *event).  n_samples=K draws K samples per example.
        Returns z of eps's shape, and keeps eps for `backward`.
        """
        if eps is None:
            check_rng(rng, "DiagonalGaussian.sample", "or an explicit eps")
            shape = ((n_samples,) if n_samples is not None else ()) + tuple(self.mu.shape)
            eps = self.xp.asarray(rng.standard_normal(shape, dtype=self.mu.dtype))
        else:
            _check_value(eps, self.mu, "DiagonalGaussian.sample(eps=…)")
            eps = self.xp.asarray(eps, dtype=self.mu.dtype)
        self.eps = eps
        return self.mu + self.std * eps

    def backward(self, dz):
        """Gradient through the sampler: dz -> (dmu, dlogvar).

        z = mu + exp(0.5 · logvar) ⊙ eps, so ∂z/∂mu = 1 and ∂z/∂logvar = 0.5 · σ ⊙ eps
        (thesis eq. 2.17: the gradient moves inside the expectation over eps).
        dz: the shape of the last sample; the sample axes are summed.
        """
        if self.eps is None:
            raise ValueError("DiagonalGaussian.backward: call sample() first; the gradient "
                             "through the sampler needs its eps")
        if dz.shape != self.eps.shape:
            raise ValueError(f"DiagonalGaussian.backward: expected dz of shape "
                             f"{tuple(self.eps.shape)} (the last sample's), got {tuple(dz.shape)}")
        dmu = _sum_samples(dz, self.mu.ndim)
        dlogvar = _sum_samples(dz * self.eps, self.mu.ndim) * (0.5 * self.std)
        return dmu, dlogvar

    # --- density ------------------------------------------------------------------
    def log_prob(self, z):
        """log N(z; mu, σ²) = −½ Σ (log 2π + logvar + (z − mu)² / σ²)   (thesis eq. 2.30).

        z: (N, *event) or (*S, N, *event) -> (N,) or (*S, N).
        """
        _check_value(z, self.mu, "DiagonalGaussian.log_prob")
        terms = LOG_2PI + self.logvar + (z - self.mu) ** 2 * self.xp.exp(-self.logvar)
        return -0.5 * _event_sum(terms, self.event_ndim)

    def log_prob_backward(self, z, dlogp):
        """Partial derivatives of L(log p(z)) given dlogp = dL/d(log p), shape (*S, N).

        Returns (dz, dmu, dlogvar), with z, mu and logvar treated as independent inputs:
            ∂ log p / ∂z      = −(z − mu) / σ²
            ∂ log p / ∂mu     = (z − mu) / σ²
            ∂ log p / ∂logvar = −½ + ½ (z − mu)² / σ²
        dz has z's shape; dmu and dlogvar are summed over the sample axes.
        """
        _check_value(z, self.mu, "DiagonalGaussian.log_prob_backward")
        g = _per_element(dlogp, self.event_ndim)
        scaled = (z - self.mu) * self.xp.exp(-self.logvar)          # (z − mu) / σ²
        dz = -g * scaled
        dmu = _sum_samples(g * scaled, self.mu.ndim)
        dlogvar = _sum_samples(g * (0.5 * scaled * (z - self.mu) - 0.5), self.mu.ndim)
        return dz, dmu, dlogvar

    def entropy(self):
        """H[q] = ½ Σ (log 2π + 1 + logvar), per example, shape (N,)."""
        return 0.5 * _event_sum(LOG_2PI + 1.0 + self.logvar, self.event_ndim)

    # --- KL to the prior ----------------------------------------------------------
    def kl_to_standard_normal(self):
        """KL(N(mu, σ²) ‖ N(0, I)) = ½ Σ (σ² + mu² − 1 − logvar), per example, shape (N,).

        Tutorial eq. 22 (which writes −KL), slides Definition 11.17 with Σ diagonal:
        ½ (tr Σ + ‖mu‖² − d − log det Σ).
        """
        return _event_sum(self.kl_terms(), self.event_ndim)

    def kl_terms(self):
        """The KL's terms before the sum, one per dimension: ½ (σ² + mu² − 1 − logvar),
        shape (N, *event).  (Free bits bound them per dimension.)"""
        return 0.5 * (self.var + self.mu ** 2 - 1.0 - self.logvar)

    def kl_backward(self, dkl):
        """dkl = dL/dKL, shape (N,) -> (dmu, dlogvar):  ∂KL/∂mu = mu,  ∂KL/∂logvar = ½ (σ² − 1)."""
        g = _per_element(dkl, self.event_ndim)
        return g * self.mu, g * (0.5 * (self.var - 1.0))

    def __repr__(self):
        return f"DiagonalGaussian(shape={tuple(self.mu.shape)})"


class StandardNormal(DiagonalGaussian):
    """The prior p(z) = N(0, I), shaped like a batch of codes: (N, D)."""

    def __init__(self, shape, dtype=np.float32, xp=np):
        zeros = xp.zeros(shape, dtype=dtype)
        super().__init__(zeros, zeros)

    def log_prob(self, z):
        """log N(z; 0, I) = −½ Σ (log 2π + z²)."""
        _check_value(z, self.mu, "StandardNormal.log_prob")
        return -0.5 * _event_sum(LOG_2PI + z ** 2, self.event_ndim)


class Bernoulli:
    """Independent Bernoulli variables given by their logits l = log(p / (1 − p)).

    logits: (N, *event).  Probabilities p = sigmoid(l) are never formed for the
    density: the log-likelihood is computed from the logits, which is exact and finite
    for any logit (|l| = 1e4 included), where log(p) would be log(0) = −inf.
    """

    def __init__(self, logits):
        if logits.ndim < 1:
            raise ValueError("Bernoulli: logits need a batch axis, shape (N, *event)")
        self.logits = logits
        self.xp = array_module(logits)
        self.event_ndim = logits.ndim - 1

    @property
    def mean(self):
        """E[x] = p = sigmoid(logits), shape (N, *event)."""
        return sigmoid(self.logits, self.xp)

    def sample(self, rng):
        """x ~ Bernoulli(p): 1 where a uniform draw falls below p; float, shape (N, *event)."""
        check_rng(rng, "Bernoulli.sample")
        u = self.xp.asarray(rng.random(self.logits.shape, dtype=self.logits.dtype))
        return (u < self.mean).astype(self.logits.dtype)

    def log_prob(self, x):
        """log p(x) = Σ x log p + (1 − x) log(1 − p)   (thesis eq. 2.31)
                    = Σ x · l − softplus(l),

        since log p = −softplus(−l), log(1 − p) = −softplus(l), and softplus(l) −
        softplus(−l) = l.  x: (N, *event) with values in [0, 1]; soft targets such as
        the thesis's g(x) (eq. 3.1) are allowed: the result is then the negative
        binary cross-entropy, no longer a normalised density.  Returns (N,).
        """
        self._check_target(x)
        return _event_sum(x * self.logits - softplus(self.logits, self.xp), self.event_ndim)

    def log_prob_backward(self, x, dlogp):
        """dlogp = dL/d(log p), shape (N,) -> dL/d(logits) = dlogp · (x − sigmoid(l))."""
        self._check_target(x)
        return _per_element(dlogp, self.event_ndim) * (x - self.mean)

    def _check_target(self, x):
        if x.shape != self.logits.shape:
            raise ValueError(f"Bernoulli: expected targets of shape {tuple(self.logits.shape)} "
                             f"(the logits'), got {tuple(x.shape)}")

    def __repr__(self):
        return f"Bernoulli(shape={tuple(self.logits.shape)})"


# --- a learned decoder variance, bounded below ----------------------------------------

def floor_logvar(raw, min_var):
    """log σ² = log(min_var + exp(raw)): a smooth lower bound σ² > min_var.

    A Gaussian decoder that learns its per-pixel variance can drive σ² → 0 on pixels
    that never change (the border of a digit is always 0), and then log p(x|z) → +∞.
    Adding min_var keeps every per-pixel log-density below −½ log(2π · min_var)
    (≈ +2.5 nats for the default min_var = 1e-3, σ ≥ 0.032 on data in [0, 1]), while
    the gradient stays smooth: computed as logaddexp(log min_var, raw).
    """
    xp = array_module(raw)
    return xp.logaddexp(raw.dtype.type(math.log(min_var)), raw)


def floor_logvar_backward(raw, min_var, dlogvar):
    """d log σ² / d raw = exp(raw) / (min_var + exp(raw)) = sigmoid(raw − log min_var)."""
    xp = array_module(raw)
    return dlogvar * sigmoid(raw - raw.dtype.type(math.log(min_var)), xp)


__all__ = ["DiagonalGaussian", "StandardNormal", "Bernoulli", "floor_logvar",
           "floor_logvar_backward", "LOG_2PI"]
