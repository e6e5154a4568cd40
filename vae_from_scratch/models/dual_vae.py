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
The layer sizes are those of docs/design.md ("Reference dual VAE") and our reading: the
thesis gives only the receptive fields (6 and 30), the latent sizes (4 and 1), the target
g, the weight 450 and 30 epochs, not the layers (the stride-2 6×6 convolution, the max
pooling, the 15×15 map and the 4×4 transposed convolutions are ours).  Every size is an
option so that the gradient check can run on a small copy.

Our readings where the thesis is silent, each an option:
- the interaction layer is linear and starts at the identity, so training starts from
  two separate VAEs; `interaction=(True, True)` feeds z̃ to both decoders, and
  (True, False) cuts it from the background decoder (the thesis's §3.3 suggestion);
- `elbo2_weight` = 450 multiplies the whole ELBO2 (`weight_on="elbo"`, eq. 2.36 with the
  thesis's scaling) or only its reconstruction term (`weight_on="reconstruction"`).

The thesis's remedies (§3.3) and ours, each an option that is off by default (the
reference model's parameters and random draws are then those of the thesis run):
- `likelihood1="gaussian"`: decoder 1 is N(mean, σ²) with one learned scalar noise level
  log σ² = log(min_var + exp(raw)) (distributions.floor_logvar), for grey images that
  were not binarized (§3.3: "use the raw data");
- `latent1`, `latent2`: "more latent dimensions" (§3.3);
- `decoder1="structured"`: x = f(x1, x2) made explicit: decoder 1's output is the
  foreground decoder's output plus a full-resolution background map decoded from z̃2
  (added as logits for a Bernoulli, as means for a Gaussian);
- `free_bits2` λ: the KL of z2 costs nothing below λ nats per dimension (Kingma et
  al. 2016's free bits: Σ_d max(λ, mean_n KL_nd) replaces mean_n KL_n in the loss);
- `decorrelate` γ (ours): γ ‖Cov_batch(mu1, mu2)‖²_F added to the loss, a push for the
  two posterior means to carry unrelated information.
The reported ELBOs are always the true ones; only the loss changes.

What a user hands the model is checked once per call, in `encode` and `target` for the
images (models/base.py, check_batch: shape (N, 1, S, S) with N ≥ 1, finite values, and
values in [0, 1] for the Bernoulli decoder 1; a Gaussian decoder 1 takes any finite
value, and the target g(x) of the Bernoulli decoder 2 stays in (0, 1) through its
sigmoid whatever x is), and in `decode` and `decoder1_parts` for the codes' shapes.
`loss_and_grads` checks the images' values on their minimum and maximum, which it
brings to the host together with the metrics (one transfer per step), before it writes
any gradient.
"""

from dataclasses import dataclass

import numpy as np

from ..backend import get_backend
from ..distributions import Bernoulli, DiagonalGaussian, floor_logvar, floor_logvar_backward
from ..nn import (AvgPool2D, Conv2D, ConvTranspose2D, Dense, Flatten, MaxPool2D, Parametric,
                  ReLU, Reshape, Sequential)
from ..nn.functional import sigmoid
from .base import Model, check_batch, check_batch_shape, check_batch_values, to_host

WEIGHT_ON = ("elbo", "reconstruction")
LIKELIHOODS1 = ("bernoulli", "gaussian")
DECODERS1 = ("plain", "structured")


class NoiseLevel(Parametric):
    """One learned noise variance σ² for every pixel of a Gaussian decoder.

    params["raw_logvar"]: (1,); log σ² = log(min_var + exp(raw)) keeps σ² > min_var, so
    a decoder that fits the data closely cannot drive log p(x|z) to +∞
    (distributions.floor_logvar).  Starts at σ² = var0: the data's pixel variance is the
    natural start, the σ² of a decoder that predicts the mean image; from σ² = 1 Adam
    (steps of about lr in raw) needs about 1900 steps to reach the noise of the thesis's
    data (σ² = 0.16), and the reconstruction is weighted 1/σ² too weakly until then.
    """

    def __init__(self, *, var0=1.0, min_var=1e-3, backend=None, dtype=np.float32):
        if not var0 > min_var:
            raise ValueError(f"NoiseLevel: expected a starting variance var0 > min_var = "
                             f"{min_var:g}, got {var0!r}")
        super().__init__(backend, dtype)
        self.min_var = float(min_var)
        raw0 = np.log(float(var0) - self.min_var)            # the inverse of floor_logvar
        self._add_param("raw_logvar", np.full(1, raw0))

    def logvar(self, shape):
        """log σ², broadcast to `shape` (the decoder's output, (N, 1, S, S))."""
        raw = self.params["raw_logvar"]
        return self.xp.broadcast_to(floor_logvar(raw, self.min_var).reshape((1,) * len(shape)),
                                    shape)

    def backward(self, dlogvar):
        """dlogvar: dL/d log σ² per pixel, (N, 1, S, S); σ² is shared, so the sum."""
        raw = self.params["raw_logvar"]
        self.grads["raw_logvar"][...] = floor_logvar_backward(raw, self.min_var, dlogvar.sum())

    def __repr__(self):
        return f"NoiseLevel(min_var={self.min_var:g})"


@dataclass
class DualEstimate:
    """One minibatch estimate; every number a mean over the batch, in nats per image.

    loss = −mean(ELBO1 + w · ELBO2) (or −mean(ELBO1 + w · rec2 − kl2)), whose gradient
    fills the model's grads.  per_example: {"elbo1": (N,), "elbo2": (N,)} on the host.
    Every number is on the host, brought there in one transfer (DualVAE.loss_and_grads).
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


class DualVAE(Model):
    """The reference dual VAE (docs/design.md, "Reference dual VAE"), sizes adjustable.

    x: (N, 1, S, S) images, S = image_size (60): binary for the Bernoulli decoder 1,
    grey for the Gaussian one.  S must be divisible by 4 and by bg_kernel.
    latent1, latent2: sizes of z1 (4) and z2 (1).
    fg_kernel: receptive field of the foreground encoder's first convolution (6, even).
    bg_kernel: receptive field and stride of the background encoder (30), also the
        pooling size of the target g.
    interaction: (to the foreground decoder, to the background decoder).
    elbo2_weight, weight_on, likelihood1, decoder1, free_bits2, decorrelate: see the
        module docstring; min_var bounds the Gaussian decoder's σ² from below, and
        noise_var0 is its starting value (NoiseLevel).
    """

    def __init__(self, *, rng, image_size=60, latent1=4, latent2=1, fg_kernel=6, bg_kernel=30,
                 fg_channels=(16, 32), fg_hidden=64, bg_channels=4, bg_hidden=16,
                 dec_channels=(16, 8), interaction=(True, True), elbo2_weight=450.0,
                 weight_on="elbo", likelihood1="bernoulli", decoder1="plain", free_bits2=0.0,
                 decorrelate=0.0, min_var=1e-3, noise_var0=1.0, target_gain=12.0, backend=None,
                 dtype=np.float32):
        S = int(image_size)
        if S % 4 or S % bg_kernel:
            raise ValueError(f"DualVAE: image_size must be divisible by 4 and by bg_kernel "
                             f"({bg_kernel}), got {S}")
        if fg_kernel % 2 or fg_kernel < 2:
            raise ValueError(f"DualVAE: fg_kernel must be even (it halves the image with "
                             f"padding (k − 2)/2), got {fg_kernel}")
        for what, value, allowed in (("weight_on", weight_on, WEIGHT_ON),
                                     ("likelihood1", likelihood1, LIKELIHOODS1),
                                     ("decoder1", decoder1, DECODERS1)):
            if value not in allowed:
                raise ValueError(f"DualVAE: {what} must be one of {', '.join(allowed)}, "
                                 f"got {value!r}")
        for what, value in (("latent1", latent1), ("latent2", latent2)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"DualVAE: {what} must be a whole number >= 1, got {value!r}")
        for what, value in (("free_bits2", free_bits2), ("decorrelate", decorrelate),
                            ("elbo2_weight", elbo2_weight)):
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"DualVAE: {what} must be a finite number >= 0, got {value!r}")
        bk = get_backend(backend)
        kw = dict(rng=rng, backend=bk, dtype=dtype)
        c1, c2 = fg_channels
        d1, d2 = dec_channels
        s8, s4, m = -(-S // 8), S // 4, S // bg_kernel

        # q_φ(z1|x): receptive field fg_kernel (thesis §3.1); the layers are our reading
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
        # p_θ(x|z̃1): Bernoulli logits (or the Gaussian mean) over the image
        self.fg_decoder = Sequential(
            Dense(latent1, d1 * s4 * s4, **kw), ReLU(backend=bk), Reshape((d1, s4, s4), backend=bk),
            ConvTranspose2D(d1, d2, 4, stride=2, padding=1, **kw), ReLU(backend=bk),
            ConvTranspose2D(d2, 1, 4, stride=2, padding=1, **kw))
        # r_ι(g(x)|z̃2): Bernoulli logits over the m × m target
        self.bg_decoder = Sequential(
            Dense(latent2, bg_hidden, **kw), ReLU(backend=bk), Dense(bg_hidden, m * m, **kw),
            Reshape((1, m, m), backend=bk))
        self._pool = AvgPool2D(bg_kernel, backend=bk)
        self.parts = {"fg_encoder": self.fg_encoder, "bg_encoder": self.bg_encoder,
                      "interaction": self.interaction, "fg_decoder": self.fg_decoder,
                      "bg_decoder": self.bg_decoder}                 # models/base.py
        # The options' parts are built after the reference ones, so that without them the
        # parameters (and the generator's state) are exactly the thesis run's.
        self.bg_map = None
        if decoder1 == "structured":
            # x = f(x1, x2): a full-resolution background map from z̃2, added to decoder 1
            self.bg_map = Sequential(
                Dense(latent2, bg_hidden, **kw), ReLU(backend=bk), Dense(bg_hidden, S * S, **kw),
                Reshape((1, S, S), backend=bk))
            self.parts["bg_map"] = self.bg_map
        self.noise = None
        if likelihood1 == "gaussian":
            self.noise = NoiseLevel(var0=noise_var0, min_var=min_var, backend=bk, dtype=dtype)
            self.parts["noise"] = self.noise

        self.image_size, self.latent1, self.latent2 = S, int(latent1), int(latent2)
        self.fg_kernel, self.bg_kernel = int(fg_kernel), int(bg_kernel)
        self.interaction_on = tuple(bool(f) for f in interaction)
        self.elbo2_weight, self.weight_on = float(elbo2_weight), weight_on
        self.likelihood1, self.decoder1 = likelihood1, decoder1
        self.free_bits2, self.decorrelate = float(free_bits2), float(decorrelate)
        self.min_var = float(min_var)
        self.target_gain = float(target_gain)

    # --- parameters (params, grads, dtype, astype: models/base.py) ----------------
    def config(self):
        config = {"model": "dual_vae", "image_size": self.image_size, "latent1": self.latent1,
                  "latent2": self.latent2, "fg_kernel": self.fg_kernel, "bg_kernel": self.bg_kernel,
                  "interaction": list(self.interaction_on), "elbo2_weight": self.elbo2_weight,
                  "weight_on": self.weight_on, "target_gain": self.target_gain}
        # the options, only where they are not the reference model's (old checkpoints match)
        options = {"likelihood1": (self.likelihood1, "bernoulli"), "decoder1": (self.decoder1, "plain"),
                   "free_bits2": (self.free_bits2, 0.0), "decorrelate": (self.decorrelate, 0.0)}
        config.update({k: v for k, (v, default) in options.items() if v != default})
        if self.noise is not None:
            config["min_var"] = self.min_var
        return config

    # --- the pieces ---------------------------------------------------------------
    def target(self, x):
        """g(x) = sigmoid(gain · (AvgPool_s(x) − 0.5)), (N, 1, S/s, S/s)   (thesis eq. 3.1:
        a pooling with stride s = 30 of x / 30², then the sigmoid with gain 12)."""
        self._check_input(x)
        return self._target(x)

    def _target(self, x):
        return sigmoid(self.target_gain * (self._pool.forward(x) - 0.5), self.xp)

    def encode(self, x):
        """(q(z1|x), s(z2|x)) for x: (N, 1, S, S), each a DiagonalGaussian."""
        self._check_input(x)
        return self._encode(x)

    def _encode(self, x):
        h1, h2 = self.fg_encoder.forward(x), self.bg_encoder.forward(x)
        L1, L2 = self.latent1, self.latent2
        return (DiagonalGaussian(h1[:, :L1], h1[:, L1:]), DiagonalGaussian(h2[:, :L2], h2[:, L2:]))

    def _decoder_inputs(self, z1, z2):
        """The codes each decoder reads: (fg decoder, background map, bg decoder).

        Decoder 1 (the foreground decoder and, when structured, the background map)
        reads (z̃1, z̃2) when the interaction feeds it, else (z1, z2); decoder 2 reads
        z̃2 or z2 in the same way.  Checks the codes' shapes first (decode and
        decoder1_parts, the entry points that take codes, both pass here)."""
        check_batch_shape("DualVAE", z1, (self.latent1,), "z1", "z1")
        check_batch_shape("DualVAE", z2, (self.latent2,), "z2", "z2")
        if z1.shape[0] != z2.shape[0]:
            raise ValueError(f"DualVAE: expected z1 and z2 of the same batch size, got "
                             f"{tuple(z1.shape)} and {tuple(z2.shape)}")
        use1, use2 = self.interaction_on
        if not (use1 or use2):
            return z1, z2, z2
        zt = self.interaction.forward(self.xp.concatenate([z1, z2], axis=1))   # eq. 2.35
        L1 = self.latent1
        zt1, zt2 = zt[:, :L1], zt[:, L1:]
        return (zt1, zt2, zt2) if use1 and use2 else (zt1, zt2, z2) if use1 else (z1, z2, zt2)

    def decoder1_parts(self, z1, z2):
        """Decoder 1's output before the likelihood, split: (foreground part, background
        part or None), each (N, 1, S, S) logits (Bernoulli) or means (Gaussian)."""
        u1, v2, _ = self._decoder_inputs(z1, z2)
        fg = self.fg_decoder.forward(u1)
        return fg, (None if self.bg_map is None else self.bg_map.forward(v2))

    def decode(self, z1, z2):
        """(p(x|z̃1), r(g|z̃2)) for z1: (N, latent1), z2: (N, latent2).

        p(x|·) is a Bernoulli (logits fg + bg) or a DiagonalGaussian (mean fg + bg, the
        learned σ²); r(g|z̃2) a Bernoulli."""
        u1, v2, u2 = self._decoder_inputs(z1, z2)
        out1 = self.fg_decoder.forward(u1)
        if self.bg_map is not None:
            out1 = out1 + self.bg_map.forward(v2)          # x = f(x1, x2), in logit/mean space
        p1 = (Bernoulli(out1) if self.noise is None
              else DiagonalGaussian(out1, self.noise.logvar(out1.shape)))
        return p1, Bernoulli(self.bg_decoder.forward(u2))

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
        xp = self.xp
        S = self.image_size
        check_batch_shape("DualVAE", x, (1, S, S))      # its values: below, with the metrics
        q1, q2 = self._encode(x)
        z1, z2 = q1.sample(rng, eps1), q2.sample(rng, eps2)                 # eq. 2.27
        p1, p2 = self.decode(z1, z2)
        g = self._target(x)
        rec1, kl1 = p1.log_prob(x), q1.kl_to_standard_normal()
        rec2, kl2 = p2.log_prob(g), q2.kl_to_standard_normal()
        elbo1, elbo2 = rec1 - kl1, rec2 - kl2
        w = self.elbo2_weight
        w_kl2 = w * beta if self.weight_on == "elbo" else beta
        # Every number of the step stays on the device until one transfer brings them
        # all to the host (models/base.py, to_host): the means, the loss's pieces, the
        # per-example ELBOs and the batch's extremes for the input check.  The loss is
        # then summed on the host from the float32 means, as float() of each would.
        # loss = −mean(ELBO1 + w · ELBO2), or with w on rec2 only      (eq. 2.36, §3.1)
        objective = rec1 - beta * kl1 + w * rec2
        device = {"low": x.min(), "high": x.max()}
        kl2_per_dim = None
        if self.free_bits2:          # free bits: Σ_d max(λ, mean_n KL_nd) for the KL of z2
            kl2_per_dim = q2.kl_terms().mean(axis=0)                              # (latent2,)
            device["objective"] = objective.mean()
            device["free_kl2"] = xp.maximum(kl2_per_dim, self.free_bits2).sum()
        else:
            device["objective"] = (objective - w_kl2 * kl2).mean()
        cov = None
        if self.decorrelate:         # γ ‖C‖²_F, C = (1/N) Σ_n (mu1_n − mu1̄)(mu2_n − mu2̄)ᵀ
            c1, c2 = q1.mu - q1.mu.mean(axis=0), q2.mu - q2.mu.mean(axis=0)
            cov = c1.T @ c2 / N                                               # (latent1, latent2)
            device["cov2"] = (cov ** 2).sum()
        device.update(elbo1=elbo1.mean(), elbo2=elbo2.mean(), reconstruction1=rec1.mean(),
                      kl1=kl1.mean(), reconstruction2=rec2.mean(), kl2=kl2.mean(),
                      per_example1=elbo1, per_example2=elbo2)
        host = to_host(xp, device)
        # the input check of `encode`, on the numbers just brought over, before any
        # gradient is written: a bad batch leaves the model's grads as they were
        check_batch_values("DualVAE", x, xp, host.pop("low"), host.pop("high"),
                           self._unit_interval())
        loss = -host.pop("objective")
        if self.free_bits2:
            loss += w_kl2 * host.pop("free_kl2")
        if self.decorrelate:
            loss += self.decorrelate * host.pop("cov2")
        result = DualEstimate(loss=loss, per_example={"elbo1": host.pop("per_example1"),
                                                      "elbo2": host.pop("per_example2")}, **host)
        if not grads:
            return result

        dt = z1.dtype
        full = lambda value: xp.full(N, value / N, dtype=dt)                 # noqa: E731
        # ∂loss/∂(decoder 1's output): through the logits, or the mean and the noise level
        if self.noise is None:
            dout1 = p1.log_prob_backward(x, full(-1.0))
        else:
            _, dout1, dlogvar1 = p1.log_prob_backward(x, full(-1.0))
            self.noise.backward(dlogvar1)
        du1 = self.fg_decoder.backward(dout1)                                 # ∂loss/∂(fg input)
        dv2 = None if self.bg_map is None else self.bg_map.backward(dout1)   # the sum's 2nd term
        du2 = self.bg_decoder.backward(p2.log_prob_backward(g, full(-w)))
        dz1, dz2 = self._decoder_inputs_backward(z1, z2, du1, dv2, du2)
        # the KL terms: of z1 with weight β; of z2 with w·β (or β), per dimension when the
        # free bits switch off the dimensions still under λ
        dmu1, dlogvar1 = q1.kl_backward(full(beta))
        dmu2, dlogvar2 = q2.kl_backward(full(w_kl2))
        if self.free_bits2:
            active = (kl2_per_dim >= self.free_bits2).astype(dt)               # (latent2,)
            dmu2, dlogvar2 = dmu2 * active, dlogvar2 * active
        if cov is not None:          # ∂(γ‖C‖²)/∂mu1 = (2γ/N) c2 Cᵀ, ∂/∂mu2 = (2γ/N) c1 C
            dmu1 = dmu1 + (2.0 * self.decorrelate / N) * (c2 @ cov.T)
            dmu2 = dmu2 + (2.0 * self.decorrelate / N) * (c1 @ cov)
        for q, dz, dmu, dlogvar, encoder in ((q1, dz1, dmu1, dlogvar1, self.fg_encoder),
                                             (q2, dz2, dmu2, dlogvar2, self.bg_encoder)):
            dmu_z, dlogvar_z = q.backward(dz)                                # z = mu + σ ⊙ eps
            encoder.backward(xp.concatenate([dmu + dmu_z, dlogvar + dlogvar_z], axis=1),
                             need_input_grad=False)                        # x is data
        return result

    def _decoder_inputs_backward(self, z1, z2, du1, dv2, du2):
        """(dL/dz1, dL/dz2) from the gradients at the decoders' inputs (see
        _decoder_inputs): du1 at the foreground decoder, dv2 at the background map
        (None without one), du2 at the background decoder."""
        xp = self.xp
        use1, use2 = self.interaction_on
        dv2 = xp.zeros_like(z2) if dv2 is None else dv2
        # what reaches z̃ (through the interaction) and what reaches z directly
        to_zt1, to_zt2 = (du1, dv2) if use1 else (0.0, 0.0)
        to_z1, to_z2 = (0.0, 0.0) if use1 else (du1, dv2)
        if use2:
            to_zt2 = to_zt2 + du2
        else:
            to_z2 = to_z2 + du2
        dz1, dz2 = xp.zeros_like(z1) + to_z1, xp.zeros_like(z2) + to_z2
        if use1 or use2:
            dzt = xp.concatenate([xp.zeros_like(z1) + to_zt1, xp.zeros_like(z2) + to_zt2], axis=1)
            dz = self.interaction.backward(dzt)
            dz1, dz2 = dz1 + dz[:, :self.latent1], dz2 + dz[:, self.latent1:]
        else:
            for k in self.interaction.grads:         # the layer is not used: no gradient
                self.interaction.grads[k][...] = 0
        return dz1, dz2

    def evaluate(self, x, rng):
        """The estimate without gradients."""
        return self.loss_and_grads(x, rng, grads=False)

    def _check_input(self, x):
        S = self.image_size
        check_batch("DualVAE", x, (1, S, S), self.xp, self._unit_interval())

    def _unit_interval(self):
        """Why the images must lie in [0, 1] (check_batch's unit_interval), or ""."""
        return "for the Bernoulli decoder 1" if self.noise is None else ""

    def __repr__(self):
        options = "" if self.decoder1 == "plain" else ", structured decoder 1"
        options += "" if self.noise is None else ", Gaussian decoder 1 (learned σ²)"
        return (f"DualVAE(image {self.image_size}×{self.image_size}, z1 ∈ R^{self.latent1}, "
                f"z2 ∈ R^{self.latent2}, receptive fields {self.fg_kernel} / {self.bg_kernel}, "
                f"ELBO2 weight {self.elbo2_weight:g} on the {self.weight_on}, interaction "
                f"{self.interaction_on}{options}, {self.n_params:,} parameters)")


__all__ = ["DualVAE", "DualEstimate", "NoiseLevel", "WEIGHT_ON", "LIKELIHOODS1", "DECODERS1"]
