"""Exercise dual_vae_loss: the dual VAE's double-ELBO loss with its weight, and its gradient (ch09).

The dual VAE (thesis §2.9) trains two VAEs at once, the foreground one on the image x
and the background one on the pooled target g(x) (eq. 3.1), by the sum of their ELBOs
(eq. 2.36: log p(x) + log r(g(x)) ≥ ELBO1 + ELBO2).  §3.1 multiplies the estimator of
ELBO2 by 450, "as its values are usually much lower"; the project offers a second
reading, the 450 on ELBO2's reconstruction term only (models/dual_vae.py, weight_on).
The student writes the loss of a minibatch from what the four networks output
(decoder logits, encoder mu and logvar) and its gradient with respect to them: the
gradients that DualVAE.loss_and_grads sends back into the decoders and, for the KL
terms, into the encoders.  Graded against the package's pieces (distributions.Bernoulli,
DiagonalGaussian), against a small DualVAE (the same loss, and the same gradient at
each decoder's output bias), by central differences, with the thesis's shapes, both
placements of the weight, the weight 1 (eq. 2.36 as printed), logits near −1000, 0 and
+1000 in one batch (the Bernoulli's softplus is a log-sum-exp), float32, and a seed
drawn at grading time.
"""

import numpy as np

from ..distributions import Bernoulli, DiagonalGaussian
from ..models.dual_vae import DualVAE
from .grading import (Case, Fail, compare, describe_shapes, gradient_check, hidden_seed,
                      outputs)

NAME = "dual_vae_loss"
CHAPTER = "ch09"
TITLE = "the dual VAE's weighted double-ELBO loss and its gradient"
EQUATIONS = "thesis eq. 2.35, 2.36, §3.1 (the weight 450), eq. 2.10, 2.31; tutorial eq. 22"
FUNCTIONS = ("dual_vae_loss",)
GRAD_NAMES = ("logits1", "mu1", "logvar1", "logits2", "mu2", "logvar2")


def _parts(x, logits1, mu1, logvar1, g, logits2, mu2, logvar2):
    p1, p2 = Bernoulli(logits1), Bernoulli(logits2)
    q1, q2 = DiagonalGaussian(mu1, logvar1), DiagonalGaussian(mu2, logvar2)
    return p1, p2, q1, q2


def _reference_dual_vae_loss(x, logits1, mu1, logvar1, g, logits2, mu2, logvar2, weight, weight_on):
    """As DualVAE.loss_and_grads does it, from the networks' outputs on."""
    if weight_on not in ("elbo", "reconstruction"):
        raise ValueError(f"weight_on must be 'elbo' or 'reconstruction', got {weight_on!r}")
    p1, p2, q1, q2 = _parts(x, logits1, mu1, logvar1, g, logits2, mu2, logvar2)
    N, dt = x.shape[0], x.dtype
    w = float(weight)
    w_kl2 = w if weight_on == "elbo" else 1.0
    rec1, kl1 = p1.log_prob(x), q1.kl_to_standard_normal()            # ELBO1's terms, (N,)
    rec2, kl2 = p2.log_prob(g), q2.kl_to_standard_normal()            # ELBO2's terms
    loss = -(rec1 - kl1 + w * rec2 - w_kl2 * kl2).mean()      # −mean(ELBO1 + w ELBO2), eq. 2.36
    full = lambda value: np.full(N, value / N, dtype=dt)               # noqa: E731
    dmu1, dlogvar1 = q1.kl_backward(full(1.0))
    dmu2, dlogvar2 = q2.kl_backward(full(w_kl2))
    grads = {"logits1": p1.log_prob_backward(x, full(-1.0)), "mu1": dmu1, "logvar1": dlogvar1,
             "logits2": p2.log_prob_backward(g, full(-w)), "mu2": dmu2, "logvar2": dlogvar2}
    return np.asarray(loss, dtype=dt), grads


REFERENCE = {"dual_vae_loss": _reference_dual_vae_loss}

HINT = """
Per example n, with softplus(l) = max(l, 0) + log1p(exp(−|l|)) (stable: logits reach ±1000):

    rec1 = Σ (x·logits1 − softplus(logits1))  over every axis but the batch axis
    kl1  = ½ Σ_d (exp(logvar1) + mu1² − 1 − logvar1)
    rec2, kl2: the same with g, logits2, mu2, logvar2

weight_on = "elbo":            loss = −mean(rec1 − kl1 + w · (rec2 − kl2))
weight_on = "reconstruction":  loss = −mean(rec1 − kl1 + w · rec2 − kl2)

The weight multiplies ELBO2, the background VAE's (§3.1), never ELBO1.
Gradients of the loss (minimised), each example's terms carrying 1/N:

    dlogits1 = −(x − sigmoid(logits1)) / N          dlogits2 = −w (g − sigmoid(logits2)) / N
    dmu1 = mu1 / N,  dlogvar1 = ½ (exp(logvar1) − 1) / N
    dmu2, dlogvar2: the same times w for "elbo", times 1 for "reconstruction".
"""

NO_WEIGHT = ("the weight is missing: that is −mean(ELBO1 + ELBO2); §3.1 multiplies ELBO2's "
             "estimator by the weight")
WEIGHT_ON_1 = "the weight multiplies ELBO1; it belongs on ELBO2, the background VAE's (§3.1)"
WHOLE_ELBO2 = ("the weight multiplies all of ELBO2; with weight_on = 'reconstruction' it multiplies "
               "only log r(g|z̃2), and KL2 keeps the weight 1")
REC_ONLY = ("the weight multiplies only ELBO2's reconstruction; with weight_on = 'elbo' it "
            "multiplies all of ELBO2, KL2 too")


def _mistakes(args):
    """{output name: {hint: what the mistake outputs}}, on the case's arguments."""
    *arrays, weight, weight_on = args
    other = "reconstruction" if weight_on == "elbo" else "elbo"
    named = {NO_WEIGHT: _reference_dual_vae_loss(*arrays, 1.0, weight_on),
             WHOLE_ELBO2 if weight_on == "reconstruction" else REC_ONLY:
                 _reference_dual_vae_loss(*arrays, weight, other)}
    # the weight on ELBO1: the loss with the roles of the two VAEs' weights swapped
    x, logits1, mu1, logvar1, g, logits2, mu2, logvar2 = arrays
    p1, p2, q1, q2 = _parts(*arrays)
    w = float(weight)
    swapped = -(w * (p1.log_prob(x) - q1.kl_to_standard_normal())
                + p2.log_prob(g) - q2.kl_to_standard_normal()).mean()
    wrong = {"loss": {WEIGHT_ON_1: np.asarray(swapped)}}
    for hint, (loss, grads) in named.items():
        wrong["loss"][hint] = loss
        for k in GRAD_NAMES:
            wrong.setdefault(f"grads['{k}']", {})[hint] = grads[k]
    return wrong


def _unpack(result):
    loss, grads = outputs(result, ("loss", "grads"), NAME)
    if not isinstance(grads, dict) or set(grads) != set(GRAD_NAMES):
        got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise Fail(f"grads should be a dict with the keys {', '.join(GRAD_NAMES)}, got {got}")
    return loss, grads


def _arrays(N, S, m, L1, L2, seed, logit_scale=2.0, logit_loc=0.0, dtype=np.float64):
    """x (N, 1, S, S) binary, g (N, 1, m, m) in (0, 1) as eq. 3.1 makes it, the logits of
    both decoders (logit_loc may be one number per example), the encoders' outputs."""
    rng = np.random.default_rng(seed)
    loc = np.reshape(logit_loc, (-1, 1, 1, 1)) if np.ndim(logit_loc) else logit_loc
    x = (rng.random((N, 1, S, S)) < 0.3).astype(np.float64)
    logits1 = loc + logit_scale * rng.standard_normal((N, 1, S, S))
    mu1, logvar1 = rng.standard_normal((N, L1)), rng.uniform(-2.0, 1.0, (N, L1))
    g = 1 / (1 + np.exp(-12 * (rng.random((N, 1, m, m)) - 0.5)))
    logits2 = loc + logit_scale * rng.standard_normal((N, 1, m, m))
    mu2, logvar2 = rng.standard_normal((N, L2)), rng.uniform(-2.0, 1.0, (N, L2))
    return tuple(a.astype(dtype) for a in (x, logits1, mu1, logvar1, g, logits2, mu2, logvar2))


def _check(student, args, expected=None):
    if expected is None:
        expected = _reference_dual_vae_loss(*args)
    loss, grads = _unpack(student.dual_vae_loss(*args))
    cache = {}

    def known(name):
        def get():
            if not cache:
                cache.update(_mistakes(args))
            return cache.get(name, {})
        return get

    error = compare("loss", loss, expected[0], mistakes=known("loss"))
    for k in GRAD_NAMES:
        name = f"grads['{k}']"
        error = max(error, compare(name, grads[k], expected[1][k], mistakes=known(name)))
    return error


def _shape_text(args, shape=None):
    x, logits1, mu1, logvar1, g, logits2, mu2, logvar2, weight, weight_on = args
    return shape or describe_shapes(x=x, mu1=mu1, g=g, mu2=mu2, w=f"{weight:g} on {weight_on}")


def _reference_case(label, N, S, m, L1, L2, seed, weight=450.0, weight_on="elbo", shape=None, **kw):
    args = _arrays(N, S, m, L1, L2, seed, **kw) + (weight, weight_on)

    def run(student):
        return _check(student, args)

    return Case(label, _shape_text(args, shape), run)


def _hidden_seed_case():
    seed = hidden_seed()
    return _reference_case("a hidden seed", 3, 6, 2, 3, 2, seed, weight=100.0,
                           weight_on="reconstruction",
                           shape=f"x (3, 1, 6, 6), g (3, 1, 2, 2), w=100 on reconstruction, seed {seed}")


def _gradcheck_case(label, N, S, m, L1, L2, seed, weight, weight_on):
    args = _arrays(N, S, m, L1, L2, seed) + (weight, weight_on)
    x, logits1, mu1, logvar1, g, logits2, mu2, logvar2, _, _ = args

    def run(student):
        _, grads = _unpack(student.dual_vae_loss(*args))
        arrays = {"logits1": logits1.copy(), "mu1": mu1.copy(), "logvar1": logvar1.copy(),
                  "logits2": logits2.copy(), "mu2": mu2.copy(), "logvar2": logvar2.copy()}

        def loss():
            a = arrays
            return float(_reference_dual_vae_loss(x, a["logits1"], a["mu1"], a["logvar1"], g,
                                                  a["logits2"], a["mu2"], a["logvar2"],
                                                  weight, weight_on)[0])

        return gradient_check(loss, arrays, dict(grads))

    return Case(label, _shape_text(args), run)


def _package_model_case(label, N, seed, weight_on):
    """A small DualVAE: its encoders' and decoders' outputs for x and fixed ε handed to
    the student; the student's loss must be the model's, and the student's decoder-output
    gradients summed as a bias gradient sums them must be the model's bias gradients."""
    rng = np.random.default_rng(seed)
    model = DualVAE(rng=rng, image_size=8, latent1=2, latent2=1, fg_kernel=2, bg_kernel=4,
                    fg_channels=(2, 2), fg_hidden=4, bg_channels=2, bg_hidden=3, dec_channels=(2, 2),
                    elbo2_weight=450.0, weight_on=weight_on, dtype=np.float64)
    x = (rng.random((N, 1, 8, 8)) < 0.3).astype(np.float64)
    eps = (rng.standard_normal((N, 2)), rng.standard_normal((N, 1)))
    q1, q2 = model.encode(x)
    p1, p2 = model.decode(q1.sample(eps=eps[0]), q2.sample(eps=eps[1]))
    args = (x, p1.logits, q1.mu, q1.logvar, model.target(x), p2.logits, q2.mu, q2.logvar,
            450.0, weight_on)
    estimate = model.loss_and_grads(x, eps=eps)
    last1, last2 = model.grads["fg_decoder.5.b"].copy(), model.grads["bg_decoder.2.b"].copy()

    def run(student):
        error = _check(student, args)          # the student's loss and grads, as the reference's
        loss, grads = _unpack(student.dual_vae_loss(*args))
        error = max(error, compare("loss (the DualVAE's)", loss, np.asarray(estimate.loss)))
        dl1, dl2 = np.asarray(grads["logits1"]), np.asarray(grads["logits2"])
        # a transposed convolution's bias gradient sums over (n, h, w); a dense layer's over n
        error = max(error, compare("grads['logits1'] summed (the DualVAE's fg_decoder.5.b gradient)",
                                   dl1.sum(axis=(0, 2, 3)), last1))
        return max(error, compare("grads['logits2'] summed over n (the DualVAE's bg_decoder.2.b "
                                  "gradient)", dl2.reshape(N, -1).sum(axis=0), last2))

    return Case(label, _shape_text(args), run)


def cases():
    return [
        _reference_case("one example, one pixel each", 1, 1, 1, 1, 1, seed=0),
        _reference_case("the thesis's shapes, w = 450 on ELBO2", 4, 60, 2, 4, 1, seed=1),
        _reference_case("w = 450 on the reconstruction only", 4, 12, 2, 4, 1, seed=2,
                        weight_on="reconstruction"),
        _reference_case("w = 1: ELBO1 + ELBO2 as eq. 2.36 prints it", 3, 6, 3, 2, 2, seed=3, weight=1.0),
        # a shift of the softplus by the batch's largest logit underflows the others
        _reference_case("logits near -1000, 0, +1000", 3, 4, 2, 2, 1, seed=4,
                        logit_loc=np.array([-1000.0, 0.0, 1000.0]), logit_scale=20.0),
        # (w = 450 would make the loss's rounding, ~1e-16 · 450 / h, show in ELBO1's
        # small gradients; a smaller w checks the same formula)
        _gradcheck_case("gradient check, w on ELBO2", 3, 4, 2, 3, 2, seed=5, weight=20.0,
                        weight_on="elbo"),
        _gradcheck_case("gradient check, w on the reconstruction", 2, 4, 2, 2, 1, seed=6, weight=30.0,
                        weight_on="reconstruction"),
        _package_model_case("a small DualVAE, w on ELBO2", 3, seed=7, weight_on="elbo"),
        _package_model_case("a small DualVAE, w on the reconstruction", 2, seed=8,
                            weight_on="reconstruction"),
        _reference_case("float32 stays float32", 4, 12, 2, 4, 1, seed=9, dtype=np.float32),
        _hidden_seed_case(),
    ]
