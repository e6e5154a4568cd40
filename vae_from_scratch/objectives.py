"""The objectives a VAE is trained and evaluated with, each with its gradient.

All in nats per example: log-densities are summed over pixels and latent dimensions,
then averaged over the batch (thesis eq. 2.11).  Training *minimises* `loss`, which is
minus the objective, and every function that returns a loss also fills the model's
gradients of that loss (unless `grads=False`).

    elbo(model, x, …)          the ELBO, thesis eq. 2.9 (kl="mc") or eq. 2.10 (kl="analytic"),
                               β-weighted (slides Concept 11.25), by reparameterization
                               (eq. 2.17) or by the log-derivative trick (slides 11.22)
    iwae(model, x, K, …)       the importance-weighted bound (slides Concept 11.7)
    log_likelihood(model, x, K) an importance-sampled estimate of log p(x), for evaluation
    log_mean_exp(a, axis)      log (1/K) Σ exp(a_k) without overflow

What an objective needs from the model (models/vae.py provides it):

    encoder_forward(x) -> (mu, logvar)     q(z|x) = N(mu, exp(logvar)),  mu, logvar: (N, D)
    encoder_backward(dmu, dlogvar)         fills the encoder's grads
    decoder_forward(z) -> p                p(x|z), a distribution with log_prob(x) -> (N,)
    decoder_backward(x, dlogp) -> dz       given dL/d log p(x|z) (N,), fills the decoder's
                                           grads and returns dL/dz

The gradients are chained by hand from the pieces in distributions.py; each line
says which term it differentiates.
"""

from dataclasses import dataclass

import numpy as np

from .backend import array_module, to_numpy
from .distributions import DiagonalGaussian, StandardNormal
from .utils import check_choice

KL_FORMS = ("analytic", "mc")
ESTIMATORS = ("reparameterization", "score_function")


def log_mean_exp(a, axis=0):
    """log( (1/K) Σ_k exp(a_k) ) along `axis`, stable for any magnitude.

    With m = max_k a_k:  log mean exp(a) = m + log mean exp(a − m), where every
    exp(a_k − m) ≤ 1 cannot overflow and the largest term is exactly 1, so the sum
    cannot underflow to 0 either.  Rows that are all −inf give −inf (not nan).
    """
    xp = array_module(a)
    m = xp.max(a, axis=axis, keepdims=True)
    empty = m == -xp.inf                     # every term is 0: the answer is −inf, not log(0)
    m = xp.where(xp.isfinite(m), m, 0.0)
    mean = xp.mean(xp.exp(a - m), axis=axis, keepdims=True)
    out = xp.where(empty, -xp.inf, m + xp.log(xp.where(empty, 1.0, mean)))
    return xp.squeeze(out, axis=axis).astype(a.dtype, copy=False)


def softmax(a, axis=0):
    """exp(a_k) / Σ_j exp(a_j) along `axis`: the normalised importance weights of IWAE."""
    xp = array_module(a)
    e = xp.exp(a - xp.max(a, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@dataclass
class ELBOEstimate:
    """One minibatch estimate of the ELBO.  Means are over the batch, in nats per example.

    loss: what the optimizer minimises, −mean(reconstruction − β · kl).
    elbo: mean(reconstruction − kl), the unweighted ELBO (β = 1).
    reconstruction: mean of log p(x|z) at the sampled z.
    kl: mean KL(q(z|x) ‖ p(z)), closed form (kl="analytic") or log q(z|x) − log p(z) at z.
    per_example: (N,) ELBO of each example, on the host.
    """

    loss: float
    elbo: float
    reconstruction: float
    kl: float
    beta: float
    per_example: np.ndarray

    def metrics(self):
        """The named means, as the training loop records them."""
        return {"elbo": self.elbo, "reconstruction": self.reconstruction, "kl": self.kl}


@dataclass
class IWAEEstimate:
    """One minibatch estimate of the IWAE bound with K samples per example.

    loss: −mean(bound); bound: mean over the batch of log (1/K) Σ_k w_k;
    per_example: (N,) bound per example; ess: mean effective sample size
    1 / Σ_k w̃_k² of the normalised weights (K when q(z|x) = p(z|x), near 1 when one
    sample dominates).
    """

    loss: float
    bound: float
    per_example: np.ndarray
    ess: float
    K: int


def elbo(model, x, *, rng=None, eps=None, beta=1.0, kl="analytic",
         estimator="reparameterization", grads=True):
    """Single-sample estimate of the (β-weighted) ELBO and of its gradient.

    x: (N, *x_shape).  rng: numpy.random.Generator, or eps: (N, D) fixed noise.
    kl="analytic":  L̃ = log p(x|z) − β · KL(q(z|x) ‖ N(0, I))           (thesis eq. 2.10*)
    kl="mc":        L̃ = log p(x|z) + β · (log p(z) − log q(z|x))        (thesis eq. 2.16)
    with z = mu + σ ⊙ eps (eq. 2.27).  β = 1 is the ELBO; β ≠ 1 the β-VAE objective
    (slides Concept 11.25).  Both forms have the same expectation over eps; the
    analytic one has less variance.
    (*the thesis prints eq. 2.10 with "+ KL"; the last line is E[log p(x|z)] − KL.)

    With grads=True the model's grads hold ∂loss/∂θ,φ of loss = −mean(L̃), by one of
    the two estimators below (same mean, very different variance):
        estimator="reparameterization"   reparameterization_gradient, eq. 2.17
        estimator="score_function"       score_function_gradient, slides Concept 11.22
    """
    check_choice(estimator, ESTIMATORS, "gradient estimator")
    if not grads:
        return _sample_elbo(model, x, rng, eps, beta, kl)[0]
    gradient = (reparameterization_gradient if estimator == "reparameterization"
                else score_function_gradient)
    return gradient(model, x, rng=rng, eps=eps, beta=beta, kl=kl)


def _sample_elbo(model, x, rng, eps, beta, kl):
    """The forward pass both estimators share: one z ~ q(z|x) per example and L̃ at it.
    Returns (ELBOEstimate, q, prior, z, rec, objective); rec, objective: (N,)."""
    check_choice(kl, KL_FORMS, "kl form")
    mu, logvar = model.encoder_forward(x)
    if eps is not None and tuple(eps.shape) != tuple(mu.shape):
        raise ValueError(f"elbo: expected eps of shape (N, D) = {tuple(mu.shape)}, one draw per "
                         f"example, got {tuple(eps.shape)} (K draws per example: use iwae)")
    q = DiagonalGaussian(mu, logvar)
    prior = StandardNormal(mu.shape, mu.dtype, q.xp)
    z = q.sample(rng, eps)                                   # (N, D), eq. 2.27
    rec = model.decoder_forward(z).log_prob(x)               # log p(x|z), (N,)
    if kl == "analytic":
        kl_i = q.kl_to_standard_normal()                     # tutorial eq. 22
    else:
        kl_i = q.log_prob(z) - prior.log_prob(z)             # eq. 2.9: log q − log p(z)
    objective = rec - beta * kl_i                            # L̃, (N,)
    result = ELBOEstimate(loss=-float(objective.mean()), elbo=float((rec - kl_i).mean()),
                          reconstruction=float(rec.mean()), kl=float(kl_i.mean()),
                          beta=float(beta), per_example=to_numpy(rec - kl_i))
    return result, q, prior, z, rec, objective


def reparameterization_gradient(model, x, *, rng=None, eps=None, beta=1.0, kl="mc"):
    """The ELBO and its reparameterization-trick gradient (thesis eq. 2.17, slides 11.18).

    z = mu + σ ⊙ eps moves the randomness into eps ~ N(0, I), which φ does not touch, so
    the gradient moves inside the expectation:
        ∇_φ E_q[L̃(z)] = E_eps[ ∇_z L̃(z) · ∂z/∂φ ],   ∂z/∂mu = 1,  ∂z/∂logvar = ½ σ ⊙ eps,
    and ∇_θ E_q[L̃] = E_eps[∇_θ log p(x|z)]: one backward pass through the decoder to z,
    then through the sampler to (mu, logvar).  Fills the grads of loss = −mean(L̃).
    """
    result, q, prior, z, _, _ = _sample_elbo(model, x, rng, eps, beta, kl)
    N, xp = x.shape[0], q.xp
    d_rec = xp.full(N, -1.0 / N, dtype=q.mu.dtype)           # ∂loss/∂rec_i
    d_kl = xp.full(N, beta / N, dtype=q.mu.dtype)            # ∂loss/∂kl_i
    dz = model.decoder_backward(x, d_rec)                    # ∇_z, ∇_θ of log p(x|z)
    if kl == "analytic":
        dmu, dlogvar = q.kl_backward(d_kl)                   # ∇_φ KL, closed form
    else:
        dz_q, dmu, dlogvar = q.log_prob_backward(z, d_kl)    # + β log q(z|x)
        dz_p, _, _ = prior.log_prob_backward(z, -d_kl)       # − β log p(z)
        dz = dz + dz_q + dz_p
    dmu_z, dlogvar_z = q.backward(dz)                        # z = mu + σ ⊙ eps, eq. 2.17
    model.encoder_backward(dmu + dmu_z, dlogvar + dlogvar_z)
    return result


def score_function_gradient(model, x, *, rng=None, eps=None, beta=1.0, kl="mc"):
    """The ELBO and its log-derivative (score-function, REINFORCE) gradient (slides 11.22).

    ∇_φ q = q ∇_φ log q turns the gradient of an expectation into an expectation:
        ∇_φ E_q[f(z)] = E_q[ f(z) ∇_φ log q(z|x) ] + E_q[ ∇_φ f(z) ]     (z held fixed)
    with f the sampled part of L̃ (no baseline: f itself weighs the score), and ∇_θ by
    backpropagation at the fixed z.  Same signature as `reparameterization_gradient`,
    so the two can be compared on the same objective and the same eps: equal in
    expectation, very different variance.  Fills the grads of loss = −mean(L̃).
    """
    result, q, _, z, rec, objective = _sample_elbo(model, x, rng, eps, beta, kl)
    N, xp = x.shape[0], q.xp
    model.decoder_backward(x, xp.full(N, -1.0 / N, dtype=q.mu.dtype))  # ∇_θ at fixed z
    if kl == "mc":
        f = objective                      # L̃ = log p(x|z) + β (log p(z) − log q(z|x))
        # ∇_φ f at fixed z is −β ∇_φ log q: folded into the weight of the score, f − β
        _, dmu, dlogvar = q.log_prob_backward(z, -(f - beta) / N)   # −(1/N) (f − β) ∇_φ log q
    else:
        f = rec                            # log p(x|z); the KL term is exact, in closed form
        _, dmu, dlogvar = q.log_prob_backward(z, -f / N)            # −(1/N) f ∇_φ log q
        dmu_kl, dlogvar_kl = q.kl_backward(xp.full(N, beta / N, dtype=q.mu.dtype))  # + β ∇_φ KL
        dmu, dlogvar = dmu + dmu_kl, dlogvar + dlogvar_kl
    model.encoder_backward(dmu, dlogvar)
    return result


def _log_weights(model, x, q, z):
    """log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), for z: (K, N, D) -> (K, N, ·)."""
    K, N = z.shape[:2]
    xp = q.xp
    x_rep = xp.broadcast_to(x, (K,) + tuple(x.shape)).reshape((K * N,) + tuple(x.shape[1:]))
    p_x = model.decoder_forward(z.reshape(K * N, -1))
    prior = StandardNormal(q.mu.shape, q.mu.dtype, xp)
    log_w = p_x.log_prob(x_rep).reshape(K, N) + prior.log_prob(z) - q.log_prob(z)
    return log_w, x_rep, prior


def iwae(model, x, K, *, rng=None, eps=None, grads=True):
    """The importance-weighted bound with K samples per example (slides Concept 11.7):

        L_K(x) = log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x).

    L_1 is the ELBO, and E[L_K] ≤ E[L_2K] ≤ log p(x) (Burda et al., 2016).
    x: (N, *x_shape); eps: (K, N, D) fixed noise, or rng.  With grads=True the model's
    grads hold ∂loss/∂θ,φ, loss = −mean(L_K):  ∇ L_K = Σ_k w̃_k ∇ log w_k, with the
    normalised weights w̃ = softmax(log w) over k.
    """
    K = int(K)
    if K < 1:
        raise ValueError(f"iwae: K must be at least 1, got {K}")
    mu, logvar = model.encoder_forward(x)
    q = DiagonalGaussian(mu, logvar)
    z = q.sample(rng, eps, n_samples=K if eps is None else None)     # (K, N, D)
    if z.ndim != 3 or z.shape[0] != K:
        raise ValueError(f"iwae: expected eps of shape (K={K}, N, D), got {tuple(z.shape)}")
    log_w, x_rep, prior = _log_weights(model, x, q, z)
    bound = log_mean_exp(log_w, axis=0)                      # (N,)
    w = softmax(log_w, axis=0)                               # w̃, (K, N)
    result = IWAEEstimate(loss=-float(bound.mean()), bound=float(bound.mean()),
                          per_example=to_numpy(bound), ess=float((1.0 / (w ** 2).sum(0)).mean()),
                          K=K)
    if not grads:
        return result

    N = x.shape[0]
    d_logw = -w / N                                          # ∂loss/∂log w_k
    dz = model.decoder_backward(x_rep, d_logw.reshape(K * N)).reshape(z.shape)
    dz = dz + prior.log_prob_backward(z, d_logw)[0]          # + log p(z_k)
    dz_q, dmu, dlogvar = q.log_prob_backward(z, -d_logw)     # − log q(z_k|x)
    dmu_z, dlogvar_z = q.backward(dz + dz_q)                 # z_k = mu + σ ⊙ eps_k
    model.encoder_backward(dmu + dmu_z, dlogvar + dlogvar_z)
    return result


def log_likelihood(model, x, K=1000, *, rng, chunk=100):
    """Importance-sampled estimate of log p(x), per example, shape (N,), on the host.

    log p(x) ≈ log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x) with z_k ~ q(z|x)  (slides
    Concepts 11.6–11.7): the IWAE bound with large K, which tends to log p(x) from
    below as K grows.  The K samples are drawn `chunk` at a time to bound memory.
    """
    K, chunk = int(K), int(chunk)
    if K < 1 or chunk < 1:
        raise ValueError(f"log_likelihood: K and chunk must be ≥ 1, got K={K}, chunk={chunk}")
    mu, logvar = model.encoder_forward(x)
    q = DiagonalGaussian(mu, logvar)
    pieces = []
    for start in range(0, K, chunk):
        z = q.sample(rng, n_samples=min(chunk, K - start))
        pieces.append(_log_weights(model, x, q, z)[0])
    return to_numpy(log_mean_exp(q.xp.concatenate(pieces, axis=0), axis=0))


__all__ = ["elbo", "iwae", "log_likelihood", "reparameterization_gradient",
           "score_function_gradient", "log_mean_exp", "softmax",
           "ELBOEstimate", "IWAEEstimate", "KL_FORMS", "ESTIMATORS"]
