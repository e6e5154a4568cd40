"""Exercise vq_quantize (chapter ch10, beyond the VAE): the VQ-VAE's nearest-code
assignment, and its backward pass by the straight-through estimator.

Copy this file, fill in both functions, and grade them:

    python -m vae_from_scratch.exercises check vq_quantize --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint vq_quantize
"""

import numpy as np  # noqa: F401  (you will need it)


def vq_quantize(z_e, codebook):
    """Replace every encoder output vector by its nearest code (slides Concept 11.23):

        k_n,m = argmin_k ‖z_e[n, m] − e_k‖²,   z_q[n, m] = e_{k_n,m}

    (van den Oord et al. 2017, eq. 2).  A vector equally far from several codes goes to
    the lowest index among them, as np.argmin does.

    Arguments
        z_e:      (N, M, D), M vectors of size D per example, from the encoder.
        codebook: (K, D), the codes e_0 … e_{K−1}.

    Returns (z_q, indices): z_q (N, M, D) in the dtype of z_e, indices (N, M) integers.
    Do not change the arguments in place.
    """
    raise NotImplementedError("vq_quantize: all squared distances, argmin, then look the codes up")


def vq_backward(dz_q, z_e, codebook, indices, d_codebook, d_commitment):
    """Gradients of the VQ-VAE's loss (van den Oord et al. 2017, eq. 3), sg = stop-gradient:

        L = L_dec(z_q) + Σ_n c_n ‖sg[z_e,n] − z_q,n‖² + Σ_n b_n ‖z_e,n − sg[z_q,n]‖²
                          codebook loss                commitment loss
        (‖·‖² summed over m and d; models/vq_vae.py uses c_n = 1/N, b_n = β/N, β = 0.25)

    The argmin has no gradient.  The straight-through estimator copies the decoder's
    gradient ∂L_dec/∂z_q to z_e as if z_q were z_e (z_q = z_e + sg[z_q − z_e]), so it
    reaches the encoder and not the codebook; the codebook learns from the codebook
    loss only.

    Arguments
        dz_q:         (N, M, D), ∂L_dec/∂z_q from the decoder's backward pass.
        z_e:          (N, M, D), the encoder's outputs.
        codebook:     (K, D).
        indices:      (N, M), the codes vq_quantize chose (z_q = codebook[indices]).
        d_codebook:   (N,), c_n, the weight of each example's codebook loss.
        d_commitment: (N,), b_n, the weight of each example's commitment loss.

    Returns (dz_e, dcodebook): ∂L/∂z_e (N, M, D) and ∂L/∂codebook (K, D), in the dtype
    of z_e (a code that no vector chose has gradient 0).  Do not change the arguments
    in place.
    """
    raise NotImplementedError("vq_backward: straight-through to z_e, the codebook loss to the codes")
