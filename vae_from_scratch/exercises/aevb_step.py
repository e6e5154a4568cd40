"""Exercise aevb_step: one step of Auto-Encoding Variational Bayes for a small VAE (ch07).

Thesis Algorithm 2, one pass of its loop: given a minibatch and its noise ε, compute the
single-sample ELBO estimate L̃(M) (thesis eq. 2.10 with the closed-form KL, averaged as in
eq. 2.11), its gradient by reparameterization (eq. 2.17, 2.22) through both networks,
and update the parameters by SGD.  The model is the package's mlp_vae with one tanh
hidden layer and Bernoulli outputs, its eight arrays handed over by name.  Graded
against the package (VAE.loss_and_grads on the same ε, then optim.SGD), by central
differences of the ELBO, with a confident decoder (logits near ±1000, where the
Bernoulli's softplus must be computed stably), in float32, on a seed drawn at grading
time, and by running the student's step 40 times on fixed data: the ELBO must rise.
"""

import numpy as np

from .. import objectives
from ..distributions import DiagonalGaussian
from ..models.vae import mlp_vae
from ..optim import SGD
from .grading import (Case, Fail, compare, describe_shapes, gradient_check, hidden_seed,
                      outputs)

NAME = "aevb_step"
CHAPTER = "ch07"
TITLE = "one AEVB step (Algorithm 2): the ELBO, its gradient, the SGD update"
EQUATIONS = "thesis Algorithm 2, eq. 2.10, 2.11, 2.17, 2.22, 2.24, 2.27, 2.31"
FUNCTIONS = ("aevb_step",)

# the student's names -> the package's (mlp_vae(x_shape=(P,), hidden=(H,), activation="tanh"))
PACKAGE_NAMES = {"W1": "encoder.1.W", "b1": "encoder.1.b", "W2": "encoder.3.W", "b2": "encoder.3.b",
                 "W3": "decoder.0.W", "b3": "decoder.0.b", "W4": "decoder.2.W", "b4": "decoder.2.b"}
ENCODER = ("W1", "b1", "W2", "b2")


def _model(params):
    """The package's VAE holding copies of `params`."""
    H, P = params["W1"].shape
    D = params["W3"].shape[1]
    model = mlp_vae(x_shape=(P,), latent_dim=D, hidden=(H,), activation="tanh",
                    rng=np.random.default_rng(0), dtype=params["W1"].dtype)
    for ours, theirs in PACKAGE_NAMES.items():
        model.params[theirs][...] = params[ours]
    return model


def _reference_aevb_step(params, x, eps, lr):
    model = _model(params)
    estimate = model.loss_and_grads(x, eps=eps)            # fills ∂(−ELBO)/∂θ,φ, eq. 2.22
    grads = {k: -model.grads[v].copy() for k, v in PACKAGE_NAMES.items()}
    SGD(model.params, model.grads, lr=lr).step()           # θ ← θ − lr ∂(−ELBO)/∂θ
    new_params = {k: model.params[v].copy() for k, v in PACKAGE_NAMES.items()}
    return np.asarray(estimate.elbo, dtype=x.dtype), grads, new_params


def _elbo_value(params, x, eps):
    return objectives.elbo(_model(params), x, eps=eps, grads=False).elbo


REFERENCE = {"aevb_step": _reference_aevb_step}

HINT = """
Forward (one row per example; a dense layer is y = h Wᵀ + b):

    a1 = x @ W1.T + b1;  h1 = tanh(a1)
    out = h1 @ W2.T + b2;  mu, logvar = out[:, :D], out[:, D:]
    sigma = exp(0.5 * logvar);  z = mu + sigma * eps
    a3 = z @ W3.T + b3;  h3 = tanh(a3);  logits = h3 @ W4.T + b4
    rec = Σ_p (x·logits − softplus(logits))   (softplus(l) = max(l, 0) + log1p(exp(−|l|)))
    kl  = ½ Σ_d (exp(logvar) + mu² − 1 − logvar)
    elbo = mean(rec − kl)

Backward from d elbo = 1 (each example gets 1/N):

    dlogits = (x − sigmoid(logits)) / N;   dW4 = dlogitsᵀ h3,  db4 = Σ_n dlogits
    dh3 = dlogits W4;  da3 = dh3 (1 − h3²);  dW3 = da3ᵀ z,  db3 = Σ_n da3;  dz = da3 W3
    dmu = dz − mu / N;   dlogvar = dz · ½ σ eps − ½ (exp(logvar) − 1) / N
    dout = [dmu | dlogvar];  dW2 = doutᵀ h1,  db2 = Σ_n dout
    dh1 = dout W2;  da1 = dh1 (1 − h1²);  dW1 = da1ᵀ x,  db1 = Σ_n da1

Update: the ELBO is maximised, so new = old + lr · grad (SGD on the loss −ELBO).
Return new arrays; leave `params` as it is.
"""

SIGN_UPDATE = ("the update went down the ELBO: Algorithm 2 climbs it, θ ← θ + lr ∇ELBO "
               "(SGD on the loss −ELBO: θ ← θ − lr ∇(−ELBO))")
NO_SAMPLER_PATH = ("only the KL's gradient reached the encoder: the reconstruction term "
                   "depends on mu and logvar through z = mu + σ ⊙ eps (eq. 2.17), so "
                   "dmu += dz and dlogvar += dz ⊙ ½ σ ⊙ eps")
NO_KL = "the KL term's gradient is missing: −mu / N in dmu, −½ (exp(logvar) − 1) / N in dlogvar"


def _mistakes(params, x, eps, lr):
    """{output name: {hint: what the mistake outputs}}."""
    _, grads, _ = _reference_aevb_step(params, x, eps, lr)
    wrong = {f"new_params['{k}']": {SIGN_UPDATE: params[k] - lr * grads[k]} for k in params}
    # the encoder's gradient with dz = 0 (the KL alone), and without the KL (β = 0)
    model = _model(params)
    mu, logvar = model.encoder_forward(x)
    q = DiagonalGaussian(mu, logvar)
    N = x.shape[0]
    model.encoder_backward(*q.kl_backward(np.full(N, 1.0 / N, dtype=x.dtype)))
    kl_only = {k: -model.grads[PACKAGE_NAMES[k]].copy() for k in ENCODER}
    model = _model(params)
    model.loss_and_grads(x, eps=eps, beta=0.0)
    no_kl = {k: -model.grads[PACKAGE_NAMES[k]].copy() for k in ENCODER}
    for k in ENCODER:
        wrong[f"grads['{k}']"] = {NO_SAMPLER_PATH: kl_only[k], NO_KL: no_kl[k]}
    return wrong


def _unpack(result):
    elbo, grads, new_params = outputs(result, ("elbo", "grads", "new_params"), NAME)
    for what, d in (("grads", grads), ("new_params", new_params)):
        if not isinstance(d, dict) or set(d) != set(PACKAGE_NAMES):
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise Fail(f"{what} should be a dict with the keys {', '.join(PACKAGE_NAMES)}, got {got}")
    return elbo, grads, new_params


def _arrays(N, P, H, D, seed, out_scale=1.0, dtype=np.float64):
    """(params, x, eps): the package's initialisation of mlp_vae (the decoder's output
    layer times out_scale), binary x with pixel means spread in (0.1, 0.9), eps ~ N(0, I)."""
    rng = np.random.default_rng(seed)
    model = mlp_vae(x_shape=(P,), latent_dim=D, hidden=(H,), activation="tanh", rng=rng,
                    dtype=np.float64)
    params = {k: model.params[v].copy() for k, v in PACKAGE_NAMES.items()}
    params["W4"] *= out_scale
    params["b4"] = params["b4"] + rng.standard_normal(P)          # not all zero
    x = (rng.random((N, P)) < rng.uniform(0.1, 0.9, P)).astype(np.float64)
    eps = rng.standard_normal((N, D))
    params = {k: v.astype(dtype) for k, v in params.items()}
    return params, x.astype(dtype), eps.astype(dtype)


def _check_step(student, params, x, eps, lr):
    expected = _reference_aevb_step(params, x, eps, lr)
    elbo, grads, new_params = _unpack(student.aevb_step(params, x, eps, lr))
    mistakes = {}

    def known(name):
        def get():
            if not mistakes:
                mistakes.update(_mistakes(params, x, eps, lr))
            return mistakes.get(name, {})
        return get

    error = compare("elbo", elbo, expected[0])
    for k in PACKAGE_NAMES:
        name = f"grads['{k}']"
        error = max(error, compare(name, grads[k], expected[1][k], mistakes=known(name)))
    for k in PACKAGE_NAMES:
        name = f"new_params['{k}']"
        error = max(error, compare(name, new_params[k], expected[2][k], mistakes=known(name)))
    return error


def _reference_case(label, N, P, H, D, seed, lr=0.1, shape=None, **kw):
    params, x, eps = _arrays(N, P, H, D, seed, **kw)

    def run(student):
        return _check_step(student, params, x, eps, lr)

    return Case(label, shape or describe_shapes(x=x, eps=eps, W1=params["W1"], lr=lr), run)


def _hidden_seed_case():
    seed = hidden_seed()
    return _reference_case("a hidden seed", 5, 7, 4, 3, seed, lr=0.05,
                           shape=f"x (5, 7), eps (5, 3), W1 (4, 7), seed {seed}")


def _gradcheck_case(label, N, P, H, D, seed):
    params, x, eps = _arrays(N, P, H, D, seed)

    def run(student):
        _, grads, _ = _unpack(student.aevb_step(params, x, eps, 0.1))
        arrays = {k: v.copy() for k, v in params.items()}
        return gradient_check(lambda: _elbo_value(arrays, x, eps), arrays, dict(grads))

    return Case(label, describe_shapes(x=x, eps=eps, W1=params["W1"]), run)


def _training_case(label, N, P, H, D, seed, steps=40, lr=0.5):
    """Algorithm 2's loop with the student's step, a fresh ε each pass, the same
    minibatch: the ELBO, measured on 256 fixed draws of ε per example, must rise as
    far as the package's steps take it, near enough."""
    params, x, _ = _arrays(N, P, H, D, seed)
    rng = np.random.default_rng(seed + 1)
    noises = [rng.standard_normal((N, D)) for _ in range(steps)]
    probe = rng.standard_normal((256 * N, D))          # 256 draws for each example
    x_probe = np.tile(x, (256, 1))

    def expected_elbo(p):
        return float(_elbo_value(p, x_probe, probe))

    def run(student):
        reference = params
        for eps in noises:
            reference = _reference_aevb_step(reference, x, eps, lr)[2]
        start, reference_end = expected_elbo(params), expected_elbo(reference)
        current = params
        for eps in noises:
            current = _unpack(student.aevb_step(current, x, eps, lr))[2]
            current = {k: np.asarray(v, dtype=np.float64) for k, v in current.items()}
            if any(current[k].shape != params[k].shape for k in params):
                raise Fail("new_params: an array changed shape during training")
        end = expected_elbo(current)
        rise, reference_rise = end - start, reference_end - start
        if not np.isfinite(end) or rise < 0.5 * reference_rise:
            raise Fail(f"after {steps} steps (lr = {lr}) the ELBO went from {start:.4f} to {end:.4f} "
                       f"nats; the package's steps from the same ε take it to {reference_end:.4f}"
                       + (f"\n({SIGN_UPDATE})" if rise < 0 else ""), abs(end - reference_end))
        return abs(rise - reference_rise) / abs(reference_rise)

    return Case(label, describe_shapes(x=x, steps=steps, lr=lr), run)


def cases():
    return [
        _reference_case("one example, one latent", 1, 3, 2, 1, seed=0),
        _reference_case("a minibatch", 8, 6, 5, 2, seed=1),
        _reference_case("P = H = 2D: a transpose shows", 5, 4, 4, 2, seed=2),
        _gradcheck_case("gradient check", 4, 5, 3, 2, seed=3),
        _gradcheck_case("gradient check, batch 1", 1, 4, 3, 2, seed=4),
        _reference_case("a confident decoder: logits near ±1000", 4, 6, 3, 2, seed=5, out_scale=2000.0),
        _training_case("40 steps on fixed data: the ELBO rises", 16, 8, 6, 2, seed=6),
        _reference_case("float32 stays float32", 6, 5, 4, 2, seed=7, dtype=np.float32),
        _hidden_seed_case(),
    ]
