"""The thesis's dual VAE: one VAE for the foreground, one for the background (thesis §2.9).

    z1 ~ q_φ(z1|x)              foreground encoder, small receptive field (6)
    z2 ~ s_χ(z2|x)              background encoder, large receptive field (30)
    (z̃1, z̃2) = NeuralNet((z1, z2))   the interaction layer                 thesis eq. 2.35
    x̂ ~ p_θ(x|z̃1)              foreground decoder, Bernoulli over the 60×60 image
    ĝ ~ r_ι(g(x)|z̃2)           background decoder, Bernoulli over the 2×2 target g(x)

    g(x) = sigmoid(12 · (AvgPool_30(x) − 0.5))                             thesis eq. 3.1
    loss = −(ELBO1 + 450 · ELBO2)                                          thesis eq. 2.36, §3.1

ELBO1 = log p(x|z̃1) − KL(q(z1|x) ‖ N(0, I)) and ELBO2 = log r(g(x)|z̃2) − KL(s(z2|x) ‖
N(0, I)), each estimated with one sample per image and the closed-form KL (eq. 2.10).
The layer sizes are those of DESIGN.md ("Reference dual VAE"); every size is an
option so that the gradient check can run on a small copy.

Our readings where the thesis is silent, each an option:
- the interaction layer is linear and starts at the identity, so training starts from
  two separate VAEs; `interaction=(True, True)` feeds z̃ to both decoders, and
  (True, False) cuts it from the background decoder (the thesis's §3.3 suggestion);
- `elbo2_weight` = 450 multiplies the whole ELBO2 (`weight_on="elbo"`, eq. 2.36 with the
  thesis's scaling) or only its reconstruction term (`weight_on="reconstruction"`).
"""

from dataclasses import dataclass

import numpy as np

from ..backend import get_backend, to_numpy
from ..distributions import Bernoulli, DiagonalGaussian
from ..nn import (AvgPool2D, Conv2D, ConvTranspose2D, Dense, Flatten, MaxPool2D, ReLU,
                  Reshape, Sequential)
from ..nn.functional import sigmoid

WEIGHT_ON = ("elbo", "reconstruction")


@dataclass
class DualEstimate:
    """One minibatch estimate; every number a mean over the batch, in nats per image.

    loss = −mean(ELBO1 + w · ELBO2) (or −mean(ELBO1 + w · rec2 − kl2)), whose gradient
    fills the model's grads.  per_example: {"elbo1": (N,), "elbo2": (N,)} on the host.
    """

    loss: float
    elbo1: float
    elbo2: float
    reconstruction1: float
    kl1: float
    reconstruction2: float
    kl2: float
    per_example: dict

    def metrics(self):
        """The named means, as the training loop records them."""
        return {"elbo1": self.elbo1, "elbo2": self.elbo2, "reconstruction1": self.reconstruction1,
                "kl1": self.kl1, "reconstruction2": self.reconstruction2, "kl2": self.kl2}


class DualVAE:
    """The reference dual VAE (DESIGN.md), sizes adjustable.

    x: (N, 1, S, S) binary images, S = image_size (60).  S must be divisible by 4 and
    by bg_kernel.
    latent1, latent2: sizes of z1 (4) and z2 (1).
    fg_kernel: receptive field of the foreground encoder's first convolution (6, even).
    bg_kernel: receptive field and stride of the background encoder (30), also the
        pooling size of the target g.
    interaction: (to the foreground decoder, to the background decoder).
    elbo2_weight, weight_on: see the module docstring.
    """

    def __init__(self, *, rng, image_size=60, latent1=4, latent2=1, fg_kernel=6, bg_kernel=30,
                 fg_channels=(16, 32), fg_hidden=64, bg_channels=4, bg_hidden=16,
                 dec_channels=(16, 8), interaction=(True, True), elbo2_weight=450.0,
                 weight_on="elbo", target_gain=12.0, backend=None, dtype=np.float32):
        S = int(image_size)
        if S % 4 or S % bg_kernel:
            raise ValueError(f"DualVAE: image_size must be divisible by 4 and by bg_kernel "
                             f"({bg_kernel}), got {S}")
        if fg_kernel % 2 or fg_kernel < 2:
            raise ValueError(f"DualVAE: fg_kernel must be even (it halves the image with "
                             f"padding (k − 2)/2), got {fg_kernel}")
        if weight_on not in WEIGHT_ON:
            raise ValueError(f"DualVAE: weight_on must be one of {', '.join(WEIGHT_ON)}, "
                             f"got {weight_on!r}")
        bk = get_backend(backend)
        kw = dict(rng=rng, backend=bk, dtype=dtype)
        c1, c2 = fg_channels
        d1, d2 = dec_channels
        s8, s4, m = -(-S // 8), S // 4, S // bg_kernel

        # q_φ(z1|x): receptive field fg_kernel                      (DESIGN.md, thesis §3.1)
        self.fg_encoder = Sequential(
            Conv2D(1, c1, fg_kernel, stride=2, padding=(fg_kernel - 2) // 2, **kw), ReLU(backend=bk),
            MaxPool2D(2, backend=bk),
            Conv2D(c1, c2, 3, stride=2, padding=1, **kw), ReLU(backend=bk),
            Flatten(backend=bk), Dense(c2 * s8 * s8, fg_hidden, **kw), ReLU(backend=bk),
            Dense(fg_hidden, 2 * latent1, **kw))
        # s_χ(z2|x): one bg_kernel × bg_kernel window per output, receptive field bg_kernel
        self.bg_encoder = Sequential(
            Conv2D(1, bg_channels, bg_kernel, stride=bg_kernel, **kw), ReLU(backend=bk),
            Flatten(backend=bk), Dense(bg_channels * m * m, 2 * latent2, **kw))
        # (z̃1, z̃2) = W (z1, z2) + b, starting at the identity                   (eq. 2.35)
        self.interaction = Dense(latent1 + latent2, latent1 + latent2, **kw)
        self.interaction.params["W"][...] = bk.xp.eye(latent1 + latent2, dtype=dtype)
        # p_θ(x|z̃1): Bernoulli logits over the image
        self.fg_decoder = Sequential(
            Dense(latent1, d1 * s4 * s4, **kw), ReLU(backend=bk), Reshape((d1, s4, s4), backend=bk),
            ConvTranspose2D(d1, d2, 4, stride=2, padding=1, **kw), ReLU(backend=bk),
            ConvTranspose2D(d2, 1, 4, stride=2, padding=1, **kw))
        # r_ι(g(x)|z̃2): Bernoulli logits over the m × m target
        self.bg_decoder = Sequential(
            Dense(latent2, bg_hidden, **kw), ReLU(backend=bk), Dense(bg_hidden, m * m, **kw),
            Reshape((1, m, m), backend=bk))
        self._pool = AvgPool2D(bg_kernel, backend=bk)

        self.backend, self.xp = bk, bk.xp
        self.image_size, self.latent1, self.latent2 = S, int(latent1), int(latent2)
        self.fg_kernel, self.bg_kernel = int(fg_kernel), int(bg_kernel)
        self.interaction_on = tuple(bool(f) for f in interaction)
        self.elbo2_weight, self.weight_on = float(elbo2_weight), weight_on
        self.target_gain = float(target_gain)
        self._parts = {"fg_encoder": self.fg_encoder, "bg_encoder": self.bg_encoder,
                       "interaction": self.interaction, "fg_decoder": self.fg_decoder,
                       "bg_decoder": self.bg_decoder}

    # --- parameters ---------------------------------------------------------------
    @property
    def params(self):
        return {f"{part}.{k}": v for part, layer in self._parts.items()
                for k, v in layer.params.items()}

    @property
    def grads(self):
        return {f"{part}.{k}": v for part, layer in self._parts.items()
                for k, v in layer.grads.items()}

    @property
    def dtype(self):
        return self.fg_encoder.dtype

    @property
    def n_params(self):
        return sum(layer.n_params for layer in self._parts.values())

    def astype(self, dtype):
        for layer in self._parts.values():
            layer.astype(dtype)
        return self

    def config(self):
        return {"model": "dual_vae", "image_size": self.image_size, "latent1": self.latent1,
                "latent2": self.latent2, "fg_kernel": self.fg_kernel, "bg_kernel": self.bg_kernel,
                "interaction": list(self.interaction_on), "elbo2_weight": self.elbo2_weight,
                "weight_on": self.weight_on, "target_gain": self.target_gain}

    # --- the pieces ---------------------------------------------------------------
    def target(self, x):
        """g(x) = sigmoid(gain · (AvgPool_s(x) − 0.5)), (N, 1, S/s, S/s)   (thesis eq. 3.1:
        a pooling with stride s = 30 of x / 30², then the sigmoid with gain 12)."""
        return sigmoid(self.target_gain * (self._pool.forward(x) - 0.5), self.xp)

    def encode(self, x):
        """(q(z1|x), s(z2|x)) for x: (N, 1, S, S), each a DiagonalGaussian."""
        self._check_input(x)
        h1, h2 = self.fg_encoder.forward(x), self.bg_encoder.forward(x)
        L1, L2 = self.latent1, self.latent2
        return (DiagonalGaussian(h1[:, :L1], h1[:, L1:]), DiagonalGaussian(h2[:, :L2], h2[:, L2:]))

    def _decoder_inputs(self, z1, z2):
        """(input of the foreground decoder, input of the background decoder)."""
        use1, use2 = self.interaction_on
        if not (use1 or use2):
            return z1, z2
        zt = self.interaction.forward(self.xp.concatenate([z1, z2], axis=1))   # eq. 2.35
        L1 = self.latent1
        return (zt[:, :L1] if use1 else z1), (zt[:, L1:] if use2 else z2)

    def decode(self, z1, z2):
        """(p(x|z̃1), r(g|z̃2)) for z1: (N, latent1), z2: (N, latent2), as Bernoullis."""
        u1, u2 = self._decoder_inputs(z1, z2)
        return Bernoulli(self.fg_decoder.forward(u1)), Bernoulli(self.bg_decoder.forward(u2))

    def vae1(self, x, rng):
        """The foreground VAE's output for x (thesis §2.9): E[x̂ | z̃1], (N, 1, S, S).
        Not deterministic: z1 and z2 are sampled, and both encoders run."""
        q1, q2 = self.encode(x)
        return self.decode(q1.sample(rng), q2.sample(rng))[0].mean

    def vae2(self, x, rng):
        """The background VAE's output for x: E[ĝ | z̃2], (N, 1, S/s, S/s)."""
        q1, q2 = self.encode(x)
        return self.decode(q1.sample(rng), q2.sample(rng))[1].mean

    # --- the objective and its gradient -------------------------------------------
    def loss_and_grads(self, x, rng=None, eps=None, *, grads=True, beta=1.0):
        """ELBO1 and ELBO2 of a minibatch, one sample each, and the gradient of the loss.

        x: (N, 1, S, S).  eps: None, or (eps1 (N, latent1), eps2 (N, latent2)) fixed.
        beta weighs both KL terms (1 for the thesis's objective; KL annealing otherwise).
        Returns a DualEstimate; with grads=True every gradient is filled.
        """
        eps1, eps2 = (None, None) if eps is None else eps
        N = x.shape[0]
        q1, q2 = self.encode(x)
        z1, z2 = q1.sample(rng, eps1), q2.sample(rng, eps2)                 # eq. 2.27
        p1, p2 = self.decode(z1, z2)
        g = self.target(x)
        rec1, kl1 = p1.log_prob(x), q1.kl_to_standard_normal()
        rec2, kl2 = p2.log_prob(g), q2.kl_to_standard_normal()
        w = self.elbo2_weight
        w_kl2 = w if self.weight_on == "elbo" else 1.0
        objective = rec1 - beta * kl1 + w * rec2 - w_kl2 * beta * kl2       # eq. 2.36, §3.1
        mean = lambda a: float(a.mean())                                     # noqa: E731
        result = DualEstimate(
            loss=-mean(objective), elbo1=mean(rec1 - kl1), elbo2=mean(rec2 - kl2),
            reconstruction1=mean(rec1), kl1=mean(kl1), reconstruction2=mean(rec2), kl2=mean(kl2),
            per_example={"elbo1": to_numpy(rec1 - kl1), "elbo2": to_numpy(rec2 - kl2)})
        if not grads:
            return result

        xp, dt = self.xp, z1.dtype
        full = lambda value: xp.full(N, value / N, dtype=dt)                 # noqa: E731
        du1 = self.fg_decoder.backward(p1.log_prob_backward(x, full(-1.0)))  # ∂loss/∂(dec1 input)
        du2 = self.bg_decoder.backward(p2.log_prob_backward(g, full(-w)))
        use1, use2 = self.interaction_on
        dz1 = xp.zeros_like(z1) if use1 else du1
        dz2 = xp.zeros_like(z2) if use2 else du2
        if use1 or use2:
            L1 = self.latent1
            dzt = xp.concatenate([du1 if use1 else xp.zeros_like(z1),
                                  du2 if use2 else xp.zeros_like(z2)], axis=1)
            dz = self.interaction.backward(dzt)
            dz1, dz2 = dz1 + dz[:, :L1], dz2 + dz[:, L1:]
        else:
            for k in self.interaction.grads:         # the layer is not used: no gradient
                self.interaction.grads[k][...] = 0
        for q, dz, d_kl, encoder in ((q1, dz1, beta, self.fg_encoder),
                                     (q2, dz2, w_kl2 * beta, self.bg_encoder)):
            dmu_kl, dlogvar_kl = q.kl_backward(full(d_kl))
            dmu_z, dlogvar_z = q.backward(dz)                                # z = mu + σ ⊙ eps
            encoder.backward(xp.concatenate([dmu_kl + dmu_z, dlogvar_kl + dlogvar_z], axis=1),
                             need_input_grad=False)                        # x is data
        return result

    def evaluate(self, x, rng):
        """The estimate without gradients."""
        return self.loss_and_grads(x, rng, grads=False)

    def _check_input(self, x):
        S = self.image_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, S, S):
            raise ValueError(f"DualVAE: expected images of shape (N, 1, {S}, {S}), "
                             f"got {tuple(x.shape)}")

    def __repr__(self):
        return (f"DualVAE(image {self.image_size}×{self.image_size}, z1 ∈ R^{self.latent1}, "
                f"z2 ∈ R^{self.latent2}, receptive fields {self.fg_kernel} / {self.bg_kernel}, "
                f"ELBO2 weight {self.elbo2_weight:g} on the {self.weight_on}, interaction "
                f"{self.interaction_on}, {self.n_params:,} parameters)")


__all__ = ["DualVAE", "DualEstimate", "WEIGHT_ON"]
