"""Exercise vq_quantize: the VQ-VAE's nearest-code assignment and its straight-through gradient (ch10).

The VQ-VAE (slides Concept 11.23; van den Oord et al. 2017) replaces each encoder output
z_e,m by the nearest entry of a codebook, z_q,m = e_k, k = argmin_k ‖z_e,m − e_k‖².  The
argmin has no gradient; the straight-through estimator passes the decoder's ∂L/∂z_q on
to z_e unchanged, and two squared distances with stop-gradients move the codebook
towards the encoder's outputs (codebook loss) and the encoder towards its codes
(commitment loss, weight β).  The student writes the assignment (ties to the lowest
index, as models/vq_vae.py's argmin does) and the backward pass.  Graded against
models/vq_vae.py's VectorQuantizer and a small VQVAE (its codebook gradient and the
gradient at its encoder's output bias), by central differences of the two distance
terms (whose gradients are true gradients: the assignment is piecewise constant), with
ties, batch 1, a codebook of one code, float32, and a seed drawn at grading time.
"""

import numpy as np

from ..distributions import Bernoulli
from ..models.vq_vae import VectorQuantizer, mlp_vqvae
from .grading import (Case, Fail, compare, describe_shapes, gradient_check, hidden_seed,
                      outputs)

NAME = "vq_quantize"
CHAPTER = "ch10"
TITLE = "the VQ-VAE's nearest code and its straight-through gradient"
EQUATIONS = "slides Concept 11.23 (van den Oord et al. 2017, eq. 2, 3)"
FUNCTIONS = ("vq_quantize", "vq_backward")


def _quantizer(codebook):
    K, D = codebook.shape
    vq = VectorQuantizer(K, D, rng=np.random.default_rng(0), dtype=codebook.dtype)
    vq.params["codebook"][...] = codebook
    return vq


def _reference_vq_quantize(z_e, codebook):
    return _quantizer(codebook).quantize(z_e)


def _reference_vq_backward(dz_q, z_e, codebook, indices, d_codebook, d_commitment):
    vq = _quantizer(codebook)
    dz_e = vq.backward(dz_q, z_e, codebook[indices], indices, d_codebook, d_commitment)
    return dz_e, vq.grads["codebook"].copy()


REFERENCE = {"vq_quantize": _reference_vq_quantize, "vq_backward": _reference_vq_backward}

HINT = """
Assignment: the squared distance of every vector to every code, (N, M, K), either by
broadcasting, ((z_e[:, :, None, :] − codebook) ** 2).sum(axis=3), or as
‖z‖² − 2 z·e_k + ‖e_k‖²; then indices = argmin over the last axis (argmin picks the
lowest index among equal distances) and z_q = codebook[indices].

Backward.  The loss is L_dec(z_q) + Σ_n c_n ‖sg[z_e,n] − z_q,n‖² + Σ_n b_n ‖z_e,n − sg[z_q,n]‖².

    dz_e = dz_q + 2 b_n (z_e − z_q)        straight-through: the decoder's gradient is
                                           copied to z_e as if z_q were z_e
    dcodebook[k] = Σ over the vectors assigned to k of 2 c_n (e_k − z_e)

The decoder's dz_q goes to z_e only, not to the codebook (z_q = z_e + sg[e_k − z_e]);
a code no vector chose gets zero gradient.  np.add.at(dcodebook, indices, values)
scatter-adds with repeated indices.
"""

ARGMIN_ZERO = ("the decoder's gradient stopped at the argmin: straight-through passes dz_q on "
               "to z_e unchanged, dz_e = dz_q + 2 b (z_e − z_q)")
TO_CODEBOOK = ("the decoder's gradient dz_q went to the codebook too: straight-through sends it "
               "to z_e only; the codebook learns from the codebook loss alone, 2 c (e_k − z_e)")
NO_COMMITMENT = "the commitment term is missing from dz_e: + 2 b (z_e − z_q)"
ASSIGNMENT = "a plain assignment keeps one vector per code: scatter-add (np.add.at) the vectors of a code"


def _scatter(indices, values, K):
    out = np.zeros((K, values.shape[-1]), dtype=values.dtype)
    np.add.at(out, indices.reshape(-1), values.reshape(-1, values.shape[-1]))
    return out


def _mistakes(dz_q, z_e, codebook, indices, d_codebook, d_commitment):
    """{output: {hint: what the mistake outputs}} for vq_backward."""
    dz_e, dcode = _reference_vq_backward(dz_q, z_e, codebook, indices, d_codebook, d_commitment)
    K = codebook.shape[0]
    assigned = np.zeros_like(dcode)
    per_vector = (2 * d_codebook[:, None, None] * (codebook[indices] - z_e)).reshape(-1, z_e.shape[-1])
    assigned[indices.reshape(-1)] = per_vector
    return {"dz_e": {ARGMIN_ZERO: dz_e - dz_q, NO_COMMITMENT: dz_q},
            "dcodebook": {TO_CODEBOOK: dcode + _scatter(indices, dz_q, K), ASSIGNMENT: assigned}}


def _check_indices(got, expected, z_e, codebook):
    got = np.asarray(got) if isinstance(got, np.ndarray) else got
    if not isinstance(got, np.ndarray):
        raise Fail(f"indices should be a NumPy array of integers, got {type(got).__name__}")
    if got.shape != expected.shape:
        raise Fail(f"indices has shape {got.shape}, expected {expected.shape}")
    if got.dtype.kind not in "iu":
        raise Fail(f"indices has dtype {got.dtype}, expected integers (argmin's)")
    wrong = got != expected
    if wrong.any():
        n, m = (int(i) for i in np.argwhere(wrong)[0])
        k, j = int(got[n, m]), int(expected[n, m])
        if not 0 <= k < codebook.shape[0]:
            raise Fail(f"indices[{n}, {m}] = {k}: not a code (the codebook has {codebook.shape[0]})")
        d = ((z_e[n, m] - codebook) ** 2).sum(axis=1)
        why = ("the distances are equal: a tie goes to the lowest index, as argmin gives it"
               if d[k] == d[j] else "the distances to the codes are ‖z_e − e_k‖², the smallest wins")
        raise Fail(f"{int(wrong.sum())} vectors assigned to the wrong code, first indices[{n}, {m}] = {k}, "
                   f"expected {j} (squared distances {d[k]:.6g} and {d[j]:.6g}: {why})")


def _check(student, z_e, codebook, dz_q, d_codebook, d_commitment):
    z_q, indices = _reference_vq_quantize(z_e, codebook)
    got_z_q, got_indices = outputs(student.vq_quantize(z_e, codebook), ("z_q", "indices"), "vq_quantize")
    _check_indices(got_indices, indices, z_e, codebook)
    error = compare("z_q", got_z_q, z_q)
    args = (dz_q, z_e, codebook, indices, d_codebook, d_commitment)
    expected = _reference_vq_backward(*args)
    got = outputs(student.vq_backward(*args), ("dz_e", "dcodebook"), "vq_backward")
    wrong = lambda: _mistakes(*args)                                 # noqa: E731
    for name, value, exp in zip(("dz_e", "dcodebook"), got, expected):
        error = max(error, compare(name, value, exp, mistakes=lambda name=name: wrong()[name]))
    return error


def _arrays(N, M, D, K, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    z_e = rng.standard_normal((N, M, D))
    codebook = rng.uniform(-1.5, 1.5, (K, D))
    dz_q = rng.standard_normal((N, M, D))
    d_codebook = rng.uniform(0.5, 1.5, N) / N
    d_commitment = 0.25 * d_codebook
    return tuple(a.astype(dtype) for a in (z_e, codebook, dz_q, d_codebook, d_commitment))


def _reference_case(label, N, M, D, K, seed, shape=None, **kw):
    arrays = _arrays(N, M, D, K, seed, **kw)

    def run(student):
        return _check(student, *arrays)

    return Case(label, shape or describe_shapes(z_e=arrays[0], codebook=arrays[1]), run)


def _hidden_seed_case():
    seed = hidden_seed()
    return _reference_case("a hidden seed", 4, 3, 2, 6, seed,
                           shape=f"z_e (4, 3, 2), codebook (6, 2), seed {seed}")


def _ties_case(label):
    """Codes placed so that vectors sit exactly halfway (in floating point too): the
    lowest index wins; and a code that appears twice in the codebook."""
    codebook = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, 2.0]])
    z_e = np.array([[[0.0, 0.5], [0.0, -3.0], [0.0, 1.0]], [[0.25, 3.0], [0.0, 0.0], [-2.0, 0.0]]])
    rng = np.random.default_rng(10)
    dz_q = rng.standard_normal(z_e.shape)
    d_codebook = np.array([0.5, 0.5])

    def run(student):
        return _check(student, z_e, codebook, dz_q, d_codebook, 0.25 * d_codebook)

    return Case(label, describe_shapes(z_e=z_e, codebook=codebook), run)


def _gradcheck_case(label, N, M, D, K, seed):
    """dz_q = 0: what is left are the two distance terms, whose gradients are true
    gradients (the assignment does not move under a small step): central differences of
    Σ_n b_n ‖z_e,n − z_q(z_e)_n‖² in z_e and of Σ_n c_n ‖z_e,n − z_q(codebook)_n‖² in the codebook."""
    z_e, codebook, _, d_codebook, d_commitment = _arrays(N, M, D, K, seed)
    zero = np.zeros_like(z_e)

    def run(student):
        _, indices = _reference_vq_quantize(z_e, codebook)
        dz_e, dcode = outputs(student.vq_backward(zero, z_e, codebook, indices, d_codebook, d_commitment),
                              ("dz_e", "dcodebook"), "vq_backward")
        a = {"z_e": z_e.copy()}
        error = gradient_check(lambda: float(d_commitment @ _distances(a["z_e"], codebook)), a,
                               {"z_e": dz_e})
        b = {"codebook": codebook.copy()}
        return max(error, gradient_check(lambda: float(d_codebook @ _distances(z_e, b["codebook"])), b,
                                         {"codebook": dcode}))

    return Case(label, describe_shapes(z_e=z_e, codebook=codebook), run)


def _distances(z_e, codebook):
    z_q, _ = _reference_vq_quantize(z_e, codebook)
    return ((z_e - z_q) ** 2).sum(axis=(1, 2))


def _package_model_case(label, N, seed):
    """A small VQVAE: its encoder's z_e and codebook handed to the student, the decoder's
    ∂L/∂z_q computed as loss_and_grads does; the student's dcodebook must be the model's
    codebook gradient, and dz_e summed over the batch its encoder's output bias gradient."""
    rng = np.random.default_rng(seed)
    model = mlp_vqvae(x_shape=(1, 4, 4), num_latents=3, code_dim=2, num_codes=5, hidden=(6,), rng=rng,
                      dtype=np.float64)
    x = (rng.random((N, 1, 4, 4)) < 0.4).astype(np.float64)
    z_e, z_q, indices = model.encode(x)
    p = model.decoder.forward(z_q.reshape(N, -1))
    dz_q = model.decoder.backward(Bernoulli(p).log_prob_backward(x, np.full(N, -1.0 / N))).reshape(z_e.shape)
    model.loss_and_grads(x)
    codebook = model.params["codebook"].copy()
    d_codebook, d_commitment = np.full(N, 1.0 / N), np.full(N, model.commitment / N)
    dcode, dbias = model.grads["codebook"].copy(), model.grads["encoder.3.b"].copy()

    def run(student):
        error = _check(student, z_e, codebook, dz_q, d_codebook, d_commitment)
        dz_e, got = outputs(student.vq_backward(dz_q, z_e, codebook, indices, d_codebook, d_commitment),
                            ("dz_e", "dcodebook"), "vq_backward")
        error = max(error, compare("dcodebook (the VQVAE's)", got, dcode))
        return max(error, compare("dz_e summed over the batch (the VQVAE's encoder.3.b gradient)",
                                  np.asarray(dz_e).reshape(N, -1).sum(axis=0), dbias))

    return Case(label, describe_shapes(x=x, z_e=z_e, codebook=codebook), run)


def cases():
    return [
        _reference_case("batch 1, one vector", 1, 1, 2, 4, seed=0),
        _reference_case("a minibatch", 5, 3, 2, 8, seed=1),
        _reference_case("a codebook of one code", 3, 2, 3, 1, seed=2),
        _reference_case("more vectors than codes: codes shared", 6, 4, 2, 3, seed=3),
        _reference_case("D = K: a transpose shows", 4, 2, 3, 3, seed=4),
        _ties_case("ties go to the lowest index"),
        _gradcheck_case("gradient check of the two distances", 3, 2, 2, 4, seed=5),
        _package_model_case("a small VQVAE's gradients", 4, seed=6),
        _reference_case("float32 stays float32", 5, 3, 2, 6, seed=7, dtype=np.float32),
        _hidden_seed_case(),
    ]
