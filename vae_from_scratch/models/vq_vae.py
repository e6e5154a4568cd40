"""Vector quantization and the VQ-VAE (slides Concept 11.23; van den Oord, Vinyals and
Kavukcuoglu, "Neural discrete representation learning", NeurIPS 2017).

A VQ-VAE replaces the Gaussian code of a VAE by a discrete one.  The encoder outputs M
vectors z_e,1 … z_e,M ∈ R^D per image; each is replaced by the nearest entry of a
learned codebook e_1 … e_K ∈ R^D:

    k_m = argmin_k ‖z_e,m − e_k‖²,     z_q,m = e_{k_m},

and the decoder sees z_q.  The argmin has no gradient.  The *straight-through*
estimator passes the decoder's gradient ∂L/∂z_q on to z_e unchanged, as if z_q = z_e,
and two squared distances, with sg[·] a stop-gradient, move the codebook and the
encoder towards each other:

    loss(x) = −log p(x | z_q) + Σ_m ‖sg[z_e,m] − e_{k_m}‖² + β Σ_m ‖z_e,m − sg[e_{k_m}]‖²
              reconstruction    codebook loss (codes only)   commitment loss (encoder only)

with β = 0.25 (van den Oord et al., eq. 3).  The two distances have the same value;
they differ only in which parameters their gradients reach.

As a latent-variable model, q(k|x) puts all its mass on the chosen codes and the prior
over the K^M code tuples is uniform, so KL(q(k|x) ‖ p(k)) = M log K for every image and

    ELBO(x) = log p(x | z_q) − M log K          (van den Oord et al., §3.1).

    VectorQuantizer(K, D, rng=…)    the codebook: quantize, distances, and the backward pass
    VQVAE(encoder, decoder, quantizer, num_latents)   a Bernoulli VQ-VAE that `train.fit` can train
    mlp_vqvae(x_shape, …)            the MLP instance
    perplexity(indices, K)          exp(entropy of the code usage): K when all codes are used
                                    equally, 1 when one code is used for everything

Everything runs on NumPy or CuPy arrays (the backend's array module); randomness comes
only from the Generator passed in.  The images every entry point takes are checked once,
in `VQVAE.encode` (shape, finite, in [0, 1]: models/base.py, check_batch), and the code
indices in `decode_indices`.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..backend import get_backend, to_numpy
from ..distributions import Bernoulli
from ..nn import Dense, Flatten, Parametric, ReLU, Reshape, Sequential
from ..utils import check_int, check_rng
from .base import Model, check_batch, check_batch_shape
from .vae import VAE

COMMITMENT = 0.25           # β of van den Oord et al. (2017)


class VectorQuantizer(Parametric):
    """A codebook of K vectors in R^D: params["codebook"] (K, D), grads["codebook"].

    The codebook starts uniform on [−init_scale, init_scale] (from `rng`).
    """

    def __init__(self, num_codes, code_dim, *, rng, init_scale=1.0, backend=None,
                 dtype=np.float32):
        check_rng(rng, "VectorQuantizer")
        if int(num_codes) < 1 or int(code_dim) < 1:
            raise ValueError(f"VectorQuantizer: expected num_codes ≥ 1 and code_dim ≥ 1, got "
                             f"{num_codes} and {code_dim}")
        super().__init__(backend, dtype)
        self.num_codes, self.code_dim = int(num_codes), int(code_dim)
        self._add_param("codebook", rng.uniform(-init_scale, init_scale,
                                                size=(self.num_codes, self.code_dim)))

    def quantize(self, z_e):
        """z_e: (N, M, D) -> (z_q (N, M, D), indices (N, M)): the nearest code of each vector.

        ‖z − e_k‖² = ‖z‖² − 2 z·e_k + ‖e_k‖², all K at once; ties go to the lowest k.
        """
        if z_e.ndim != 3 or z_e.shape[2] != self.code_dim:
            raise ValueError(f"VectorQuantizer: expected z_e of shape (N, M, {self.code_dim}), "
                             f"got {tuple(z_e.shape)}")
        e = self.params["codebook"]
        d = (z_e ** 2).sum(axis=2, keepdims=True) - 2 * z_e @ e.T + (e ** 2).sum(axis=1)
        indices = d.argmin(axis=2)                                    # (N, M)
        return e[indices], indices

    def distances(self, z_e, z_q):
        """Σ_m ‖z_e,m − z_q,m‖² per example, (N,): the value of both the codebook and the
        commitment loss."""
        return ((z_e - z_q) ** 2).sum(axis=(1, 2))

    def backward(self, dz_q, z_e, z_q, indices, d_codebook, d_commitment):
        """Gradients of L = L_dec(z_q) + Σ_n c_n ‖sg[z_e] − z_q‖²_n + Σ_n b_n ‖z_e − sg[z_q]‖²_n.

        dz_q: ∂L_dec/∂z_q from the decoder, (N, M, D).  d_codebook (c) and d_commitment (b):
        ∂L/∂(distance) per example, (N,).  Returns ∂L/∂z_e by straight-through,
            dz_e = dz_q + 2 b (z_e − z_q),
        and writes the codebook gradient into grads["codebook"],
            ∂L/∂e_k = Σ over the vectors assigned to k of 2 c (e_k − z_e).
        """
        xp = self.xp
        diff = z_e - z_q                                              # (N, M, D)
        dz_e = dz_q + 2 * d_commitment[:, None, None] * diff
        per_vector = (-2 * d_codebook[:, None, None] * diff).reshape(-1, self.code_dim)
        onehot = (indices.reshape(-1, 1) == xp.arange(self.num_codes)).astype(z_e.dtype)
        self.grads["codebook"][...] = onehot.T @ per_vector          # scatter-add by code
        return dz_e

    def __repr__(self):
        return f"VectorQuantizer(K={self.num_codes}, D={self.code_dim})"


def perplexity(indices, num_codes):
    """exp(H) of the share of vectors assigned to each code: K when every code is used
    equally often, 1 when a single code takes everything."""
    counts = np.bincount(np.asarray(to_numpy(indices)).ravel(), minlength=num_codes)
    p = counts / counts.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


@dataclass
class VQEstimate:
    """One minibatch; means over the batch in nats (distances in squared units).

    loss = mean(−log p(x|z_q) + codebook + β · commitment); elbo = mean(log p(x|z_q)) − M log K.
    """

    loss: float
    elbo: float
    reconstruction: float
    kl: float
    distance: float
    perplexity: float
    per_example: np.ndarray

    def metrics(self):
        return {"elbo": self.elbo, "reconstruction": self.reconstruction, "kl": self.kl,
                "distance": self.distance, "perplexity": self.perplexity}


class VQVAE(Model):
    """A VQ-VAE with a Bernoulli decoder, trainable by `train.fit`.

    encoder: x (N, *x_shape) -> (N, M·D);  decoder: (N, M·D) -> Bernoulli logits (N, *x_shape).
    quantizer: a VectorQuantizer with code_dim D; num_latents: M.
    commitment: β, the weight of the commitment loss.
    x_shape: the shape of one image, against which every input is checked; None reads
        it off the decoder's output for one code (mlp_vqvae passes it).
    """

    likelihood = "bernoulli"

    def __init__(self, encoder, decoder, quantizer, num_latents, commitment=COMMITMENT, *,
                 x_shape=None):
        self.encoder, self.decoder, self.quantizer = encoder, decoder, quantizer
        # params, grads, dtype, astype: models/base.py; the codebook keeps its own name
        self.parts = {"encoder": encoder, "decoder": decoder, "": quantizer}
        self.num_latents = int(num_latents)
        self.commitment = float(commitment)
        self.code_dim = quantizer.code_dim
        self.x_shape = self._image_shape(x_shape, decoder,
                                         self.num_latents * self.code_dim)  # models/base.py

    @property
    def kl(self):
        """KL(q(k|x) ‖ uniform prior) = M log K nats, the same for every image."""
        return self.num_latents * math.log(self.quantizer.num_codes)

    def config(self):
        return {"model": "vqvae", "num_latents": self.num_latents, "code_dim": self.code_dim,
                "num_codes": self.quantizer.num_codes, "commitment": self.commitment}

    def init_output_bias(self, pixel_mean, eps=1e-3):
        """Start the decoder at the data's mean image (the same as VAE.init_output_bias)."""
        VAE.init_output_bias(self, pixel_mean, eps)

    def encode(self, x):
        """(z_e, z_q, indices), z_e and z_q of shape (N, M, D), indices (N, M).  The one
        place where the images are checked: every entry point that takes x passes here."""
        check_batch("VQVAE", x, self.x_shape, self.xp, "for the Bernoulli likelihood")
        h = self.encoder.forward(x)
        M, D = self.num_latents, self.code_dim
        if h.shape != (x.shape[0], M * D):
            raise ValueError(f"VQVAE: the encoder must output (N, M·D) = ({x.shape[0]}, {M * D}), "
                             f"got {tuple(h.shape)}")
        z_e = h.reshape(x.shape[0], M, D)
        z_q, indices = self.quantizer.quantize(z_e)
        return z_e, z_q, indices

    def decode_indices(self, indices):
        """p(x | codes) for indices (N, M), as a Bernoulli."""
        check_batch_shape("VQVAE", indices, (self.num_latents,), "code indices", "code")
        K = self.quantizer.num_codes
        if indices.dtype.kind not in "iu" or int(indices.min()) < 0 or int(indices.max()) >= K:
            raise ValueError(f"VQVAE: expected code indices as integers in 0..{K - 1}, got "
                             f"{indices.dtype} values from {indices.min()} to {indices.max()}")
        z_q = self.quantizer.params["codebook"][indices]
        return Bernoulli(self.decoder.forward(z_q.reshape(len(indices), -1)))

    def reconstruct(self, x, rng=None):
        """E[x | z_q(x)]: deterministic (rng is accepted for the VAE's signature)."""
        return self.decode_indices(self.encode(x)[2]).mean

    def sample(self, n, rng, mean=True):
        """n images from the uniform prior: every code of every latent drawn uniformly."""
        check_rng(rng, "VQVAE.sample")
        n = check_int("VQVAE.sample", "n", n, 1)
        idx = self.xp.asarray(rng.integers(0, self.quantizer.num_codes, (n, self.num_latents)))
        p = self.decode_indices(idx)
        return p.mean if mean else p.sample(rng)

    def loss_and_grads(self, x, rng=None, beta=1.0, *, grads=True):
        """The VQ-VAE loss of a minibatch and, with grads=True, every gradient.

        rng and beta are accepted for `train.fit`'s interface and not used: nothing is
        sampled, and the KL is the constant M log K.
        """
        N = x.shape[0]
        z_e, z_q, indices = self.encode(x)
        p = Bernoulli(self.decoder.forward(z_q.reshape(N, -1)))
        rec = p.log_prob(x)                                           # (N,)
        dist = self.quantizer.distances(z_e, z_q)                     # (N,)
        loss = -rec + (1.0 + self.commitment) * dist
        result = VQEstimate(loss=float(loss.mean()), elbo=float(rec.mean()) - self.kl,
                            reconstruction=float(rec.mean()), kl=self.kl,
                            distance=float(dist.mean()),
                            perplexity=perplexity(indices, self.quantizer.num_codes),
                            per_example=to_numpy(rec) - self.kl)
        if not grads:
            return result
        xp, dt = self.xp, z_e.dtype
        d_rec = xp.full(N, -1.0 / N, dtype=dt)                        # ∂loss/∂rec_n
        dz_q = self.decoder.backward(p.log_prob_backward(x, d_rec)).reshape(z_e.shape)
        dz_e = self.quantizer.backward(dz_q, z_e, z_q, indices,
                                       d_codebook=xp.full(N, 1.0 / N, dtype=dt),
                                       d_commitment=xp.full(N, self.commitment / N, dtype=dt))
        self.encoder.backward(dz_e.reshape(N, -1), need_input_grad=False)
        return result

    def evaluate(self, x, rng=None):
        return self.loss_and_grads(x, rng, grads=False)

    def __repr__(self):
        return (f"VQVAE(M={self.num_latents} latents, K={self.quantizer.num_codes} codes of "
                f"dimension {self.code_dim}, {self.n_params:,} parameters)")


def mlp_vqvae(x_shape=(1, 8, 8), num_latents=4, code_dim=2, num_codes=16, hidden=(256,), *,
              rng, commitment=COMMITMENT, backend=None, dtype=np.float32):
    """encoder: Flatten → [Dense → ReLU] … → Dense(→ M·D);
    decoder: [Dense → ReLU] … → Dense(→ pixels) → Reshape(x_shape), Bernoulli logits."""
    bk = get_backend(backend)
    kw = dict(rng=rng, backend=bk, dtype=dtype)
    pixels = int(np.prod(x_shape))
    width, enc = pixels, [Flatten(backend=bk)]
    for h in hidden:
        enc += [Dense(width, h, **kw), ReLU(backend=bk)]
        width = h
    enc.append(Dense(width, num_latents * code_dim, **kw))
    width, dec = num_latents * code_dim, []
    for h in reversed(hidden):
        dec += [Dense(width, h, **kw), ReLU(backend=bk)]
        width = h
    dec += [Dense(width, pixels, **kw), Reshape(tuple(x_shape), backend=bk)]
    quantizer = VectorQuantizer(num_codes, code_dim, rng=rng, backend=bk, dtype=dtype)
    return VQVAE(Sequential(enc), Sequential(dec), quantizer, num_latents, commitment,
                 x_shape=x_shape)


__all__ = ["VectorQuantizer", "VQVAE", "VQEstimate", "mlp_vqvae", "perplexity", "COMMITMENT"]
