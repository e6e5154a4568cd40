"""Small latent-variable models whose answers are known in closed form.

The chapters (chapters/ch02 … ch05) measure the theory on models where the quantity a
VAE can only estimate — log p(x), the posterior p(z|x), the KL to it, the exact ELBO and
its gradient — can also be computed exactly, so that an estimate can be checked against
the truth:

    mvn_log_prob(x, mean, cov)      log N(x; mean, cov) with a full covariance matrix
    gaussian_kl(mu_q, cov_q, mu_p, cov_p)
                                    KL(N(mu_q, cov_q) ‖ N(mu_p, cov_p)), full covariances
    kl_by_quadrature(log_q, log_p, grid)
                                    KL(q ‖ p) of two 1-D densities, by the trapezoid rule
    GaussianMixture                 a discrete latent k and Gaussian x | k (slides
                                    Example 11.5): density, posterior, ancestral sampling,
                                    importance-sampling weights for log p(x)
    LinearGaussianModel             z ~ N(0, I), x | z ~ N(W z + b, σ² I): a continuous
                                    latent with a Gaussian marginal and posterior; the same
                                    model as a library VAE with a linear decoder, so that
                                    objectives.elbo / iwae / log_likelihood run on it

Everything is NumPy, float64, on the host.  Randomness comes only from a
`numpy.random.Generator` passed in.
"""

import math

import numpy as np

from ..distributions import LOG_2PI, DiagonalGaussian
from ..nn import Dense
from ..objectives import log_mean_exp
from ..utils import check_rng
from .vae import VAE


def _points(x, dim, expected):
    """x as a float64 array (N, dim), else ValueError "<expected> of shape (N, dim), got …"."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{expected} of shape (N, {dim}), got {x.shape}")
    return x


# --- Gaussians with full covariance matrices --------------------------------------------

def mvn_log_prob(x, mean, cov):
    """log N(x; mean, cov) = −½ (d log 2π + log det cov + (x − mean)ᵀ cov⁻¹ (x − mean)).

    x: (..., d); mean: (d,) or broadcastable to x; cov: (d, d), symmetric positive
    definite.  Returns (...,).  Computed with the Cholesky factor L (cov = L Lᵀ):
    log det cov = 2 Σ log L_ii and the quadratic form is ‖L⁻¹ (x − mean)‖².
    """
    x = np.asarray(x, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    d = cov.shape[-1]
    L = np.linalg.cholesky(cov)
    diff = (x - mean).reshape(-1, d)
    white = np.linalg.solve(L, diff.T).T                 # L⁻¹ (x − mean), one row per point
    maha = np.sum(white ** 2, axis=1)
    logdet = 2.0 * np.sum(np.log(np.diag(L)))
    return (-0.5 * (d * LOG_2PI + logdet + maha)).reshape(x.shape[:-1])


def diagonal_cov(logvar):
    """The covariance matrix diag(exp(logvar)) of a diagonal Gaussian, (..., D) -> (..., D, D)."""
    var = np.exp(np.asarray(logvar, dtype=np.float64))
    return var[..., :, None] * np.eye(var.shape[-1])


def gaussian_kl(mu_q, cov_q, mu_p, cov_p):
    """KL(N(mu_q, cov_q) ‖ N(mu_p, cov_p)) for full covariance matrices, in nats:

        ½ [ tr(Σp⁻¹ Σq) + (μp − μq)ᵀ Σp⁻¹ (μp − μq) − d + log det Σp − log det Σq ].

    The general form of slides Definition 11.17 (which has p = N(0, I)); the thesis's
    eq. 2.2 evaluated for two Gaussians.  Not symmetric in q and p.
    mu_q, mu_p: (..., d); cov_q, cov_p: (..., d, d); batch axes broadcast.  Returns (...,).
    """
    mu_q, mu_p = np.asarray(mu_q, np.float64), np.asarray(mu_p, np.float64)
    cov_q, cov_p = np.asarray(cov_q, np.float64), np.asarray(cov_p, np.float64)
    d = mu_q.shape[-1]
    batch = np.broadcast_shapes(mu_q.shape[:-1], mu_p.shape[:-1],
                                cov_q.shape[:-2], cov_p.shape[:-2])
    mu_q, mu_p = (np.broadcast_to(a, batch + (d,)) for a in (mu_q, mu_p))
    cov_q, cov_p = (np.broadcast_to(a, batch + (d, d)) for a in (cov_q, cov_p))
    trace = np.trace(np.linalg.solve(cov_p, cov_q), axis1=-2, axis2=-1)
    diff = mu_p - mu_q
    maha = np.sum(diff * np.linalg.solve(cov_p, diff[..., None])[..., 0], axis=-1)
    logdet_p = np.linalg.slogdet(cov_p)[1]
    logdet_q = np.linalg.slogdet(cov_q)[1]
    return 0.5 * (trace + maha - d + logdet_p - logdet_q)


def kl_by_quadrature(log_q, log_p, grid):
    """KL(q ‖ p) = ∫ q(x) (log q(x) − log p(x)) dx  (thesis eq. 2.2) for 1-D densities,
    by the trapezoid rule on `grid`.

    log_q, log_p: the log-densities at the grid points, shape (..., M) (batch axes first);
    grid: (M,) increasing.  Points where q = 0 contribute 0 (the limit of q log q).
    The grid must cover q's mass; its error is that of the trapezoid rule, O(h²).
    """
    log_q, log_p = np.asarray(log_q, np.float64), np.asarray(log_p, np.float64)
    q = np.exp(log_q)
    with np.errstate(invalid="ignore"):                  # 0 · (−inf) where q = 0: masked
        f = np.where(q > 0, q * (log_q - log_p), 0.0)
    dx = np.diff(np.asarray(grid, np.float64))
    return np.sum(0.5 * (f[..., 1:] + f[..., :-1]) * dx, axis=-1)


# --- a discrete latent variable: the Gaussian mixture of slides Example 11.5 ------------

class GaussianMixture:
    """p(z = k) = π_k,  p(x | z = k) = N(x; μ_k, Σ_k),  k = 0 … K−1,  x ∈ R^d.

    weights: (K,) positive, summing to 1; means: (K, d); covs: (K, d, d).
    The latent z is the component; the marginal p(x) = Σ_k π_k N(x; μ_k, Σ_k) is a sum
    of K terms, so unlike a VAE's everything here is exact.
    """

    def __init__(self, weights, means, covs):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.means = np.asarray(means, dtype=np.float64)
        self.covs = np.asarray(covs, dtype=np.float64)
        K = len(self.weights)
        if self.means.ndim != 2 or self.means.shape[0] != K:
            raise ValueError(f"GaussianMixture: expected means of shape (K={K}, d), "
                             f"got {self.means.shape}")
        d = self.means.shape[1]
        if self.covs.shape != (K, d, d):
            raise ValueError(f"GaussianMixture: expected covs of shape ({K}, {d}, {d}), "
                             f"got {self.covs.shape}")
        if np.any(self.weights <= 0) or not math.isclose(self.weights.sum(), 1.0, abs_tol=1e-9):
            raise ValueError(f"GaussianMixture: the weights must be positive and sum to 1, "
                             f"got {self.weights}")
        self._chol = np.linalg.cholesky(self.covs)      # raises unless every Σ_k is SPD

    @classmethod
    def example_11_5(cls):
        """Slides Example 11.5: three Gaussians A, B, C in R², uniform prior 1/3 each.

        The slides give no means or covariances; these are ours: three well separated
        blobs (centres 5–7 apart, standard deviations below 1.1), which is the situation
        of Concept 11.8, where a point near μ_A gets almost nothing from B and C.
        """
        means = [[0.0, 3.0], [-3.0, -2.0], [3.0, -2.0]]
        covs = [[[1.0, 0.3], [0.3, 0.6]],
                [[0.7, -0.2], [-0.2, 1.0]],
                [[0.5, 0.0], [0.0, 1.2]]]
        return cls(np.full(3, 1.0 / 3.0), means, covs)

    @property
    def n_components(self):
        return len(self.weights)

    @property
    def dim(self):
        return self.means.shape[1]

    def _check_x(self, x):
        return _points(x, self.dim, "GaussianMixture: expected points")

    def component_log_prob(self, x):
        """log p(x | z = k) for every component: (N, d) -> (N, K)."""
        x = self._check_x(x)
        return np.stack([mvn_log_prob(x, m, c) for m, c in zip(self.means, self.covs)], axis=1)

    def log_joint(self, x):
        """log p(x, z = k) = log π_k + log p(x | z = k)  (thesis eq. 2.1): (N, K)."""
        return np.log(self.weights) + self.component_log_prob(x)

    def log_prob(self, x):
        """log p(x) = log Σ_k π_k p(x | z = k), (N,): the training objective of Example 11.5.

        log Σ_k exp(a_k) = log mean_k exp(a_k) + log K, with the stable log_mean_exp."""
        return log_mean_exp(self.log_joint(x), axis=1) + math.log(self.n_components)

    def posterior(self, x):
        """p(z = k | x) = p(x, z = k) / p(x)  (Bayes, slides Concept 11.2): (N, K), rows
        summing to 1."""
        return np.exp(self.log_joint(x) - self.log_prob(x)[:, None])

    def mean(self):
        """E[x] = Σ_k π_k μ_k, (d,)."""
        return self.weights @ self.means

    def covariance(self):
        """Cov[x] = Σ_k π_k (Σ_k + μ_k μ_kᵀ) − E[x] E[x]ᵀ  (law of total variance), (d, d)."""
        m = self.mean()
        second = np.einsum("k,kij->ij", self.weights,
                           self.covs + self.means[:, :, None] * self.means[:, None, :])
        return second - np.outer(m, m)

    def sample(self, n, rng):
        """Ancestral sampling (slides Definition 11.4): z ~ p(z), then x ~ p(x | z).

        Returns x: (n, d) and z: (n,) the component of each point."""
        check_rng(rng, "GaussianMixture.sample")
        z = rng.choice(self.n_components, size=int(n), p=self.weights)
        eps = rng.standard_normal((int(n), self.dim))
        x = self.means[z] + np.einsum("nij,nj->ni", self._chol[z], eps)   # μ_z + L_z ε
        return x, z

    def importance_log_weights(self, x, n_samples, rng, proposal=None):
        """log w_s = log p(x | z_s) + log p(z_s) − log q(z_s | x),  z_s ~ q(z | x),
        s = 1 … S, for every point: the log-weights of the importance-sampling estimate

            p(x) ≈ (1/S) Σ_s w_s        (slides Concepts 11.6 and 11.9),

        whose log is log_mean_exp(log_w, axis=0).  proposal: q(z = k | x), (N, K), rows
        summing to 1 and positive wherever p(x, z = k) > 0; None means q = p(z), the naive
        estimator of Concept 11.8, whose weights are just p(x | z_s).  With the posterior
        p(z | x) as proposal every weight equals p(x) (Concept 11.9: the optimal q).
        Returns log_w: (S, N).
        """
        check_rng(rng, "GaussianMixture.importance_log_weights")
        x = self._check_x(x)
        N, K = len(x), self.n_components
        q = np.broadcast_to(self.weights, (N, K)) if proposal is None else np.asarray(proposal)
        if q.shape != (N, K):
            raise ValueError(f"GaussianMixture: expected a proposal of shape ({N}, {K}), "
                             f"got {q.shape}")
        u = rng.random((int(n_samples), N))
        z = np.minimum((u[:, :, None] > np.cumsum(q, axis=1)[None]).sum(axis=2), K - 1)
        rows = np.arange(N)
        return self.log_joint(x)[rows, z] - np.log(q[rows, z])

    def __repr__(self):
        return f"GaussianMixture(K={self.n_components}, d={self.dim})"


# --- a continuous latent variable: the linear-Gaussian model ------------------------------

class LinearGaussianModel:
    """z ~ N(0, I_D),  x | z ~ N(W z + b, σ² I_d)   (probabilistic PCA).

    W: (d, D); b: (d,); noise_var: σ² > 0.  Everything a VAE has to estimate is exact:

        p(x)     = N(x; b, W Wᵀ + σ² I)
        p(z | x) = N(m(x), S),   S = Λ⁻¹,  Λ = I + Wᵀ W / σ²,  m(x) = S Wᵀ (x − b) / σ²

    The posterior covariance S is the same for every x; it is diagonal exactly when the
    columns of W are orthogonal (Wᵀ W diagonal).  Otherwise no diagonal Gaussian
    q(z|x) = N(mu, diag(exp(logvar))) — the VAE's family — equals the posterior, and the
    ELBO stays below log p(x) by at least min_q KL(q ‖ p(z|x)) > 0.
    """

    def __init__(self, W, b, noise_var):
        self.W = np.asarray(W, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        if self.W.ndim != 2 or self.b.shape != (self.W.shape[0],):
            raise ValueError(f"LinearGaussianModel: expected W of shape (d, D) and b of shape "
                             f"(d,), got {self.W.shape} and {self.b.shape}")
        if not noise_var > 0:
            raise ValueError(f"LinearGaussianModel: noise_var must be > 0, got {noise_var!r}")
        self.noise_var = float(noise_var)

    @classmethod
    def random(cls, data_dim, latent_dim, rng, noise_var=0.5, orthogonal=False):
        """A model with W, b drawn from N(0, 1).  orthogonal=True makes the columns of W
        orthogonal (lengths 1 … 2), so that the posterior is a diagonal Gaussian."""
        check_rng(rng, "LinearGaussianModel.random")
        if latent_dim > data_dim and orthogonal:
            raise ValueError("LinearGaussianModel.random: orthogonal columns need "
                             "latent_dim ≤ data_dim")
        W = rng.standard_normal((data_dim, latent_dim))
        if orthogonal:
            Q, _ = np.linalg.qr(W)
            W = Q * np.linspace(1.0, 2.0, latent_dim)
        return cls(W, rng.standard_normal(data_dim), noise_var)

    @property
    def data_dim(self):
        return self.W.shape[0]

    @property
    def latent_dim(self):
        return self.W.shape[1]

    def _check_x(self, x):
        return _points(x, self.data_dim, "LinearGaussianModel: expected x")

    # --- the generative model ---------------------------------------------------------
    def sample(self, n, rng):
        """Ancestral sampling: z ~ N(0, I), x = W z + b + σ ε.  Returns x (n, d), z (n, D)."""
        check_rng(rng, "LinearGaussianModel.sample")
        z = rng.standard_normal((int(n), self.latent_dim))
        noise = rng.standard_normal((int(n), self.data_dim))
        return z @ self.W.T + self.b + math.sqrt(self.noise_var) * noise, z

    def marginal_cov(self):
        """Cov[x] = W Wᵀ + σ² I, (d, d)."""
        return self.W @ self.W.T + self.noise_var * np.eye(self.data_dim)

    def log_marginal(self, x):
        """The exact log-likelihood log p(x) = log N(x; b, W Wᵀ + σ² I), (N,)."""
        return mvn_log_prob(self._check_x(x), self.b, self.marginal_cov())

    def log_joint(self, x, z):
        """log p(x, z) = log p(x | z) + log p(z), x: (..., d), z: (..., D) -> (...,)."""
        mean = z @ self.W.T + self.b
        log_px_z = -0.5 * np.sum(LOG_2PI + math.log(self.noise_var)
                                 + (x - mean) ** 2 / self.noise_var, axis=-1)
        return log_px_z - 0.5 * np.sum(LOG_2PI + z ** 2, axis=-1)

    # --- the exact posterior ----------------------------------------------------------
    def posterior_precision(self):
        """Λ = I + Wᵀ W / σ², (D, D): the inverse of the posterior covariance."""
        return np.eye(self.latent_dim) + self.W.T @ self.W / self.noise_var

    def posterior(self, x):
        """p(z | x) = N(m(x), S): returns m (N, D) and S (D, D), the same S for every x."""
        x = self._check_x(x)
        S = np.linalg.inv(self.posterior_precision())
        S = 0.5 * (S + S.T)
        m = (x - self.b) @ self.W @ S / self.noise_var           # rows: S Wᵀ (x − b) / σ²
        return m, S

    def best_diagonal_q(self, x):
        """The diagonal Gaussian closest to the posterior in KL(q ‖ p(z|x)):
        mu = m(x) and σ_j² = 1 / Λ_jj (setting the derivatives of the KL to zero).
        Returns (mu (N, D), logvar (N, D)).  Its variances are below the posterior's
        marginal variances S_jj whenever the posterior is correlated: KL(q ‖ p) prefers
        a q that is too narrow to one that puts mass where p has little."""
        m, _ = self.posterior(x)
        logvar = -np.log(np.diag(self.posterior_precision()))
        return m, np.broadcast_to(logvar, m.shape).copy()

    def kl_to_posterior(self, x, mu, logvar):
        """KL(q(z|x) ‖ p(z|x)) for q = N(mu, diag(exp(logvar))), mu, logvar: (N, D) -> (N,)."""
        m, S = self.posterior(x)
        return gaussian_kl(np.asarray(mu, np.float64), diagonal_cov(logvar), m, S)

    # --- the exact ELBO and its gradient ----------------------------------------------
    def expected_log_likelihood(self, x, mu, logvar):
        """E_q[log p(x | z)] for q = N(mu, diag(s²)), s² = exp(logvar), in closed form:

            −(d/2) log(2πσ²) − (‖x − W mu − b‖² + Σ_j s_j² ‖W_:j‖²) / (2σ²)

        since E‖x − W z − b‖² = ‖x − W mu − b‖² + tr(W diag(s²) Wᵀ).  (N,)."""
        x = self._check_x(x)
        resid = x - mu @ self.W.T - self.b
        spread = np.exp(logvar) @ np.sum(self.W ** 2, axis=0)
        return (-0.5 * self.data_dim * (LOG_2PI + math.log(self.noise_var))
                - (np.sum(resid ** 2, axis=1) + spread) / (2.0 * self.noise_var))

    def elbo(self, x, mu, logvar):
        """The exact ELBO  E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))  (thesis eq. 2.9/2.10,
        slides Definition 11.13) for q = N(mu, diag(exp(logvar))): (N,).  It equals
        log p(x) − KL(q ‖ p(z|x)) (thesis eq. 2.8), which the tests check."""
        q = DiagonalGaussian(np.asarray(mu, np.float64), np.asarray(logvar, np.float64))
        return self.expected_log_likelihood(x, mu, logvar) - q.kl_to_standard_normal()

    def elbo_grad(self, x, mu, logvar):
        """The exact gradient of `elbo` per example: (dmu, dlogvar), each (N, D).

            ∂/∂mu       = Wᵀ (x − W mu − b) / σ²  − ∂KL/∂mu
            ∂/∂logvar_j = −s_j² ‖W_:j‖² / (2σ²)    − ∂KL/∂logvar_j
        with the KL's derivatives from DiagonalGaussian.kl_backward."""
        x = self._check_x(x)
        mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
        resid = x - mu @ self.W.T - self.b
        dkl_mu, dkl_logvar = DiagonalGaussian(mu, logvar).kl_backward(np.ones(len(mu)))
        dmu = resid @ self.W / self.noise_var - dkl_mu
        dlogvar = -np.exp(logvar) * np.sum(self.W ** 2, axis=0) / (2 * self.noise_var) - dkl_logvar
        return dmu, dlogvar

    # --- the same model as a library VAE --------------------------------------------
    def decoder(self):
        """A Dense(D → d) layer holding W and b: the decoder mean W z + b (float64, numpy)."""
        layer = _dense(self.latent_dim, self.data_dim)
        layer.params["W"][...] = self.W
        layer.params["b"][...] = self.b
        return layer

    def constant_encoder(self, mu, logvar):
        """A Dense(d → 2D) encoder with zero weights: q(z|x) = N(mu, diag(exp(logvar)))
        for every x.  mu, logvar: (D,).  Its bias gradient is the gradient of the loss
        with respect to (mu, logvar)."""
        layer = _dense(self.data_dim, 2 * self.latent_dim)
        layer.params["W"][...] = 0.0
        layer.params["b"][...] = np.concatenate([np.ravel(mu), np.ravel(logvar)])
        return layer

    def optimal_encoder(self):
        """The affine Dense(d → 2D) encoder that outputs `best_diagonal_q(x)` for every x:
        mu(x) = A (x − b) with A = S Wᵀ / σ², and the constant logvar = −log diag Λ.
        (For this model the best q is an affine function of x, so amortized inference
        with a linear encoder loses nothing.)"""
        S = np.linalg.inv(self.posterior_precision())
        A = S @ self.W.T / self.noise_var                       # (D, d)
        layer = _dense(self.data_dim, 2 * self.latent_dim)
        layer.params["W"][...] = np.concatenate([A, np.zeros_like(A)], axis=0)
        layer.params["b"][...] = np.concatenate([-A @ self.b,
                                                 -np.log(np.diag(self.posterior_precision()))])
        return layer

    def random_encoder(self, rng):
        """A Dense(d → 2D) encoder with Glorot-uniform weights and zero biases."""
        check_rng(rng, "LinearGaussianModel.random_encoder")
        return _dense(self.data_dim, 2 * self.latent_dim, rng)

    def vae(self, encoder):
        """The library VAE (models/vae.py) with this model as its decoder — Gaussian
        likelihood with the fixed variance σ² — and the given encoder (d → 2D), so that
        objectives.elbo, iwae and log_likelihood can be run on it and compared with the
        exact values above."""
        return VAE(encoder, self.decoder(), self.latent_dim, "gaussian",
                   decoder_var=self.noise_var, x_shape=(self.data_dim,))

    def __repr__(self):
        return (f"LinearGaussianModel(data_dim={self.data_dim}, latent_dim={self.latent_dim}, "
                f"noise_var={self.noise_var:g})")


def _dense(n_in, n_out, rng=None):
    """A float64 Dense layer on the NumPy backend (the toy models live on the host)."""
    rng = np.random.default_rng(0) if rng is None else rng
    return Dense(n_in, n_out, rng=rng, backend="numpy", dtype=np.float64)


__all__ = ["mvn_log_prob", "diagonal_cov", "gaussian_kl", "kl_by_quadrature",
           "GaussianMixture", "LinearGaussianModel"]
