"""The variational autoencoder (thesis §2.7, tutorial §3 and appendix C.2, slides 11.17).

    q_φ(z|x) = N(mu, diag(exp(logvar))),  (mu, logvar) = encoder(x)        thesis eq. 2.26
    p(z)     = N(0, I)
    p_θ(x|z) = Bernoulli(logits = decoder(z))                                thesis eq. 2.31
             or N(decoder(z), σ²) with σ² fixed or learned per pixel         thesis eq. 2.30

The encoder and decoder are any of the project's layers (usually a Sequential):

    encoder: x (N, *x_shape) -> (N, 2·D), the columns [mu | logvar]
    decoder: z (N, D)        -> (N, *x_shape): Bernoulli logits, or the Gaussian mean;
                                (N, 2·C, …) for a learned variance: [mean | raw log-variance]
                                along axis 1

Every entry point that takes images (encode, reconstruct, loss_and_grads, evaluate, and
the objectives through encoder_forward) checks them first, once: shape (N, *x_shape)
with N ≥ 1, finite values, and values in [0, 1] for the Bernoulli likelihood (a Gaussian
takes any finite value); decode checks z's shape (models/base.py, check_batch).

`mlp_vae` and `conv_vae` build the two standard instances.  The objectives (ELBO,
IWAE, …) live in objectives.py; `VAE.loss_and_grads` calls the ELBO.
"""

import math

import numpy as np

from ..backend import get_backend
from ..distributions import Bernoulli, DiagonalGaussian, floor_logvar, floor_logvar_backward
from ..nn import (Conv2D, ConvTranspose2D, Dense, Flatten, LeakyReLU, ReLU, Reshape,
                  Sequential, Tanh)
from ..objectives import elbo
from ..utils import check_int
from .base import Model, check_batch, check_batch_shape

LIKELIHOODS = ("bernoulli", "gaussian")
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "leaky_relu": LeakyReLU}


class VAE(Model):
    """A VAE from an encoder and a decoder layer.

    latent_dim: D, the size of z.
    likelihood: "bernoulli" (data in [0, 1], decoder gives logits) or "gaussian".
    decoder_var: for "gaussian" only: a number σ² (fixed variance, slides Concept 11.18:
        then −log p(x|z) is ‖x − f(z)‖² / (2σ²) plus a constant), or "learned" (the decoder
        outputs a raw log-variance per pixel, bounded below by min_var; see
        distributions.floor_logvar).
    x_shape: the shape of one image, e.g. (1, 28, 28), against which every input is
        checked; None reads it off the decoder's output for one z (the builders pass it).

    `params` / `grads` name every array "encoder.<name>" or "decoder.<name>".
    """

    def __init__(self, encoder, decoder, latent_dim, likelihood="bernoulli", *,
                 decoder_var=1.0, min_var=1e-3, x_shape=None):
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"VAE: unknown likelihood {likelihood!r}; expected one of "
                             f"{', '.join(LIKELIHOODS)}")
        if encoder.backend.name != decoder.backend.name:
            raise ValueError(f"VAE: encoder and decoder must share a backend, got "
                             f"{encoder.backend.name} and {decoder.backend.name}")
        learned = decoder_var == "learned"
        if likelihood == "gaussian" and not learned and not float(decoder_var) > 0:
            raise ValueError(f"VAE: decoder_var must be \"learned\" or a variance > 0, "
                             f"got {decoder_var!r}")
        if not min_var > 0:
            raise ValueError(f"VAE: min_var must be > 0, got {min_var!r}")
        self.encoder, self.decoder = encoder, decoder
        self.parts = {"encoder": encoder, "decoder": decoder}           # models/base.py
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        self.learned_var = likelihood == "gaussian" and learned
        self.decoder_var = "learned" if learned else float(decoder_var)
        self.min_var = float(min_var)
        self._p = None                    # p(x|z) of the last decoder_forward
        self._raw_logvar = None
        self.x_shape = self._image_shape(x_shape, decoder, self.latent_dim,
                                         2 if self.learned_var else 1)      # models/base.py

    # --- parameters (params, grads, dtype, astype: models/base.py) ----------------
    def config(self):
        """The hyperparameters that, with the parameter shapes, define the architecture."""
        return {"latent_dim": self.latent_dim, "likelihood": self.likelihood,
                "decoder_var": self.decoder_var, "min_var": self.min_var}

    # --- the two halves, forward and backward (the interface objectives.py uses) ----
    def encoder_forward(self, x):
        """x: (N, *x_shape) -> (mu, logvar), each (N, D).  The one place where the
        images are checked: every entry point that takes x passes here first."""
        check_batch("VAE", x, self.x_shape, self.xp,
                    "for the Bernoulli likelihood" if self.likelihood == "bernoulli" else "")
        h = self.encoder.forward(x)
        D = self.latent_dim
        if h.shape != (x.shape[0], 2 * D):
            raise ValueError(f"VAE: the encoder must output (N, 2·latent_dim) = "
                             f"({x.shape[0]}, {2 * D}) = [mu | logvar], got {tuple(h.shape)}")
        return h[:, :D], h[:, D:]

    def encoder_backward(self, dmu, dlogvar):
        """Fill the encoder's grads from dL/dmu and dL/dlogvar, each (N, D)."""
        self.encoder.backward(self.xp.concatenate([dmu, dlogvar], axis=1),
                              need_input_grad=False)                       # x is data

    def decoder_forward(self, z):
        """z: (N, D) -> p(x|z): a Bernoulli or a DiagonalGaussian over (N, *x_shape)."""
        check_batch_shape("VAE", z, (self.latent_dim,), "z", "z")
        out = self.decoder.forward(z)
        if self.likelihood == "bernoulli":
            self._p = Bernoulli(out)
        elif self.learned_var:
            if out.shape[1] % 2:
                raise ValueError(f"VAE: with a learned variance the decoder must output "
                                 f"[mean | raw log-variance] along axis 1, an even size; got "
                                 f"shape {tuple(out.shape)}")
            C = out.shape[1] // 2
            self._raw_logvar = out[:, C:]
            self._p = DiagonalGaussian(out[:, :C], floor_logvar(out[:, C:], self.min_var))
        else:
            logvar = self.xp.full_like(out, math.log(self.decoder_var))
            self._p = DiagonalGaussian(out, logvar)
        return self._p

    def decoder_backward(self, x, dlogp):
        """Given dL/d log p(x|z) per example, (N,), fill the decoder's grads; return dL/dz."""
        p = self._p
        if p is None:
            raise ValueError("VAE.decoder_backward: call decoder_forward first")
        if self.likelihood == "bernoulli":
            dout = p.log_prob_backward(x, dlogp)
        else:
            _, dmean, dlogvar = p.log_prob_backward(x, dlogp)
            if self.learned_var:
                draw = floor_logvar_backward(self._raw_logvar, self.min_var, dlogvar)
                dout = self.xp.concatenate([dmean, draw], axis=1)
            else:
                dout = dmean                # the variance is a constant
        return self.decoder.backward(dout)

    # --- what a user calls --------------------------------------------------------
    def encode(self, x):
        """q(z|x) for x: (N, *x_shape), as a DiagonalGaussian over (N, D)."""
        return DiagonalGaussian(*self.encoder_forward(x))

    def decode(self, z):
        """p(x|z) for z: (N, D)."""
        return self.decoder_forward(z)

    def reconstruct(self, x, rng):
        """E[x' | z] for z ~ q(z|x): a sampled code, not z = mu.  (N, *x_shape)."""
        z = self.encode(x).sample(rng)
        return self.decode(z).mean

    def sample(self, n, rng, mean=True):
        """n new images from the model: z ~ N(0, I), then E[x|z] (mean=True) or x ~ p(x|z)."""
        n = check_int("VAE.sample", "n", n, 1)
        z = self.xp.asarray(rng.standard_normal((n, self.latent_dim), dtype=self.dtype))
        p = self.decode(z)
        return p.mean if mean else p.sample(rng)

    def loss_and_grads(self, x, rng=None, eps=None, *, beta=1.0, kl="analytic"):
        """One single-sample ELBO estimate on a minibatch, filling every gradient.

        x: (N, *x_shape).  Returns an objectives.ELBOEstimate: per-batch means of
        elbo, reconstruction and kl in nats, and loss = −mean(rec − β·kl), whose
        gradient is now in `grads`.
        """
        return elbo(self, x, rng=rng, eps=eps, beta=beta, kl=kl)

    def evaluate(self, x, rng, kl="analytic"):
        """The ELBO estimate without gradients (z is sampled, as in training)."""
        return elbo(self, x, rng=rng, kl=kl, grads=False)

    def init_output_bias(self, pixel_mean, eps=1e-3):
        """Start a Bernoulli decoder at the data's average image.

        Sets the bias of the decoder's last layer to logit(mean) (per pixel when the
        bias has one entry per pixel, as in the MLP; per channel for a convolution), so
        the untrained decoder already predicts the average digit instead of 0.5
        everywhere; the means are clipped to [eps, 1 − eps] to keep the logits finite.
        """
        if self.likelihood != "bernoulli":
            raise ValueError("VAE.init_output_bias: only for the Bernoulli likelihood")
        last = [layer for layer in _leaves(self.decoder) if "b" in layer.params][-1]
        b = last.params["b"]
        m = np.clip(np.asarray(pixel_mean, dtype=np.float64), eps, 1 - eps)
        if m.size == b.size:
            m = m.reshape(b.shape)
        elif m.ndim >= 1 and m.shape[0] == b.size:           # (C, H, W) -> per channel
            m = m.reshape(b.size, -1).mean(axis=1)
        else:
            raise ValueError(f"VAE.init_output_bias: {m.size} pixel means do not match the "
                             f"output bias of {last!r}, of shape {tuple(b.shape)}")
        b[...] = self.xp.asarray(np.log(m) - np.log1p(-m), dtype=b.dtype)

    def __repr__(self):
        return (f"VAE(latent_dim={self.latent_dim}, likelihood={self.likelihood!r}, "
                f"{self.n_params:,} parameters)\n encoder: {self.encoder!r}\n "
                f"decoder: {self.decoder!r}")


def _leaves(layer):
    if isinstance(layer, Sequential):
        return [leaf for sub in layer.layers for leaf in _leaves(sub)]
    return [layer]


def _output_multiplier(likelihood, decoder_var):
    """The decoder outputs twice the channels when it also predicts a variance."""
    return 2 if likelihood == "gaussian" and decoder_var == "learned" else 1


def mlp_vae(x_shape=(1, 28, 28), latent_dim=20, hidden=(400,), likelihood="bernoulli", *,
            rng, activation="relu", decoder_var=1.0, min_var=1e-3, backend=None,
            dtype=np.float32):
    """The standard MLP VAE (tutorial appendix C.2; 784-400-20 with ReLU is the instance of
    the well-known PyTorch example, tanh is Kingma & Welling's original).

    encoder: Flatten → [Dense → act] per hidden size → Dense(→ 2·latent_dim)
    decoder: [Dense → act] per hidden size (reversed) → Dense(→ pixels) → Reshape(x_shape)
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp_vae: unknown activation {activation!r}; expected one of "
                         f"{', '.join(ACTIVATIONS)}")
    bk = get_backend(backend)
    act = ACTIVATIONS[activation]
    kw = dict(rng=rng, backend=bk, dtype=dtype)
    x_shape = tuple(int(d) for d in x_shape)
    pixels = int(np.prod(x_shape))
    hidden = tuple(hidden)
    enc, width = [Flatten(backend=bk)], pixels
    for h in hidden:
        enc += [Dense(width, h, **kw), act(backend=bk)]
        width = h
    enc.append(Dense(width, 2 * latent_dim, **kw))
    k = _output_multiplier(likelihood, decoder_var)
    dec, width = [], latent_dim
    for h in reversed(hidden):
        dec += [Dense(width, h, **kw), act(backend=bk)]
        width = h
    dec += [Dense(width, k * pixels, **kw), Reshape((k * x_shape[0],) + x_shape[1:], backend=bk)]
    return VAE(Sequential(enc), Sequential(dec), latent_dim, likelihood,
               decoder_var=decoder_var, min_var=min_var, x_shape=x_shape)


def conv_vae(x_shape=(1, 28, 28), latent_dim=16, channels=(32, 64), hidden=256,
             likelihood="bernoulli", *, rng, decoder_var=1.0, min_var=1e-3, backend=None,
             dtype=np.float32):
    """A convolutional VAE (thesis §2.8): each stage halves the image, then mirrors back.

    encoder: [Conv2D(k=4, s=2, p=1) → ReLU] per channel count → Flatten → Dense(hidden) →
             ReLU → Dense(→ 2·latent_dim)
    decoder: Dense(hidden) → ReLU → Dense → ReLU → Reshape → [ConvTranspose2D(k=4, s=2, p=1)
             → ReLU] … → ConvTranspose2D(→ C or 2·C channels)
    H and W must be divisible by 2^len(channels) (28 and 8 are, for two stages).
    """
    bk = get_backend(backend)
    kw = dict(rng=rng, backend=bk, dtype=dtype)
    C, H, W = (int(d) for d in x_shape)
    f = 2 ** len(channels)
    if H % f or W % f:
        raise ValueError(f"conv_vae: with {len(channels)} stride-2 stages the image size must "
                         f"be divisible by {f}, got {H}×{W}")
    enc, c_in = [], C
    for c in channels:
        enc += [Conv2D(c_in, c, 4, stride=2, padding=1, **kw), ReLU(backend=bk)]
        c_in = c
    hs, ws = H // f, W // f
    flat = c_in * hs * ws
    enc += [Flatten(backend=bk), Dense(flat, hidden, **kw), ReLU(backend=bk),
            Dense(hidden, 2 * latent_dim, **kw)]
    k = _output_multiplier(likelihood, decoder_var)
    dec = [Dense(latent_dim, hidden, **kw), ReLU(backend=bk), Dense(hidden, flat, **kw),
           ReLU(backend=bk), Reshape((c_in, hs, ws), backend=bk)]
    outs = list(reversed(channels[:-1])) + [k * C]
    for i, c in enumerate(outs):
        dec.append(ConvTranspose2D(c_in, c, 4, stride=2, padding=1, **kw))
        if i < len(outs) - 1:
            dec.append(ReLU(backend=bk))
        c_in = c
    return VAE(Sequential(enc), Sequential(dec), latent_dim, likelihood,
               decoder_var=decoder_var, min_var=min_var, x_shape=x_shape)


__all__ = ["VAE", "mlp_vae", "conv_vae", "LIKELIHOODS"]
